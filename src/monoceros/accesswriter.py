"""Writing access-log lines cheaply: straight into our own stream handlers when nothing else listens.

Going through `logging.Logger.info()` builds a `LogRecord` (clock, pid, thread and frame lookups)
and runs the formatter for every request: a few microseconds, a sizeable part of a hello-world
request. When the access logger holds only the handlers Monoceros installed (a file or stdout,
plain `%(message)s` format), has no filters, does not propagate and logs at INFO, the line goes
directly to their streams under each handler's lock, and is flushed at once as a handler would.
Anything else (a user's logging config, syslog, a handler an app added later) takes the logging
path, checked on every call so that a change made after start-up is respected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence


class AccessWriter:
    def __init__(self, logger: logging.Logger, own: Sequence[logging.Handler]) -> None:
        self.logger = logger
        self.own: list[logging.Handler] = list(own)

    def direct(self) -> bool:
        """True when writing to our handlers' streams is what logging would do."""
        log = self.logger
        return (
            bool(self.own)
            and log.handlers == self.own
            and not (log.propagate or log.filters or log.disabled)
            and log.isEnabledFor(logging.INFO)
        )

    def write(self, line: str) -> None:
        """Write one line (no newline) to every handler, as `logger.info(line)` would."""
        text = line + "\n"
        for handler in self.own:
            handler.acquire()
            try:
                stream = handler.stream  # type: ignore[attr-defined]
                if stream is not None:  # a closed FileHandler reopens lazily through emit()
                    stream.write(text)
                    stream.flush()
                    continue
            finally:
                handler.release()
            handler.handle(self.logger.makeRecord(self.logger.name, logging.INFO, "", 0, line, (), None))
