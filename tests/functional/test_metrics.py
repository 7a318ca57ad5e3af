"""`--metrics-bind` on a real master: the Prometheus text parsed with prometheus_client's own parser and
checked against the requests made, counters that keep growing across a SIGKILLed worker, /healthz and /readyz
(503 while a stop drains), the request in flight, and the queue time from nginx's X-Request-Start."""

from __future__ import annotations

import http.client
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, tcp_listener, wait_for

prometheus_parser = pytest.importorskip("prometheus_client.parser")

Factory = Callable[..., Server]
_METRICS_AT = re.compile(r"Metrics at: http://([^/\s]+)/metrics")

KINDS = {
    "sync": (["--worker-class", "sync"], "masterapp:app"),
    "gthread": (["--worker-class", "gthread", "--threads", "4"], "masterapp:app"),
    "asgi": (["--worker-class", "asgi"], "asgiapp:app"),
    "gevent": (["--worker-class", "gevent"], "masterapp:app"),
}


def metrics_address(server: Server) -> str:
    found = wait_for(lambda: _METRICS_AT.search(server.log), 15, "the 'Metrics at:' line")
    assert isinstance(found, re.Match)
    return found[1]


def fetch(address: str, path: str) -> tuple[int, str]:
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    status, text = fetch(address, "/metrics")
    assert status == 200
    samples = {}
    for family in prometheus_parser.text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], **labels: str) -> float:
    return sum(
        value
        for (name, lbls), value in samples.items()
        if name == "monoceros_requests_total" and all(dict(lbls).get(k) == v for k, v in labels.items())
    )


def _start(server_factory: Factory, kind: str, *extra: str) -> tuple[Server, str]:
    args, app = KINDS[kind]
    server = server_factory(
        [*args, "--workers", "2", "--metrics-bind", "127.0.0.1:0", "--graceful-timeout", "5", *extra],
        app=app,
        worker_class=None,
    )
    return server, metrics_address(server)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _published(address: str, check: Callable[[Samples], bool]) -> None:
    wait_for(lambda: check(scrape(address)), 10, "the counters to show it")


@pytest.mark.parametrize("kind", list(KINDS))
def test_counters_match_the_requests_made(server_factory: Factory, kind: str) -> None:
    server, address = _start(server_factory, kind)
    # the counters are published about once a second: the readiness probe's request shows first
    _published(address, lambda s: requests_total(s, method="GET", status="2xx") >= 1)
    base_get = requests_total(scrape(address), method="GET", status="2xx")
    for _ in range(25):
        assert server.request("/").status == 200
    for _ in range(5):
        with server.connect() as sock:
            sock.sendall(b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):
                pass
    _published(
        address,
        lambda s: (
            requests_total(s, method="GET", status="2xx") == base_get + 25
            and requests_total(s, method="DELETE") == 5
        ),
    )
    after = scrape(address)
    assert requests_total(after, method="DELETE") == 5
    count = after[("monoceros_request_duration_seconds_count", ())]
    assert count == requests_total(after)
    assert after[("monoceros_request_duration_seconds_bucket", (("le", "+Inf"),))] == count
    assert after[("monoceros_response_body_bytes_total", ())] > 0
    assert after[("monoceros_workers", (("state", "ready"),))] == 2
    assert after[("monoceros_workers_desired", ())] == 2
    rss = [v for (name, _), v in after.items() if name == "monoceros_worker_resident_memory_bytes"]
    assert len(rss) == 2 and all(v > 1 << 20 for v in rss)


def test_counters_survive_a_killed_worker_and_the_restart_is_counted(server_factory: Factory) -> None:
    server, address = _start(server_factory, "sync")
    for _ in range(20):
        server.request("/")
    _published(address, lambda s: requests_total(s) >= 20)
    before = requests_total(scrape(address))
    victim = server.workers()[0]
    server.send(signal.SIGKILL, victim)
    wait_for(lambda: (w := server.workers()) and len(w) == 2 and victim not in w, 15, "a replacement")
    for _ in range(10):
        server.request("/")
    _published(address, lambda s: requests_total(s) >= before + 10)
    after = scrape(address)
    assert requests_total(after) >= before + 10  # nothing of the killed worker's count was lost
    assert after[("monoceros_worker_restarts_total", (("reason", "signal"),))] == 1


def test_max_requests_restarts_are_counted_by_reason(server_factory: Factory) -> None:
    server, address = _start(server_factory, "sync", "--max-requests", "5")
    for _ in range(30):
        server.request("/")
    _published(address, lambda s: s[("monoceros_worker_restarts_total", (("reason", "max_requests"),))] >= 3)
    assert requests_total(scrape(address)) >= 30


def test_the_request_in_flight_is_seen(server_factory: Factory) -> None:
    server, address = _start(server_factory, "sync")
    slow = threading.Thread(target=lambda: server.request("/sleep?3", timeout=30))
    slow.start()
    server.wait_log("app: /sleep?3 started")
    assert scrape(address)[("monoceros_requests_in_flight", ())] == 1
    slow.join(30)
    assert scrape(address)[("monoceros_requests_in_flight", ())] == 0


def test_healthz_and_readyz_follow_a_draining_stop(server_factory: Factory) -> None:
    server, address = _start(server_factory, "sync", "--shutdown-delay", "3")
    assert fetch(address, "/healthz") == (200, "ok\n")
    wait_for(lambda: fetch(address, "/readyz")[0] == 200, 10, "ready")
    assert fetch(address, "/nothing")[0] == 404
    server.send(signal.SIGTERM)
    server.wait_log("Stopping in 3 s (shutdown_delay)")
    status, text = fetch(address, "/readyz")
    assert status == 503 and "draining" in text
    assert server.request("/").status == 200  # still serving during the delay
    assert fetch(address, "/healthz")[0] == 200
    assert server.wait(20) == 0


def test_a_bad_metrics_address_is_one_line_and_exit_1(server_factory: Factory) -> None:
    server = server_factory(["--metrics-bind", "fd://3"], ready=False)
    assert server.wait(15) == 1
    assert server.log.strip().splitlines() == [
        "Error: --metrics-bind: 'fd://3' is a file descriptor: use HOST:PORT or unix:PATH"
    ]


def test_a_metrics_address_in_use_stops_the_start(server_factory: Factory) -> None:
    taken = tcp_listener()
    try:
        port = taken.getsockname()[1]
        server = server_factory(["--metrics-bind", f"127.0.0.1:{port}"], ready=False)
        assert server.wait(15) == 1
        assert f"metrics_bind: cannot listen at 127.0.0.1:{port}" in server.log
    finally:
        taken.close()


NGINX_LOCATION = """
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-Start "t=${msec}";
"""


def test_queue_time_from_nginx_x_request_start(server_factory: Factory, tmp_path: Path) -> None:
    from test_nginx import NGINX, running_nginx

    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs it)")
    server, address = _start(server_factory, "sync")
    upstream = f"upstream app {{ server unix:{server.address[5:]}; keepalive 4; }}"
    with running_nginx(tmp_path, NGINX_LOCATION, http=upstream) as port:
        for _ in range(10):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
    _published(address, lambda s: s[("monoceros_request_queue_seconds_count", ())] >= 10)
    samples = scrape(address)
    assert samples[("monoceros_request_queue_seconds_sum", ())] < 10 * 1.0  # ms-scale waits, not clock skew
