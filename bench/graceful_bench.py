"""Requests lost while workers are stopped gracefully under keep-alive load: Monoceros vs Gunicorn.

    .venv/bin/python bench/graceful_bench.py                              # sync, HUP, wrk, 60 s, 2 rounds
    .venv/bin/python bench/graceful_bench.py --worker-class gthread --signal TTOU_TTIN
    .venv/bin/python bench/graceful_bench.py --worker-class sync,gthread --client wrk,python --rounds 1
    .venv/bin/python bench/graceful_bench.py --servers monoceros --monoceros-src /tmp/mono-old/src

Each run starts a fresh server (``--workers 2 --keep-alive 30 --graceful-timeout 10``, ``bench/app.py``,
pinned to CPU 0) on a free port, drives ``/`` with keep-alive load from CPU 1 and, every ``--interval``
seconds while the load runs, signals the master: ``HUP`` (every worker replaced) or ``TTOU_TTIN``
(alternately one worker fewer, one more, so the count comes back). The servers alternate run by run
(monoceros, gunicorn, monoceros, ...), so noise on the machine hits them alike.

Two load generators:

- ``wrk`` (``-t1 -cN``): failed = read + write + connect socket errors + non-2xx; timeouts separately.
  wrk counts a "read" error when a connection ends before a complete response, which is how a request
  lost by a closing worker shows; a response that carries ``Connection: close`` is not an error.
- ``python``: ``--python-threads`` threads (16), each one raw-socket keep-alive connection sending
  ``GET / HTTP/1.1`` and reading the Content-Length response; it reconnects after a response with
  ``Connection: close``. Failed = requests sent on an open connection that got no full response (EOF with
  nothing read, EOF mid-response, reset, send error); timeouts and connect errors separately.
  ``--think-ms N`` makes each thread pause a random 0-N ms after every response before its next
  request, so kept-alive connections sit idle now and then (as real clients do).

``--monoceros-src DIR`` runs Monoceros from another source tree (say a ``git worktree`` of an old
commit): the server is started as ``python -m monoceros`` with ``PYTHONPATH=DIR`` (the venv's
Python, so the same dependencies), checked to import ``monoceros`` from ``DIR`` before any run.

Every server process is killed at the end (its own session, ``killpg``). Server logs are kept in a
temporary folder, printed at the end together with a count of their WARNING/ERROR/CRITICAL lines.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
_VENV_BIN = ROOT / ".venv" / "bin"
BIN = _VENV_BIN if (_VENV_BIN / "python").exists() else Path(sys.executable).parent
APP = "app:application"
REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
SERVER_CORE = "0"
CLIENT_CORE = "1"

# ----------------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def hello(port: int, timeout: float = 1.0) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while not data.endswith(b"Hello, World!"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.startswith(b"HTTP/1.1 200")


@dataclass
class Server:
    name: str
    kind: str
    threads: int
    log: Path
    src: Path | None = None  # monoceros only: run ``python -m monoceros`` from this source tree
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        if self.src is not None:
            return [str(BIN / "python"), "-m", self.name]
        return [str(BIN / self.name)]

    def env(self) -> dict[str, str] | None:
        if self.src is None:
            return None
        return {**os.environ, "PYTHONPATH": str(self.src)}

    def argv(self) -> list[str]:
        argv = [
            "taskset",
            "-c",
            SERVER_CORE,
            *self.command(),
            "--chdir",
            str(BENCH),
            "-b",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            "--keep-alive",
            "30",
            "--graceful-timeout",
            "10",
            "-k",
            self.kind,
        ]
        if self.kind == "gthread":
            argv += ["--threads", str(self.threads)]
        return [*argv, APP]

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "ab") as log:
            pythonpath = f"PYTHONPATH={self.src} " if self.src is not None else ""
            log.write(f"# {pythonpath}{' '.join(self.argv())}\n".encode())
            log.flush()
            # A session of its own: master and workers form one process group that only we kill.
            self.proc = subprocess.Popen(
                self.argv(), cwd=BENCH, env=self.env(), stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} (log: {self.log})")
            with contextlib.suppress(OSError):
                if hello(self.port) and len(children(self.proc.pid)) >= 2:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no answer within {timeout:.0f} s (log: {self.log})")
            time.sleep(0.02)
        time.sleep(0.5)  # let both workers finish booting

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)  # taskset execs the server: its pid is the master's

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the pid of the process we started
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (a worker outliving its master included) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


# ----------------------------------------------------------------------------------------------------
# Load: wrk


@dataclass
class Result:
    total: int = 0
    failed: int = 0
    timeouts: int = 0
    detail: dict[str, int] = field(default_factory=dict)


def parse_wrk(text: str) -> Result:
    reqs = re.search(r"(\d+) requests in", text)
    if not reqs:
        raise RuntimeError(f"cannot read wrk output:\n{text}")
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    connect, read, write, timeout = map(int, errs.groups()) if errs else (0, 0, 0, 0)
    non2xx_m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(non2xx_m.group(1)) if non2xx_m else 0
    detail = {"connect": connect, "read": read, "write": write, "non2xx": non2xx}
    return Result(int(reqs.group(1)), connect + read + write + non2xx, timeout, detail)


def run_wrk(port: int, duration: int, conns: int, timeout: int) -> tuple[subprocess.Popen[str], list[str]]:
    argv = [
        "taskset",
        "-c",
        CLIENT_CORE,
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{duration}s",
        "--timeout",
        f"{timeout}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, argv


# ----------------------------------------------------------------------------------------------------
# Load: raw-socket Python clients


class Lost(Exception):
    """A request was sent and no full response came back; the argument says how it ended."""


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bool]:
    """Read one Content-Length response: (status, server closes). Raises Lost, or TimeoutError."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = _recv(sock, bool(buf))
        buf += chunk
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[: end + 4]
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise Lost("bad_status_line") from exc
    length = 0
    close = head[0].startswith("HTTP/1.0")
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection":
            close = "close" in value.lower()
    while len(buf) < length:
        buf += _recv(sock, True)
    del buf[:length]
    return status, close


def _recv(sock: socket.socket, partial: bool) -> bytes:
    try:
        chunk = sock.recv(65536)
    except ConnectionResetError as exc:
        raise Lost("reset") from exc
    except TimeoutError:
        raise
    except OSError as exc:
        raise Lost(f"recv_{exc.__class__.__name__}") from exc
    if not chunk:
        raise Lost("eof_partial" if partial else "eof")
    return chunk


def python_client(port: int, stop_at: float, timeout: float, think: float, counts: Counter[str]) -> None:
    sock: socket.socket | None = None
    buf = bytearray()
    reused = False
    rng = random.Random()
    first = True
    while time.monotonic() < stop_at:
        if think > 0 and not first:
            time.sleep(rng.uniform(0.0, think))
        first = False
        if sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            except OSError:
                counts["connect"] += 1
                time.sleep(0.01)
                continue
            buf.clear()
            reused = False
            counts["connections"] += 1
        where = "reused" if reused else "fresh"
        try:
            sock.sendall(REQUEST)
        except OSError as exc:
            counts["sent"] += 1
            counts[f"lost_send_{exc.__class__.__name__}_{where}"] += 1
            sock.close()
            sock = None
            continue
        counts["sent"] += 1
        try:
            status, close = read_response(sock, buf)
        except TimeoutError:
            counts["timeout"] += 1
            close = True
        except Lost as exc:
            counts[f"lost_{exc.args[0]}_{where}"] += 1
            close = True
        else:
            counts["ok" if 200 <= status < 400 else "non2xx"] += 1
            if close:
                counts["closed_by_server"] += 1
        reused = True
        if close:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def run_python(port: int, duration: int, threads: int, timeout: float, think: float) -> Result:
    stop_at = time.monotonic() + duration
    counts: list[Counter[str]] = [Counter() for _ in range(threads)]
    workers = [
        threading.Thread(target=python_client, args=(port, stop_at, timeout, think, c), daemon=True)
        for c in counts
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join(duration + timeout + 30)
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    lost = sum(v for k, v in total.items() if k.startswith("lost_"))
    detail = {k: v for k, v in sorted(total.items()) if k not in ("sent", "timeout")}
    return Result(total["ok"] + total["non2xx"], lost + total["non2xx"], total["timeout"], detail)


# ----------------------------------------------------------------------------------------------------
# One run: a fresh server, load, signals


SIGNALS = {"HUP": [signal.SIGHUP], "TTOU_TTIN": [signal.SIGTTOU, signal.SIGTTIN]}


@dataclass
class Run:
    server: str
    kind: str
    threads: int
    sig: str
    client: str
    result: Result
    signals: int
    workers_end: int
    answers_end: bool
    log_lines: Counter[str]


def log_summary(path: Path, offset: int) -> Counter[str]:
    """WARNING/ERROR/CRITICAL lines and tracebacks written after ``offset``, pids and times stripped."""
    out: Counter[str] = Counter()
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    for line in text.splitlines():
        m = re.match(r"\[[^\]]*\] \[\d+\] \[(WARNING|ERROR|CRITICAL)\] (.*)", line)
        if m:
            message = re.sub(r"\d+", "N", m.group(2))
            out[f"{m.group(1)} {message}"[:150]] += 1
        elif line.startswith("Traceback") or re.match(r"\w+(Error|Exception): ", line):
            out[line.strip()[:150]] += 1
    return out


def one_run(name: str, kind: str, args: argparse.Namespace, client: str, logdir: Path) -> Run:
    log = logdir / f"{name}-{kind}.log"
    offset = log.stat().st_size if log.exists() else 0
    src = args.monoceros_src if name == "monoceros" else None
    server = Server(name, kind, args.threads, log, src)
    try:
        server.start()
        offset = log.stat().st_size  # only what happens under load counts in the log summary
        sigs = SIGNALS[args.signal]
        t0 = time.monotonic()
        box: dict[str, Result] = {}
        if client == "wrk":
            wrk, argv = run_wrk(server.port, args.duration, args.connections, args.timeout)
            print("    " + " ".join(argv), flush=True)
        else:
            th = threading.Thread(
                target=lambda: box.__setitem__(
                    "r",
                    run_python(
                        server.port, args.duration, args.python_threads, args.timeout, args.think_ms / 1000
                    ),
                ),
                daemon=True,
            )
            th.start()
        sent = 0
        while True:
            next_at = t0 + (sent + 1) * args.interval
            # No signal in the last second: its effect would not be measured.
            if next_at > t0 + args.duration - 1:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
            server.signal(sigs[sent % len(sigs)])
            sent += 1
        if client == "wrk":
            out, _ = wrk.communicate(timeout=args.duration + args.timeout + 60)
            if wrk.returncode != 0:
                raise RuntimeError(f"wrk failed ({wrk.returncode}):\n{out}")
            result = parse_wrk(out)
        else:
            th.join(args.duration + args.timeout + 60)
            result = box["r"]
        time.sleep(1.0)  # TTIN / a HUP near the end: let the worker count settle
        assert server.proc is not None
        workers_end = len(children(server.proc.pid))
        try:
            answers = hello(server.port)
        except OSError:
            answers = False
    finally:
        server.stop()
    return Run(
        name,
        kind,
        args.threads,
        args.signal,
        client,
        result,
        sent,
        workers_end,
        answers,
        log_summary(log, offset),
    )


# ----------------------------------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    head = (
        "server",
        "class",
        "signal",
        "client",
        "requests",
        "failed",
        "timeouts",
        "signals",
        "failed/signal",
        "workers@end",
        "failed breakdown",
    )
    rows = [head]
    for r in runs:
        res = r.result
        kind = r.kind if r.kind == "sync" else f"{r.kind}/t{r.threads}"
        breakdown = ", ".join(
            f"{k}={v}"
            for k, v in res.detail.items()
            if v and (k.startswith("lost_") or k in ("connect", "read", "write", "non2xx"))
        )
        rows.append(
            (
                r.server,
                kind,
                r.sig,
                r.client,
                str(res.total),
                str(res.failed),
                str(res.timeouts),
                str(r.signals),
                f"{res.failed / r.signals:.2f}" if r.signals else "-",
                f"{r.workers_end}{'' if r.answers_end else ' (no answer)'}",
                breakdown or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker-class", default="sync", help="sync, gthread, or both comma-separated [sync]")
    p.add_argument("--threads", type=int, default=4, help="threads of the gthread worker [4]")
    p.add_argument("--signal", choices=sorted(SIGNALS), default="HUP")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between signals [5]")
    p.add_argument("--duration", type=int, default=60, help="seconds of load per run [60]")
    p.add_argument("--rounds", type=int, default=2, help="runs of each server, alternated [2]")
    p.add_argument("--client", default="wrk", help="wrk, python, or both comma-separated [wrk]")
    p.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    p.add_argument("--python-threads", type=int, default=16, help="python client threads [16]")
    p.add_argument("--timeout", type=int, default=5, help="client timeout per request, seconds [5]")
    p.add_argument(
        "--think-ms", type=float, default=0.0, help="python client: random 0-N ms pause between requests [0]"
    )
    p.add_argument("--servers", default="monoceros,gunicorn")
    p.add_argument(
        "--monoceros-src",
        type=Path,
        default=None,
        metavar="DIR",
        help="run monoceros as `python -m monoceros` with PYTHONPATH=DIR (another source tree)",
    )
    args = p.parse_args()

    kinds = [k.strip() for k in args.worker_class.split(",") if k.strip()]
    clients = [c.strip() for c in args.client.split(",") if c.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for k in kinds:
        if k not in ("sync", "gthread"):
            p.error(f"unknown worker class {k!r}")
    for c in clients:
        if c not in ("wrk", "python"):
            p.error(f"unknown client {c!r}")
    for s in servers:
        if not (BIN / s).exists():
            p.error(f"{BIN / s} not found (make install)")
    if args.think_ms < 0:
        p.error("--think-ms must be >= 0")
    if args.monoceros_src is not None:
        args.monoceros_src = args.monoceros_src.resolve()
        where = subprocess.run(
            [str(BIN / "python"), "-c", "import monoceros; print(monoceros.__file__)"],
            env={**os.environ, "PYTHONPATH": str(args.monoceros_src)},
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if not where or not Path(where).resolve().is_relative_to(args.monoceros_src):
            p.error(f"monoceros does not import from {args.monoceros_src} (it imports {where or 'nothing'})")
        print(f"monoceros from {Path(where).parent}", flush=True)
    if len(os.sched_getaffinity(0)) < 2:
        p.error("needs two CPUs (server on CPU 0, load on CPU 1)")
    # This process runs the Python clients: on the load generator's CPU. The server's taskset overrides.
    os.sched_setaffinity(0, {int(CLIENT_CORE)})

    logdir = Path(tempfile.mkdtemp(prefix="graceful-bench-"))
    runs: list[Run] = []
    for kind in kinds:
        for client in clients:
            for rnd in range(args.rounds):
                for name in servers:
                    print(f"[{kind} {args.signal} {client} round {rnd + 1}] {name}", flush=True)
                    run = one_run(name, kind, args, client, logdir)
                    runs.append(run)
                    res = run.result
                    print(
                        f"    {res.total} requests, {res.failed} failed, {res.timeouts} timeouts, "
                        f"{run.signals} signals, {run.workers_end} workers at the end",
                        flush=True,
                    )
    print()
    print(table(runs))
    print()
    print(f"server logs: {logdir}")
    for r in runs:
        if r.log_lines:
            print(f"  {r.server} {r.kind} {r.client}: warning/error lines under load:")
            for line, n in r.log_lines.most_common(8):
                print(f"    {n:6d}  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
