"""HUP replaces the workers a batch at a time on a real master: under steady load on new and kept-alive
connections no request fails, and a HUP after the app broke leaves the old workers serving until a HUP
after the fix rolls forward."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Load, Server, wait_for

Factory = Callable[..., Server]

# Each new worker takes a moment to import the app, as real apps do: long enough that a server which
# stopped its old workers before the new ones listen would leave nobody to answer.
WSGI_APP = """
import os, time
time.sleep(float(os.environ.get("BOOT_SECONDS", "0.3")))
VERSION = open(os.path.join(os.path.dirname(__file__), "version.txt")).read().strip()

def app(environ, start_response):
    body = ("%s pid=%d" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

ASGI_APP = """
import os, time
time.sleep(0.3)
VERSION = open(os.path.join(os.path.dirname(__file__), "version.txt")).read().strip()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("%s pid=%d" % (VERSION, os.getpid())).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""

KINDS = {
    "sync": ["--worker-class", "sync"],
    "gthread": ["--worker-class", "gthread", "--threads", "4"],
    "asgi": ["--worker-class", "asgi"],
}


def _rolling_run(server_factory: Factory, tmp_path: Path, kind: str, seconds: float, every: float) -> None:
    (tmp_path / "version.txt").write_text("v0\n")
    app = ASGI_APP if kind == "asgi" else WSGI_APP
    server = server_factory(
        [*KINDS[kind], "--workers", "4", "--graceful-timeout", "10", "--keep-alive", "5"],
        app="rollapp:app",
        files={"rollapp.py": app},
        tcp=True,
        worker_class=None,
        timeout=30,
    )
    server.wait_workers(4)
    hups = 0
    with Load(server.address) as load:
        wait_for(lambda: load.served() > 50, 20, "the load to start")
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            hups += 1
            (tmp_path / "version.txt").write_text(f"v{hups}\n")
            server.send(signal.SIGHUP)
            server.wait_log("Rolling reload done", timeout=30, count=hups)
            time.sleep(max(0.0, every - (time.monotonic() - started) % every))
        # the last generation serves the last version
        wait_for(lambda: f"v{hups}" in load.bodies, 10, f"v{hups} served")
    assert load.failures == [], load.failures[:5]
    assert load.ok > 200
    assert server.proc.poll() is None
    assert server.log.count("Rolling reload done: 4 workers replaced") == hups
    assert server.stop(timeout=30) == 0


@pytest.mark.parametrize("kind", list(KINDS))
def test_hup_under_load_fails_no_request(server_factory: Factory, tmp_path: Path, kind: str) -> None:
    _rolling_run(server_factory, tmp_path, kind, seconds=8, every=2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_hup_every_5s_for_a_minute_fails_no_request(
    server_factory: Factory, tmp_path: Path, kind: str
) -> None:
    _rolling_run(server_factory, tmp_path, kind, seconds=60, every=5)


def test_no_request_waits_for_the_new_workers_to_boot(server_factory: Factory, tmp_path: Path) -> None:
    """The app takes 2 s to import. Had the old workers stopped before the new ones listen (Gunicorn's
    HUP), requests would wait about that long in the backlog; rolling, they are served by the old workers
    meanwhile."""
    (tmp_path / "version.txt").write_text("v1\n")
    server = server_factory(
        ["--workers", "2", "--graceful-timeout", "5"],
        app="rollapp:app",
        files={"rollapp.py": WSGI_APP},
        tcp=True,
        env={"BOOT_SECONDS": "2"},
        timeout=30,
    )
    server.wait_workers(2)
    with Load(server.address, clients=4) as load:
        wait_for(lambda: load.served() > 20, 20, "the load to start")
        (tmp_path / "version.txt").write_text("v2\n")
        server.send(signal.SIGHUP)
        server.wait_log("Rolling reload done: 2 workers replaced", timeout=30)
        wait_for(lambda: "v2" in load.bodies, 10, "v2 served")
    assert load.failures == [], load.failures[:5]
    assert load.slowest < 1.0, f"a request waited {load.slowest:.2f} s"


def test_a_broken_reload_keeps_the_old_workers_and_a_fixed_one_rolls_forward(
    server_factory: Factory, tmp_path: Path
) -> None:
    (tmp_path / "version.txt").write_text("v1\n")
    server = server_factory(
        ["--workers", "3", "--graceful-timeout", "5"], app="rollapp:app", files={"rollapp.py": WSGI_APP}
    )
    old = set(server.wait_workers(3))
    (tmp_path / "rollapp.py").write_text(WSGI_APP + "\ndef broken(:\n")
    server.send(signal.SIGHUP)
    server.wait_log("Rolling reload stopped", timeout=20)
    assert "SyntaxError" in server.log
    # no crash loop, no exit: the old generation serves on, all of it
    booted = server.log.count("Booting worker with pid")
    for _ in range(10):
        response = server.request()
        assert response.status == 200 and response.body.startswith(b"v1 ")
    assert set(server.workers()) == old
    assert server.proc.poll() is None
    assert server.log.count("Booting worker with pid") == booted

    (tmp_path / "rollapp.py").write_text(WSGI_APP)
    (tmp_path / "version.txt").write_text("v2\n")
    server.send(signal.SIGHUP)
    server.wait_log("Rolling reload done: 3 workers replaced", timeout=30)
    wait_for(lambda: not set(server.workers()) & old, 15, "the old workers to exit")
    assert server.request().body.startswith(b"v2 ")
    assert server.stop() == 0


def test_a_boot_failure_at_start_still_halts_with_gunicorns_status(server_factory: Factory) -> None:
    server = server_factory(
        ["--workers", "2"], app="brokenapp:app", files={"brokenapp.py": "def x(:\n"}, ready=False
    )
    assert server.wait(20) in (3, 4)
