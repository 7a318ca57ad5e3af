"""A graceful stop under load, for Kubernetes and load balancers: with `--shutdown-delay` nothing is
refused or reset while the delay runs; after it, what is in the accept backlog and in flight is served,
idle keep-alive clients are told `Connection: close`, and the only failures left are connections refused
once the listener is closed."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest
from harness import Load, Server, wait_for

Factory = Callable[..., Server]

KINDS = {
    "sync": (["--worker-class", "sync"], "masterapp:app"),
    "gthread": (["--worker-class", "gthread", "--threads", "4"], "masterapp:app"),
    "asgi": (["--worker-class", "asgi"], "asgiapp:app"),
    "gevent": (["--worker-class", "gevent"], "masterapp:app"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_stop_under_load_drops_nothing(server_factory: Factory, kind: str) -> None:
    args, app = KINDS[kind]
    server = server_factory(
        [*args, "--workers", "2", "--shutdown-delay", "2", "--graceful-timeout", "10"],
        app=app,
        tcp=True,
        worker_class=None,
    )
    server.wait_workers(2)
    with Load(server.address, clients=6) as load:
        wait_for(lambda: load.served() > 50, 20, "the load to start")
        # A slow request in flight at the stop keeps its worker running for 3 s after it stopped accepting:
        # connections must not queue behind it in a listener nobody accepts from any more.
        slow: list[int] = []
        slow_client = threading.Thread(
            target=lambda: slow.append(server.request("/sleep?3", timeout=30).status)
        )
        slow_client.start()
        server.wait_log("app: /sleep?3 started")
        signalled = time.monotonic()
        server.send(signal.SIGTERM)
        server.wait_log("shutdown_delay over: stopping", timeout=15)
        served_in_delay = load.served()
        status = server.wait(20)
        stopped = time.monotonic()
        time.sleep(0.2)  # (the clients meet the closed listener)
    slow_client.join(30)
    assert status == 0
    assert slow == [200]
    assert stopped - signalled >= 1.9
    during_delay = [f.exc for f in load.failed if f.at < signalled + 2.0]
    assert during_delay == [], during_delay[:5]
    # Dropped: a request on a connection the server had accepted into its backlog before the stop began
    # (the delay's end), or one that waited in the backlog after it, and was then lost. A connect() that
    # races the listener's final close is refused, or reset at once (in the microseconds between the
    # last accept and the close), as with any server: not counted.
    stop_began = signalled + 2.0
    dropped = [
        f for f in load.failed if f.connected and (f.connected < stop_began or f.at - f.connected > 0.25)
    ]
    assert dropped == [], (dropped[:5], server.log[-3000:])
    late = [f.exc for f in load.failed if not f.connected or f.connected >= stop_began]
    assert all(isinstance(exc, (ConnectionRefusedError, ConnectionResetError)) for exc in late), late[:5]
    assert served_in_delay > 50
