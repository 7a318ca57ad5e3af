"""Same-run gevent benchmark: Monoceros ``-k gevent`` against Gunicorn 27's ``-k gevent`` worker.

    .venv/bin/python bench/gevent_bench.py                     # 5 runs of 5 s, writes bench/results/gevent.md
    .venv/bin/python bench/gevent_bench.py --runs 1 --seconds 2 --no-write      # a quick smoke
    .venv/bin/python bench/gevent_bench.py --servers monoceros

Both servers run ``bench/gevent_app.py`` (``gevent_app:application``, cwd ``bench/``) as
``.venv/bin/python -m monoceros|gunicorn -k gevent -w 1 --keep-alive 30`` (no access log, the default),
the whole process tree pinned to CPU 0 (``taskset -c 0``); wrk runs with one thread on CPU 1. Scenarios:

1. ``hello``: ``GET /`` keep-alive, ``wrk -t1 -c100``;
2. ``sleep``: ``GET /sleep?ms=10`` (``gevent.sleep(0.010)``) keep-alive, ``wrk -t1 -c100``: at most
   100 connections / 10 ms = 10,000 requests/s, so the fraction of that bound is reported too;
3. ``idle``: each server started alone with ``--worker-connections 1100``; this process (moved to CPU 1)
   opens 1,000 keep-alive connections, sends one request on each and reads its answer, then reads the
   worker's VmRSS (``/proc/PID/status``) and times 200 sequential requests on one fresh connection while
   the 1,000 are held (median and max); last, every held connection is asked once more, to show the
   server really kept them all.

For 1 and 2 both servers (``worker_connections`` 1000, the default) run at once and their runs rotate, so
noise on this shared machine hits them alike; figures are medians of ``--runs`` runs of ``--seconds``
after a 1 s warm-up each. CPU per request is the worker's (the master's only child) utime + stime from
``/proc/PID/stat`` over each wrk run, divided by the requests wrk completed. Each server is checked
before and after the load (``GET /`` twice on one keep-alive connection, ``GET /sleep?ms=10``); wrk's
socket errors and non-2xx counts, a worker that changed, and error lines in the server logs are reported.

Monoceros runs from a copy of ``src`` taken when the script starts (``PYTHONPATH``), so edits made to the
work tree during the run do not change the code under test half-way. The table goes to stdout and, as
markdown, to ``bench/results/gevent.md`` (not with ``--no-write``).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from procs import affinity, cpu_ticks, stop, tree, wait_ready  # (bench/ is sys.path[0])
from run import WrkRun, children, free_port, memory, parse_wrk

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
OUT = BENCH / "results" / "gevent.md"
APP = "gevent_app:application"
TICK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, CLIENT_CORE = "0", "1"
NAMES = ["monoceros", "gunicorn"]
TITLE = {"monoceros": "Monoceros", "gunicorn": "Gunicorn"}
HELLO = b"Hello, World!"
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
IDLE_CONNS, IDLE_LIMIT, IDLE_PROBES = 1000, 1100, 200
SLEEP_MS, CONNS = 10, 100


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    path: str
    bound: float | None = None  # the most requests/s an ideal server can do


SCENARIOS = [
    Scenario("hello", "hello keep-alive, `/`, wrk -t1 -c100", "/"),
    Scenario(
        "sleep",
        f"`/sleep?ms={SLEEP_MS}` keep-alive, wrk -t1 -c100 (bound {CONNS * 1000 // SLEEP_MS:,})",
        f"/sleep?ms={SLEEP_MS}",
        CONNS * 1000 / SLEEP_MS,
    ),
]


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    worker: int = 0
    odd: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Servers


def snapshot(work: Path) -> tuple[str, str]:
    """A frozen copy of the work tree's ``src`` and a note saying what it is."""
    dest = work / "src"
    shutil.copytree(ROOT / "src", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
    changed = [line[3:] for line in dirty.stdout.splitlines()]
    note = f"the work tree at {head.stdout.strip()}" + (
        f" plus uncommitted changes to {', '.join(changed)}" if changed else " (src/ clean)"
    )
    probe = subprocess.run(
        [PYTHON, "-c", "import monoceros; print(monoceros.__file__)"],
        env=dict(os.environ, PYTHONPATH=str(dest)),
        capture_output=True,
        text=True,
        check=True,
    )
    if not probe.stdout.startswith(str(dest)):
        raise SystemExit(f"PYTHONPATH={dest} does not win over the installed monoceros: {probe.stdout!r}")
    return str(dest), note


def make_server(name: str, work: Path, src: str, extra: list[str], tag: str) -> Server:
    port = free_port()
    module = "monoceros" if name == "monoceros" else "gunicorn"
    argv = [
        *("taskset", "-c", SERVER_CORE, PYTHON, "-m", module),
        *("-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30"),
        *extra,
        APP,
    ]
    env = dict(os.environ)
    for var in ("PYTHONPATH", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "MONOCEROS_CMD_ARGS"):
        env.pop(var, None)
    if name == "monoceros":
        env["PYTHONPATH"] = src
    return Server(name, argv, port, env, work / f"{name}-{tag}.log")


def start(server: Server) -> None:
    with open(server.log, "ab") as log:  # the child keeps its own copy of the descriptor
        # A session of its own: procs.stop kills the group; taskset execs, so the pid is the master's.
        server.proc = subprocess.Popen(
            server.argv,
            cwd=BENCH,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_ready(server.port, server.proc)
    deadline = time.monotonic() + 10
    kids: list[int] = []
    while time.monotonic() < deadline:
        kids = children(server.proc.pid)
        if kids:
            break
        time.sleep(0.05)
    if len(kids) != 1:
        raise RuntimeError(f"{server.name}: the master {server.proc.pid} has children {kids}, not one worker")
    server.worker = kids[0]
    time.sleep(1.0)  # let the worker settle
    verify(server)


def verify(server: Server) -> None:
    """``GET /`` twice on one keep-alive connection, then ``GET /sleep``; raises when anything is off."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(2):
            conn.request("GET", "/")
            r = conn.getresponse()
            body = r.read()
            ctype, clen = r.getheader("content-type"), r.getheader("content-length")
            if r.status != 200 or body != HELLO or ctype != "text/plain" or clen != str(len(HELLO)):
                raise RuntimeError(
                    f"{server.name}: GET / gave {r.status} {body!r}"
                    f" content-type={ctype} content-length={clen}"
                )
            if r.will_close:
                raise RuntimeError(f"{server.name}: GET / closed the keep-alive connection")
        t0 = time.perf_counter()
        conn.request("GET", f"/sleep?ms={SLEEP_MS}")
        r = conn.getresponse()
        body = r.read()
        took = time.perf_counter() - t0
        if r.status != 200 or body != HELLO or took < SLEEP_MS / 1000 * 0.9:
            raise RuntimeError(
                f"{server.name}: GET /sleep gave {r.status} {body!r} after {took * 1000:.1f} ms"
            )
    finally:
        conn.close()


def check_worker(server: Server) -> str | None:
    """What is wrong with the server's process tree, or None."""
    assert server.proc is not None
    if server.proc.poll() is not None:
        return f"master exited {server.proc.returncode}"
    kids = children(server.proc.pid)
    if kids != [server.worker]:
        return f"worker {server.worker} -> children {kids}"
    return None


def log_errors(path: Path) -> list[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    pat = re.compile(r"Traceback|\bERROR\b|Exception|CRITICAL|WARNING", re.IGNORECASE)
    return [line for line in lines if pat.search(line)]


# ----------------------------------------------------------------------------------------------------
# wrk: scenarios 1 and 2


def wrk_argv(port: int, path: str, seconds: int) -> list[str]:
    return [
        *("taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s"),
        *("--timeout", "5s", "--latency", f"http://127.0.0.1:{port}{path}"),
    ]


def wrk(port: int, path: str, seconds: int) -> WrkRun:
    out = subprocess.run(wrk_argv(port, path, seconds), capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return parse_wrk(out.stdout)


def measure(server: Server, scenario: Scenario, seconds: int) -> dict[str, Any]:
    t0, _ = cpu_ticks(server.worker)
    w = wrk(server.port, scenario.path, seconds)
    t1, _ = cpu_ticks(server.worker)
    us = (t1 - t0) / TICK * 1e6 / max(w.requests, 1)
    odd = [f"{k} errors {v}" for k, v in w.errors.items() if v]
    if w.non2xx:
        odd.append(f"non-2xx {w.non2xx}")
    problem = check_worker(server)
    if problem:
        odd.append(problem)
    return {
        "rps": w.rps,
        "reqs": w.requests,
        "cpu_us": us,
        "busy": us * w.rps / 1e6,  # the share of CPU 0 the worker used
        "p50_ms": w.latency_ms.get("p50", 0.0),
        "p99_ms": w.latency_ms.get("p99", 0.0),
        "odd": odd,
    }


def throughput(order: list[str], work: Path, src: str, args: argparse.Namespace) -> dict[str, Any]:
    servers = [make_server(n, work, src, [], "load") for n in order]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {sc.key: {n: [] for n in order} for sc in SCENARIOS}
    odd: list[str] = []
    try:
        live = []
        for s in servers:
            print(f"START {s.name}: {' '.join(s.argv)}", flush=True)
            try:
                start(s)
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                odd.append(f"{s.name} did not start: {e} (log {s.log})")
                print(f"   did not start: {e}", flush=True)
                continue
            assert s.proc is not None
            pids = tree(s.proc.pid)
            print(f"   master {s.proc.pid} worker {s.worker}, cpus {[affinity(p) for p in pids]}", flush=True)
            live.append(s)
        for sc in SCENARIOS if live else []:
            for s in live:  # warm-up, not counted
                wrk(s.port, sc.path, 1)
            print(f"== {sc.key}: {' '.join(wrk_argv(live[0].port, sc.path, args.seconds))}", flush=True)
            for r in range(args.runs):
                k = r % len(live)
                for s in live[k:] + live[:k]:  # rotate: noise hits every server alike
                    m = measure(s, sc, args.seconds)
                    results[sc.key][s.name].append(m)
                    if m["odd"]:
                        odd.append(f"{sc.key} run{r} {s.name}: {', '.join(m['odd'])}")
                    print(
                        f"{sc.key:6s} run{r} {s.name:10s} {m['rps']:9.0f} req/s {m['cpu_us']:7.1f} us/req"
                        f" busy {m['busy']:4.2f} p50 {m['p50_ms']:.1f} p99 {m['p99_ms']:.1f} ms"
                        f" {m['odd'] or ''}",
                        flush=True,
                    )
        for s in live:
            try:
                verify(s)  # still answering correctly after the load
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                odd.append(f"{s.name}: check after load failed: {e}")
    finally:
        for s in servers:
            if s.proc is not None:
                stop(s.proc)
            errs = log_errors(s.log)
            if errs:
                odd.append(f"{s.name}: {len(errs)} error/warning log lines ({s.log}), e.g. {errs[:3]}")
    return {"results": results, "odd": odd, "cmds": {s.name: s.argv for s in servers}}


# ----------------------------------------------------------------------------------------------------
# Scenario 3: 1,000 idle keep-alive connections


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response with a Content-Length: (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response head")
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", head, re.IGNORECASE)
    if m is None:
        raise ConnectionError(f"no Content-Length in {head!r}")
    length = int(m.group(1))
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed inside the body")
        body += data
    return int(head.split(b" ", 2)[1]), body


def ask(sock: socket.socket) -> bool:
    sock.sendall(REQUEST)
    status, body = read_response(sock)
    return status == 200 and body == HELLO


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def hold_idle(server: Server) -> dict[str, Any]:
    """Open the idle connections, then RSS and the latency of a fresh connection while they are held."""
    held: list[socket.socket] = []
    odd: list[str] = []
    rss_before = memory(server.worker).get("VmRSS", 0)
    t_open = time.perf_counter()
    try:
        for i in range(IDLE_CONNS):
            sock = connect(server.port)
            held.append(sock)
            if not ask(sock):
                odd.append(f"connection {i}: bad answer")
        opened_s = time.perf_counter() - t_open
        time.sleep(0.5)  # let the worker settle
        mem = memory(server.worker)
        latencies = []
        with connect(server.port) as fresh:
            for _ in range(IDLE_PROBES):
                t0 = time.perf_counter()
                if not ask(fresh):
                    odd.append("fresh connection: bad answer")
                latencies.append(time.perf_counter() - t0)
        alive = 0
        for sock in held:  # did the server keep them all?
            try:
                alive += ask(sock)
            except OSError:
                pass
        held_s = time.perf_counter() - t_open
    finally:
        for sock in held:
            sock.close()
    if alive != IDLE_CONNS:
        odd.append(f"only {alive} of {IDLE_CONNS} held connections answered a second request")
    problem = check_worker(server)
    if problem:
        odd.append(problem)
    return {
        "rss_before_kib": rss_before,
        "rss_kib": mem.get("VmRSS", 0),
        "hwm_kib": mem.get("VmHWM", 0),
        "lat_median_ms": statistics.median(latencies) * 1000,
        "lat_max_ms": max(latencies) * 1000,
        "alive": alive,
        "opened_s": opened_s,
        "held_s": held_s,
        "odd": odd,
    }


def idle(order: list[str], work: Path, src: str) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    odd: list[str] = []
    cmds: dict[str, list[str]] = {}
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(CLIENT_CORE)})  # the client off the server's core, as wrk is
    try:
        for name in order:
            s = make_server(name, work, src, ["--worker-connections", str(IDLE_LIMIT)], "idle")
            cmds[name] = s.argv
            try:
                try:
                    start(s)
                except (OSError, RuntimeError, http.client.HTTPException) as e:
                    odd.append(f"idle {name}: did not start: {e} (log {s.log})")
                    continue
                print(f"START {s.name}: {' '.join(s.argv)} (worker {s.worker})", flush=True)
                r = results[name] = hold_idle(s)
                odd += [f"idle {name}: {o}" for o in r["odd"]]
                print(
                    f"idle   {name:10s} RSS {r['rss_before_kib'] / 1024:.1f}"
                    f" -> {r['rss_kib'] / 1024:.1f} MiB,"
                    f" latency median {r['lat_median_ms']:.3f} ms max {r['lat_max_ms']:.3f} ms,"
                    f" {r['alive']}/{IDLE_CONNS} held answered again; opened in {r['opened_s']:.2f} s",
                    flush=True,
                )
            finally:
                if s.proc is not None:
                    stop(s.proc)
                errs = log_errors(s.log)
                if errs:
                    odd.append(f"idle {name}: {len(errs)} error/warning log lines ({s.log}), e.g. {errs[:3]}")
    finally:
        os.sched_setaffinity(0, mask)
    return {"results": results, "odd": odd, "cmds": cmds}


# ----------------------------------------------------------------------------------------------------
# Report


def med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def versions(src_note: str, src: str) -> str:
    vs = []
    for p in ("gunicorn", "gevent", "greenlet"):
        try:
            vs.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            vs.append(f"{p} ?")
    return ", ".join(vs) + f"; Monoceros from {src_note}, copied to {src}"


def table(order: list[str], load: dict[str, Any], idle_res: dict[str, Any]) -> list[str]:
    both = order == NAMES
    lines = [
        "| scenario | Monoceros req/s | Gunicorn req/s | M/G ratio | CPU µs/req M · G |",
        "|---|---|---|---|---|",
    ]
    for sc in SCENARIOS:
        res = load["results"][sc.key]
        rps = {n: med(res[n], "rps") for n in order if res[n]}
        us = {n: med(res[n], "cpu_us") for n in order if res[n]}

        def cell(n: str, sc: Scenario = sc, rps: dict[str, float] = rps) -> str:
            if n not in rps:
                return "–"
            text = f"{rps[n]:,.0f}"
            return text + (f" ({rps[n] / sc.bound:.1%} of bound)" if sc.bound else "")

        ratio = f"**{rps['monoceros'] / rps['gunicorn']:.2f}**" if both and len(rps) == 2 else "–"
        cpu = " · ".join(f"{us[n]:.1f}" if n in us else "–" for n in NAMES)
        lines.append(f"| {sc.label} | {cell('monoceros')} | {cell('gunicorn')} | {ratio} | {cpu} |")
    r = idle_res["results"]

    def pair(fmt: str, key: str, scale: float = 1.0) -> str:
        return " / ".join(format(r[n][key] * scale, fmt) if n in r else "–" for n in NAMES)

    lines += [
        "",
        f"{IDLE_CONNS:,} idle keep-alive connections (`--worker-connections {IDLE_LIMIT}`, one request "
        "answered on each, then held):",
        "",
        f"- worker RSS M / G: **{pair('.1f', 'rss_kib', 1 / 1024)} MiB** with the {IDLE_CONNS:,} held "
        f"(before opening them: {pair('.1f', 'rss_before_kib', 1 / 1024)} MiB; VmHWM after: "
        f"{pair('.1f', 'hwm_kib', 1 / 1024)} MiB)",
        f"- latency of {IDLE_PROBES} sequential requests on a fresh connection while they are held, M / G: "
        f"median **{pair('.3f', 'lat_median_ms')} ms**, max **{pair('.3f', 'lat_max_ms')} ms**",
        f"- held connections answering a second request afterwards, M / G: {pair('.0f', 'alive')} "
        f"of {IDLE_CONNS:,} (the whole hold lasted {pair('.1f', 'held_s')} s, under `--keep-alive 30`)",
    ]
    return lines


def report(
    order: list[str], load: dict[str, Any], idle_res: dict[str, Any], args: argparse.Namespace, vers: str
) -> str:
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    py = subprocess.run([PYTHON, "--version"], capture_output=True, text=True).stdout.strip()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    cmdline = shlex.join(
        [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]]
    )
    raw = []
    for sc in SCENARIOS:
        for n in order:
            v = load["results"][sc.key][n]
            raw.append(
                f"{sc.key:6s} {n:10s} rps {[round(x['rps']) for x in v]}"
                f" us {[round(x['cpu_us'], 1) for x in v]}"
                f" busy {[round(x['busy'], 2) for x in v]}"
                f" p50/p99 ms {[(x['p50_ms'], x['p99_ms']) for x in v]}"
            )
    odd = load["odd"] + idle_res["odd"]
    cmds = [shlex.join(load["cmds"][n]) for n in order] + [shlex.join(idle_res["cmds"][n]) for n in order]
    text = [
        "# gevent: Monoceros `-k gevent` against Gunicorn `-k gevent`",
        "",
        f"{stamp}; {py}; `nproc` {nproc}; `{cmdline}`.",
        "",
        vers,
        "",
        "One worker each (`-w 1`), `--keep-alive 30`, no access log; the server's process tree on CPU 0,",
        "`wrk -t1` (and, for the idle connections, this script) on CPU 1. The two servers run at once and",
        f"their runs rotate; req/s and CPU are medians of {args.runs} runs of {args.seconds} s. CPU is the",
        "worker's utime + stime per request wrk completed. App: `bench/gevent_app.py`.",
        "",
        *table(order, load, idle_res),
        "",
        "Per-run figures (busy: the share of CPU 0 the worker used, req/s × µs/req; p50/p99: wrk's latency",
        "percentiles):",
        "",
        "```",
        *raw,
        "```",
        "",
        "Anything odd (wrk socket errors and non-2xx, a changed worker, error lines in the server logs,",
        "failed checks):",
        "",
        *([f"- {o}" for o in odd] or ["- none"]),
        "",
        "Server commands (cwd `bench/`; Monoceros with `PYTHONPATH` set to the copy of `src`):",
        "",
        "```",
        *cmds,
        "```",
        "",
        "wrk (the port is each server's in turn):",
        "",
        "```",
        *[" ".join(wrk_argv(0, sc.path, args.seconds)).replace(":0/", ":PORT/") for sc in SCENARIOS],
        "```",
        "",
    ]
    return "\n".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario and server (default 5)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--servers", default=",".join(NAMES), help="comma-separated, of monoceros,gunicorn")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {OUT.relative_to(ROOT)}")
    args = parser.parse_args()
    wanted = [n for n in args.servers.split(",") if n]
    unknown = set(wanted) - set(NAMES)
    if unknown or not wanted:
        parser.error(f"--servers: unknown {sorted(unknown)}; choose from {NAMES}")
    order = [n for n in NAMES if n in wanted]
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    if not {int(SERVER_CORE), int(CLIENT_CORE)} <= os.sched_getaffinity(0):
        print(f"CPUs {SERVER_CORE} and {CLIENT_CORE} are needed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="monoceros-gevent-"))
    src, note = snapshot(work)
    vers = versions(note, src)
    print(f"servers {order}, {args.runs} runs of {args.seconds} s; logs in {work}", flush=True)
    print(vers, flush=True)
    load = throughput(order, work, src, args)
    idle_res = idle(order, work, src)
    text = report(order, load, idle_res, args, vers)
    print()
    print("\n".join(table(order, load, idle_res)))
    print("odd:", (load["odd"] + idle_res["odd"]) or "none")
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
