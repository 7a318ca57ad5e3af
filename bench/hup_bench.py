"""Requests that fail while the master is reloaded (HUP) or stopped (TERM) under load: Monoceros vs Gunicorn.

    .venv/bin/python bench/hup_bench.py                      # 60 s of HUP load per server x worker kind
    .venv/bin/python bench/hup_bench.py --seconds 20 --every 2 --clients 16 --boot-seconds 1
    .venv/bin/python bench/hup_bench.py --kinds gthread --servers monoceros --no-write

The app (written to a temporary folder) sleeps ``--boot-seconds`` (0.3) at import, as a real app's imports
take time, and answers ``200 pid=<pid>``. Each server (``python -m monoceros``, ``gunicorn``) runs with
``-w 4 --graceful-timeout 10 --keep-alive 5``, worker kind ``sync`` or ``gthread --threads 4``, on a port
picked below the kernel's ephemeral range and checked free, pinned to CPU 0 (the load and this process run
on CPU 1) when there are at least two CPUs.

Load: ``--clients`` (8) threads with ``http.client.HTTPConnection``; half send ``Connection: close`` (one
connection per request), half keep their connection (a new one only after a response that says close, or
after an error). Every exception and every response other than ``200 pid=...`` is a failure, recorded by
its kind (the exception's class, or ``status_NNN``) and by connection: ``close`` (a close client),
``ka-fresh`` (a keep-alive client's first request on a connection), ``ka-reused`` (a later one). The
latency of every attempt (failed ones included) counts for the slowest request and the p99.

Phase 1, HUP: start the server, wait until it answers with all its workers, start the load, send HUP to
the master every ``--every`` (5) seconds (none in the last second) for ``--seconds`` (60), stop the load,
check the server still answers, stop it.

Phase 2, TERM: a fresh server, load for 3 s, TERM to the master only, load on until the master has exited.
Failures are split: ``dropped`` (connection reset, broken pipe, a connection closed before a complete
response: the requests a graceful stop must not lose), ``refused`` (``ConnectionRefusedError`` once the
listener is closed: expected; the clients retry every 5 ms, so this counts attempts) and ``other``
(timeouts, non-200). Monoceros also runs with ``--shutdown-delay 2``: failures while the delay runs
(TERM + 2 s, by the time the failure happened) are reported on their own.

Server logs, and every failure with its wall-clock time (to compare with the logs' timestamps), are kept
in ``--logdir`` (``/tmp/hup_bench_logs``). The tables are printed and, unless ``--no-write``, written to
``bench/results/hup.md`` with the date, Python version, command line and ``nproc``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from procs import stop, tree, wait_ready  # (bench/ is sys.path[0])

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "python").exists() else Path(sys.executable).parent
SERVER_CORE = 0
CLIENT_CORE = 1
WORKERS = 4
THREADS = 4
STOP_LOAD_SECONDS = 3.0
SHUTDOWN_DELAY = 2
DROPPED = {
    "ConnectionResetError",
    "BrokenPipeError",
    "RemoteDisconnected",
    "IncompleteRead",
    "BadStatusLine",
    "LineTooLong",
    "ConnectionAbortedError",
}

APP_SOURCE = """\
import os
import time

time.sleep({boot!r})  # a real app's import time


def application(environ, start_response):
    body = b"pid=%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

# ----------------------------------------------------------------------------------------------------
# Servers


def pick_port(low: int = 20000, high: int = 30000) -> int:
    """A port below the ephemeral range (client sockets never take it), checked free by binding it."""
    start = low + (os.getpid() * 7919 + int(time.time())) % (high - low)
    for i in range(high - low):
        port = low + (start - low + i) % (high - low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}-{high}")


def server_argv(name: str, kind: str, port: int, appdir: Path, extra: list[str], pin: bool) -> list[str]:
    cmd = [str(BIN / "python"), "-m", "monoceros"] if name == "monoceros" else [str(BIN / "gunicorn")]
    argv = [
        *cmd,
        "--chdir",
        str(appdir),
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(WORKERS),
        "-k",
        kind,
        "--graceful-timeout",
        "10",
        "--keep-alive",
        "5",
    ]
    if kind == "gthread":
        argv += ["--threads", str(THREADS)]
    argv += [*extra, "hupapp:application"]
    return ["taskset", "-c", str(SERVER_CORE), *argv] if pin else argv


def start_server(argv: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        f.write(f"# {' '.join(argv)}\n".encode())
        f.flush()
        # A session of its own: procs.stop kills the group; taskset execs, so the pid is the master's.
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, proc, timeout=30)
        deadline = time.monotonic() + 30
        while len(tree(proc.pid)) < WORKERS + 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]}: fewer than {WORKERS} workers (log: {log})")
            time.sleep(0.05)
        time.sleep(1.0)  # every worker has imported the app
    except BaseException:
        stop(proc)
        raise
    return proc


def answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status == 200 and resp.read().startswith(b"pid=")
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


# ----------------------------------------------------------------------------------------------------
# Load


@dataclass
class Failure:
    wall: float  # time.time() when it happened
    mono: float  # time.monotonic() when it happened
    latency: float
    kind: str
    conn: str  # close, ka-fresh, ka-reused


@dataclass
class Tally:
    ok: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    pids: set[bytes] = field(default_factory=set)


def client(port: int, close: bool, timeout: float, halt: threading.Event, tally: Tally) -> None:
    conn: http.client.HTTPConnection | None = None
    reused = False
    headers = {"Connection": "close"} if close else {}
    while not halt.is_set():
        where = "close" if close else ("ka-reused" if reused else "ka-fresh")
        t0 = time.monotonic()
        kind = ""
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                reused = False
                conn.connect()
            conn.request("GET", "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or not body.startswith(b"pid="):
                kind = f"status_{resp.status}"
            else:
                tally.pids.add(body)
            if close or resp.will_close or kind:
                conn.close()
                conn = None
            else:
                reused = True
        except (OSError, http.client.HTTPException) as exc:
            kind = type(exc).__name__
            if conn is not None:
                conn.close()
                conn = None
        latency = time.monotonic() - t0
        tally.latencies.append(latency)
        if kind:
            tally.failures.append(Failure(time.time(), time.monotonic(), latency, kind, where))
            if kind in ("ConnectionRefusedError", "TimeoutError"):
                time.sleep(0.005)
        else:
            tally.ok += 1
    if conn is not None:
        conn.close()


class Load:
    def __init__(self, port: int, clients: int, timeout: float) -> None:
        self.halt = threading.Event()
        self.tallies = [Tally() for _ in range(clients)]
        self.threads = [
            threading.Thread(target=client, args=(port, i % 2 == 0, timeout, self.halt, t), daemon=True)
            for i, t in enumerate(self.tallies)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> Tally:
        self.halt.set()
        for t in self.threads:
            t.join(60)
        total = Tally()
        for t in self.tallies:
            total.ok += t.ok
            total.latencies += t.latencies
            total.failures += t.failures
            total.pids |= t.pids
        total.failures.sort(key=lambda f: f.mono)
        return total


def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def breakdown(failures: list[Failure]) -> str:
    c = Counter(f"{f.kind}({f.conn})" for f in failures)
    return ", ".join(f"{k}={v}" for k, v in c.most_common()) or "-"


def write_failures(path: Path, tally: Tally, marks: list[tuple[float, str]]) -> None:
    """Every failure and signal, in time order, with wall-clock milliseconds (the logs have seconds)."""
    rows = [(f.wall, f"FAIL {f.kind} {f.conn} latency={f.latency:.3f}s") for f in tally.failures]
    rows += marks
    rows.sort()
    with open(path, "w") as out:
        for wall, text in rows:
            stamp = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
            out.write(f"{stamp} {text}\n")


def log_problems(log: Path) -> Counter[str]:
    """WARNING/ERROR/CRITICAL lines and tracebacks of a server log, numbers stripped."""
    out: Counter[str] = Counter()
    for line in log.read_text("utf-8", "replace").splitlines():
        m = re.match(r"\[[^\]]*\] \[\d+\] \[(WARNING|ERROR|CRITICAL)\] (.*)", line)
        if m:
            out[f"{m.group(1)} {re.sub(r'[0-9]+', 'N', m.group(2))}"[:150]] += 1
        elif line.startswith("Traceback") or re.match(r"\w+(Error|Exception): ", line):
            out[line.strip()[:150]] += 1
    return out


# ----------------------------------------------------------------------------------------------------
# Phases


@dataclass
class HupRun:
    server: str
    kind: str
    served: int
    failures: list[Failure]
    slowest: float
    p99: float
    hups: int
    workers_end: int
    answers_end: bool
    distinct_pids: int
    log: Path
    problems: Counter[str]


@dataclass
class StopRun:
    server: str
    kind: str
    delay: int
    served: int
    served_after_term: int
    dropped: list[Failure]
    refused: int
    other: list[Failure]
    in_delay: list[Failure]
    exit_seconds: float
    exit_code: int | None
    log: Path
    problems: Counter[str]


def label(kind: str) -> str:
    return kind if kind == "sync" else f"gthread/t{THREADS}"


def hup_phase(name: str, kind: str, args: argparse.Namespace, appdir: Path) -> HupRun:
    port = pick_port()
    log = args.logdir / f"{name}-{kind}-hup.log"
    log.unlink(missing_ok=True)
    proc = start_server(server_argv(name, kind, port, appdir, [], args.pin), port, log)
    marks: list[tuple[float, str]] = []
    try:
        load = Load(port, args.clients, args.timeout)
        t0 = time.monotonic()
        marks.append((time.time(), "LOAD START"))
        load.start()
        hups = 0
        while True:
            at = t0 + (hups + 1) * args.every
            if at > t0 + args.seconds - 1:  # a HUP in the last second would not be measured
                break
            time.sleep(max(0.0, at - time.monotonic()))
            os.kill(proc.pid, signal.SIGHUP)
            hups += 1
            marks.append((time.time(), f"HUP #{hups}"))
        time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
        tally = load.stop()
        marks.append((time.time(), "LOAD STOP"))
        time.sleep(0.5)
        workers_end = len(tree(proc.pid)) - 1
        ok_end = answers(port)
    finally:
        stop(proc)
    write_failures(args.logdir / f"{name}-{kind}-hup.failures", tally, marks)
    return HupRun(
        name,
        kind,
        tally.ok,
        tally.failures,
        max(tally.latencies, default=0.0),
        p99(tally.latencies),
        hups,
        workers_end,
        ok_end,
        len(tally.pids),
        log,
        log_problems(log),
    )


def stop_phase(name: str, kind: str, delay: int, args: argparse.Namespace, appdir: Path) -> StopRun:
    port = pick_port()
    tag = f"{name}-{kind}-term" + (f"-delay{delay}" if delay else "")
    log = args.logdir / f"{tag}.log"
    log.unlink(missing_ok=True)
    extra = ["--shutdown-delay", str(delay)] if delay else []
    proc = start_server(server_argv(name, kind, port, appdir, extra, args.pin), port, log)
    marks: list[tuple[float, str]] = []
    try:
        load = Load(port, args.clients, args.timeout)
        marks.append((time.time(), "LOAD START"))
        load.start()
        time.sleep(STOP_LOAD_SECONDS)
        ok_before = sum(t.ok for t in load.tallies)
        t_term = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the master only, as an orchestrator does
        marks.append((time.time(), "TERM"))
        try:
            code: int | None = proc.wait(10 + delay + 20)
        except subprocess.TimeoutExpired:
            code = None
        exit_seconds = time.monotonic() - t_term
        marks.append((time.time(), f"MASTER EXITED ({code})"))
        time.sleep(0.2)  # a moment of refused connections: the listener is surely gone
        tally = load.stop()
        marks.append((time.time(), "LOAD STOP"))
    finally:
        stop(proc)
    write_failures(args.logdir / f"{tag}.failures", tally, marks)
    after = [f for f in tally.failures if f.mono >= t_term]
    before = [f for f in tally.failures if f.mono < t_term]
    dropped = [f for f in tally.failures if f.kind in DROPPED]
    refused = sum(1 for f in tally.failures if f.kind == "ConnectionRefusedError")
    other = [f for f in tally.failures if f.kind not in DROPPED and f.kind != "ConnectionRefusedError"]
    in_delay = [f for f in after if f.mono < t_term + delay] if delay else []
    if before:
        print(f"    {len(before)} failures before TERM: {breakdown(before)}", flush=True)
    return StopRun(
        name,
        kind,
        delay,
        tally.ok,
        tally.ok - ok_before,
        dropped,
        refused,
        other,
        in_delay,
        exit_seconds,
        code,
        log,
        log_problems(log),
    )


# ----------------------------------------------------------------------------------------------------
# Report


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def hup_table(runs: list[HupRun]) -> str:
    head = [
        "server",
        "kind",
        "served",
        "failed",
        "HUPs",
        "slowest s",
        "p99 ms",
        "workers@end",
        "worker pids seen",
        "failed by kind",
    ]
    rows = [
        [
            r.server,
            label(r.kind),
            f"{r.served:,}",
            f"**{len(r.failures)}**",
            str(r.hups),
            f"{r.slowest:.3f}",
            f"{r.p99 * 1000:.1f}",
            f"{r.workers_end}{'' if r.answers_end else ' (no answer)'}",
            str(r.distinct_pids),
            breakdown(r.failures),
        ]
        for r in runs
    ]
    return md_table(head, rows)


def in_delay_cell(r: StopRun) -> str:
    if not r.delay:
        return "-"
    return f"**{len(r.in_delay)}**" + (f" ({breakdown(r.in_delay)})" if r.in_delay else "")


def stop_table(runs: list[StopRun]) -> str:
    head = [
        "server",
        "kind",
        "shutdown-delay",
        "served",
        "served after TERM",
        "dropped",
        "refused",
        "other failed",
        "failed in delay",
        "TERM→exit s",
        "exit",
        "dropped/other by kind",
    ]
    rows = [
        [
            r.server,
            label(r.kind),
            f"{r.delay} s" if r.delay else "-",
            f"{r.served:,}",
            f"{r.served_after_term:,}",
            f"**{len(r.dropped)}**",
            str(r.refused),
            str(len(r.other)),
            in_delay_cell(r),
            f"{r.exit_seconds:.2f}",
            "timeout" if r.exit_code is None else str(r.exit_code),
            breakdown(r.dropped + r.other),
        ]
        for r in runs
    ]
    return md_table(head, rows)


def versions() -> str:
    def out(cmd: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
        return "?"

    mono = out([str(BIN / "python"), "-c", "import monoceros; print(monoceros.__version__)"])
    guni = out([str(BIN / "gunicorn"), "--version"])
    head = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = " (work tree with changes)" if out(["git", "status", "--porcelain", "--", "src"]) else ""
    return f"monoceros {mono}, {guni}; commit {head}{dirty}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of load in the HUP phase [60]")
    p.add_argument("--every", type=float, default=5.0, help="seconds between HUPs [5]")
    p.add_argument("--clients", type=int, default=8, help="client threads, half Connection: close [8]")
    p.add_argument("--boot-seconds", type=float, default=0.3, help="the app's import time [0.3]")
    p.add_argument("--timeout", type=float, default=15.0, help="client socket timeout, seconds [15]")
    p.add_argument("--kinds", default="sync,gthread", help="worker kinds, comma-separated [sync,gthread]")
    p.add_argument("--servers", default="monoceros,gunicorn", help="comma-separated [monoceros,gunicorn]")
    p.add_argument("--no-stop-phase", action="store_true", help="skip the TERM phase")
    p.add_argument("--logdir", type=Path, default=Path("/tmp/hup_bench_logs"))
    p.add_argument("--out", type=Path, default=BENCH / "results" / "hup.md")
    p.add_argument("--no-write", action="store_true", help=f"do not write {BENCH.name}/results/hup.md")
    args = p.parse_args()

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for k in kinds:
        if k not in ("sync", "gthread"):
            p.error(f"unknown worker kind {k!r}")
    for s in servers:
        if s not in ("monoceros", "gunicorn"):
            p.error(f"unknown server {s!r}")
    if args.clients < 2:
        p.error("--clients must be at least 2 (half close, half keep-alive)")

    ncpu = os.cpu_count() or 1
    args.pin = len(os.sched_getaffinity(0)) >= 2 and {SERVER_CORE, CLIENT_CORE} <= os.sched_getaffinity(0)
    if args.pin:  # the load threads run in this process; the server's taskset overrides what it inherits
        os.sched_setaffinity(0, {CLIENT_CORE})
    args.logdir.mkdir(parents=True, exist_ok=True)
    appdir = Path(tempfile.mkdtemp(prefix="hup-bench-app-"))
    (appdir / "hupapp.py").write_text(APP_SOURCE.format(boot=args.boot_seconds))
    command = " ".join([Path(sys.executable).name, *sys.argv])
    began = time.monotonic()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"logs in {args.logdir}; pinned: {args.pin}", flush=True)

    hup_runs: list[HupRun] = []
    stop_runs: list[StopRun] = []
    for kind in kinds:
        for name in servers:
            print(f"[{name} {label(kind)}] HUP every {args.every:g} s for {args.seconds:g} s", flush=True)
            r = hup_phase(name, kind, args, appdir)
            hup_runs.append(r)
            print(
                f"    {r.served} served, {len(r.failures)} failed ({breakdown(r.failures)}), {r.hups} HUPs, "
                f"slowest {r.slowest:.3f} s, p99 {r.p99 * 1000:.1f} ms",
                flush=True,
            )
        if args.no_stop_phase:
            continue
        for name in servers:
            for delay in [0, SHUTDOWN_DELAY] if name == "monoceros" else [0]:
                print(f"[{name} {label(kind)}] TERM under load, shutdown-delay {delay}", flush=True)
                s = stop_phase(name, kind, delay, args, appdir)
                stop_runs.append(s)
                print(
                    f"    {s.served} served ({s.served_after_term} after TERM), {len(s.dropped)} dropped, "
                    f"{s.refused} refused, {len(s.other)} other, {len(s.in_delay)} in the delay; "
                    f"exit {s.exit_code} after {s.exit_seconds:.2f} s",
                    flush=True,
                )
    elapsed = time.monotonic() - began

    pinning = (
        f"server on CPU {SERVER_CORE} (taskset), load on CPU {CLIENT_CORE} (sched_setaffinity)"
        if args.pin
        else "not pinned (fewer than 2 CPUs)"
    )
    problems = []
    for run in [*hup_runs, *stop_runs]:
        for line, n in run.problems.most_common(8):
            problems.append(f"- `{run.log.name}`: {n} × `{line}`")
    doc = [
        "# Requests failed across HUP and TERM under load: Monoceros vs Gunicorn (bench/hup_bench.py)",
        "",
        f"{started:%Y-%m-%d %H:%M} UTC; {versions()}; Python {platform.python_version()}; "
        f"nproc {ncpu}; {platform.machine()} Linux {platform.release()}; {pinning}.",
        "",
        f"Command: `{command}` ({elapsed / 60:.1f} min). Servers: `-w {WORKERS} --graceful-timeout 10 "
        f"--keep-alive 5`, app import {args.boot_seconds:g} s; {args.clients} client threads "
        "(http.client), half `Connection: close`, half keep-alive.",
        "",
        f"## HUP every {args.every:g} s for {args.seconds:g} s",
        "",
        "Failed = any exception or non-200, by kind and connection (`close`, `ka-fresh` = first request on a "
        "keep-alive connection, `ka-reused` = a later one). Slowest and p99 over every attempt.",
        "",
        hup_table(hup_runs),
    ]
    if stop_runs:
        doc += [
            "",
            f"## TERM to the master after {STOP_LOAD_SECONDS:g} s of load, load on until the master exits",
            "",
            "Dropped = reset, broken pipe or closed before a complete response (`RemoteDisconnected`, "
            "`IncompleteRead`): lost by the stop. Refused = `ConnectionRefusedError` once the listener is "
            "closed (expected; the clients retry every 5 ms, so these are attempts). Failed in delay = "
            f"failures that happened within {SHUTDOWN_DELAY} s of TERM with `--shutdown-delay`.",
            "",
            stop_table(stop_runs),
        ]
    doc += ["", "Warning/error lines in the server logs:", "", *(problems or ["- none"]), ""]
    text = "\n".join(doc)
    print()
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
