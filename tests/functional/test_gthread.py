"""What only the threaded worker does: the connection cap, graceful stop with work in flight, threads
running concurrently, and long requests that are logged rather than killed."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

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


WHERE_APP = """
import os, sys, time

def app(environ, start_response):
    # Where the call runs: in the thread that runs the engine's loop (its stack holds `spin`), or in a pool
    # thread. The first is the gthread worker's fast path; the second its answer to slow calls.
    frame, where = sys._getframe(), "pool"
    while frame is not None:
        if frame.f_code.co_name == "spin" and frame.f_code.co_filename.endswith("engine.py"):
            where = "inline"
        frame = frame.f_back
    if environ["PATH_INFO"] == "/slow":
        time.sleep(float(environ["QUERY_STRING"]))
    body = f"{where} pid={os.getpid()}".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def where(server: Server, sock: socket.socket | None = None, path: str = "/") -> str:
    if sock is None:
        return server.request(path).body.decode().split()[0]
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    return parse_response(read_response(sock)).body.decode().split()[0]


def where_server(server_factory: Factory, *extra: str) -> Server:
    args = ["--workers", "1", "--worker-class", "gthread", "--threads", "2", "--keep-alive", "30", *extra]
    return server_factory(args, app="whereapp:app", files={"whereapp.py": WHERE_APP}, tcp=True)


def test_quick_calls_run_in_the_loops_thread_and_a_slow_one_is_taken_over(server_factory: Factory) -> None:
    """The loop's thread runs quick calls itself; one that lasts loses the loop to a watching thread within
    milliseconds (other clients are served meanwhile, by the pool); quick calls come back inline later."""
    server = where_server(server_factory)
    wait_for(lambda: where(server) == "inline", 10, "a quick call served by the loop's own thread")
    slow = server.connect(timeout=20)
    other = server.connect(timeout=20)
    try:
        slow.sendall(b"GET /slow?3 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)  # (let it start: what is measured is that the others do not wait for it)
        started = time.monotonic()
        assert where(server, other) == "pool"  # served while the slow call runs: the loop was taken over
        assert time.monotonic() - started < 1.5
        slow_response = parse_response(read_response(slow))
        assert slow_response.status == 200
        assert slow_response.body.startswith(b"inline")  # it began in the loop's thread, which lost the loop
        # No slow call for a second: the loop (another thread now) runs quick calls itself again.
        wait_for(lambda: where(server, other) == "inline", 10, "quick calls inline again")
        assert where(server, slow) == "inline"  # (the connection the old loop thread gave back, too)
    finally:
        slow.close()
        other.close()


def test_a_request_pipelined_behind_a_slow_call_is_served_after_it(server_factory: Factory) -> None:
    server = where_server(server_factory)
    with server.connect(timeout=20) as sock:
        sock.sendall(b"GET /slow?1 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.3)  # the slow call is running (taken over, or in the pool) when the next request comes
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    first, second = data.split(b"HTTP/1.1 200")[1:]
    assert b"pid=" in first and b"pid=" in second


def worker_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_client_gone_during_a_slow_call_does_not_make_the_loop_spin(server_factory: Factory) -> None:
    """The loop stops the events of a connection another thread serves: a reset peer (EPOLLHUP and EPOLLERR
    are reported whatever was asked) would otherwise wake the loop at once, again and again."""
    server = where_server(server_factory)
    pid = int(server.request("/").body.decode().split("pid=")[1])
    sock = server.connect(timeout=20)
    sock.sendall(b"GET /slow?2 HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST
    before = worker_cpu_seconds(pid)
    time.sleep(1.2)  # (the call still runs: the loop has a reset connection it must not look at)
    assert worker_cpu_seconds(pid) - before < 0.6
    assert server.request("/").status == 200  # and it serves on
