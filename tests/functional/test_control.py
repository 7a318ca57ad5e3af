"""The control socket on a real master, driven by Gunicorn's own client (`gunicornc`), by `monoceros ctl`
and by raw bytes: the worker count follows `worker add/remove/kill`, `show workers` names the request in
progress, two instances never share a default path, and `monoceros top` draws in a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, start_server, wait_for

Factory = Callable[..., Server]
GUNICORNC = shutil.which("gunicornc") or str(Path(sys.executable).with_name("gunicornc"))
_CONTROL_AT = re.compile(r"Control socket listening at (\S+)")


def control_path(server: Server) -> str:
    found = wait_for(lambda: _CONTROL_AT.search(server.log), 15, "the control socket line")
    assert isinstance(found, re.Match)
    return found[1]


def ctl(server: Server, *words: str) -> dict:
    """`monoceros ctl --json ...` against the server's socket: the answer's data."""
    out = subprocess.run(
        [sys.executable, "-m", "monoceros", "ctl", "-s", control_path(server), "--json", *words],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def raw(path: str, *messages: object) -> list[object]:
    """Send length-prefixed JSON messages in one write; read as many answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        payload = b""
        for message in messages:
            body = json.dumps(message).encode()
            payload += struct.pack(">I", len(body)) + body
        sock.sendall(payload)
        answers, buffer = [], b""
        while len(answers) < len(messages):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= 4:
                (length,) = struct.unpack(">I", buffer[:4])
                if len(buffer) < 4 + length:
                    break
                answers.append(json.loads(buffer[4 : 4 + length]))
                buffer = buffer[4 + length :]
    return answers


def _gunicornc(path: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GUNICORNC, "-s", path, "-c", command], capture_output=True, text=True, timeout=30)


def test_gunicorns_own_client_works(server_factory: Factory) -> None:
    if not Path(GUNICORNC).exists():
        pytest.skip("gunicornc (Gunicorn 27) is not installed")
    server = server_factory(["--workers", "2"])
    path = control_path(server)
    pids = server.wait_workers(2)
    out = subprocess.run(
        [GUNICORNC, "-s", path, "-c", "show workers"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    for pid in pids:
        assert str(pid) in out.stdout
    assert "yes" in out.stdout  # booted: the master knows it (Gunicorn's always says no)
    out = subprocess.run(
        [GUNICORNC, "-s", path, "-c", "worker add 1"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and '"total": 3' in out.stdout
    server.wait_workers(3)
    out = _gunicornc(path, "bogus")
    assert out.returncode == 1 and "Unknown command: bogus" in out.stderr


def test_worker_add_remove_kill_follow_the_live_count(server_factory: Factory) -> None:
    server = server_factory(["--workers", "2", "--graceful-timeout", "5"])
    server.wait_workers(2)
    assert ctl(server, "worker", "add", "2") == {"added": 2, "previous": 2, "total": 4}
    server.wait_workers(4)
    assert ctl(server, "worker", "remove", "10") == {"removed": 3, "previous": 4, "total": 1}
    (last,) = server.wait_workers(1)
    assert ctl(server, "worker", "kill", str(last)) == {"success": True, "killed": last}
    wait_for(lambda: (w := server.workers()) and len(w) == 1 and last not in w, 15, "a replacement")
    (entry,) = wait_for(
        lambda: [w for w in ctl(server, "show", "workers")["workers"] if w["booted"]], 15, "boot"
    )
    assert entry["last_exit_in_slot"]["reason"] == "killed" and entry["last_exit_in_slot"]["pid"] == last
    assert ctl(server, "worker", "kill", "1") == {"success": False, "error": "Worker 1 not found"}
    stats = ctl(server, "show", "stats")
    assert stats["workers_target"] == 1 and stats["restarts"].get("killed") == 1


def test_show_workers_names_the_request_in_progress(server_factory: Factory) -> None:
    server = server_factory(["--workers", "1", "--metrics-bind", "127.0.0.1:0"])
    slow = threading.Thread(target=lambda: server.request("/sleep?3", timeout=30))
    slow.start()
    server.wait_log("app: /sleep?3 started")
    (worker,) = ctl(server, "show", "workers")["workers"]
    assert worker["current"]["method"] == "GET" and worker["current"]["path"] == "/sleep?3"
    assert 0 <= worker["current"]["seconds"] < 10
    assert worker["rss"] > 1 << 20 and worker["pss"] > 0 and worker["state"] == "ready"
    slow.join(30)
    (worker,) = ctl(server, "show", "workers")["workers"]
    assert worker["current"] is None and worker["requests"] >= 2


def test_the_wire_format_pipelining_and_errors(server_factory: Factory) -> None:
    server = server_factory(["--workers", "1"])
    path = control_path(server)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first, second, third = raw(
        path,
        {"id": 7, "command": "show listeners", "args": []},
        {"id": "x", "command": "worker", "args": ["frobnicate"]},
        {"command": "   "},
    )
    assert first["id"] == 7 and first["status"] == "ok" and first["data"]["count"] == 1
    assert second == {
        "id": "x",
        "status": "error",
        "error": "Invalid argument: Unknown worker action: frobnicate",
    }
    assert third == {"id": 0, "status": "error", "error": "Empty command"}
    assert raw(path, ["not", "an", "object"]) == []  # closed unanswered, as Gunicorn does
    assert server.proc.poll() is None


def test_reload_and_shutdown_through_the_socket(server_factory: Factory) -> None:
    server = server_factory(["--workers", "2", "--graceful-timeout", "5"])
    old = set(server.wait_workers(2))
    path = control_path(server)
    assert ctl(server, "reload") == {"status": "reloading"}
    server.wait_log("Rolling reload done: 2 workers replaced", timeout=30)
    wait_for(lambda: not set(server.workers()) & old, 15, "the old workers to go")
    assert ctl(server, "shutdown") == {"status": "shutting_down", "mode": "graceful"}
    assert server.wait(20) == 0
    assert not os.path.exists(path)


def test_two_instances_never_share_a_default_path(server_factory: Factory, tmp_path: Path) -> None:
    runtime = {"XDG_RUNTIME_DIR": str(tmp_path)}
    started = []
    try:
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            started.append(start_server(["--workers", "1", "-k", "sync"], tmp_path / name, env=runtime))
        one, two = started
        assert control_path(one) != control_path(two)
        assert ctl(one, "show", "stats")["pid"] == one.pid
        assert ctl(two, "show", "stats")["pid"] == two.pid
        # a path a live server answers on is left to it
        three = server_factory(["--workers", "1", "--control-socket", control_path(one)])
        three.wait_log("Control socket not started at")
        assert ctl(one, "show", "stats")["pid"] == one.pid
    finally:
        for server in started:
            server.kill()


def test_no_control_socket(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory(["--workers", "1", "--no-control-socket"], env={"XDG_RUNTIME_DIR": str(tmp_path)})
    server.request("/")
    assert "Control socket" not in server.log
    assert not list(tmp_path.glob("monoceros/*.ctl"))


def _read_pty(fd: int, until: Callable[[str], bool], timeout: float = 20.0) -> str:
    screen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk.decode(errors="replace")
            if until(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", " ", screen)):
                break
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", " ", screen)


def test_top_draws_the_workers_in_a_terminal(server_factory: Factory) -> None:
    server = server_factory(["--workers", "2", "--metrics-bind", "127.0.0.1:0"])
    pids = server.wait_workers(2)
    path = control_path(server)
    for _ in range(20):
        server.request("/")
    pid, fd = pty.fork()
    if pid == 0:  # the child: top on a 120x30 terminal
        os.environ["TERM"] = "xterm"
        os.environ["LINES"], os.environ["COLUMNS"] = "30", "140"
        os.execv(sys.executable, [sys.executable, "-m", "monoceros", "top", "-s", path])
    try:
        screen = _read_pty(fd, lambda text: all(str(p) in text for p in pids) and "req/s" in text)
        assert "req/s" in screen and "p99" in screen
        for worker_pid in pids:
            assert str(worker_pid) in screen
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)


def test_top_once_prints_rates_and_latency(server_factory: Factory) -> None:
    server = server_factory(["--workers", "1", "--metrics-bind", "127.0.0.1:0"])
    done = threading.Event()

    def load() -> None:
        while not done.is_set():
            server.try_request("/")

    thread = threading.Thread(target=load)
    thread.start()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "monoceros", "top", "--once", "-s", control_path(server)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        done.set()
        thread.join(10)
    assert out.returncode == 0, out.stderr
    totals = out.stdout.splitlines()[0]
    rate = int(re.search(r"req/s (\d+)", totals)[1])  # type: ignore[index]
    assert rate > 0 and re.search(r"p50 [\d.]+ms", totals) and re.search(r"p99 [\d.]+ms", totals)
