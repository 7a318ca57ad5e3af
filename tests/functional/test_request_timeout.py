"""`--request-timeout` on real servers: a request stuck in pure-Python code or in a blocking call gets a 504,
its stack is logged (the function it was stuck in is named), and the same worker process goes on serving."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest
from harness import Server, parse_response, recv_until_closed, wait_for

Factory = Callable[..., Server]
# Under coverage (make test traces the servers too) a gthread pool thread is not interrupted (see
# workers/deadline.py): its client still gets the 504, but a thread stuck in Python stays stuck.
TRACED = sys.gettrace() is not None

WSGI_APP = """
import os, time

def spin_forever():
    n = 0
    while True:
        n += 1

def sleep_long():
    time.sleep(float(os.environ.get("SLEEP_SECONDS", "30")))

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/spin":
        spin_forever()
    elif path == "/sleep":
        sleep_long()
    elif path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def body():
            yield b"first part\\n"
            spin_forever()
        return body()
    body = ("pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

ASGI_APP = """
import asyncio, os

async def wait_forever():
    while True:
        await asyncio.sleep(0.05)

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/spin":
        await wait_forever()
    elif scope["path"] == "/sleep":
        await asyncio.sleep(30)
    elif scope["path"] == "/stubborn":
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)  # ignores the cancellation
    body = ("pid=%d" % os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""

KINDS = {
    "sync": ["--worker-class", "sync"],
    "gthread": ["--worker-class", "gthread", "--threads", "1"],
    "asgi": ["--worker-class", "asgi"],
    "gevent": ["--worker-class", "gevent"],
}


def _start(server_factory: Factory, kind: str, *extra: str, env: dict[str, str] | None = None) -> Server:
    app = ASGI_APP if kind == "asgi" else WSGI_APP
    return server_factory(
        [*KINDS[kind], "--workers", "1", "--request-timeout", "1", "--timeout", "60", *extra],
        app="stuckapp:app",
        files={"stuckapp.py": app},
        worker_class=None,
        env=env,
    )


def _timed_request(server: Server, path: str) -> tuple[int, float, bytes]:
    started = time.monotonic()
    response = server.request(path, timeout=30)
    return response.status, time.monotonic() - started, response.body


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("path", ["/spin", "/sleep"])
def test_a_stuck_request_gets_504_and_the_worker_goes_on(
    server_factory: Factory, kind: str, path: str
) -> None:
    if TRACED and kind == "gthread":
        # (and its loop's own 504 for a thread stuck in time.sleep did not reach the client under coverage:
        # not understood yet; untraced it arrives at deadline + 1 s)
        pytest.skip("a traced gthread worker does not interrupt its threads")
    server = _start(server_factory, kind, env={"SLEEP_SECONDS": "4"})
    before = server.request().worker_pid
    status, took, _ = _timed_request(server, path)
    assert status == 504
    assert took < 6  # 1 s, plus the once-a-second check and the gthread grace, on a slow machine
    stuck_in = {"/spin": "wait_forever" if kind == "asgi" else "spin_forever", "/sleep": "sleep"}[path]
    wait_for(lambda: "request_timeout" in server.log and stuck_in in server.log, 10, f"{stuck_in} in the log")
    # the same process serves on; with one gthread thread, that thread (or its replacement in time) is free
    wait_for(lambda: server.request(timeout=30).worker_pid == before, 15, "the same worker to answer")
    assert server.log.count("Booting worker") == 1


@pytest.mark.skipif(TRACED, reason="a traced gthread worker does not interrupt its threads")
def test_gthread_frees_the_thread_stuck_in_python(server_factory: Factory) -> None:
    """One thread: it must be interrupted (not just answered for), or every later request would queue."""
    server = _start(server_factory, "gthread")
    assert _timed_request(server, "/spin")[0] == 504
    started = time.monotonic()
    assert server.request(timeout=30).status == 200
    assert time.monotonic() - started < 5
    assert "Where it was" in server.log and "spin_forever" in server.log


@pytest.mark.parametrize("kind", ["sync", "gthread", "gevent"])
def test_a_timeout_after_the_head_closes_the_connection(server_factory: Factory, kind: str) -> None:
    if TRACED and kind == "gthread":
        pytest.skip("a traced gthread worker does not interrupt its threads")
    server = _start(server_factory, kind)
    with server.connect(timeout=30) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        sock.settimeout(30)
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"first part" in data and b"504" not in data  # a truncated chunked body: no terminating chunk
    assert not data.endswith(b"0\r\n\r\n")
    assert server.request().status == 200


def test_asgi_app_that_ignores_its_cancellation_loses_the_connection(server_factory: Factory) -> None:
    server = _start(server_factory, "asgi")
    with server.connect(timeout=30) as sock:
        sock.sendall(b"GET /stubborn HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        try:
            data = recv_until_closed(sock, timeout=30)
        except ConnectionError:
            data = b""
    assert time.monotonic() - started < 8
    assert data == b"" or parse_response(data).status == 504
    wait_for(lambda: "ignored the cancellation" in server.log, 10, "the log line")
    assert server.request().status == 200


def test_no_timeout_by_default(server_factory: Factory) -> None:
    server = server_factory(
        ["--worker-class", "sync", "--workers", "1"],
        app="stuckapp:app",
        files={"stuckapp.py": WSGI_APP},
        worker_class=None,
        env={"SLEEP_SECONDS": "1.5"},
    )
    status, took, body = _timed_request(server, "/sleep")
    assert status == 200 and took >= 1.4 and body.startswith(b"pid=")
