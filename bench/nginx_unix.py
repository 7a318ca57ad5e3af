"""Behind nginx over a Unix socket: Monoceros `sync` against `gthread`, Gunicorn's `gthread` as the control.

    .venv/bin/python bench/nginx_unix.py                 # RUNS=5 DUR=4s CONNS=10,100
    RUNS=3 DUR=3s CONNS=10 .venv/bin/python bench/nginx_unix.py

One nginx (one worker process) with a listening port per server, each proxying to that server's Unix socket,
in two ways: nginx's default upstream (HTTP/1.0, a new connection to the app server per request) and
`proxy_http_version 1.1` with an upstream `keepalive` pool. Every app server has one worker on CPU 0; nginx
and wrk share CPU 1. The servers' runs rotate within each cell, so noise hits them alike. Server CPU per
request is the server's process tree (utime + stime) over the run divided by the requests wrk completed: the
figure to compare, since nginx on the other core bounds the requests/s of the fastest.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procs import cpu_ticks, stop, tree, wait_ready  # (bench/ is sys.path[0])

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
GUNI = str(ROOT / ".venv" / "bin" / "gunicorn")
WORK = Path(tempfile.mkdtemp(prefix="monoceros-nginx-"))
WORK.chmod(0o755)  # (nginx's workers run as another user: they must reach the sockets in it)
TICK = os.sysconf("SC_CLK_TCK")
RUNS = int(os.environ.get("RUNS", 5))
DUR = os.environ.get("DUR", "4s")
CONNS = [int(c) for c in os.environ.get("CONNS", "10,100").split(",")]
COMMON = ["--chdir", str(ROOT / "bench"), "--workers", "1", "--log-level", "warning"]
SERVERS = {  # name: argv before the bind and the app
    "monoceros-sync": [PY, "-m", "monoceros", "-k", "sync"],
    "monoceros-gthread": [PY, "-m", "monoceros", "-k", "gthread", "--threads", "4"],
    "gunicorn-gthread": [GUNI, "-k", "gthread", "--threads", "4"],
}
MODES = {"upstream-http1.0": 19100, "upstream-keepalive": 19200}  # first listening port of each mode

NGINX_CONF = """
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp-body;
    proxy_temp_path {work}/tmp-proxy;
    fastcgi_temp_path {work}/tmp-fastcgi;
    uwsgi_temp_path {work}/tmp-uwsgi;
    scgi_temp_path {work}/tmp-scgi;
{blocks}
}}
"""
BLOCK = """
    upstream {name}-{mode} {{
        server unix:{sock};
        {keepalive}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{name}-{mode};
            {proxy_http}
        }}
    }}
"""


def nginx_config() -> tuple[str, dict[tuple[str, str], int]]:
    ports: dict[tuple[str, str], int] = {}
    blocks = []
    for mode, first in MODES.items():
        for i, name in enumerate(SERVERS):
            port = ports[(name, mode)] = first + i
            keep = mode == "upstream-keepalive"
            blocks.append(
                BLOCK.format(
                    name=name,
                    mode=mode,
                    sock=WORK / f"{name}.sock",
                    port=port,
                    keepalive="keepalive 32;" if keep else "",
                    proxy_http='proxy_http_version 1.1; proxy_set_header Connection "";' if keep else "",
                )
            )
    return NGINX_CONF.format(work=WORK, blocks="".join(blocks)), ports


def wrk(port: int, conns: int, dur: str) -> tuple[int, float, list[str]]:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{dur}", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    done = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rate is None:
        raise RuntimeError(f"wrk said: {out}")
    odd = [line.strip() for line in out.splitlines() if "errors" in line or "Non-2xx" in line]
    return int(done.group(1)), float(rate.group(1)), odd


def main() -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed (make system-deps)")
    conf, ports = nginx_config()
    (WORK / "nginx.conf").write_text(conf)
    print(f"logs and config in {WORK}", flush=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    nginx_proc = None
    try:
        for name, argv in SERVERS.items():
            cmd = [
                "taskset",
                "-c",
                "0",
                *argv,
                *COMMON,
                "-b",
                f"unix:{WORK / (name + '.sock')}",
                "app:application",
            ]
            with open(WORK / f"{name}.log", "a") as log:
                procs[name] = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        nginx_proc = subprocess.Popen(
            ["taskset", "-c", "1", nginx, "-c", str(WORK / "nginx.conf"), "-g", "daemon off;"],
            start_new_session=True,
        )
        for name in SERVERS:
            for mode in MODES:
                wait_ready(ports[(name, mode)], procs[name])
        results: dict[tuple[str, int], dict[str, list[tuple[float, float]]]] = {}
        order = list(SERVERS)
        for mode in MODES:
            for conns in CONNS:
                cell: dict[str, list[tuple[float, float]]] = {name: [] for name in order}
                for name in order:
                    wrk(ports[(name, mode)], conns, "1s")  # warm-up
                for run in range(RUNS):
                    for name in order[run % len(order) :] + order[: run % len(order)]:
                        before, pids = cpu_ticks(procs[name].pid)
                        done, rate, odd = wrk(ports[(name, mode)], conns, DUR)
                        after, _ = cpu_ticks(procs[name].pid)
                        us = (after - before) / TICK * 1e6 / max(done, 1)
                        cell[name].append((rate, us))
                        print(
                            f"{mode} c{conns} run{run} {name:18s} {rate:9.0f} req/s {us:6.1f} us {odd}",
                            flush=True,
                        )
                results[(mode, conns)] = cell
        print()
        print(
            f"{'mode':20s} {'c':>4s} " + " ".join(f"{n + ' r/s (us)':>30s}" for n in order) + "  gthread/sync"
        )
        for (mode, conns), cell in results.items():
            med = {
                n: (statistics.median(r for r, _ in v), statistics.median(u for _, u in v))
                for n, v in cell.items()
            }
            row = " ".join(f"{med[n][0]:>21,.0f} ({med[n][1]:5.1f})" for n in order)
            sync, thr = med["monoceros-sync"], med["monoceros-gthread"]
            print(f"{mode:20s} {conns:4d} {row}  {thr[0] / sync[0]:.2f} r/s, {sync[1] / thr[1]:.2f} by CPU")
        print(f"(pids: {', '.join(f'{n}={tree(p.pid)}' for n, p in procs.items())})")
    finally:
        if nginx_proc is not None:
            stop(nginx_proc)
        for proc in procs.values():
            stop(proc)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
