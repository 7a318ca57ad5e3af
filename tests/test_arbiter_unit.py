"""The master's decisions, tested in-process: signals are pushed into the queue (no os.kill), time is
a fake clock, and workers are small fakes, so every timeout path is deterministic."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from monoceros.app.loader import WSGIApplication
from monoceros.arbiter import Arbiter
from monoceros.arbiter import reexec as arbiter_reexec
from monoceros.arbiter.child import log_worker_exit
from monoceros.arbiter.signals import SignalQueue, signal_name
from monoceros.config import Config
from monoceros.workers.base import Worker, _request_limit
from monoceros.workers.workertmp import WorkerTmp


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingLog:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def _add(self, level: str, msg: str, *args: object, **_: object) -> None:
        self.lines.append((level, msg % args if args else msg))

    def critical(self, msg: str, *args: object, **kw: object) -> None:
        self._add("critical", msg, *args)

    def error(self, msg: str, *args: object, **kw: object) -> None:
        self._add("error", msg, *args)

    def warning(self, msg: str, *args: object, **kw: object) -> None:
        self._add("warning", msg, *args)

    def info(self, msg: str, *args: object, **kw: object) -> None:
        self._add("info", msg, *args)

    def debug(self, msg: str, *args: object, **kw: object) -> None:
        self._add("debug", msg, *args)

    def messages(self, level: str | None = None) -> list[str]:
        return [m for lv, m in self.lines if level is None or lv == level]


class FakeTmp:
    def __init__(self, last: float) -> None:
        self.last = last
        self.closed = False

    def last_update(self) -> float:
        return self.last

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeWorker:
    pid: int
    age: int
    tmp: FakeTmp
    aborted: bool = False


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def arbiter(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> tuple[Arbiter, list[tuple[int, int]]]:
    cfg = Config(environ={})
    cfg.set("timeout", 10)
    cfg.set("graceful_timeout", 5)
    server = Arbiter(WSGIApplication(cfg, "masterapp:app"), clock=clock)
    server.log = RecordingLog()  # type: ignore[assignment]
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(server, "kill_worker", lambda pid, sig: killed.append((pid, sig)))
    return server, killed


def _add(server: Arbiter, worker: FakeWorker) -> None:
    server.WORKERS[worker.pid] = worker  # type: ignore[assignment]


# -- heartbeat ------------------------------------------------------------------------------------


def test_late_worker_is_aborted_then_killed(arbiter: Any, clock: FakeClock) -> None:
    server, killed = arbiter
    late, fresh = FakeWorker(101, 1, FakeTmp(clock.now - 11)), FakeWorker(102, 2, FakeTmp(clock.now - 9))
    _add(server, late)
    _add(server, fresh)
    server.murder_workers()
    assert killed == [(101, signal.SIGABRT)]
    assert late.aborted and not fresh.aborted
    assert server.log.messages("critical") == ["WORKER TIMEOUT (pid:101)"]
    clock.now += 2
    server.murder_workers()
    assert killed[1:] == [(101, signal.SIGKILL), (102, signal.SIGABRT)]


def test_timeout_zero_disables_the_check(arbiter: Any, clock: FakeClock) -> None:
    server, killed = arbiter
    server.timeout = 0
    _add(server, FakeWorker(101, 1, FakeTmp(clock.now - 1e6)))
    server.murder_workers()
    assert killed == []


def test_booting_worker_gets_the_boot_grace(clock: FakeClock, tmp_path: Path) -> None:
    cfg = Config(environ={})
    cfg.set("worker_tmp_dir", str(tmp_path))
    tmp = WorkerTmp(cfg, clock=clock)
    tmp.grant_boot_grace(30)
    assert tmp.last_update() == pytest.approx(clock.now + 30)
    clock.now += 5
    tmp.notify()
    assert tmp.last_update() == pytest.approx(clock.now)
    assert os.listdir(tmp_path) == []  # unlinked at once
    tmp.close()
    tmp.close()
    with pytest.raises(ValueError):
        tmp.last_update()


def test_boot_grace_bounds_a_hung_boot(arbiter: Any, clock: FakeClock, tmp_path: Path) -> None:
    server, killed = arbiter
    server.cfg.set("worker_tmp_dir", str(tmp_path))
    tmp = WorkerTmp(server.cfg, clock=clock)
    tmp.grant_boot_grace(server.boot_grace)
    _add(server, FakeWorker(101, 1, tmp))  # type: ignore[arg-type]
    clock.now += server.boot_grace + server.timeout - 1
    server.murder_workers()
    assert killed == []
    clock.now += 2
    server.murder_workers()
    assert killed == [(101, signal.SIGABRT)]
    tmp.close()


def test_retiring_worker_is_killed_after_graceful_timeout(arbiter: Any, clock: FakeClock) -> None:
    server, killed = arbiter
    _add(server, FakeWorker(101, 1, FakeTmp(clock.now)))
    server.retire_worker(101)
    server.retire_worker(101)  # asked once only
    assert killed == [(101, signal.SIGTERM)]
    clock.now += 4
    server.WORKERS[101].tmp.last = clock.now
    server.murder_workers()
    assert killed == [(101, signal.SIGTERM)]
    clock.now += 2
    server.WORKERS[101].tmp.last = clock.now
    server.murder_workers()
    assert killed[-1] == (101, signal.SIGKILL)


# -- signals and the worker count ------------------------------------------------------------------


def test_signal_queue_keeps_order_and_wakes() -> None:
    queue = SignalQueue()
    try:
        assert queue.wait(timeout=0.01) == []
        queue.put(signal.SIGHUP)
        queue.put(signal.SIGTERM)
        assert queue.wait(timeout=5) == [signal.SIGHUP, signal.SIGTERM]
        queue.wakeup()
        assert queue.wait(timeout=5) == []
    finally:
        queue.close()
    assert signal_name(signal.SIGTTIN) == "ttin"


def test_term_and_int_request_a_shutdown(arbiter: Any) -> None:
    server, _ = arbiter
    server.dispatch(signal.SIGTERM)
    assert server._shutdown.graceful is True
    server._shutdown = None
    server.dispatch(signal.SIGINT)
    assert server._shutdown.graceful is False
    assert "Handling signal: int" in server.log.messages("info")


def test_ttin_ttou_and_nworkers_changed(arbiter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = arbiter
    calls: list[tuple[object, int, int | None]] = []
    server.cfg.set("nworkers_changed", lambda s, new, old: calls.append((s, new, old)))
    monkeypatch.setattr(server, "manage_workers", lambda: None)
    server.num_workers = 1
    server.dispatch(signal.SIGTTIN)
    server.dispatch(signal.SIGTTOU)
    server.dispatch(signal.SIGTTOU)  # never below one
    assert calls == [(server, 1, None), (server, 2, 1), (server, 1, 2)]
    assert server.num_workers == 1


def test_manage_workers_spawns_and_retires_the_oldest(
    arbiter: Any, clock: FakeClock, monkeypatch: Any
) -> None:
    server, killed = arbiter
    spawned: list[int] = []

    def spawn() -> int:
        pid = 200 + len(spawned)
        spawned.append(pid)
        _add(server, FakeWorker(pid, 10 + len(spawned), FakeTmp(clock.now)))
        return pid

    monkeypatch.setattr(server, "spawn_worker", spawn)
    monkeypatch.setattr("monoceros.arbiter.master.time.sleep", lambda s: None)
    server._num_workers = 3
    server.manage_workers()
    assert spawned == [200, 201, 202]
    server._num_workers = 1
    server.manage_workers()
    assert killed == [(200, signal.SIGTERM), (201, signal.SIGTERM)]
    server.manage_workers()  # the retiring ones are not asked twice, and not replaced
    assert len(killed) == 2 and spawned == [200, 201, 202]


# -- reaping -----------------------------------------------------------------------------------------


def _child_exiting(code: int) -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    return pid


def test_boot_error_exit_code_halts_and_unknown_children_do_not(arbiter: Any, clock: FakeClock) -> None:
    server, _ = arbiter
    stranger = _child_exiting(3)
    os.waitid(os.P_PID, stranger, os.WEXITED | os.WNOWAIT)
    server.reap_workers()
    assert server._shutdown is None  # not one of ours: reaped quietly (PID 1 case)
    worker = FakeWorker(_child_exiting(4), 1, FakeTmp(clock.now))
    _add(server, worker)
    os.waitid(os.P_PID, worker.pid, os.WEXITED | os.WNOWAIT)
    server.reap_workers()
    assert server._shutdown.exit_status == 4 and server._shutdown.reason == "App failed to load."
    assert worker.tmp.closed and server.WORKERS == {}
    assert f"Worker (pid:{worker.pid}) exited with code 4." in server.log.messages("error")


def test_exit_status_lines() -> None:
    log = RecordingLog()
    assert log_worker_exit(log, 7, signal.SIGKILL) is None  # type: ignore[arg-type]
    assert log_worker_exit(log, 8, signal.SIGTERM) is None  # type: ignore[arg-type]
    assert log_worker_exit(log, 9, 3 << 8) == 3  # type: ignore[arg-type]
    assert log_worker_exit(log, 10, 0) == 0  # type: ignore[arg-type]
    assert log.lines == [
        ("error", "Worker (pid:7) was sent SIGKILL! Perhaps out of memory?"),
        ("info", "Worker (pid:8) was sent SIGTERM!"),
        ("error", "Worker (pid:9) exited with code 3."),
    ]


# -- re-exec environment -------------------------------------------------------------------------


def test_reexec_environment_round_trip() -> None:
    env = arbiter_reexec.new_master_environ({"A": "1"}, 42, [5, 6], systemd=False)
    assert env["MONOCEROS_PID"] == env["GUNICORN_PID"] == "42"
    assert env["MONOCEROS_FD"] == env["GUNICORN_FD"] == "5,6"
    assert arbiter_reexec.parent_master_pid(env) == 42
    assert arbiter_reexec.pop_inherited_fds(env) == [5, 6]
    assert "MONOCEROS_FD" not in env and "GUNICORN_FD" not in env
    arbiter_reexec.forget_parent_master(env)
    assert arbiter_reexec.parent_master_pid(env) == 0
    assert arbiter_reexec.pop_inherited_fds({"GUNICORN_FD": "3"}) == [3]  # taking over from Gunicorn
    sd = arbiter_reexec.new_master_environ({}, 42, [3, 4], systemd=True)
    assert sd["LISTEN_FDS"] == "2" and sd["LISTEN_PID"] == str(os.getpid()) and "MONOCEROS_FD" not in sd
    ctx = arbiter_reexec.start_context()
    assert ctx["args"][:3] == [sys.executable, "-m", "monoceros"] and ctx[0] == sys.executable


# -- worker base ------------------------------------------------------------------------------------


def test_request_limit_and_jitter() -> None:
    assert _request_limit(0, 50) == sys.maxsize
    assert _request_limit(-1, 0) == sys.maxsize
    assert all(10 <= _request_limit(10, 5) <= 15 for _ in range(50))
    assert _request_limit(10, 0) == 10


def test_count_request_stops_after_max_requests(tmp_path: Path) -> None:
    cfg = Config(environ={})
    cfg.set("max_requests", 2)
    cfg.set("worker_tmp_dir", str(tmp_path))
    log = RecordingLog()
    worker = Worker(1, os.getppid(), [], WSGIApplication(cfg, "x:app"), 5.0, cfg, log)  # type: ignore[arg-type]
    try:
        assert worker.pid == "[booting]" and worker.max_requests == 2
        worker.count_request()
        assert worker.alive
        worker.count_request()
        assert not worker.alive and worker.nr == 2
        assert log.messages("info") == ["Autorestarting worker after current request."]
        assert worker.parent_alive()
        worker.ppid = -1
        assert not worker.parent_alive()
        with pytest.raises(NotImplementedError):
            worker.run()
    finally:
        worker.tmp.close()


def test_master_role_names_the_new_master_of_an_upgrade_until_it_is_promoted() -> None:
    from monoceros.arbiter.role import MasterRole

    only = MasterRole()
    assert (only.name, only.proc_name("app"), only.pidfile("/run/app.pid")) == (
        "Master",
        "app",
        "/run/app.pid",
    )
    assert not only.promote(parent_pid=1)
    new = MasterRole(old_master_pid=4242)
    assert (new.name, new.proc_name("app"), new.pidfile("/run/app.pid")) == (
        "Master.2",
        "app.2",
        "/run/app.pid.2",
    )
    assert not new.promote(parent_pid=4242)  # the old master is still its parent
    assert new.promote(parent_pid=1)  # it exited: this one takes the plain names
    assert (new.name, new.old_master_pid, new.pidfile("/run/app.pid")) == ("Master", 0, "/run/app.pid")
