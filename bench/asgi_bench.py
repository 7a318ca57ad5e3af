"""Same-run ASGI benchmark: Monoceros ``-k asgi`` against uvicorn, Gunicorn -k asgi, Granian, floors.

    .venv/bin/python bench/asgi_bench.py
    RUNS=1 DUR=2s .venv/bin/python bench/asgi_bench.py                       # a quick smoke
    SCEN=hello-ka-c10,echo4k-ka-c100 SERVERS=monoceros,uvicorn .venv/bin/python bench/asgi_bench.py
    VENV=/path/to/venv .venv/bin/python bench/asgi_bench.py    # every server from that venv (its Python)

Every server runs the raw ASGI 3 app ``bench/asgi_app.py`` (``asgi_app:app``, from ``bench/`` as cwd) with
one worker, the whole process tree pinned to CPU 0 (``taskset -c 0`` on the command, children inherit it),
wrk with one thread on CPU 1. Each server is checked first (``GET /`` gives the JSON, ``POST /echo``
echoes 4 KiB, twice on one keep-alive connection). The servers of a scenario run at once and their runs
rotate, so noise on this shared machine hits them alike; the medians' ratios are what to quote. CPU time
is the server's process tree (``/proc/PID/stat`` utime + stime) over each wrk run, divided by the
requests wrk completed. wrk's socket errors and non-2xx counts are reported, as are error lines in the
server logs. The tables go to stdout and, as markdown, to ``bench/results/asgi.md`` (``OUT=`` to change
the path, ``OUT=-`` for none).

Monoceros runs from a copy of ``src`` taken when the script starts (``PYTHONPATH``), so edits and commits
made to the work tree during the run do not change the code under test half-way; ``REV=<git revision>``
exports that revision's ``src`` instead (and builds its native module for the servers' Python).

Gunicorn runs twice: ``gunicorn`` as ``pip install gunicorn`` gives it (its pure-Python parser, said with
``--http-parser python`` so that an installed ``gunicorn-h1c`` does not change it silently) and
``gunicorn-h1c`` with its C parser (``--http-parser fast``), skipped when ``gunicorn_h1c`` is not installed.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procs import (  # (bench/ is sys.path[0])
    affinity,
    build_native,
    cpu_ticks,
    ensure_free,
    stop,
    tree,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV = Path(os.environ.get("VENV") or ROOT / ".venv")
BIN = VENV / "bin"
FLOOR = [str(BIN / "python"), str(BENCH / "asgi_floor.py")]
WORK = Path(tempfile.mkdtemp(prefix="monoceros-asgi-"))
ECHO_LUA = str(WORK / "echo4k.lua")
TICK = os.sysconf("SC_CLK_TCK")
RUNS = int(os.environ.get("RUNS", 5))
DUR = os.environ.get("DUR", "5s")
OUT = os.environ.get("OUT", str(BENCH / "results" / "asgi.md"))
BODY = bytes(range(256)) * 16  # 4096 bytes for the sanity check; wrk sends 'x' * 4096
HELLO = b'{"message":"hello"}'

# name -> (argv for a port, port)
SERVERS_ALL: dict[str, tuple[Callable[[int], list[str]], int]] = {
    "monoceros": (
        lambda port: [
            str(BIN / "monoceros"),
            *("-k", "asgi", "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30"),
            "asgi_app:app",
        ],
        18101,
    ),
    "uvicorn": (
        lambda port: [
            str(BIN / "uvicorn"),
            "asgi_app:app",
            *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"),
            *("--no-access-log", "--workers", "1", "--timeout-keep-alive", "30"),
        ],
        18102,
    ),
    "gunicorn": (
        lambda port: [
            str(BIN / "gunicorn"),
            *("-k", "asgi", "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30"),
            *("--http-parser", "python"),
            "asgi_app:app",
        ],
        18103,
    ),
    "gunicorn-h1c": (
        lambda port: [
            str(BIN / "gunicorn"),
            *("-k", "asgi", "-w", "1", "-b", f"127.0.0.1:{port}", "--keep-alive", "30"),
            *("--http-parser", "fast"),
            "asgi_app:app",
        ],
        18105,
    ),
    "granian": (
        lambda port: [
            str(BIN / "granian"),
            *("--interface", "asgi", "--workers", "1", "--runtime-threads", "1"),
            *("--host", "127.0.0.1", "--port", str(port)),
            "asgi_app:app",
        ],
        18104,
    ),
    # the floors (bench/asgi_floor.py): what any asyncio server pays per request, with a task running the
    # app, with the app's coroutine stepped without a task, and without an app at all
    "floor": (lambda port: [*FLOOR, str(port), "asgi_app:app", "app"], 18106),
    "floor-step": (lambda port: [*FLOOR, str(port), "asgi_app:app", "step"], 18108),
    "floor-bare": (lambda port: [*FLOOR, str(port), "asgi_app:app", "bare"], 18107),
}
PEERS = ["uvicorn", "gunicorn", "gunicorn-h1c", "granian", "floor", "floor-step", "floor-bare"]
# servers that answer every request with the hello response: left out of the echo scenarios
HELLO_ONLY = {"floor-bare"}
SHORT = {
    "uvicorn": "uvic",
    "gunicorn": "guni",
    "gunicorn-h1c": "gh1c",
    "granian": "gran",
    "floor": "floor",
    "floor-step": "step",
    "floor-bare": "bare",
}
NOTES = [
    "- Access logs are off everywhere (Monoceros and Gunicorn by default, uvicorn `--no-access-log`,",
    "  Granian by default); keep-alive timeouts are 30 s where there is a setting (Granian has none:",
    "  HTTP/1 keep-alive is on by default).",
    "- Monoceros: `--asgi-loop auto` picks uvloop; `--http-parser auto` takes its native parser when",
    "  built (the log line `HTTP parser: ...` says which; the versions line above too).",
    "- uvicorn: uvloop + httptools (C parser), as asked.",
    "- Gunicorn 27 `-k asgi` (its own asyncio worker, nothing else needed): `--asgi-loop auto` picks",
    "  uvloop. `gunicorn` is `--http-parser python`, its parser as `pip install gunicorn` gives it;",
    "  `gunicorn-h1c` is `--http-parser fast`, its C parser from the `gunicorn-h1c` package. It opens",
    "  a control socket at `~/.gunicorn/gunicorn.ctl`.",
    "- Granian: `--runtime-threads 1` (its default, said explicitly), loop `auto`, which is uvloop here",
    "  (rloop is not installed); `--runtime-mode auto` resolves to `mt` for ASGI (one runtime thread).",
    "  Its Rust I/O thread and the Python thread are both in the tree pinned to CPU 0 and both counted.",
]

# name -> (wrk arguments, connections, path)
SCENARIOS_ALL: list[tuple[str, list[str], int, str]] = [
    ("hello-ka-c10", [], 10, "/"),
    ("hello-ka-c100", [], 100, "/"),
    ("echo4k-ka-c10", ["-s", ECHO_LUA], 10, "/echo"),
    ("echo4k-ka-c100", ["-s", ECHO_LUA], 100, "/echo"),
]


def _pick(env: str, names: list[str]) -> list[str]:
    wanted = os.environ.get(env, "").split(",") if os.environ.get(env) else names
    unknown = set(wanted) - set(names)
    if unknown:
        raise SystemExit(f"{env}: unknown {sorted(unknown)}; choose from {names}")
    return [n for n in names if n in wanted]


SCENARIOS = [s for s in SCENARIOS_ALL if s[0] in _pick("SCEN", [x[0] for x in SCENARIOS_ALL])]
ORDER = _pick("SERVERS", list(SERVERS_ALL))
HAVE_H1C = (
    subprocess.run([str(BIN / "python"), "-c", "import gunicorn_h1c"], capture_output=True).returncode == 0
)
if "gunicorn-h1c" in ORDER and not HAVE_H1C:
    print(f"gunicorn-h1c skipped: gunicorn_h1c is not installed in {VENV}")
    ORDER.remove("gunicorn-h1c")

with open(ECHO_LUA, "w") as f:
    f.write(
        'wrk.method = "POST"\n'
        'wrk.body = string.rep("x", 4096)\n'
        'wrk.headers["Content-Type"] = "application/octet-stream"\n'
    )


def verify(name: str, port: int) -> None:
    """``GET /`` and ``POST /echo`` (``GET /`` alone for the hello-only servers), twice each on one keep-alive
    connection; raises when anything is off."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _ in range(2):
            conn.request("GET", "/")
            r = conn.getresponse()
            body = r.read()
            ctype, clen = r.getheader("content-type"), r.getheader("content-length")
            if r.status != 200 or json.loads(body) != {"message": "hello"}:
                raise RuntimeError(f"{name}: GET / gave {r.status} {body!r}")
            if ctype != "application/json" or clen != str(len(body)):
                raise RuntimeError(f"{name}: GET / headers content-type={ctype} content-length={clen}")
            if r.will_close:
                raise RuntimeError(f"{name}: GET / closed the keep-alive connection")
            if name in HELLO_ONLY:
                continue
            conn.request("POST", "/echo", body=BODY, headers={"Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            body = r.read()
            clen = r.getheader("content-length")
            if r.status != 200 or body != BODY or clen != str(len(BODY)):
                raise RuntimeError(
                    f"{name}: POST /echo gave {r.status} content-length={clen}, {len(body)} bytes"
                )
            if r.will_close:
                raise RuntimeError(f"{name}: POST /echo closed the keep-alive connection")
    finally:
        conn.close()


def start(name: str) -> tuple[subprocess.Popen[bytes], list[str]]:
    argv, port = SERVERS_ALL[name]
    cmd = ["taskset", "-c", "0", *argv(port)]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("WEB_CONCURRENCY", None)
    if name == "monoceros":
        env["PYTHONPATH"] = SRC
    ensure_free(port)
    with open(WORK / f"{name}.log", "a") as log:  # the child keeps its own copy of the descriptor
        p = subprocess.Popen(
            cmd, cwd=BENCH, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    wait_ready(port, p)
    time.sleep(1.0)  # let workers settle (granian/gunicorn fork after the first answer is possible)
    verify(name, port)
    return p, cmd


def wrk_cmd(port: int, conns: int, extra: list[str], path: str, dur: str) -> list[str]:
    return [
        *("taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}"),
        *extra,
        f"http://127.0.0.1:{port}{path}",
    ]


def wrk(port: int, conns: int, extra: list[str], path: str, dur: str) -> dict[str, Any]:
    cmd = wrk_cmd(port, conns, extra, path, dur)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out.stdout)
    r = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if m is None or r is None:
        raise RuntimeError(f"wrk output not understood: {out.stdout!r} {out.stderr!r}")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    kinds = ("connect", "read", "write", "timeout")
    errors = {k: int(v) for k, v in zip(kinds, sock.groups(), strict=True)} if sock else {}
    if non2xx:
        errors["non2xx"] = int(non2xx.group(1))
    return {"reqs": int(m.group(1)), "rps": float(r.group(1)), "errors": errors, "stdout": out.stdout}


def log_errors(name: str) -> list[str]:
    try:
        lines = (WORK / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return []
    pat = re.compile(r"Traceback|\bERROR\b|\berror\b|Exception|CRITICAL|WARNING", re.IGNORECASE)
    return [line for line in lines if pat.search(line)]


def snapshot() -> tuple[str, str]:
    """A frozen copy of monoceros's ``src`` (the work tree's, or ``REV``'s) and a note saying which."""
    git = ["git", "-C", str(ROOT)]
    rev = os.environ.get("REV")
    dest = WORK / "src"
    if rev:
        sha = subprocess.run([*git, "rev-parse", "--short", rev], capture_output=True, text=True, check=True)
        archive = subprocess.run(
            [*git, "archive", sha.stdout.strip(), "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(WORK)], input=archive.stdout, check=True)
        build_native(dest, str(BIN / "python"))
        note = f"git revision {sha.stdout.strip()} (REV={rev})"
    else:
        shutil.copytree(ROOT / "src", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True, text=True)
        changed = [line[3:] for line in dirty.stdout.splitlines()]
        note = f"the work tree at {head.stdout.strip()}" + (
            f" plus uncommitted changes to {', '.join(changed)}" if changed else " (src/ clean)"
        )
    probe = subprocess.run(
        [str(BIN / "python"), "-c", "import monoceros; print(monoceros.__file__)"],
        env=dict(os.environ, PYTHONPATH=str(dest)),
        capture_output=True,
        text=True,
        check=True,
    )
    if not probe.stdout.startswith(str(dest)):
        raise SystemExit(f"PYTHONPATH={dest} does not win over the installed monoceros: {probe.stdout!r}")
    return str(dest), note


SRC, SRC_NOTE = snapshot()


def versions() -> str:
    """The servers' Python and packages (read by the venv's interpreter, which may not be this one), and
    which parser the snapshot's monoceros would take."""
    pkgs = ["monoceros", "uvicorn", "httptools", "uvloop", "gunicorn", "gunicorn_h1c", "granian"]
    probe = (
        "import sys; from importlib import metadata\n"
        "def v(p):\n"
        "    try: return metadata.version(p)\n"
        "    except metadata.PackageNotFoundError: return '?'\n"
        f"print(', '.join(f'{{p}} {{v(p)}}' for p in {pkgs!r}))\n"
        "print(sys.version.split()[0])\n"
        "from monoceros.http._native import NATIVE_AVAILABLE; print(NATIVE_AVAILABLE)\n"
    )
    env = dict(os.environ, PYTHONPATH=SRC)
    cmd = [str(BIN / "python"), "-c", probe]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    packages, python, native = out.stdout.splitlines()
    parser = "native parser built" if native == "True" else "no native parser (Python parser)"
    return f"Python {python} ({VENV}); {packages}; monoceros's src: {SRC_NOTE}, copied to {SRC}, {parser}"


VERSIONS = versions()


def med(v: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(x[key]) for x in v))


def main() -> None:
    print(f"servers {ORDER}, scenarios {[s[0] for s in SCENARIOS]}, RUNS={RUNS} DUR={DUR}; logs in {WORK}")
    print(VERSIONS, flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    cmds: dict[str, str] = {}
    wrk_cmds: dict[str, str] = {}
    odd_all: list[str] = []
    procs: dict[str, subprocess.Popen[bytes]] = {}
    log_seen = {n: 0 for n in ORDER}
    try:
        for sname, wargs, conns, path in SCENARIOS:
            procs = {}
            order = [n for n in ORDER if path == "/" or n not in HELLO_ONLY]
            for n in order:
                procs[n], cmd = start(n)
                cmds[n] = (f"PYTHONPATH={SRC} " if n == "monoceros" else "") + " ".join(cmd)
                pids = tree(procs[n].pid)
                print(f"START {n}: {cmds[n]}", flush=True)
                print(f"   pids {pids} cpus {[affinity(p) for p in pids]} (verified)")
            for n in order:  # warm-up
                wrk(SERVERS_ALL[n][1], conns, wargs, path, "1s")
            wrk_cmds[sname] = " ".join(wrk_cmd(SERVERS_ALL[order[0]][1], conns, wargs, path, DUR))
            print("   WRK", wrk_cmds[sname], flush=True)
            res: dict[str, list[dict[str, Any]]] = {n: [] for n in order}
            for r in range(RUNS):
                k = r % len(order)
                for n in order[k:] + order[:k]:
                    t0, p0 = cpu_ticks(procs[n].pid)
                    w = wrk(SERVERS_ALL[n][1], conns, wargs, path, DUR)
                    t1, p1 = cpu_ticks(procs[n].pid)
                    odd = [f"{k}={v}" for k, v in w["errors"].items() if v]
                    if set(p0) != set(p1):
                        odd.append(f"pid set changed {p0} -> {p1}")
                    if procs[n].poll() is not None:
                        odd.append(f"server exited {procs[n].returncode}")
                    us = (t1 - t0) / TICK * 1e6 / max(w["reqs"], 1)
                    busy = us * w["rps"] / 1e6  # the share of CPU 0 the server used
                    res[n].append(
                        {
                            "reqs": w["reqs"],
                            "rps": w["rps"],
                            "cpu_us": us,
                            "busy": busy,
                            "errors": w["errors"],
                            "npids": len(p1),
                        }
                    )
                    if odd:
                        odd_all.append(f"{sname} run{r} {n}: {' '.join(odd)}")
                    print(
                        f"{sname:15s} run{r} {n:10s} {w['rps']:9.0f} req/s {us:7.1f} us/req"
                        f" busy {busy:4.2f} procs={len(p1)} {odd}",
                        flush=True,
                    )
            for n in order:
                try:
                    verify(n, SERVERS_ALL[n][1])  # still answering correctly after the load
                except (OSError, RuntimeError, ValueError) as e:
                    odd_all.append(f"{sname} {n}: verify after load failed: {e}")
                stop(procs[n])
                errs = log_errors(n)
                if len(errs) > log_seen[n]:
                    new = errs[log_seen[n] :]
                    odd_all.append(f"{sname} {n}: {len(new)} error/warning log lines, e.g. {new[:3]}")
                    log_seen[n] = len(errs)
            procs = {}
            results[sname] = res
    finally:
        for p in procs.values():
            stop(p)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    report(results, cmds, wrk_cmds, odd_all)


def report(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    cmds: dict[str, str],
    wrk_cmds: dict[str, str],
    odd_all: list[str],
) -> None:
    peers = [p for p in PEERS if p in ORDER] if "monoceros" in ORDER else []
    head = [f"{n} r/s" for n in ORDER] + [f"m/{SHORT[p]} r/s" for p in peers]
    head += [f"{n} us" for n in ORDER] + [f"m/{SHORT[p]} us" for p in peers]
    md = ["| scenario | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    print()
    print(f"{'scenario':15s} " + " ".join(f"{c:>13s}" for c in head))
    for sname, res in results.items():
        rps = {n: med(v, "rps") for n, v in res.items()}
        us = {n: med(v, "cpu_us") for n, v in res.items()}

        def cell(values: dict[str, float], n: str, fmt: str) -> str:
            return format(values[n], fmt) if n in values else "-"

        def ratio(values: dict[str, float], p: str) -> str:
            return f"{values['monoceros'] / values[p]:.3f}" if p in values else "-"

        cells = [cell(rps, n, ".0f") for n in ORDER] + [ratio(rps, p) for p in peers]
        cells += [cell(us, n, ".1f") for n in ORDER] + [ratio(us, p) for p in peers]
        print(f"{sname:15s} " + " ".join(f"{c:>13s}" for c in cells))
        md.append(f"| {sname} | " + " | ".join(cells) + " |")
    raw = []
    for sname, res in results.items():
        for n, v in res.items():
            runs_rps, runs_us = [round(x["rps"]) for x in v], [round(x["cpu_us"], 1) for x in v]
            runs_busy = [round(x["busy"], 2) for x in v]
            line = f"{sname:15s} {n:10s} rps {runs_rps} us {runs_us} busy {runs_busy}"
            raw.append(line)
            print("  " + line)
    errs = []
    for sname, res in results.items():
        for n, v in res.items():
            tot: dict[str, int] = {}
            for x in v:
                for k, c in x["errors"].items():
                    tot[k] = tot.get(k, 0) + c
            errs.append(f"{sname} {n}: " + (", ".join(f"{k} {c}" for k, c in tot.items() if c) or "none"))
    print("wrk errors:", "; ".join(e for e in errs if not e.endswith("none")) or "none")
    print("odd:", odd_all or "none")
    if OUT == "-":
        return
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = [
        "# ASGI: Monoceros `-k asgi` against uvicorn, Gunicorn `-k asgi` and Granian",
        "",
        f"{stamp}, `RUNS={RUNS} DUR={DUR} .venv/bin/python bench/asgi_bench.py` "
        f"(scenarios {', '.join(results)}; servers {', '.join(ORDER)}).",
        "",
        "Machine: 2 cores, shared and noisy. Each server is one worker, its whole process tree on CPU 0;",
        "wrk `-t1` on CPU 1. The servers run at once and their runs rotate; figures are medians over",
        f"{RUNS} runs of {DUR}. CPU is the server's process tree (utime + stime) per request wrk completed.",
        "`m/xxxx` columns are monoceros divided by that peer (r/s: above 1 is faster; us: below 1 is",
        "cheaper).",
        "",
        VERSIONS,
        "",
        *md,
        "",
        "Per-run figures (busy: the share of CPU 0 the server's tree used, r/s x us/req; below 1 means",
        "it was not CPU-bound during that run):",
        "",
        "```",
        *raw,
        "```",
        "",
        "wrk errors (socket errors and non-2xx, summed over the runs):",
        "",
        *[f"- {e}" for e in errs],
        "",
        "Anything odd (wrk errors, pid changes, error lines in the server logs, failed checks after load):",
        "",
        *([f"- {o}" for o in odd_all] or ["- none"]),
        "",
        "Peer options:",
        "",
        *NOTES,
        "",
        "Server commands (cwd `bench/`):",
        "",
        "```",
        *[cmds[n] for n in ORDER if n in cmds],
        "```",
        "",
        "wrk commands (the port is that of each server in turn; the echo script POSTs 4096 bytes of `x`):",
        "",
        "```",
        *wrk_cmds.values(),
        "```",
        "",
    ]
    Path(OUT).parent.mkdir(parents=True, exist_ok=True)
    Path(OUT).write_text("\n".join(text))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
