"""Slow and idle clients cannot hold a worker: a fast client is still answered at once.

Each test opens the troublesome connections first against a single worker, waits until the server
has taken in what they sent (their bytes read, or its own writes stuck in a full window: seen in
/proc/net/tcp), then times a plain request from another client.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from harness import (
    Server,
    accept_queue,
    parse_response,
    read_response,
    server_has_read,
    server_queues,
    wait_for,
)

Factory = Callable[..., Server]


@pytest.fixture(
    params=[["sync"], ["gthread", "--threads", "2"], ["asgi"], ["gevent"]],
    ids=["sync", "gthread", "asgi", "gevent"],
)
def one_worker(request: pytest.FixtureRequest, server_factory: Factory) -> Server:
    args = ["--workers", "1", "--timeout", "4", "--worker-class", *request.param]
    app = "asgiapp:app" if request.param == ["asgi"] else "servingapp:app"
    return server_factory(args, app=app, tcp=True)


def stuck_sending_to(sock: socket.socket) -> bool:
    """The server has read the requests on `sock` and has a response written that `sock` does not take."""
    queues = server_queues(sock)
    return queues is not None and queues[1] == 0 and queues[0] > 0


def timed_request(server: Server, path: str = "/") -> float:
    started = time.monotonic()
    response = server.request(path, timeout=5)
    assert response.status == 200
    return time.monotonic() - started


def test_half_sent_heads_do_not_block_another_client(one_worker: Server) -> None:
    slow = [one_worker.connect() for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Partial: ")
        wait_for(lambda: all(server_has_read(sock) for sock in slow), what="the partial heads read")
        assert timed_request(one_worker) < 1.0
    finally:
        for sock in slow:
            sock.close()


def test_trickled_body_does_not_block_another_client(one_worker: Server) -> None:
    with one_worker.connect() as slow:
        slow.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        for _ in range(3):  # a byte at a time, each one read before the next is sent
            slow.sendall(b"x")
            wait_for(lambda: server_has_read(slow), what="the body so far read")
            assert timed_request(one_worker) < 1.0
        slow.sendall(b"y" * 87)
        slow.settimeout(5)
        response = parse_response(slow.recv(65536))
        assert response.status == 200
        assert response.body == b"0123456789xxx" + b"y" * 87


def test_a_client_that_stops_reading_does_not_block_another(one_worker: Server) -> None:
    with one_worker.connect() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" * 3)
        wait_for(lambda: stuck_sending_to(stuck), what="the server stuck writing to the client")
        assert timed_request(one_worker) < 1.0
        assert timed_request(one_worker) < 1.0


def test_many_idle_connections_and_a_fast_client(one_worker: Server) -> None:
    idle = [one_worker.connect() for _ in range(200)]
    try:
        for sock in idle[:100]:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")  # then stays open, kept alive
        for sock in idle[:100]:
            assert b" 200 " in read_response(sock)
        wait_for(lambda: accept_queue(one_worker.address) == 0, what="every connection accepted")
        assert timed_request(one_worker) < 1.0
    finally:
        for sock in idle:
            sock.close()


def test_an_unfinished_request_is_dropped_after_the_request_timeout(one_worker: Server) -> None:
    with one_worker.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
        started = time.monotonic()
        sock.settimeout(10)
        assert sock.recv(100) == b""
        elapsed = time.monotonic() - started
    assert 2.0 < elapsed < 7.0


def test_a_file_response_to_a_stalled_reader_does_not_block_another(one_worker: Server) -> None:
    size = 4 * 1024 * 1024
    with one_worker.connect() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        stuck.sendall(b"GET /bigfile HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: stuck_sending_to(stuck), what="the server stuck writing to the client")
        assert timed_request(one_worker) < 1.0
        # the stalled response is still whole when the client reads it at last
        stuck.settimeout(10)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            data += stuck.recv(65536)
        body = data[data.index(b"\r\n\r\n") + 4 :]
        while len(body) < size:
            chunk = stuck.recv(1 << 20)
            if not chunk:
                break
            body += chunk
        assert body == b"x" * size
