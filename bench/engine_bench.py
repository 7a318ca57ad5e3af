"""Per-request CPU of the worker's whole Python path, engine included, without system calls.

Builds a real sync worker's engine (``Engine``, ``RequestRunner``, the logger of the settings) with no
sockets to serve, adopts one connection whose socket only counts what is sent, and feeds it keep-alive
requests as the loop would after a ``recv``: parse, dispatch, environ, the app, framing, the keep-alive
decision, back to idle. Prints microseconds per request (best of several rounds, process time). Because
it only calls code every revision has (``Engine.adopt``, ``Engine.received``), it can compare two trees:

    PYTHONPATH=/path/to/other/src python bench/engine_bench.py

``engine_bench.py COUNT [browser]`` runs COUNT requests once and prints nothing: under ``valgrind
--tool=callgrind`` two counts give the instructions per request exactly (the machine's noise cancels out).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

from hotpath_bench import BROWSER, WRK, hello  # the same requests and app as the in-memory hot-path bench


class CountingSocket:
    """What the connection sends to: takes everything at once, keeps nothing."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.sent = 0

    def send(self, data: bytes) -> int:
        self.sent += 1
        return len(data)

    def fileno(self) -> int:
        return self.real.fileno()

    def getsockname(self) -> Any:
        return self.real.getsockname()


class Listening:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def getsockname(self) -> Any:
        return ("127.0.0.1", 8000)

    def close(self) -> None:
        pass


def engine() -> tuple[Any, Any]:
    from monoceros.config import Config
    from monoceros.workers.serving import RequestRunner
    from monoceros.workers.sync import SyncWorker

    engine_mod = __import__("monoceros.workers.engine", fromlist=["Engine"])
    cfg = Config()
    cfg.set("workers", 1)
    logger_cls = cfg.logger_class
    worker = SyncWorker(1, os.getpid(), [], None, 30.0, cfg, logger_cls(cfg))  # type: ignore[arg-type]
    worker.wsgi = hello
    worker.PIPE = os.pipe()
    eng = engine_mod.Engine(worker, RequestRunner(worker, multithread=False))
    return eng, worker


def per_request(raw: bytes, rounds: int = 9, count: int = 20000) -> float:
    eng, worker = engine()
    ours, theirs = socket.socketpair()
    conn = eng.adopt(ours, ("127.0.0.1", 40000), Listening(ours))
    counting = CountingSocket(ours)
    conn.sock = counting
    best = float("inf")
    worker.max_requests = sys.maxsize
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            eng.received(conn, raw)
        best = min(best, (time.process_time() - started) / count)
    assert counting.sent == rounds * count, "a response was not sent"
    assert not conn.closed
    theirs.close()
    return best * 1e6


def main() -> None:
    if len(sys.argv) > 1:  # COUNT [browser]: one round of COUNT requests, for an instruction counter
        per_request(BROWSER if "browser" in sys.argv[2:] else WRK, rounds=1, count=int(sys.argv[1]))
        return
    for name, raw in (("wrk GET (1 header)", WRK), ("browser GET (8 headers)", BROWSER)):
        print(f"{name:26s} {per_request(raw):6.2f} us/request")


if __name__ == "__main__":
    main()
