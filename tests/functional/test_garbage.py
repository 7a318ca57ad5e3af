"""Garbage and half-valid requests against a live worker: each gets a 4xx (or a clean close), the worker
never dies, and the next normal request is served. Inputs are mutations of real requests, seeded."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

import pytest
from harness import Server, parse_response

Factory = Callable[..., Server]

SEEDS = [
    b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]
NOISE = [b"\r\n", b"\n", b"\r", b" ", b"\t", b"\x00", b":", b"0", b"f" * 18, b"\x7f", b"\xff", b"_", b","]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(out) + 1)
        action = rng.random()
        if action < 0.4:
            out[pos:pos] = rng.choice(NOISE)
        elif action < 0.7 and pos < len(out):
            del out[pos : pos + rng.randint(1, 3)]
        elif pos < len(out):
            out[pos] = rng.randrange(256)
    return bytes(out)


def exchange(server: Server, data: bytes) -> bytes:
    with server.connect(timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize(
    "kind",
    [["sync"], ["gthread", "--threads", "2"], ["asgi"], ["gevent"]],
    ids=["sync", "gthread", "asgi", "gevent"],
)
def test_mutated_requests_get_a_clean_answer(server_factory: Factory, kind: list[str]) -> None:
    app = "asgiapp:app" if kind == ["asgi"] else "servingapp:app"
    server = server_factory(["--workers", "1", "--worker-class", *kind], app=app, tcp=True)
    (worker,) = server.wait_workers(1)
    rng = random.Random(20261126)
    for _ in range(400):
        data = mutate(rng, rng.choice(SEEDS))
        answer = exchange(server, data)
        while answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
            answer = answer[25:]
        if not answer:
            continue  # closed: e.g. EOF in the middle of a head
        status = parse_response(answer.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n").status
        assert status < 500 or status in (501, 505), (data, answer[:200])  # never a 500: nothing crashed
    assert server.workers() == [worker]
    assert server.request("/").status == 200
    assert "Traceback" not in server.log, server.log[-3000:]
