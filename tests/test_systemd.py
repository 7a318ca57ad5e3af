"""systemd: LISTEN_FDS socket activation and sd_notify over a real AF_UNIX datagram socket."""

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monoceros.arbiter.systemd import listen_fds, sd_notify

LOG = logging.getLogger("tests.systemd")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(5)
        yield sock


def test_listen_fds_for_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "2")
    assert listen_fds(unset_environment=False) == 2
    assert os.environ["LISTEN_FDS"] == "2"
    assert listen_fds() == 2
    assert "LISTEN_PID" not in os.environ
    assert "LISTEN_FDS" not in os.environ
    assert listen_fds() == 0


@pytest.mark.parametrize(("pid", "fds"), [("1", "2"), ("", "2"), ("abc", "1"), ("self", "x")])
def test_listen_fds_ignores_other_processes_and_garbage(
    monkeypatch: pytest.MonkeyPatch, pid: str, fds: str
) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()) if pid == "self" else pid)
    monkeypatch.setenv("LISTEN_FDS", fds)
    assert listen_fds() == 0
    assert os.environ["LISTEN_FDS"] == fds  # not ours: left for whoever it is meant for


def test_sd_notify_sends_ready(monkeypatch: pytest.MonkeyPatch, notify_socket: socket.socket) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.getsockname())
    sd_notify("READY=1\nSTATUS=Monoceros arbiter booted", LOG)
    assert notify_socket.recv(1024) == b"READY=1\nSTATUS=Monoceros arbiter booted"
    assert "NOTIFY_SOCKET" in os.environ


def test_sd_notify_abstract_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"monoceros-notify-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        sd_notify("READY=1", LOG, unset_environment=True)
        assert sock.recv(1024) == b"READY=1"
    assert "NOTIFY_SOCKET" not in os.environ


def test_sd_notify_outside_systemd_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    caplog.set_level(logging.DEBUG, LOG.name)
    sd_notify("READY=1", LOG)
    assert caplog.records == []


def test_sd_notify_errors_are_logged_at_debug(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    caplog.set_level(logging.DEBUG, LOG.name)
    sd_notify("READY=1", LOG)
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == "Exception while invoking sd_notify()"
    assert record.exc_info is not None


def test_socket_activation_end_to_end(tmp_path: Path) -> None:
    """A child started the way systemd starts a service: listener on fd 3, LISTEN_PID = its own pid."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (
        "import logging, os\n"
        "os.dup2(int(os.environ.pop('TEST_FD')), 3)\n"
        "from monoceros.arbiter.systemd import listen_fds, SD_LISTEN_FDS_START\n"
        "from monoceros.arbiter.sockets import create_sockets\n"
        "class C: address=[('127.0.0.1', 1)]; backlog=64; umask=0; uid=-1; gid=-1\n"
        "C.reuse_port=False; C.is_ssl=False; C.certfile=None; C.keyfile=None\n"
        "n = listen_fds()\n"
        "ls = create_sockets(C(), logging.getLogger(), range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n))\n"
        "print(n, [str(lst) for lst in ls], 'LISTEN_PID' in os.environ)\n"
    )
    # `$$` is the shell's pid, which `exec` hands on to python (the child then puts the socket on fd 3).
    script = 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -c "$1"'
    with listener:
        out = subprocess.run(
            ["sh", "-c", script, sys.executable, code],
            pass_fds=[listener.fileno()],
            env={**os.environ, "TEST_FD": str(listener.fileno())},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    assert out.stdout.strip() == f"1 ['http://127.0.0.1:{port}'] False"
