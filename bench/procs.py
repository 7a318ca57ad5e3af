"""Process helpers the same-run benchmarks share: a server's process tree, its CPU time, readiness, stop.

CPU time is read from ``/proc/PID/stat`` (utime + stime, in clock ticks) over the server's whole tree, so a
master and its workers count together.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            rest = s[s.rindex(")") + 2 :].split()
            kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid: int) -> tuple[int, list[int]]:
    total, pids = 0, tree(pid)
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2 :].split()  # rest[0] is field 3
        total += int(rest[11]) + int(rest[12])  # fields 14, 15
    return total, pids


def affinity(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split()[1]
    except OSError:
        pass
    return "?"


def ensure_free(port: int) -> None:
    """Refuse to start a server on a port something already listens on: a leftover server from an earlier
    run would answer wrk in its place (and its CPU would not be counted)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"port {port} is taken (a server left from another run?): {exc}") from exc


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on {port} not ready")


def stop(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    try:  # no stragglers in the group
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def build_native(src: Path, python: str) -> None:
    """Compile an exported revision's optional C extension in place for ``python``, as its editable install
    would: an exported tree has the source only, and without the module ``http_parser = auto`` would run
    the Python parser."""
    source = src / "monoceros" / "http" / "_speedups.c"
    if not source.exists():
        return
    probe = "import sysconfig as s; print(s.get_config_var('EXT_SUFFIX')); print(s.get_paths()['include'])"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    target = source.with_name("_speedups" + out[0])
    cmd = ["cc", "-shared", "-fPIC", "-O2", f"-I{out[1]}", str(source), "-o", str(target)]
    subprocess.run(cmd, check=True)
