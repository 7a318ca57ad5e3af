"""The default worker (`-k sync`): the application runs inline, one request at a time per process.

Unlike Gunicorn's sync worker, it keeps connections alive, answers pipelined requests and cannot be
held by a slow client: the shared I/O engine reads each request whole before the app runs and writes
responses out as the client takes them (see `monoceros.workers.engine`). With several workers, the
idle connections of a worker stuck in a slow request move to the others (`workers.handoff`), so
keep-alive does not make fast requests wait behind slow ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monoceros.workers.base import SharedState, Worker
from monoceros.workers.deadline import MainThreadDeadline
from monoceros.workers.engine import Engine
from monoceros.workers.handoff import HandoffChannel
from monoceros.workers.running import InlineWithHandoff
from monoceros.workers.serving import RequestRunner

if TYPE_CHECKING:
    from monoceros.config import Config


class SyncWorker(Worker):
    """One application call at a time (`wsgi.multithread` is False)."""

    @classmethod
    def shared_state(cls, cfg: Config, current: SharedState | None) -> SharedState | None:
        """The hand-off channel, when connections can move between the workers at all: several workers
        and keep-alive on; not with PROXY headers (read here, the other workers could not know them) nor
        TLS (a session's state lives in this process). Kept across reloads, so that old and new workers
        pass connections to each other."""
        usable = cfg.workers > 1 and cfg.keepalive > 0 and cfg.proxy_protocol == "off" and not cfg.is_ssl
        if not usable:
            return None
        return current if isinstance(current, HandoffChannel) else HandoffChannel()

    def run(self) -> None:
        runner = RequestRunner(self, multithread=False)
        if self.cfg.request_timeout > 0:
            runner.deadline = MainThreadDeadline(float(self.cfg.request_timeout))
        channel = self.shared
        if isinstance(channel, HandoffChannel):  # (the master made it: connections may move)
            self.engine = Engine(self, runner, InlineWithHandoff(channel))
        else:
            self.engine = Engine(self, runner)
        self.engine.run()
