"""Same-run A/B of two Monoceros revisions, Gunicorn as the control: requests/s and server CPU per request.

    .venv/bin/python bench/ab.py BASE [HEAD]      # git revisions; HEAD defaults to the work tree's HEAD
    RUNS=5 DUR=5s SCEN=sync-ka-c10,gthread-ka-c100 .venv/bin/python bench/ab.py 7396bef
    BASE_ARGS=--no-control-socket HEAD_ARGS="--metrics-bind :19100" .venv/bin/python bench/ab.py HEAD HEAD

Each revision's ``src`` is exported with ``git archive`` and run from there (``PYTHONPATH``), one worker on
CPU 0, wrk with one thread on CPU 1. The three servers of a scenario run at once and their runs rotate, so
noise on this shared machine hits them alike; the medians' ratios are what to quote. CPU time is the server's
process tree (``/proc/PID/stat`` utime + stime) over each wrk run, divided by the requests wrk completed.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import build_native, cpu_ticks, ensure_free, stop, tree, wait_ready  # (bench/ is sys.path[0])

ROOT = Path(__file__).resolve().parent.parent

PY = str(ROOT / ".venv" / "bin" / "python")
GUNI = str(ROOT / ".venv" / "bin" / "gunicorn")
WORK = Path(tempfile.mkdtemp(prefix="monoceros-ab-"))
CLOSE_LUA = str(WORK / "close.lua")
TICK = os.sysconf("SC_CLK_TCK")
RUNS = int(os.environ.get("RUNS", 5))
DUR = os.environ.get("DUR", "5s")
COMMON = ["--chdir", str(ROOT / "bench"), "--workers", "1"]
SERVERS: dict[str, tuple[list[str], dict[str, str], int]] = {}
SCENARIOS_ALL = [
    ("sync-ka-c10", [], 10, []),
    ("sync-ka-c100", [], 100, []),
    ("gthread-ka-c10", ["-k", "gthread", "--threads", "4"], 10, []),
    ("gthread-ka-c100", ["-k", "gthread", "--threads", "4"], 100, []),
    ("sync-close-c100", [], 100, ["-s", CLOSE_LUA]),
    ("asgi-ka-c10", ["-k", "asgi"], 10, []),  # (the ASGI worker serves asgi_app.py's hello)
    ("asgi-ka-c100", ["-k", "asgi"], 100, []),
]


def export(rev: str) -> str:
    """The ``src`` directory of ``rev``, exported into the work directory."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = WORK / sha
    if dest.exists():  # (the same revision twice: an A/B of a setting)
        return str(dest / "src")
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    build_native(dest / "src", sys.executable)
    return str(dest / "src")


SCENARIOS = [
    s
    for s in SCENARIOS_ALL
    if s[0] in os.environ.get("SCEN", ",".join(x[0] for x in SCENARIOS_ALL)).split(",")
]

with open(CLOSE_LUA, "w") as f:
    f.write('wrk.headers["Connection"] = "close"\n')


def start(name, extra):
    argv, env_add, port = SERVERS[name]
    own = os.environ.get(f"{name.upper()}_ARGS", "").split() if name in ("base", "head") else []
    cmd = (
        ["taskset", "-c", "0"]
        + argv
        + COMMON
        + ["-b", f"127.0.0.1:{port}"]
        + extra
        + own
        + ["asgi_app:app" if "asgi" in extra else "app:application"]
    )
    env = dict(os.environ, **env_add)
    if not env_add:
        env.pop("PYTHONPATH", None)
    ensure_free(port)
    with open(WORK / f"{name}.log", "a") as log:  # the child keeps its own copy of the descriptor
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(port, p)
    time.sleep(0.5)
    return p, cmd


def wrk(port, conns, extra, dur):
    cmd = (
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}"] + extra + [f"http://127.0.0.1:{port}/"]
    )
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out.stdout)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    odd = [line.strip() for line in out.stdout.splitlines() if "errors" in line or "Non-2xx" in line]
    return int(m.group(1)), rps, odd, cmd


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    head = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    SERVERS["base"] = ([PY, "-m", "monoceros"], {"PYTHONPATH": export(base)}, 18001)
    SERVERS["head"] = ([PY, "-m", "monoceros"], {"PYTHONPATH": export(head)}, 18002)
    SERVERS["gunicorn"] = ([GUNI], {}, 18003)
    print(f"base {base}, head {head}; logs in {WORK}", flush=True)
    results, procs, odd_all = {}, {}, []
    order = list(SERVERS)
    try:
        for sname, sargs, conns, wargs in SCENARIOS:
            procs = {}
            for n in order:
                procs[n], cmd = start(n, sargs)
                print("START", n, " ".join(cmd), flush=True)
                pids = tree(procs[n].pid)
                for pid in pids:
                    try:
                        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                        pp = [e for e in env if e.startswith(b"PYTHONPATH=")]
                        cl = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:80]
                        print(f"   pid {pid} {pp} {cl}", flush=True)
                    except OSError:
                        pass
            for n in order:  # warm-up
                wrk(SERVERS[n][2], conns, wargs, "1s")
            res = {n: [] for n in order}
            for r in range(RUNS):
                rot = order[r % 3 :] + order[: r % 3]
                for n in rot:
                    t0, p0 = cpu_ticks(procs[n].pid)
                    reqs, rps, odd, wcmd = wrk(SERVERS[n][2], conns, wargs, DUR)
                    t1, p1 = cpu_ticks(procs[n].pid)
                    if set(p0) != set(p1):
                        odd.append(f"pid set changed {p0} -> {p1}")
                    us = (t1 - t0) / TICK * 1e6 / reqs
                    res[n].append({"reqs": reqs, "rps": rps, "cpu_us": us, "odd": odd, "npids": len(p1)})
                    if odd:
                        odd_all.append((sname, n, r, odd))
                    print(
                        f"{sname:18s} run{r} {n:9s} {rps:10.0f} req/s {us:7.1f} us/req procs={len(p1)} {odd}",
                        flush=True,
                    )
                    if r == 0 and n == order[0]:
                        print("   WRK", " ".join(wcmd), flush=True)
            results[sname] = res
            for n in order:
                stop(procs[n])
            procs = {}
    finally:
        for p in procs.values():
            stop(p)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    print()
    cols = ["base r/s", "head r/s", "guni r/s", "h/b r/s", "h/g r/s", "|", "base us", "head us", "guni us"]
    print(f"{'scenario':18s} " + " ".join(f"{c:>9s}" for c in [*cols, "h/b us"]))
    for sname, res in results.items():
        med = {
            n: (statistics.median(x["rps"] for x in v), statistics.median(x["cpu_us"] for x in v))
            for n, v in res.items()
        }
        b, h, g = med["base"], med["head"], med["gunicorn"]
        cells = [f"{b[0]:9.0f}", f"{h[0]:9.0f}", f"{g[0]:9.0f}", f"{h[0] / b[0]:9.3f}", f"{h[0] / g[0]:9.3f}"]
        cells += [f"{'|':>9s}", f"{b[1]:9.1f}", f"{h[1]:9.1f}", f"{g[1]:9.1f}", f"{h[1] / b[1]:9.3f}"]
        print(f"{sname:18s} " + " ".join(cells))
    for sname, res in results.items():
        for n, v in res.items():
            rps, us = [round(x["rps"]) for x in v], [round(x["cpu_us"], 1) for x in v]
            print(f"  {sname:18s} {n:9s} rps {rps} us {us}")
    print("odd:", odd_all)


if __name__ == "__main__":
    main()
