"""The threaded worker (`-k gthread`, or `--threads N > 1` with the default worker).

The I/O engine is the same as the sync worker's; only the application runs elsewhere, in a pool of
`threads` threads. The loop thread reads each request whole and writes each response out as the
client takes it, so a thread is only ever busy running the application: a thousand slow or idle
clients cost memory, never threads. Connections owned by a thread get no epoll events
(EPOLLONESHOT) until the thread hands them back through the completion queue.

Like Gunicorn's gthread worker, a request running longer than `timeout` does not kill the worker:
the heartbeat comes from the loop. Such a request is logged every `timeout` seconds while it runs.
"""

from __future__ import annotations

import os
import queue
import select
import threading
from collections import deque
from typing import TYPE_CHECKING

from monoceros.config.errors import WorkerConfigError
from monoceros.http import Request
from monoceros.workers.base import Worker
from monoceros.workers.bodies import BufferedBody
from monoceros.workers.connection import BUSY, Conn
from monoceros.workers.engine import Engine
from monoceros.workers.serving import RequestRunner

if TYPE_CHECKING:
    from monoceros.config import Config
    from monoceros.observability.logger import Logger

_Job = tuple[Conn, Request, "BufferedBody | None", bool]
_Done = tuple[Conn, "BufferedBody | None", bool, bool]


class ThreadedEngine(Engine):
    """The engine with the application run by a pool of threads."""

    def __init__(self, worker: Worker, runner: RequestRunner, threads: int) -> None:
        super().__init__(worker, runner)
        self.oneshot = select.EPOLLONESHOT
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.done: deque[_Done] = deque()
        self.wake_pending = False
        timeout = float(worker.cfg.timeout)
        self.warn_every = timeout if timeout > 0 else 0.0
        self.threads = [
            threading.Thread(target=self._work, name=f"monoceros-app-{n}", daemon=True)
            for n in range(threads)
        ]

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        try:
            super().run()
        finally:
            for _ in self.threads:
                self.jobs.put(None)

    # -- the loop thread ------------------------------------------------------------------------

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        conn.state = BUSY
        conn.current = request
        conn.busy_since = self.now
        conn.warn_at = self.now + self.warn_every
        self.jobs.put((conn, request, body, live))
        return False

    def _drain_wakeups(self) -> None:
        super()._drain_wakeups()
        self.wake_pending = False
        done = self.done
        while done:
            conn, body, ok, live = done.popleft()
            conn.current = None
            if conn.closed:
                if body is not None:
                    body.close()
                continue
            if self.complete(conn, body, ok, live):
                self.process(conn)
            self.rearm(conn)

    def _tick(self, now: float) -> bool:
        going = super()._tick(now)
        if self.warn_every:
            for conn in list(self.conns.values()):
                if conn.state == BUSY and conn.current is not None and now >= conn.warn_at:
                    conn.warn_at = now + self.warn_every
                    self.log.warning(
                        "Request still running after %.0fs: %s %s",
                        now - conn.busy_since,
                        conn.current.method,
                        conn.current.path,
                    )
        return going

    # -- the application threads ----------------------------------------------------------------

    def _work(self) -> None:
        jobs, done, run = self.jobs, self.done, self.runner.run
        wake_fd = self.worker.PIPE[1]
        while True:
            job = jobs.get()
            if job is None:
                return
            conn, request, body, live = job
            try:
                ok = run(conn, request, body.finish() if body is not None else None)
            except BaseException:  # a thread must always hand its connection back
                self.log.exception("Error handling request %s", request.path)
                ok = False
            done.append((conn, body, ok, live))
            if not self.wake_pending:
                self.wake_pending = True
                try:
                    os.write(wake_fd, b"\0")
                except BlockingIOError:
                    pass  # the pipe is full: the loop is awake anyway


class ThreadWorker(Worker):
    """Runs the application in `threads` threads (`wsgi.multithread` is True)."""

    @classmethod
    def check_config(cls, cfg: Config, log: Logger) -> None:
        super().check_config(cfg, log)
        if cfg.threads < 1:
            # Gunicorn's gthread worker fails to boot (exit 3); said here in one line, with the same status.
            raise WorkerConfigError(
                f"threads: {cfg.threads} is not allowed with the gthread worker: must be 1 or more"
            )

    def run(self) -> None:
        threads = max(1, int(self.cfg.threads))
        ThreadedEngine(self, RequestRunner(self, multithread=True), threads).run()
