"""What only the gevent worker does: cooperative waits run side by side, a thousand idle keep-alive
connections on one worker, the world patched before the app and the post_fork hook, a greenlet that blocks
the hub killed by the timeout with its stack, and one clear line when gevent is not installed.

The framing, smuggling, garbage, slow-client, body-limit, TLS, stop and request_timeout suites run against
``-k gevent`` too (their ``gevent`` parameter)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, read_response, start_server, wait_for

pytest.importorskip("gevent")

Factory = Callable[..., Server]

GREEN_APP = """
import os, time
import gevent
from gevent import monkey

PATCHED_AT_IMPORT = monkey.is_module_patched("socket")

def hold_the_hub():
    # a call gevent did not patch: the hub cannot run while it blocks
    monkey.get_original("time", "sleep")(60)

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        gevent.sleep(float(environ["QUERY_STRING"] or "1"))
    elif path == "/block":
        hold_the_hub()
    elif path == "/info":
        body = ("patched=%s multithread=%s multiprocess=%s post_fork=%s pid=%d" % (
            PATCHED_AT_IMPORT, environ["wsgi.multithread"], environ["wsgi.multiprocess"],
            os.environ.get("POST_FORK_PATCHED"), os.getpid())).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    body = b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

CONFIG = """
import os
def post_fork(server, worker):
    from gevent import monkey
    os.environ["POST_FORK_PATCHED"] = str(monkey.is_module_patched("socket"))
"""


def green(server_factory: Factory, *extra: str) -> Server:
    return server_factory(
        ["--workers", "1", "-c", "green.conf.py", *extra],
        app="greenapp:app",
        files={"greenapp.py": GREEN_APP, "green.conf.py": CONFIG},
        worker_class="gevent",
    )


def test_cooperative_waits_run_side_by_side(server_factory: Factory) -> None:
    server = green(server_factory, "--keep-alive", "10")
    statuses: list[int] = []
    clients = 50

    def client() -> None:
        statuses.append(server.request("/sleep?1", timeout=60).status)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    took = time.monotonic() - started
    assert statuses == [200] * clients
    # one worker, 50 one-second waits: one after the other they would take 50 s
    assert took < 15, took


def test_the_app_and_post_fork_see_a_patched_world(server_factory: Factory) -> None:
    server = green(server_factory)
    body = server.request("/info").body.decode()
    # patched before the import and before post_fork, as the app's greenlets need; multithread as Gunicorn's
    assert "patched=True" in body and "post_fork=True" in body
    assert "multithread=True" in body and "multiprocess=False" in body


def test_a_thousand_idle_keep_alive_connections_on_one_worker(server_factory: Factory) -> None:
    server = green(server_factory, "--keep-alive", "120", "--worker-connections", "1100")
    held: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = server.connect(timeout=30)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            held.append(sock)
        for sock in held:
            assert b"200 OK" in read_response(sock, timeout=30)
        # all 1,000 idle now; a new client is still answered, at once
        assert server.request("/", timeout=10).status == 200
        # and every one of the idle ones is still open and served in turn
        for sock in held[::50]:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert b"200 OK" in read_response(sock, timeout=30)
    finally:
        for sock in held:
            sock.close()


def test_a_greenlet_that_blocks_the_hub_is_killed_with_its_stack(server_factory: Factory) -> None:
    server = green(server_factory, "--timeout", "2")
    (worker,) = server.wait_workers(1)
    sock = server.connect(timeout=30)
    sock.sendall(b"GET /block HTTP/1.1\r\nHost: a\r\n\r\n")
    try:
        server.wait_log("WORKER TIMEOUT", timeout=30)
        server.wait_log("Worker stuck past the timeout", timeout=30)
        log = server.log
        # the function it blocks in, and the request it was serving
        assert "hold_the_hub" in log and "GET /block" in log
        wait_for(lambda: worker not in server.workers(), 30, "the stuck worker to go")
        (replacement,) = server.wait_workers(1, timeout=30)
        assert replacement != worker
        assert server.request("/").status == 200
    finally:
        sock.close()


def test_without_gevent_one_line_names_the_extra(tmp_path: Path) -> None:
    # a gevent that cannot be imported, first on the path
    hidden = tmp_path / "nogevent" / "gevent"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named gevent')\n")
    server = start_server(
        ["--workers", "1"],
        tmp_path,
        worker_class="gevent",
        ready=False,
        env={"PYTHONPATH": str(tmp_path / "nogevent")},
    )
    status = server.wait(timeout=30)
    lines = [line for line in server.log.splitlines() if "gevent" in line]
    assert status != 0
    assert len(lines) == 1 and "monoceros[gevent]" in lines[0], server.log
    assert "Traceback" not in server.log
