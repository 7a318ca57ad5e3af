"""The master's basic life: boot and serve, respawn, TTIN/TTOU, USR1, clean stop with pidfile and socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import UNMEASURED, Server, pid_alive, wait_for

FAST = ["--graceful-timeout", "3", "--timeout", "5"]


def test_boot_serve_and_stop_cleanly(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    pidfile = tmp_path / "master.pid"
    server = server_factory([*FAST, "--workers", "2", "--pid", str(pidfile)])
    workers = server.wait_workers(2)
    assert server.request().worker_pid in workers
    assert pidfile.read_text() == f"{server.pid}\n"
    sock_path = server.address[5:]
    assert os.path.exists(sock_path)
    for pid in workers:  # a forked worker shows in /proc before it logs
        server.wait_log(f"Booting worker with pid: {pid}")
    log = server.log
    assert "Starting monoceros" in log
    assert f"Listening at: {server.address} ({server.pid})" in log
    assert "Using worker: " in log

    assert server.stop(signal.SIGTERM) == 0
    assert not pidfile.exists()
    assert not os.path.exists(sock_path)
    assert not any(pid_alive(pid) for pid in workers)
    assert "Shutting down: Master" in server.log
    for pid in workers:
        assert f"Worker exiting (pid: {pid})" in server.log


def test_killed_worker_is_replaced(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "2"])
    first, second = server.wait_workers(2)
    os.kill(first, signal.SIGKILL)
    server.wait_log(f"Worker (pid:{first}) was sent SIGKILL! Perhaps out of memory?")
    workers = wait_for(lambda: (w := server.workers()) and len(w) == 2 and first not in w and w)
    assert second in workers  # type: ignore[operator]
    for _ in range(4):
        assert server.request().status == 200


def test_ttin_ttou(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "2"])
    oldest, _ = server.wait_workers(2)
    server.send(signal.SIGTTIN)
    server.wait_workers(3)
    server.send(signal.SIGTTOU)
    remaining = server.wait_workers(2)
    assert oldest not in remaining  # the oldest goes first
    server.send(signal.SIGTTOU)
    server.wait_workers(1)
    server.send(signal.SIGTTOU)  # never below one
    server.wait_log("Handling signal: ttou", count=3)
    assert len(server.workers()) == 1
    assert server.request().status == 200


def test_quick_stop_with_int(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "2"])
    workers = server.wait_workers(2)
    assert server.stop(signal.SIGINT) == 0
    assert not any(pid_alive(pid) for pid in workers)


def test_usr1_reopens_logs_everywhere(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    errlog = tmp_path / "error.log"
    server = server_factory([*FAST, "--workers", "1", "--error-logfile", str(errlog)])
    server.wait_workers(1)
    rotated = tmp_path / "error.log.1"
    errlog.rename(rotated)
    server.send(signal.SIGUSR1)
    wait_for(errlog.exists, what="the master to reopen its log")
    assert "Handling signal: usr1" in rotated.read_text()
    worker = server.workers()[0]
    assert pid_alive(worker)  # USR1 does not kill a worker
    assert server.stop() == 0
    assert f"Worker exiting (pid: {worker})" in errlog.read_text()


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_process_titles_and_unimplemented_warning(server_factory: Callable[..., Server]) -> None:
    pytest.importorskip("setproctitle")
    server = server_factory([*FAST, "--workers", "1", "--name", "shop", "--dirty-workers", "2"])
    (worker,) = server.wait_workers(1)
    wait_for(lambda: _cmdline(server.pid) == "monoceros: master [shop]", what="the master's title")
    wait_for(lambda: _cmdline(worker) == "monoceros: worker [shop]", what="the worker's title")
    assert "'dirty_workers' is not implemented yet" in server.log


def test_daemon_pidfile_and_winch(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    pidfile, errlog = tmp_path / "d.pid", tmp_path / "d.log"
    server = server_factory(
        [*FAST, "--workers", "2", "--daemon", "--pid", str(pidfile), "--error-logfile", str(errlog)],
        ready=False,
    )
    assert server.wait(10) == 0  # the launcher returns at once
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the daemon's pidfile")
    daemon = int(pidfile.read_text())
    server.extra_pids.append(daemon)
    workers = server.wait_workers(2, master=daemon)
    assert server.request().worker_pid in workers
    os.kill(daemon, signal.SIGWINCH)  # daemon only: stop the workers, keep the listeners
    server.wait_workers(0, master=daemon)
    assert "graceful stop of workers" in errlog.read_text()
    os.kill(daemon, signal.SIGTERM)
    wait_for(lambda: not pid_alive(daemon), what="the daemon to stop")
    assert not pidfile.exists()
    assert not os.path.exists(server.address[5:])


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_workers_run_as_user_and_group(server_factory: Callable[..., Server]) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    # preloaded: the test's work directory is not readable by `nobody`
    args = [*FAST, "--workers", "1", "--preload", "--user", "nobody", "--group", str(nobody.pw_gid)]
    server = server_factory(args)
    (worker,) = server.wait_workers(1)
    status = Path(f"/proc/{worker}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    assert set(uids) == {str(nobody.pw_uid)} and set(gids) == {str(nobody.pw_gid)}
    assert Path(f"/proc/{server.pid}/status").read_text().count("Uid:\t0\t0") == 1  # the master stays
    assert server.request().status == 200
    assert server.stop() == 0


def test_backlog_metric_reaches_statsd(server_factory: Callable[..., Server]) -> None:
    """--enable-backlog-metric: the connections waiting in the listen backlog, as `gunicorn.backlog`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(0.5)
        host, port = statsd.getsockname()
        server = server_factory(
            [*FAST, "--workers", "1", "--statsd-host", f"{host}:{port}", "--enable-backlog-metric"], tcp=True
        )
        busy = server.connect()
        busy.sendall(b"GET /sleep?6 HTTP/1.1\r\nHost: a\r\n\r\n")  # the one sync worker is held ...
        waiting: list[socket.socket] = []

        def backlog_seen() -> bool:
            # ... so connections made now wait in the backlog (more each time: the first may have been
            # accepted before the worker went into the application)
            waiting.extend(server.connect() for _ in range(5))
            try:
                packet = statsd.recv(4096).decode()
            except TimeoutError:
                return False
            return any(
                line.startswith("gunicorn.backlog:") and int(line[17:-2]) >= 5 for line in packet.split("\n")
            )

        try:
            wait_for(backlog_seen, timeout=5, what="gunicorn.backlog >= 5 in a StatsD datagram")
        finally:
            for sock in [busy, *waiting]:
                sock.close()


def test_spew_prints_the_lines_the_master_and_workers_execute(server_factory: Callable[..., Server]) -> None:
    server = server_factory([*FAST, "--workers", "1", "--spew"], env=UNMEASURED)
    (worker,) = server.wait_workers(1)
    assert server.request().worker_pid == worker
    log = server.log
    assert "monoceros.arbiter.master:" in log  # the master's loop
    assert "monoceros.workers.engine:" in log  # the worker's, inherited over fork
    assert "masterapp:" in log  # and the application's own lines


@pytest.mark.parametrize("choice", ["auto", "fast", "python"])
def test_the_master_says_which_http_parser_runs(server_factory: Callable[..., Server], choice: str) -> None:
    from monoceros.http import NATIVE_AVAILABLE

    if choice == "fast" and not NATIVE_AVAILABLE:
        pytest.skip("the native parser is not built in this install")
    server = server_factory([*FAST, "--workers", "1", "--http-parser", choice])
    assert server.request().status == 200
    native = choice == "fast" or (choice == "auto" and NATIVE_AVAILABLE)
    expected = "HTTP parser: native (monoceros.http._speedups)" if native else "HTTP parser: Python"
    assert expected in server.log
    assert "'http_parser' is not implemented" not in server.log


def _without_native_code(tmp_path: Path) -> Path:
    """A copy of the installed package without its compiled modules: an install made with no compiler."""
    import shutil

    import monoceros

    copy = tmp_path / "purepython"
    shutil.copytree(
        Path(monoceros.__file__).parent,
        copy / "monoceros",
        ignore=shutil.ignore_patterns("*.so", "__pycache__"),
    )
    return copy


def test_http_parser_fast_without_the_native_parser_stops_the_start(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    """Gunicorn fails each request when `fast` finds no C parser; here the start fails, in one line."""
    copy = _without_native_code(tmp_path)
    server = server_factory([*FAST, "--http-parser", "fast"], env={"PYTHONPATH": str(copy)}, ready=False)
    assert server.wait(15) == 1
    assert (
        "Error: http_parser = 'fast': the native parser (monoceros.http._speedups) is not built" in server.log
    )
    assert "use 'auto' or 'python'" in server.log
    assert server.workers() == []


def test_http_parser_auto_without_the_native_parser_serves_with_python(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    copy = _without_native_code(tmp_path)
    server = server_factory([*FAST, "--workers", "1"], env={"PYTHONPATH": str(copy)})
    assert server.request().status == 200
    assert "HTTP parser: Python" in server.log


def test_workers_auto_sizes_to_the_cpus_it_may_use(server_factory: Callable[..., Server]) -> None:
    """Under `taskset -c 0` (one CPU in the affinity mask), `WEB_CONCURRENCY=auto` with the sync worker is
    2 x 1 + 1 = 3 workers, and the master says where the number came from."""
    import shutil

    taskset = shutil.which("taskset")
    if taskset is None:
        pytest.skip("taskset is not installed")
    server = server_factory([], env={"WEB_CONCURRENCY": "auto"}, ready=False, prefix=[taskset, "-c", "0"])
    server.wait_workers(3)
    server.wait_log("Workers: 3 (auto: 2 x 1 + 1 for the sync worker;")


FREEZE_APP = """
import gc
import os

def app(environ, start_response):
    body = b"%s %d" % (os.environ["FROZEN_AT_FORK"].encode(), gc.get_freeze_count())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

FREEZE_CONF = """
import gc
import os

def post_fork(server, worker):
    os.environ["FROZEN_AT_FORK"] = str(gc.get_freeze_count())
"""


@pytest.mark.parametrize("preload", [True, False])
def test_preloaded_app_is_frozen_for_copy_on_write(
    server_factory: Callable[..., Server], preload: bool
) -> None:
    args = ["--workers", "1", "-c", "freezeconf.py", *(["--preload"] if preload else [])]
    files = {"freezeapp.py": FREEZE_APP, "freezeconf.py": FREEZE_CONF}
    server = server_factory(args, app="freezeapp:app", files=files)
    at_fork, serving = map(int, server.request("/").body.split())
    # What a fresh interpreter holds frozen already: nothing, but a few hundred objects on Python 3.12.
    fresh = subprocess.run(
        [sys.executable, "-c", "import gc; print(gc.get_freeze_count())"],
        capture_output=True,
        text=True,
        check=True,
    )
    baseline = int(fresh.stdout)
    # With --preload the master froze what it loaded (thousands of objects) before forking; without, a new
    # worker starts with nothing frozen beyond that.
    assert (at_fork > baseline + 1000) if preload else (at_fork == baseline)
    # Either way the worker freezes what it built (the app and its imports) before it serves.
    assert serving > max(at_fork, baseline + 1000)
