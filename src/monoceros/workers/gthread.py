"""The threaded worker (`-k gthread`, or `--threads N > 1` with the default worker).

The I/O engine is the same as the sync worker's; the application runs in up to `threads` threads at
once. The loop reads each request whole and writes each response out as the client takes it, so a
thread is only ever busy running the application: a thousand slow or idle clients cost memory, never
threads. While the application answers quickly the thread running the loop calls it itself (as sync
does), watched by an idle thread that takes the loop over from a call that lasts; then requests go to
the pool, and connections owned by a pool thread get no epoll events until it hands them back through
the completion queue (`running.ThreadPool`).

Like Gunicorn's gthread worker, a request running longer than `timeout` does not kill the worker:
the heartbeat comes from the loop. Such a request is logged every `timeout` seconds while it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monoceros.config.errors import WorkerConfigError
from monoceros.workers.base import Worker
from monoceros.workers.engine import Engine
from monoceros.workers.running import ThreadPool
from monoceros.workers.serving import RequestRunner

if TYPE_CHECKING:
    from monoceros.config import Config
    from monoceros.observability.logger import Logger


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
        timeout = float(self.cfg.timeout)
        pool = ThreadPool(
            threads,
            warn_every=timeout if timeout > 0 else 0.0,
            request_timeout=float(self.cfg.request_timeout),
        )
        self.engine = Engine(self, RequestRunner(self, multithread=True), pool)
        self.engine.run()
