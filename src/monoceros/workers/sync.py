"""The default worker (`-k sync`): the application runs inline, one request at a time per process.

Unlike Gunicorn's sync worker, it keeps connections alive, answers pipelined requests and cannot be
held by a slow client: the shared I/O engine reads each request whole before the app runs and writes
responses out as the client takes them (see `monoceros.workers.engine`).
"""

from __future__ import annotations

from monoceros.workers.base import Worker
from monoceros.workers.engine import Engine
from monoceros.workers.serving import RequestRunner


class SyncWorker(Worker):
    """One application call at a time (`wsgi.multithread` is False)."""

    def run(self) -> None:
        Engine(self, RequestRunner(self, multithread=False)).run()
