"""Worker classes written for Gunicorn's worker API, run by the Monoceros master: a user's subclass of
Gunicorn's SyncWorker, aiohttp's GunicornWebWorker, gevent-websocket's GeventWebSocketWorker and Gunicorn's
tornado worker. Each one serves, scales with TTIN/TTOU, is replaced on HUP and after SIGKILL, is killed by
the heartbeat timeout when its loop blocks, and its boot failures stop the master with 3 and 4."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, pid_alive, start_server, wait_for
from test_control import ctl

pytest.importorskip("gunicorn")

Factory = Callable[..., Server]

# The apps answer `pid=<pid>` on /, and block their worker's loop on /block (a call no event loop and no
# monkey-patching can make cooperative).
WSGI_APP = """
import os, time
from gevent import monkey

def application(environ, start_response):
    if environ.get("wsgi.websocket") is not None:
        ws = environ["wsgi.websocket"]
        while (message := ws.receive()) is not None:
            ws.send(message)
        return []
    if environ["PATH_INFO"] == "/block":
        monkey.get_original("time", "sleep")(60)
    body = ("pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

AIOHTTP_APP = """
import os, time
from aiohttp import web

async def hello(request):
    if request.path == "/block":
        time.sleep(60)
    return web.Response(text="pid=%d" % os.getpid())

app = web.Application()
app.router.add_get("/", hello)
app.router.add_get("/block", hello)
"""

TORNADO_APP = """
import os, time
import tornado.web

class Hello(tornado.web.RequestHandler):
    def get(self):
        if self.request.path == "/block":
            time.sleep(60)
        self.write("pid=%d" % os.getpid())

app = tornado.web.Application([(r"/", Hello), (r"/block", Hello)])
"""

WORKERS = """
import os
from gunicorn.workers.sync import SyncWorker

class CountingSync(SyncWorker):
    '''A feature Gunicorn lacks, added in notify(): here, a count of heartbeats in a file.'''
    def notify(self):
        with open("beats", "a") as f:
            f.write("%d\\n" % os.getpid())
        super().notify()

class BrokenBoot(SyncWorker):
    def init_process(self):
        raise RuntimeError("this worker cannot boot")
"""

KINDS = {
    "sync-subclass": ("hostedworkers.CountingSync", "wsgiapp:application"),
    "aiohttp": ("aiohttp.GunicornWebWorker", "aioapp:app"),
    "gevent-websocket": ("geventwebsocket.gunicorn.workers.GeventWebSocketWorker", "wsgiapp:application"),
    "tornado": ("tornado", "tornadoapp:app"),
}
NEEDS = {"aiohttp": "aiohttp", "gevent-websocket": "geventwebsocket", "tornado": "tornado"}
FILES = {
    "wsgiapp.py": WSGI_APP,
    "aioapp.py": AIOHTTP_APP,
    "tornadoapp.py": TORNADO_APP,
    "hostedworkers.py": WORKERS,
}
FAST = ["--graceful-timeout", "3"]


def _start(
    server_factory: Factory, kind: str, *extra: str, app: str | None = None, **kwargs: object
) -> Server:
    if kind in NEEDS:
        pytest.importorskip(NEEDS[kind])
    pytest.importorskip("gevent")  # (the WSGI app imports it for the unpatched sleep)
    worker_class, default_app = KINDS[kind]
    return server_factory(
        [*FAST, *extra],
        app=app or default_app,
        files=FILES,
        worker_class=worker_class,
        tcp=True,
        **kwargs,
    )


def _heartbeat_seen(server: Server, pid: int) -> None:
    """Wait until the master took ``pid``'s first heartbeat: before it, a worker still booting is given its
    boot grace (Gunicorn waits for that first heartbeat forever)."""

    def ready() -> bool:
        return any(
            w["pid"] == pid and w["state"] == "ready" for w in ctl(server, "show", "workers")["workers"]
        )

    wait_for(ready, 20, f"worker {pid} to be ready")


def _pid_of(server: Server) -> int:
    response = server.request("/", timeout=20)
    assert response.status == 200, response
    return int(response.body.decode().split("=")[1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_serves_scales_reloads_and_respawns(server_factory: Factory, kind: str) -> None:
    server = _start(server_factory, kind, "--workers", "1")
    (first,) = server.wait_workers(1, timeout=20)
    assert _pid_of(server) == first
    assert f"Using worker: {KINDS[kind][0]}" in server.log

    server.send(signal.SIGTTIN)
    both = server.wait_workers(2, timeout=20)
    server.send(signal.SIGTTOU)
    wait_for(lambda: len(server.workers()) == 1, 20, "TTOU to leave one worker")
    (kept,) = server.workers()
    assert kept in both
    assert _pid_of(server) == kept

    server.send(signal.SIGHUP)
    wait_for(lambda: server.workers() and kept not in server.workers(), 30, "HUP to replace the worker")
    (reloaded,) = server.wait_workers(1, timeout=20)
    wait_for(lambda: _pid_of(server) == reloaded, 20, "the new worker to answer")

    server.send(signal.SIGKILL, reloaded)
    wait_for(lambda: server.workers() and reloaded not in server.workers(), 20, "a respawn after SIGKILL")
    (respawned,) = server.wait_workers(1, timeout=20)
    wait_for(lambda: _pid_of(server) == respawned, 20, "the respawned worker to answer")
    assert server.stop() == 0


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_blocked_loop_is_killed_by_the_timeout(server_factory: Factory, kind: str) -> None:
    server = _start(server_factory, kind, "--workers", "1", "--timeout", "2")
    (worker,) = server.wait_workers(1, timeout=20)
    _heartbeat_seen(server, worker)
    with server.connect(timeout=30) as sock:
        sock.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        server.wait_log(f"WORKER TIMEOUT (pid:{worker})", timeout=30)
        wait_for(lambda: not pid_alive(worker), 20, "the blocked worker to be killed")
    (replacement,) = server.wait_workers(1, timeout=20)
    assert replacement != worker
    wait_for(lambda: _pid_of(server) == replacement, 20, "the replacement to answer")


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_app_that_cannot_be_found_stops_the_master_with_4(
    server_factory: Factory, kind: str, tmp_path: Path
) -> None:
    (tmp_path / "noattr.py").write_text("x = 1\n")
    server = _start(server_factory, kind, "--workers", "1", app="noattr:app", ready=False)
    assert server.wait(30) == 4
    assert "Reason: App failed to load." in server.log
    assert server.log.count("Booting worker with pid") == 1


@pytest.mark.parametrize(
    ("kind", "worker_class", "app"),
    [
        ("sync-subclass", "hostedworkers.BrokenBoot", "wsgiapp:application"),
        # aiohttp's worker boots in run(): a WSGI app is not an aiohttp Application
        ("aiohttp", "aiohttp.GunicornWebWorker", "wsgiapp:application"),
    ],
)
def test_a_worker_that_cannot_boot_stops_the_master_with_3(
    server_factory: Factory, kind: str, worker_class: str, app: str
) -> None:
    if kind in NEEDS:
        pytest.importorskip(NEEDS[kind])
    server = server_factory(
        [*FAST, "--workers", "1"], app=app, files=FILES, worker_class=worker_class, ready=False
    )
    assert server.wait(30) == 3
    assert "Reason: Worker failed to boot." in server.log


def test_the_subclass_notify_runs(server_factory: Factory) -> None:
    server = _start(server_factory, "sync-subclass", "--workers", "1", "--timeout", "2")
    (worker,) = server.wait_workers(1, timeout=20)
    beats = server.workdir / "beats"
    # the sync worker notifies about every second (half the timeout): several beats, from that worker
    wait_for(lambda: beats.exists() and len(beats.read_text().split()) >= 3, 20, "three heartbeats")
    assert set(beats.read_text().split()) == {str(worker)}
    # and the master took them as heartbeats: the worker was not killed for want of one
    assert "WORKER TIMEOUT" not in server.log and worker in server.workers()


def test_a_websocket_echo_under_gevent_websocket(server_factory: Factory) -> None:
    websockets = pytest.importorskip("websockets")
    server = _start(server_factory, "gevent-websocket", "--workers", "1")
    host, port = server.address.rsplit(":", 1)

    async def echo() -> list[str]:
        async with websockets.connect(f"ws://{host}:{port}/") as ws:
            got = []
            for text in ("one", "two", "x" * 10_000):
                await ws.send(text)
                got.append(await ws.recv())
            return got

    assert asyncio.run(echo()) == ["one", "two", "x" * 10_000]


def test_the_access_log_of_a_hosted_worker_has_gunicorns_atoms(server_factory: Factory) -> None:
    server = _start(
        server_factory,
        "sync-subclass",
        "--workers",
        "1",
        "--access-logfile",
        "-",
        "--access-logformat",
        '%(m)s %(U)s %(s)s %(B)s "%(a)s"',
    )
    pid = _pid_of(server)
    line = f'GET / 200 {len(f"pid={pid}")} "-"'
    wait_for(lambda: line in server.log, 10, f"{line!r} in the log")


def test_without_gunicorn_one_line_before_anything_is_bound(tmp_path: Path) -> None:
    hidden = tmp_path / "nogunicorn" / "gunicorn"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'gunicorn'\", name='gunicorn')\n"
    )
    (tmp_path / "hostedworkers.py").write_text(WORKERS)
    server = start_server(
        ["--workers", "1", "--bind", "127.0.0.1:0"],
        tmp_path,
        worker_class="hostedworkers.CountingSync",
        ready=False,
        bind=False,
        env={"PYTHONPATH": f"{tmp_path / 'nogunicorn'}:{tmp_path}"},
    )
    assert server.wait(30) == 1
    lines = [line for line in server.log.splitlines() if line.strip()]
    assert lines == [
        "Error: worker_class: 'hostedworkers.CountingSync' is written for Gunicorn's worker API; hosting it"
        " needs Gunicorn installed: pip install gunicorn"
    ]
