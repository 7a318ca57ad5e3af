"""Monoceros against the fastest WSGI servers, in one run: requests/s and server CPU per request.

    .venv/bin/python bench/peers.py                      # RUNS=5 DUR=5s, every scenario
    RUNS=3 DUR=3s SCEN=ka-c10,close-c100 .venv/bin/python bench/peers.py

One process serving ``bench/app.py`` (``hello``: 13 bytes) each, pinned to CPU 0, wrk with one thread on
CPU 1: Monoceros's sync worker on the native parser and on the Python parser, Gunicorn 27's sync worker,
Granian's WSGI interface (Rust), bjoern (C, libev) and meinheld (C, picoev). The peers are bench-only
dependencies (``pip install -e '.[bench]'``; bjoern needs Debian's libev-dev, meinheld is installed
``--no-deps`` beside greenlet 3); one that is not installed is skipped with a note. Runs rotate between the
servers so that noise on this shared machine hits them alike; the medians' ratios are what to quote. CPU
time is the server's process tree over each wrk run (``/proc``), divided by the requests wrk completed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import cpu_ticks, ensure_free, stop, wait_ready  # (bench/ is sys.path[0])

BENCH = Path(__file__).resolve().parent
BIN = BENCH.parent / ".venv" / "bin"
PY = str(BIN / "python")
TICK = os.sysconf("SC_CLK_TCK")
RUNS = int(os.environ.get("RUNS", 5))
DUR = os.environ.get("DUR", "5s")
WORK = Path(tempfile.mkdtemp(prefix="monoceros-peers-"))
CLOSE_LUA = WORK / "close.lua"
CLOSE_LUA.write_text('wrk.headers["Connection"] = "close"\n')
SCENARIOS = [
    ("ka-c10", 10, []),
    ("ka-c100", 100, []),
    ("close-c100", 100, ["-s", str(CLOSE_LUA)]),
]
WANTED = os.environ.get("SCEN")
if WANTED:
    SCENARIOS = [s for s in SCENARIOS if s[0] in WANTED.split(",")]

# bjoern and meinheld have no command line: bench/c_peer.py runs one of them on bench/app.py.
LAUNCHER = str(BENCH / "c_peer.py")


def importable(module: str) -> bool:
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


def servers() -> tuple[dict[str, list[str]], list[str]]:
    """name -> argv with {port}; and the notes on peers left out."""
    mono = [PY, "-m", "monoceros", "-w", "1", "--log-level", "warning", "-b", "127.0.0.1:{port}"]
    found = {
        "monoceros": [*mono, "--http-parser", "fast", "app:application"],
        "monoceros-py": [*mono, "--http-parser", "python", "app:application"],
    }
    notes = []
    if (BIN / "gunicorn").exists():
        found["gunicorn"] = [str(BIN / "gunicorn"), "-w", "1", "--log-level", "warning", "-b"]
        found["gunicorn"] += ["127.0.0.1:{port}", "app:application"]
    else:
        notes.append("gunicorn: not installed")
    granian = BIN / "granian"
    if granian.exists():
        found["granian"] = [str(granian), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}"]
        found["granian"] += ["--workers", "1", "--log-level", "warning", "app:application"]
    else:
        notes.append("granian: not installed (pip install granian)")
    for name, module in (("bjoern", "bjoern"), ("meinheld", "meinheld.server")):
        if importable(module):
            found[name] = [PY, LAUNCHER, name, "{port}"]
        else:
            notes.append(f"{name}: not importable (see this file's docstring)")
    return found, notes


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", "0", *(a.replace("{port}", str(port)) for a in argv)]
    ensure_free(port)
    with open(WORK / f"{port}.log", "a") as log:
        proc = subprocess.Popen(cmd, cwd=BENCH, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(port, proc)
    time.sleep(0.5)
    return proc


def wrk(port: int, conns: int, extra: list[str], dur: str) -> tuple[int, float, list[str]]:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}", *extra, f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    odd = [line.strip() for line in out.splitlines() if "errors" in line or "Non-2xx" in line]
    return (int(done.group(1)) if done else 0), (float(rate.group(1)) if rate else 0.0), odd


def main() -> int:
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("wrk and taskset are needed (make system-deps)", file=sys.stderr)
        return 2
    found, notes = servers()
    for note in notes:
        print("skipped:", note, flush=True)
    names = list(found)
    results: dict[str, dict[str, list[dict[str, object]]]] = {}
    for scenario, conns, extra in SCENARIOS:
        procs = {}
        try:
            for index, name in enumerate(names):
                port = 18100 + index
                procs[name] = (start(found[name], port), port)
            for name in names:  # warm-up
                wrk(procs[name][1], conns, extra, "1s")
            runs: dict[str, list[dict[str, object]]] = {name: [] for name in names}
            for r in range(RUNS):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    proc, port = procs[name]
                    t0, _ = cpu_ticks(proc.pid)
                    done, rate, odd = wrk(port, conns, extra, DUR)
                    t1, _ = cpu_ticks(proc.pid)
                    us = (t1 - t0) / TICK * 1e6 / done if done else float("nan")
                    runs[name].append({"rps": rate, "cpu_us": us, "odd": odd})
                    print(
                        f"{scenario:11s} run{r} {name:13s} {rate:9.0f} req/s {us:6.1f} us/req {odd}",
                        flush=True,
                    )
            results[scenario] = runs
        finally:
            for proc, _ in procs.values():
                stop(proc)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nmedians (raw results: {WORK / 'results.json'})")
    print(
        f"{'scenario':11s} {'server':13s} {'req/s':>9s} {'us/req':>7s} {'mono/x r/s':>11s} {'x/mono us':>10s}"
    )
    for scenario, runs in results.items():
        med = {
            n: (
                statistics.median(float(x["rps"]) for x in v),
                statistics.median(float(x["cpu_us"]) for x in v),
            )
            for n, v in runs.items()
        }
        mono = med["monoceros"]
        for name, (rate, us) in med.items():
            print(
                f"{scenario:11s} {name:13s} {rate:9.0f} {us:7.1f} {mono[0] / rate:11.2f} {us / mono[1]:10.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
