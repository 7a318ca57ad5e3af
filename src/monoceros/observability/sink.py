"""The one interface between the serving path and the logs: ``AccessSink``.

The workers never probe the logger object for optional methods: ``sink_for(log)`` looks once, when the worker
starts, at what the configured ``logger_class`` offers, and answers an ``AccessSink``. Monoceros' own logger
(and its subclasses, StatsD's included) gives the fast paths: lines deferred to the end of each round of
events and rendered together, requests timed only when a line reads the duration. Any other logger class
(written for Gunicorn's interface) is called as Gunicorn calls it: ``log.access(resp, req, environ,
request_time)`` once per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

# (response info, request, environ, seconds): what a deferred access line is rendered from.
Entry = tuple[Any, Any, dict[str, Any], float]


class AccessSink(Protocol):
    """What a worker's serving path asks of the logs."""

    enabled: bool  # record requests at all (no access log: nothing per request, not even a clock read)
    timed: bool  # some line reads the request's duration: time each request
    debug: bool  # the error log shows debug messages
    # Where a request's entry goes when lines are deferred (a plain list's append: no call per request in
    # Python); None: `record` is the way.
    queue: Callable[[Entry], None] | None

    def record(self, info: Any, request: Any, environ: dict[str, Any], seconds: float) -> None:
        """One request's access entry, now."""

    def end_round(self) -> float:
        """After a round of events: render and write what is due; when (``time.monotonic()``) what is
        still held must go out, 0.0 when nothing is held."""

    def flush(self) -> None:
        """Write everything held (the worker is exiting)."""

    def errors(self) -> object:
        """The stream the application's ``wsgi.errors`` writes to; None for the process's stderr."""


class LoggerSink:
    """The sink over Monoceros' logger (``observability.logger.Logger`` or a subclass)."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self.enabled = bool(log.wants_access())
        if self.enabled:
            log.batch_access()  # the loop calls end_round() after each round of events
        self.queue: Callable[[Entry], None] | None = log.access_queue() if self.enabled else None
        self.timed = self.enabled and bool(log.wants_request_time())
        self.debug = bool(log.loglevel_is_debug())

    def record(self, info: Any, request: Any, environ: dict[str, Any], seconds: float) -> None:
        self._log.access(info, request, environ, timedelta(seconds=seconds))

    def end_round(self) -> float:
        held_until: float = self._log.render_access()
        return held_until

    def flush(self) -> None:
        self._log.flush_access()

    def errors(self) -> object:
        return self._log.wsgi_errors()


class GunicornLoggerSink:
    """The sink over a logger class of another kind: Gunicorn's logger interface, nothing more assumed."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self.queue: Callable[[Entry], None] | None = None
        # Gunicorn's workers always call access(); its logger decides whether a line is written.
        self.enabled = True
        self.timed = True
        self.debug = False
        level = getattr(log, "loglevel", None)
        if isinstance(level, int):
            self.debug = level <= logging.DEBUG

    def record(self, info: Any, request: Any, environ: dict[str, Any], seconds: float) -> None:
        self._log.access(info, request, environ, timedelta(seconds=seconds))

    def end_round(self) -> float:
        return 0.0

    def flush(self) -> None:
        pass

    def errors(self) -> object:
        return None


def sink_for(log: Any) -> AccessSink:
    """The sink for the worker's logger object (``cfg.logger_class(cfg)``)."""
    from monoceros.observability.logger import Logger

    return LoggerSink(log) if isinstance(log, Logger) else GunicornLoggerSink(log)
