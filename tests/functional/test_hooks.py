"""Every server hook fires at Gunicorn's moment, in the right process, with the right arguments.

The config file's hooks append one JSON line per call to a file: the hook name, the pid of the
process that ran it, and a description of each argument.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import STUB
from harness import Server, pid_alive, wait_for

HOOKS_CONF = """
import json, os

RECORD = {record!r}

def _describe(arg):
    if hasattr(arg, "WORKERS"):
        return {{"server": arg.pid, "workers": sorted(arg.WORKERS), "num_workers": arg.num_workers}}
    if hasattr(arg, "max_requests") and hasattr(arg, "tmp"):
        return {{"worker": str(arg.pid), "age": arg.age, "ppid": arg.ppid, "booted": arg.booted,
                 "alive": arg.alive, "wsgi": arg.wsgi is not None, "nr": arg.nr}}
    if hasattr(arg, "method") and hasattr(arg, "path"):
        return {{"req": arg.path}}
    if isinstance(arg, dict):
        return {{"environ": arg.get("PATH_INFO")}}
    if arg is None or isinstance(arg, (int, str)):
        return arg
    return type(arg).__name__

def _record(name, *args):
    with open(RECORD, "a") as f:
        line = {{"hook": name, "pid": os.getpid(), "args": [_describe(a) for a in args]}}
        f.write(json.dumps(line) + "\\n")

def on_starting(server): _record("on_starting", server)
def on_reload(server): _record("on_reload", server)
def when_ready(server): _record("when_ready", server)
def pre_fork(server, worker): _record("pre_fork", server, worker)
def post_fork(server, worker): _record("post_fork", server, worker)
def post_worker_init(worker): _record("post_worker_init", worker)
def worker_int(worker): _record("worker_int", worker)
def worker_abort(worker): _record("worker_abort", worker)
def pre_exec(server): _record("pre_exec", server)
def pre_request(worker, req): _record("pre_request", worker, req)
def post_request(worker, req, environ, resp): _record("post_request", worker, req, environ, resp)
def child_exit(server, worker): _record("child_exit", server, worker)
def worker_exit(server, worker): _record("worker_exit", server, worker)
def nworkers_changed(server, new_value, old_value): _record("nworkers_changed", server, new_value, old_value)
def on_exit(server): _record("on_exit", server)
"""


def _calls(record: Path, name: str | None = None) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    return [c for c in calls if name is None or c["hook"] == name]


def _wait_call(record: Path, name: str, count: int = 1) -> list[dict[str, Any]]:
    wait_for(lambda: len(_calls(record, name)) >= count, what=f"{count} call(s) of {name}")
    return _calls(record, name)


@pytest.fixture
def hooked(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "hooks.jsonl"
    conf = tmp_path / "hooks.conf.py"
    conf.write_text(HOOKS_CONF.format(record=str(record)))
    return conf, record


def test_start_request_scale_reload_and_exit(
    server_factory: Callable[..., Server], hooked: tuple[Path, Path], worker_class: str
) -> None:
    conf, record = hooked
    server = server_factory(["-c", str(conf), "--workers", "1", "--graceful-timeout", "3"])
    master = server.pid
    (worker,) = server.wait_workers(1)

    (starting,) = _calls(record, "on_starting")
    assert starting["pid"] == master and starting["args"][0]["server"] == master
    (changed,) = _calls(record, "nworkers_changed")
    assert changed["pid"] == master and changed["args"][1:] == [1, None]
    (ready,) = _calls(record, "when_ready")
    assert ready["pid"] == master and ready["args"][0]["workers"] == []
    names = [c["hook"] for c in _calls(record)]
    assert names[:4] == ["nworkers_changed", "on_starting", "when_ready", "pre_fork"]
    (pre_fork,) = _calls(record, "pre_fork")
    assert pre_fork["pid"] == master and pre_fork["args"][1]["worker"] == "[booting]"
    assert pre_fork["args"][1]["age"] == 1 and pre_fork["args"][1]["ppid"] == master
    (post_fork,) = _wait_call(record, "post_fork")
    assert post_fork["pid"] == worker and post_fork["args"][1]["worker"] == str(worker)
    assert post_fork["args"][1]["wsgi"] is False  # before the app is loaded
    (init,) = _wait_call(record, "post_worker_init")
    assert init["pid"] == worker and init["args"][0]["wsgi"] is True and init["args"][0]["booted"] is False

    if worker_class != STUB:  # the stub worker does not run the request hooks
        server.request("/hello")
        # the first request was start_server's readiness probe
        pre_req = _wait_call(record, "pre_request", 2)[-1]
        assert pre_req["pid"] == worker and pre_req["args"][1] == {"req": "/hello"}
        post_req = _wait_call(record, "post_request", 2)[-1]
        assert post_req["pid"] == worker and post_req["args"][2] == {"environ": "/hello"}

    server.send(signal.SIGTTIN)
    changed = _wait_call(record, "nworkers_changed", 2)
    assert changed[1]["args"][1:] == [2, 1]
    server.wait_workers(2)

    server.send(signal.SIGHUP)
    (reload,) = _wait_call(record, "on_reload")
    assert reload["pid"] == master
    # HUP re-reads the config: workers = 1 again, the old generation is replaced
    new = wait_for(lambda: (w := server.workers()) and len(w) == 1 and worker not in w and w)
    assert _wait_call(record, "worker_exit", 2)  # TTIN's worker and the first one retired
    exits = [c for c in _wait_call(record, "child_exit", 2) if c["args"][1]["worker"] == str(worker)]
    assert exits and exits[0]["pid"] == master
    (worker_exit,) = [c for c in _calls(record, "worker_exit") if c["pid"] == worker]
    assert worker_exit["args"][1]["worker"] == str(worker) and worker_exit["args"][1]["alive"] is False

    (last,) = new  # type: ignore[misc]
    assert server.stop(signal.SIGINT) == 0  # quick stop: workers get SIGQUIT
    (worker_int,) = [c for c in _calls(record, "worker_int") if c["pid"] == last]
    assert worker_int["args"][0]["worker"] == str(last)
    (on_exit,) = _calls(record, "on_exit")
    assert on_exit["pid"] == master
    assert _calls(record)[-1]["hook"] == "on_exit"


def test_worker_abort_on_timeout(server_factory: Callable[..., Server], hooked: tuple[Path, Path]) -> None:
    conf, record = hooked
    server = server_factory(["-c", str(conf), "--workers", "1", "--timeout", "2", "--graceful-timeout", "2"])
    (worker,) = server.wait_workers(1)
    threading.Thread(target=lambda: server.try_request("/sleep?30", timeout=15), daemon=True).start()
    (abort,) = _wait_call(record, "worker_abort")
    assert abort["pid"] == worker and abort["args"][0]["worker"] == str(worker)
    wait_for(lambda: not pid_alive(worker), what="the aborted worker to exit")
    server.wait_workers(1)


def test_pre_exec_runs_in_the_new_master_before_exec(
    server_factory: Callable[..., Server], hooked: tuple[Path, Path], tmp_path: Path
) -> None:
    conf, record = hooked
    pidfile = tmp_path / "m.pid"
    server = server_factory(["-c", str(conf), "--workers", "1", "--pid", str(pidfile)])
    server.wait_workers(1)
    server.send(signal.SIGUSR2)
    (pre_exec,) = _wait_call(record, "pre_exec")
    assert pre_exec["pid"] != server.pid and pre_exec["args"][0]["server"] == server.pid
    child_pidfile = Path(f"{pidfile}.2")
    wait_for(lambda: child_pidfile.exists() and child_pidfile.read_text().strip(), what="<pidfile>.2")
    new_master = int(child_pidfile.read_text())
    server.extra_pids.append(new_master)
    assert new_master == pre_exec["pid"]  # exec keeps the pid
    starting = _wait_call(record, "on_starting", 2)
    assert starting[1]["pid"] == new_master
    os.kill(new_master, signal.SIGTERM)
    wait_for(lambda: not pid_alive(new_master), what="the new master to stop")
