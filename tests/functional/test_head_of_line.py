"""Keep-alive without head-of-line blocking: with 2 sync workers and a slow endpoint, fast requests on
kept-alive connections keep a bounded latency (their connections move to the free worker)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable

from harness import Server, wait_for

Factory = Callable[..., Server]


def test_fast_requests_do_not_wait_behind_a_slow_one(server_factory: Factory) -> None:
    server = server_factory(
        ["--workers", "2", "--worker-class", "sync", "--keep-alive", "30"], app="servingapp:app", tcp=True
    )
    host, port = server.address.rsplit(":", 1)
    latencies: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def fast_client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            while not stop.is_set():
                started = time.monotonic()
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)  # (the clients' pace, not a wait)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            conn.close()

    clients = [threading.Thread(target=fast_client) for _ in range(6)]
    for thread in clients:
        thread.start()
    try:
        # every fast client kept alive on a worker before the slow requests start
        wait_for(lambda: len(latencies) >= 3 * len(clients) or errors, what="the fast clients going")
        slow = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(3):
            slow.request("GET", "/sleep?1")
            assert slow.getresponse().read().startswith(b"pid=")
        slow.close()
    finally:
        stop.set()
        for thread in clients:
            thread.join(15)
    assert not errors, errors
    assert len(latencies) > 100
    # Without the hand-off, a fast client kept alive by the busy worker waits ~1 s, every time.
    assert max(latencies) < 0.6, sorted(latencies)[-5:]
