"""The pid file: written atomically as "<pid>\\n" 0644, refuses a live master, removes only its own."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monoceros.arbiter.pidfile import Pidfile


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of another live process (not ours)."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as proc:
        yield proc.pid
        proc.kill()


def test_create_writes_pid_atomically_with_mode_0644(tmp_path: Path) -> None:
    path = tmp_path / "app.pid"
    old_umask = os.umask(0o077)  # the mode must not depend on the caller's umask
    try:
        Pidfile(str(path)).create(1234)
    finally:
        os.umask(old_umask)
    assert path.read_text() == "1234\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["app.pid"]  # no temporary file left behind


def test_create_refuses_a_live_pid(tmp_path: Path, live_pid: int) -> None:
    path = tmp_path / "app.pid"
    path.write_text(f"{live_pid}\n")
    with pytest.raises(RuntimeError) as info:
        Pidfile(str(path)).create(os.getpid())
    assert str(info.value) == f"Already running on PID {live_pid} (or pid file '{path}' is stale)"
    assert path.read_text() == f"{live_pid}\n"


@pytest.mark.parametrize("content", ["stale", "garbage\n", "", "0\n", "-5\n"])
def test_create_replaces_a_stale_or_unreadable_pid(tmp_path: Path, dead_pid: int, content: str) -> None:
    path = tmp_path / "app.pid"
    path.write_text(f"{dead_pid}\n" if content == "stale" else content)
    Pidfile(str(path)).create(os.getpid())
    assert path.read_text() == f"{os.getpid()}\n"


def test_create_over_our_own_pid_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "app.pid"
    path.write_text(f"{os.getpid()}\n")
    Pidfile(str(path)).create(os.getpid())
    assert path.read_text() == f"{os.getpid()}\n"


def test_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="doesn't exist. Can't create pidfile."):
        Pidfile(str(tmp_path / "nope" / "app.pid")).create(1)


def test_relative_name_is_created_in_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    pidfile = Pidfile("rel.pid")
    pidfile.create(42)
    assert (tmp_path / "rel.pid").read_text() == "42\n"


def test_validate(tmp_path: Path, live_pid: int, dead_pid: int) -> None:
    path = tmp_path / "app.pid"
    pidfile = Pidfile(str(path))
    assert pidfile.validate() is None
    path.write_text(f"{live_pid}\n")
    assert pidfile.validate() == live_pid
    path.write_text(f"{dead_pid}\n")
    assert pidfile.validate() is None


def test_unlink_removes_only_our_own_pid(tmp_path: Path) -> None:
    path = tmp_path / "app.pid"
    pidfile = Pidfile(str(path))
    pidfile.create(1234)
    path.write_text("5678\n")  # a newer master took the file over
    pidfile.unlink()
    assert path.read_text() == "5678\n"
    path.write_text("1234\n")
    pidfile.unlink()
    assert not path.exists()
    pidfile.unlink()  # already gone: nothing to do


def test_rename_moves_the_pid(tmp_path: Path) -> None:
    upgraded = tmp_path / "app.pid.2"
    pidfile = Pidfile(str(upgraded))
    pidfile.create(os.getpid())
    pidfile.rename(str(tmp_path / "app.pid"))
    assert not upgraded.exists()
    assert (tmp_path / "app.pid").read_text() == f"{os.getpid()}\n"
    assert pidfile.fname == str(tmp_path / "app.pid")
