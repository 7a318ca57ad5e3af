"""What only the threaded worker does: the connection cap, graceful stop with work in flight, threads
running concurrently, and long requests that are logged rather than killed."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from harness import Server, parse_response, read_response, wait_for

Factory = Callable[..., Server]


def gthread(server_factory: Factory, *extra: str) -> Server:
    args = ["--workers", "1", "--worker-class", "gthread", *extra]
    return server_factory(args, app="servingapp:app", tcp=True)


def test_threads_run_requests_concurrently(server_factory: Factory) -> None:
    server = gthread(server_factory, "--threads", "4")
    statuses: list[int] = []

    def client() -> None:
        statuses.append(server.request("/barrier?4", timeout=20).status)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200] * 4  # the four requests were in the application at the same time


def test_connection_cap_waits_then_serves(server_factory: Factory) -> None:
    server = gthread(server_factory, "--threads", "2", "--worker-connections", "3", "--keep-alive", "30")
    held = [server.connect() for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert b"200 OK" in read_response(sock)
        extra = server.connect()  # accepted by the kernel, waiting in the backlog
        extra.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        extra.settimeout(0.5)
        try:
            early = extra.recv(100)
        except TimeoutError:
            early = b""
        assert early == b"", "served beyond worker_connections"
        # existing connections keep being served while the cap is reached
        held[0].sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"200 OK" in read_response(held[0])
        held.pop().close()  # a slot frees up: the waiting connection is served
        assert b"200 OK" in read_response(extra)
        extra.close()
    finally:
        for sock in held:
            sock.close()


def test_graceful_stop_finishes_in_flight_and_closes_idle(server_factory: Factory) -> None:
    server = gthread(server_factory, "--threads", "2", "--graceful-timeout", "10", "--keep-alive", "30")
    idle = server.connect()
    idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"200 OK" in read_response(idle)
    busy = server.connect()
    busy.sendall(b"GET /sleep?1 HTTP/1.1\r\nHost: a\r\n\r\n")
    server.wait_log("app: /sleep?1 started")  # in flight
    server.send(signal.SIGTERM)
    idle.settimeout(5)
    assert idle.recv(100) == b""  # the idle keep-alive connection is closed at once
    response = parse_response(read_response(busy))
    assert response.status == 200  # the request in flight is answered
    assert response.headers["connection"] == "close"
    assert server.wait(10) == 0
    idle.close()
    busy.close()


def test_long_request_is_logged_not_killed(server_factory: Factory) -> None:
    server = gthread(server_factory, "--threads", "2", "--timeout", "1")
    before = server.request("/").worker_pid
    started = time.monotonic()
    assert server.request("/sleep?2.5").status == 200
    assert time.monotonic() - started >= 2.5
    assert server.request("/").worker_pid == before
    wait_for(lambda: "Request still running after" in server.log, 5, "the long-request warning")
    assert "GET /sleep" in server.log
    assert "WORKER TIMEOUT" not in server.log
