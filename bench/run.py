"""The server benchmark: wrk against Monoceros, Gunicorn and the floor, in the same run.

    .venv/bin/python bench/run.py            # full suite (~20 min), writes bench/results/latest.*
    .venv/bin/python bench/run.py --quick        # 3 runs of 2 s per cell
    .venv/bin/python bench/run.py --only 'sync/hello'          # regex(es) on scenario ids, comma-separated
    .venv/bin/python bench/run.py --profile sync/hello/ka/c100 # py-spy on the Monoceros worker, top frames

Every server runs ``bench/app.py`` pinned to one core (``taskset``), wrk runs with one thread pinned to the
other core. The servers of one configuration are started together (each on its own free port), and for
each scenario the runs alternate between them, so a burst of noise on this shared machine hits all of them
alike: only the ratios measured in the same run mean something. See bench/NOTES.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WRK_SCRIPTS = BENCH / "wrk"
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "python").exists() else Path(sys.executable).parent
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
APP = "app:application"

PATHS = {"hello": "/", "big": "/big", "echo": "/echo", "sleep": "/sleep"}
SLEEP_S = 0.010  # what /sleep sleeps, for the throughput bound of the /sleep rows


# ----------------------------------------------------------------------------------------------------
# Configurations and scenarios


@dataclass(frozen=True)
class Group:
    """One server configuration: every server of a group is started once and serves all its scenarios."""

    name: str
    kind: str  # "sync" | "gthread"
    workers: int
    threads: int
    floor: bool  # the floor (one process, one thread) runs beside it for hello-world keep-alive
    access_log: bool = False  # every server writes an access log to a file; a log-less Monoceros runs beside


@dataclass(frozen=True)
class Scenario:
    group: Group
    path: str  # key of PATHS
    mode: str  # "ka" (keep-alive) | "close" (Connection: close on every request)
    conns: int

    @property
    def id(self) -> str:
        return f"{self.group.name}/{self.path}/{self.mode}/c{self.conns}"

    @property
    def script(self) -> Path | None:
        name = {("echo", "ka"): "echo", ("echo", "close"): "echo_close"}.get((self.path, self.mode))
        if name is None and self.mode == "close":
            name = "close"
        return WRK_SCRIPTS / f"{name}.lua" if name else None

    @property
    def bound(self) -> float | None:
        """The most requests/s an ideal server can do on /sleep: concurrent calls / 10 ms."""
        if self.path != "sleep":
            return None
        return min(self.group.workers * self.group.threads, self.conns) / SLEEP_S


SYNC = Group("sync", "sync", 1, 1, True)
GTHREAD = Group("gthread", "gthread", 1, 4, True)
SYNC_W2 = Group("sync-w2", "sync", 2, 1, False)
GTHREAD_W2 = Group("gthread-w2", "gthread", 2, 4, False)
GTHREAD_100 = Group("gthread-t100", "gthread", 1, 100, False)
SYNC_LOG = Group("sync-accesslog", "sync", 1, 1, False, access_log=True)


def all_scenarios() -> list[Scenario]:
    out = []
    for group in (SYNC, GTHREAD):
        for path in PATHS:
            for mode in ("ka", "close"):
                for conns in (10, 100):
                    out.append(Scenario(group, path, mode, conns))
    for group in (SYNC_W2, GTHREAD_W2):
        for mode in ("ka", "close"):
            out.append(Scenario(group, "hello", mode, 100))
    for mode in ("ka", "close"):
        out.append(Scenario(GTHREAD_100, "sleep", mode, 100))
    for conns in (10, 100):
        out.append(Scenario(SYNC_LOG, "hello", "ka", conns))
    return out


# ----------------------------------------------------------------------------------------------------
# Servers


def have_monoceros_gthread() -> bool:
    code = (
        "import importlib.util,sys; sys.exit(importlib.util.find_spec('monoceros.workers.gthread') is None)"
    )
    return subprocess.run([PYTHON, "-c", code], cwd=BENCH, capture_output=True).returncode == 0


C_PEERS = {"bjoern": "bjoern", "meinheld": "meinheld.server"}


@functools.cache
def c_peer_importable(name: str) -> bool:
    """bjoern needs Debian's libev-dev to build and meinheld an old greenlet (installed --no-deps): either may
    be missing, and is then left out with a note."""
    code = f"import {C_PEERS[name]}"
    return subprocess.run([PYTHON, "-c", code], cwd=BENCH, capture_output=True).returncode == 0


def _which(name: str) -> str | None:
    local = BIN / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def _gunicorn_like(exe: str, group: Group, port: int) -> list[str]:
    return [
        exe,
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(group.workers),
        "-k",
        group.kind,
        "--threads",
        str(group.threads),
        "--log-level",
        "warning",
        APP,
    ]


def _access_log(argv: list[str], name: str, port: int) -> list[str]:
    path = Path(tempfile.gettempdir()) / f"monoceros-bench-{port}-{name}-access.log"
    return [*argv[:-1], "--access-logfile", str(path), argv[-1]]


def server_commands(group: Group, port: int, mono_gthread: bool) -> dict[str, list[str] | None]:
    """name -> argv (None: this server has no such configuration, the cell is left empty)."""
    cmds: dict[str, list[str] | None] = {}
    mono = _which("monoceros")
    cmds["monoceros"] = (
        _gunicorn_like(mono, group, port) if mono and (group.kind == "sync" or mono_gthread) else None
    )
    guni = _which("gunicorn")
    cmds["gunicorn"] = _gunicorn_like(guni, group, port) if guni else None
    if group.access_log:
        # The same Monoceros without its log, measured alternately with it: the log's cost.
        cmds["monoceros-nolog"] = cmds["monoceros"]
        for name in ("monoceros", "gunicorn"):
            argv = cmds[name]
            cmds[name] = _access_log(argv, name, port) if argv else None
    # Optional third parties, only when installed; each in the closest configuration it has.
    waitress = _which("waitress-serve")
    if waitress:
        ok = group.workers == 1
        cmds["waitress"] = (
            [waitress, "--listen", f"127.0.0.1:{port}", f"--threads={group.threads}", APP] if ok else None
        )
    # The C servers (bench/c_peer.py): one process, one thread; only in the one-worker groups.
    for name in C_PEERS:
        if c_peer_importable(name):
            cmds[name] = [PYTHON, str(BENCH / "c_peer.py"), name, str(port)] if group.workers == 1 else None
    granian = _which("granian")
    if granian:
        cmds["granian"] = [
            granian,
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(group.workers),
            "--blocking-threads",
            str(group.threads),
            APP,
        ]
    return cmds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str = "/", timeout: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
            # The floor never closes: stop once the whole hello-world answer is in.
            if b"".join(chunks).endswith(b"Hello, World!"):
                break
    return b"".join(chunks)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        pass
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


@dataclass
class Server:
    name: str
    group: Group
    argv: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    startup_s: float | None = None
    workers: list[int] = field(default_factory=list)
    idle: dict[int, dict[str, int]] = field(default_factory=dict)
    master: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def start(self, core: str | None, timeout: float = 30.0) -> None:
        argv = (["taskset", "-c", core] if core is not None else []) + self.argv
        with open(self.log, "ab") as log:
            t0 = time.perf_counter()
            # A session of its own: the server and its workers form one process group that only we kill.
            self.proc = subprocess.Popen(argv, cwd=BENCH, stdout=log, stderr=log, start_new_session=True)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                self.error = f"exited with {self.proc.returncode} before answering (log: {self.log})"
                return
            try:
                if get(self.port).startswith(b"HTTP/1.1 200"):
                    self.startup_s = time.perf_counter() - t0
                    break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                self.error = f"no answer within {timeout:.0f} s (log: {self.log})"
                return
            time.sleep(0.005)
        self.find_workers()
        time.sleep(0.3)  # let the just-booted workers settle before reading their idle memory
        self.idle = {pid: memory(pid) for pid in self.workers}
        self.master = memory(self.proc.pid) if self.workers != [self.proc.pid] else {}

    def find_workers(self) -> None:
        assert self.proc is not None
        want = self.group.workers if self.name in ("monoceros", "gunicorn", "granian") else 1
        deadline = time.perf_counter() + 10
        kids: list[int] = []
        while time.perf_counter() < deadline:
            kids = children(self.proc.pid)
            if len(kids) >= want:
                break
            time.sleep(0.05)
        # A server that forks no worker (the floor, waitress) is its own worker.
        self.workers = sorted(kids) or [self.proc.pid]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the pid of the process we started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)
        # Workers left behind by a master that died first are in the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


# ----------------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkRun:
    rps: float
    requests: int
    errors: dict[str, int]
    non2xx: int
    latency_ms: dict[str, float]


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text: str) -> WrkRun:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    reqs = re.search(r"(\d+) requests in", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if not rps or not reqs:
        raise RuntimeError(f"cannot read wrk output:\n{text}")
    errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, errs.groups()), strict=True))
        if errs
        else {}
    )
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        latency[f"p{pct}"] = round(float(value) * _UNITS[unit], 3)
    return WrkRun(
        float(rps.group(1)), int(reqs.group(1)), errors, int(non2xx.group(1)) if non2xx else 0, latency
    )


def wrk(scenario: Scenario, port: int, duration: float, core: str | None) -> WrkRun:
    argv = (["taskset", "-c", core] if core is not None else []) + [
        "wrk",
        "-t1",
        f"-c{scenario.conns}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    if scenario.script is not None:
        argv += ["-s", str(scenario.script)]
    argv.append(f"http://127.0.0.1:{port}{PATHS[scenario.path]}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return parse_wrk(out.stdout)


# ----------------------------------------------------------------------------------------------------
# The suite


def cores() -> tuple[str | None, str | None]:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        print("warning: fewer than 2 cores available, no pinning", file=sys.stderr)
        return None, None
    return str(available[0]), str(available[1])


def start_group(
    group: Group, names: list[str], logdir: Path, core: str | None, mono_gthread: bool
) -> list[Server]:
    servers = []
    for name in names:
        port = free_port()
        if name == "floor":
            argv: list[str] | None = [PYTHON, str(BENCH / "floor.py"), str(port), APP]
        else:
            argv = server_commands(group, port, mono_gthread).get(name)
        if argv is None:
            continue
        server = Server(name, group, argv, port, logdir / f"{group.name}-{name}.log")
        servers.append(server)
        server.start(core)
        if server.error:
            print(f"  {name}: {server.error}", file=sys.stderr)
        else:
            idle = ", ".join(f"{m.get('VmRSS', 0) / 1024:.1f}" for m in server.idle.values())
            startup = server.startup_s or 0.0
            print(
                f"  {name}: port {server.port}, answered after {startup * 1000:.0f} ms, idle RSS {idle} MiB"
            )
    return servers


def summarize(runs: list[WrkRun]) -> dict[str, Any]:
    rps = [r.rps for r in runs]
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r.errors)
    return {
        "median": statistics.median(rps),
        "min": min(rps),
        "max": max(rps),
        "runs": [asdict(r) for r in runs],
        "errors": dict(errors),
        "socket_errors": sum(errors.values()),
        "non2xx": sum(r.non2xx for r in runs),
        "p50_ms": statistics.median(r.latency_ms.get("p50", 0.0) for r in runs),
        "p99_ms": statistics.median(r.latency_ms.get("p99", 0.0) for r in runs),
    }


def run_scenario(
    scenario: Scenario, servers: list[Server], args: argparse.Namespace, wrk_core: str | None
) -> dict[str, Any]:
    live = [
        s
        for s in servers
        if not s.error and (s.name != "floor" or (scenario.path, scenario.mode) == ("hello", "ka"))
    ]
    for server in live:  # warm-up, not counted
        with contextlib.suppress(RuntimeError):
            wrk(scenario, server.port, args.warmup, wrk_core)
    runs: dict[str, list[WrkRun]] = {s.name: [] for s in live}
    failures: dict[str, str] = {}
    for _ in range(args.runs):
        for server in live:  # alternate: noise hits every server alike
            if server.name in failures:
                continue
            if server.proc is not None and server.proc.poll() is not None:
                failures[server.name] = f"server died (log: {server.log})"
                continue
            try:
                runs[server.name].append(wrk(scenario, server.port, args.duration, wrk_core))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failures[server.name] = str(exc).splitlines()[0]
    result: dict[str, Any] = {
        "id": scenario.id,
        "group": scenario.group.name,
        "kind": scenario.group.kind,
        "workers": scenario.group.workers,
        "threads": scenario.group.threads,
        "path": PATHS[scenario.path],
        "mode": scenario.mode,
        "conns": scenario.conns,
        "bound": scenario.bound,
        "servers": {name: summarize(r) for name, r in runs.items() if r and name not in failures},
        "failures": failures,
    }
    s = result["servers"]
    line = " ".join(f"{n}={v['median']:,.0f}" for n, v in s.items())
    if "monoceros" in s and "gunicorn" in s:
        line += f"  M/G={s['monoceros']['median'] / s['gunicorn']['median']:.2f}"
    print(f"{scenario.id:<32} {line}" + (f"  failures: {failures}" if failures else ""), flush=True)
    return result


def run_micro(name: str, argv: list[str]) -> dict[str, Any]:
    path = BENCH / name
    if not path.exists():
        return {"name": name, "skipped": "absent"}
    try:
        out = subprocess.run(
            [PYTHON, str(path), *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired:
        return {"name": name, "error": "timed out after 600 s"}
    if out.returncode != 0:
        return {"name": name, "error": f"exit {out.returncode}: {out.stderr.strip()[-500:]}"}
    return {"name": name, "argv": argv, "output": out.stdout.rstrip()}


def environment(args: argparse.Namespace) -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (src/ modified)" if dirty.stdout.strip() else ""),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": version([PYTHON, "--version"]),
        "monoceros": version([str(BIN / "monoceros"), "--version"])
        if (BIN / "monoceros").exists()
        else "absent",
        "gunicorn": version([str(BIN / "gunicorn"), "--version"])
        if (BIN / "gunicorn").exists()
        else "absent",
        "wrk": version(["wrk", "--version"]),
        "runs": args.runs,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
    }


def suite(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    server_core, wrk_core = cores()
    mono_gthread = have_monoceros_gthread()
    patterns = [re.compile(p) for p in args.only.split(",")] if args.only else []
    scenarios = [s for s in all_scenarios() if not patterns or any(p.search(s.id) for p in patterns)]
    if not scenarios:
        print("no scenario matches --only", file=sys.stderr)
        return 2
    extras = [n for n in ("waitress", "granian") if _which("waitress-serve" if n == "waitress" else n)]
    extras += [n for n in C_PEERS if c_peer_importable(n)]
    names = ["monoceros", "gunicorn", *extras]
    report: dict[str, Any] = {"environment": environment(args), "servers": {}, "scenarios": [], "notes": []}
    for name in C_PEERS:
        if not c_peer_importable(name):
            report["notes"].append(f"{name}: not importable here, left out (pip install -e '.[peers]').")
    if not mono_gthread:
        report["notes"].append(
            "monoceros.workers.gthread does not exist yet: Monoceros gthread cells are empty."
        )
    logdir = Path(tempfile.mkdtemp(prefix="monoceros-bench-"))
    print(f"{len(scenarios)} scenarios, {args.runs} runs of {args.duration:g} s; server logs in {logdir}")
    groups = list(dict.fromkeys(s.group for s in scenarios))
    for group in groups:
        print(f"== {group.name}: -k {group.kind} -w {group.workers} --threads {group.threads}", flush=True)
        mine = [s for s in scenarios if s.group == group]
        want_floor = group.floor and any((s.path, s.mode) == ("hello", "ka") for s in mine)
        servers: list[Server] = []
        try:
            group_names = names + (["floor"] if want_floor else []) + (["monoceros-nolog"] * group.access_log)
            servers = start_group(group, group_names, logdir, server_core, mono_gthread)
            for scenario in mine:
                report["scenarios"].append(run_scenario(scenario, servers, args, wrk_core))
        finally:
            for server in servers:
                if not server.error:
                    loaded = {pid: memory(pid) for pid in server.workers}
                    report["servers"][f"{group.name}/{server.name}"] = {
                        "group": group.name,
                        "server": server.name,
                        "argv": server.argv,
                        "startup_s": server.startup_s,
                        "workers": len(server.workers),
                        "idle": list(server.idle.values()),
                        "after_load": list(loaded.values()),
                        "master": server.master,
                    }
                else:
                    report["servers"][f"{group.name}/{server.name}"] = {"error": server.error}
                server.stop()
    if not args.no_micro:
        print("== micro-benchmarks", flush=True)
        report["micro"] = [
            run_micro("parser_bench.py", ["--rounds", "3"] if args.quick else []),
            run_micro("wsgi_bench.py", []),
        ]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


# ----------------------------------------------------------------------------------------------------
# Report


def _cell(v: dict[str, Any] | None) -> str:
    if not v:
        return "–"
    return f"{v['median']:,.0f} ({v['min']:,.0f}–{v['max']:,.0f})"


def _errs(v: dict[str, Any] | None) -> str:
    if not v:
        return "–"
    e, n = v["socket_errors"], v["non2xx"]
    return (
        "0"
        if not e and not n
        else f"{e} err" + (f" {v['errors']}" if e else "") + (f", {n} non-2xx" if n else "")
    )


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "# Benchmark results (bench/run.py)",
        "",
        f"{env['date']}, commit {env['commit']}; {env['cpu']}, {env['cpus']} CPUs, Linux {env['kernel']}; "
        f"{env['python']}; {env['gunicorn']}; {env['wrk']}.",
        f"Each cell: median requests/s of {env['runs']} runs of {env['duration_s']:g} s after a "
        f"{env['warmup_s']:g} s warm-up, (min–max) in brackets. Server pinned to core 0, `wrk -t1` to "
        "core 1; the "
        "servers of a row are measured alternately in the same run. M/G = Monoceros / Gunicorn, M/floor = "
        "Monoceros / the floor (bench/floor.py, hello-world keep-alive only). `close` = every request says "
        "`Connection: close`. Gunicorn's sync worker closes every connection even when asked for keep-alive.",
        "",
    ]
    lines += [f"> {note}" for note in report["notes"]]
    if report["notes"]:
        lines.append("")
    extras = sorted(
        {n for s in report["scenarios"] for n in s["servers"]} - {"monoceros", "gunicorn", "floor"}
    )
    head = [
        "scenario",
        "Monoceros",
        "Gunicorn",
        "M/G",
        "floor",
        "M/floor",
        *extras,
        "errors M / G",
        "p99 ms M / G",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in report["scenarios"]:
        v = s["servers"]
        m, g, f = v.get("monoceros"), v.get("gunicorn"), v.get("floor")
        mg = f"**{m['median'] / g['median']:.2f}**" if m and g else "–"
        mf = f"{m['median'] / f['median']:.2f}" if m and f else "–"
        name = s["id"]
        if s["bound"]:
            name += f" (bound {s['bound']:,.0f})"
        row = [name, _cell(m), _cell(g), mg, _cell(f), mf, *(_cell(v.get(x)) for x in extras)]
        row.append(f"{_errs(m)} / {_errs(g)}")
        row.append(f"{m['p99_ms']:.1f} / {g['p99_ms']:.1f}" if m and g else "–")
        lines.append("| " + " | ".join(row) + " |")
        if s["failures"]:
            lines.append(f"| ↳ failures: {s['failures']} |" + " |" * (len(head) - 1))
    lines += [
        "",
        "## Memory and start-up",
        "",
        "RSS of each worker process (children of the master; the floor is its own worker), read from "
        "/proc/PID/status: `idle` right after the first answered request (VmHWM = peak so far), "
        "`VmHWM after load` = VmHWM once the "
        "configuration's scenarios have run. Start-up = from spawning the command to the first answered "
        "request.",
        "",
        "| configuration | server | workers | idle VmRSS / VmHWM MiB | VmHWM after load MiB "
        "| master VmRSS MiB "
        "| start-up ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, info in report["servers"].items():
        group, _, name = key.partition("/")
        if "error" in info:
            lines.append(f"| {group} | {name} | failed: {info['error']} | | | | |")
            continue
        idle = ", ".join(
            f"{m.get('VmRSS', 0) / 1024:.1f} / {m.get('VmHWM', 0) / 1024:.1f}" for m in info["idle"]
        )
        hwm = ", ".join(f"{m.get('VmHWM', 0) / 1024:.1f}" for m in info["after_load"])
        master = f"{info['master']['VmRSS'] / 1024:.1f}" if info["master"].get("VmRSS") else "–"
        lines.append(
            f"| {group} | {name} | {info['workers']} | {idle} | {hwm} | {master} "
            f"| {info['startup_s'] * 1000:.0f} |"
        )
    logged = [s for s in report["scenarios"] if s["servers"].get("monoceros-nolog")]
    if logged:
        lines += [
            "",
            "## Access log cost",
            "",
            "`sync-accesslog` rows: Monoceros and Gunicorn both write an access log to a file; "
            "`monoceros-nolog` is the same Monoceros without it, measured alternately in the same run.",
            "",
            "| scenario | Monoceros with / without access log | cost |",
            "|---|---|---|",
        ]
        for s in logged:
            with_log, without = s["servers"].get("monoceros"), s["servers"]["monoceros-nolog"]
            if with_log:
                ratio = with_log["median"] / without["median"]
                lines.append(
                    f"| {s['id']} | {with_log['median']:,.0f} / {without['median']:,.0f} | {1 - ratio:.1%} |"
                )
    for micro in report.get("micro", []):
        lines += ["", f"## {micro['name']}", ""]
        if "output" in micro:
            lines += ["```", micro["output"], "```"]
        else:
            lines.append(micro.get("error") or micro.get("skipped", ""))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------
# Profile


def _short(frame: str) -> str:
    """'func (/long/path/monoceros/workers/sync.py:42)' -> 'func (monoceros/workers/sync.py)'."""
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


def profile_report(raw: str, top: int) -> tuple[str, int]:
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            incl_counts[frame] += n
    out = [f"{total} samples (idle excluded)", "", "self:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in self_counts.most_common(top)]
    outer = [f for f, c in incl_counts.items() if c == total]  # main, Arbiter.run, ...: in every sample
    out += ["", f"inclusive ({len(outer)} outer frames present in every sample left out):"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in incl_counts.most_common(top + len(outer)) if c < total][
        :top
    ]
    return "\n".join(out), total


def profile(args: argparse.Namespace) -> int:
    server_core, wrk_core = cores()
    matches = [s for s in all_scenarios() if s.id == args.profile] or [
        s for s in all_scenarios() if re.search(args.profile, s.id)
    ]
    if not matches:
        print(f"no scenario {args.profile!r}; ids look like sync/hello/ka/c100", file=sys.stderr)
        return 2
    scenario = matches[0]
    pyspy = _which("py-spy")
    if pyspy is None:
        print("py-spy not found (pip install py-spy)", file=sys.stderr)
        return 2
    logdir = Path(tempfile.mkdtemp(prefix="monoceros-profile-"))
    servers = start_group(scenario.group, ["monoceros"], logdir, server_core, have_monoceros_gthread())
    try:
        if not servers or servers[0].error:
            print("Monoceros did not start", file=sys.stderr)
            return 1
        server = servers[0]
        wrk(scenario, server.port, args.warmup, wrk_core)
        rawfile = logdir / "profile.raw"
        spy = subprocess.Popen(
            [
                pyspy,
                "record",
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(rawfile),
                "-d",
                str(round(args.duration) + 1),
            ]
            + ["--pid", str(server.workers[0])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(0.5)
            run = wrk(scenario, server.port, args.duration, wrk_core)
            _, err = spy.communicate(timeout=args.duration + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
        if not rawfile.exists():
            print(f"py-spy wrote nothing: {err.decode(errors='replace')}", file=sys.stderr)
            return 1
        text, _ = profile_report(rawfile.read_text(), args.top)
        header = (
            f"profile of the Monoceros worker, {scenario.id}: py-spy record -r 250 -f raw, "
            f"{args.duration:g} s under wrk ({run.rps:,.0f} requests/s while sampled)"
        )
        print(header + "\n\n" + text)
        if args.profile_output:
            Path(args.profile_output).write_text(header + "\n\n" + text + "\n")
        print(f"\nraw stacks: {rawfile}")
    finally:
        for s in servers:
            s.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of 2 s per cell, 0.5 s warm-up")
    parser.add_argument("--runs", type=int, help="runs per cell (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 1)")
    parser.add_argument("--only", help="comma-separated regexes on scenario ids, e.g. 'sync/hello,w2'")
    parser.add_argument("--list", action="store_true", help="list the scenario ids and exit")
    parser.add_argument("--no-micro", action="store_true", help="do not run parser_bench.py / wsgi_bench.py")
    parser.add_argument("--output", default=str(RESULTS / "latest"), help="writes OUTPUT.md and OUTPUT.json")
    parser.add_argument(
        "--profile", metavar="SCENARIO", help="py-spy the Monoceros worker during one scenario"
    )
    parser.add_argument("--top", type=int, default=25, help="frames shown by --profile")
    parser.add_argument("--profile-output", help="also write the --profile summary to this file")
    args = parser.parse_args()
    args.runs = args.runs or 3
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    if args.list:
        for s in all_scenarios():
            print(s.id)
        return 0
    if args.profile:
        return profile(args)
    return suite(args)


if __name__ == "__main__":
    sys.exit(main())
