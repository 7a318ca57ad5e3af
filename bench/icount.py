"""Instructions per request of a real worker, counted by valgrind (deterministic on a noisy machine).

Starts `monoceros -w 1` under `valgrind --tool=callgrind` (which follows the worker's fork), sends N
keep-alive requests over one connection, stops it, and reads the worker's instruction total; two runs
with different N cancel the start-up cost. User-space instructions only: the kernel's share of each
system call is not counted, so this measures the Python side of the hot path.

    python bench/icount.py [--worker-class sync|gthread|asgi] [--request wrk|browser] [--app module:callable]
    python bench/icount.py --server-args="--metrics-bind 127.0.0.1:19111"   # the cost of a setting
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUESTS = {
    "wrk": b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    "browser": (
        b"GET /?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
        b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n"
        b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nCookie: session=abc123; theme=dark\r\n"
        b"Cache-Control: no-cache\r\n\r\n"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(
    count: int,
    worker_class: str,
    request: bytes,
    outdir: str,
    app: str = "app:application",
    extra: list[str] | None = None,
) -> int:
    port = free_port()
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={outdir}/cg.%p",
        sys.executable,
        "-m",
        "monoceros",
        "-w",
        "1",
        "-k",
        worker_class,
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(HERE),
        *(extra or []),
        app,
    ]
    for old in glob.glob(f"{outdir}/cg.*"):
        os.unlink(old)
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        sock = connect(port)
        for _ in range(count):
            sock.sendall(request)
            read_one(sock)
        sock.close()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    workers = [path for path in glob.glob(f"{outdir}/cg.*") if not path.endswith(f".{proc.pid}")]
    if len(workers) != 1:
        raise RuntimeError(f"expected one worker profile, found {workers}")
    return read_total(workers[0])


def connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 120
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(REQUESTS["wrk"])
            read_one(sock)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def read_one(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)


def read_total(path: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"no total in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--request", choices=sorted(REQUESTS), default="wrk")
    parser.add_argument("--app", default=None, help="module:callable in bench/ (asgi: asgi_app:app)")
    parser.add_argument("--low", type=int, default=200)
    parser.add_argument("--high", type=int, default=1200)
    parser.add_argument("--server-args", default="", help="more monoceros arguments, one string")
    args = parser.parse_args()
    extra = shlex.split(args.server_args)
    request = REQUESTS[args.request]
    with tempfile.TemporaryDirectory() as outdir:
        app = args.app or ("asgi_app:app" if args.worker_class == "asgi" else "app:application")
        low = run(args.low, args.worker_class, request, outdir, app, extra)
        high = run(args.high, args.worker_class, request, outdir, app, extra)
    per_request = (high - low) / (args.high - args.low)
    print(
        f"{args.worker_class} {args.request} {args.server_args}: {per_request:,.0f} instructions per request"
    )


if __name__ == "__main__":
    main()
