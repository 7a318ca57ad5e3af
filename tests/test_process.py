"""Process utilities, checked on real fds, files and child processes."""

import fcntl
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monoceros.process import (
    chown,
    close_on_exec,
    get_username,
    is_ipv6,
    set_non_blocking,
    set_owner_process,
)


def run_child(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("addr", "expected"),
    [("::1", True), ("::", True), ("fe80::1%1", False), ("2001:db8::42", True), ("127.0.0.1", False)]
    + [("[::1]", False), ("localhost", False), ("", False)],
)
def test_is_ipv6(addr: str, expected: bool) -> None:
    assert is_ipv6(addr) is expected


def test_close_on_exec_and_non_blocking() -> None:
    r, w = os.pipe2(0)
    try:
        fcntl.fcntl(r, fcntl.F_SETFD, 0)
        close_on_exec(r)
        set_non_blocking(r)
        assert fcntl.fcntl(r, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(r, fcntl.F_GETFL) & os.O_NONBLOCK
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
    finally:
        os.close(r)
        os.close(w)


def test_get_username() -> None:
    assert get_username(os.getuid()) == pwd.getpwuid(os.getuid()).pw_name
    with pytest.raises(KeyError):
        get_username(2**31 - 7)


def test_chown_to_ourselves(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("")
    chown(str(path), os.geteuid(), -1)
    assert path.stat().st_uid == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_set_owner_process_drops_to_nobody() -> None:
    nobody = pwd.getpwnam("nobody")
    code = (
        "import os\n"
        "from monoceros.process import set_owner_process\n"
        f"set_owner_process({nobody.pw_uid}, {nobody.pw_gid}, initgroups=True)\n"
        "print(os.getuid(), os.getgid(), os.geteuid(), sorted(os.getgroups()))\n"
    )
    uid, gid, euid, groups = run_child(code).stdout.split(maxsplit=3)
    assert (uid, gid, euid) == (str(nobody.pw_uid), str(nobody.pw_gid), str(nobody.pw_uid))
    assert "0" not in groups.strip("[]").split(", ")  # root's supplementary group was dropped too


def test_set_owner_process_to_ourselves_is_a_no_op() -> None:
    set_owner_process(os.getuid(), os.getgid())
    set_owner_process(0, 0)  # zero means "keep", even for root
    assert os.getuid() == os.geteuid()


def test_set_proctitle_shows_in_proc() -> None:
    code = (
        "from monoceros.process import set_proctitle\n"
        "set_proctitle('master [hello]')\n"
        "print(open('/proc/self/cmdline', 'rb').read().split(b'\\0')[0].decode())\n"
    )
    pytest.importorskip("setproctitle")
    assert run_child(code).stdout.strip() == "monoceros: master [hello]"


def wait_for_json(path: Path) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            result: dict[str, object] = json.loads(path.read_text())
            return result
        time.sleep(0.02)
    raise AssertionError("the daemon never reported")


DAEMON_CODE = """
import json, os, sys
from monoceros.process import daemonize
before = os.getpid()
daemonize({inherit})
print("written by the daemon")
sys.stdout.flush()
info = dict(before=before, pid=os.getpid(), sid=os.getsid(0), pgid=os.getpgid(0),
            umask=os.umask(0), stdin=os.readlink("/proc/self/fd/0"), stdout=os.readlink("/proc/self/fd/1"))
open({report!r} + ".tmp", "w").write(json.dumps(info) + "\\n")
os.rename({report!r} + ".tmp", {report!r})
"""


def test_daemonize_detaches_and_silences_stdio(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    launcher = run_child(DAEMON_CODE.format(inherit=False, report=str(report)))
    assert launcher.stdout == ""  # the original process exited at the first fork, silently
    info = wait_for_json(report)
    assert info["pid"] != info["before"]
    assert info["sid"] != info["pid"]  # second fork: not a session leader, so no controlling tty again
    assert info["pgid"] == info["sid"]
    assert info["umask"] == 0o22
    assert info["stdin"] == info["stdout"] == os.devnull


def test_daemonize_can_keep_redirected_stdio(tmp_path: Path) -> None:
    report, out = tmp_path / "report.json", tmp_path / "out.log"
    code = DAEMON_CODE.format(inherit=True, report=str(report))
    with open(out, "w") as sink:
        subprocess.run([sys.executable, "-c", code], stdout=sink, timeout=30, check=True)
    info = wait_for_json(report)
    assert info["stdout"] == str(out)
    assert info["stdin"] == os.devnull
    assert out.read_text() == "written by the daemon\n"


def test_daemonize_is_skipped_in_a_reexeced_master() -> None:
    code = "import os\nfrom monoceros.process import daemonize\np = os.getpid()\n"
    code += "daemonize()\nprint(os.getpid() == p)\n"
    assert run_child(code, {"MONOCEROS_FD": "3"}).stdout.strip() == "True"
    assert run_child(code, {"GUNICORN_FD": "3"}).stdout.strip() == "True"


# -- workers = auto: the CPUs this server may use ---------------------------------------------------


def _cgroup(tmp_path: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(tmp_path)


def test_available_cpus_reads_a_cgroup_v2_quota(tmp_path: Path) -> None:
    import os

    from monoceros.process import available_cpus

    mine = len(os.sched_getaffinity(0))
    root = _cgroup(tmp_path, {"cpu.max": "50000 100000"})  # half a CPU: one worker's worth
    cpus, where = available_cpus(root)
    assert cpus == 1
    if mine >= 2:
        assert where == "the cgroup's cpu.max (50000 per 100000 us: 1 CPUs)"
    rounded = _cgroup(tmp_path / "r", {"cpu.max": "150000 100000"})  # 1.5 CPUs keep 2 busy
    assert available_cpus(rounded)[0] == min(2, mine)
    unlimited = _cgroup(tmp_path / "u", {"cpu.max": "max 100000"})
    assert available_cpus(unlimited)[0] == mine and "affinity" in available_cpus(unlimited)[1]


def test_available_cpus_reads_a_cgroup_v1_quota(tmp_path: Path) -> None:
    from monoceros.process import available_cpus

    root = _cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"})
    assert available_cpus(root) == (1, "the cgroup's cpu.cfs_quota_us (50000 per 100000 us: 1 CPUs)")
    none = _cgroup(tmp_path / "n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    assert "affinity" in available_cpus(none)[1]
    assert "affinity" in available_cpus(str(tmp_path / "missing"))[1]
