"""``wsgi.errors`` as Gunicorn gives it: what the application writes there goes to the error log's streams.

Flask's ``app.logger``, Django's and other frameworks' tracebacks write to ``environ["wsgi.errors"]``; under
Gunicorn that is the error log (``--error-logfile``, stderr for ``-``), so they are not lost with ``--daemon``
and land where the server's own errors do. The streams are looked up at each write, so a log file reopened
on USR1 is followed; text goes as it is written, without the log line format (as in Gunicorn).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import IO, Any


class ErrorStream:
    """A text stream (``write``, ``writelines``, ``flush``: PEP 3333) over the error logger's handlers."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _streams(self) -> list[IO[Any]]:
        streams = [
            handler.stream
            for handler in self._logger.handlers
            if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is not None
        ]
        return streams or [sys.stderr]  # syslog alone (no stream): the console, as Gunicorn

    def write(self, data: str) -> int:
        for stream in self._streams():
            try:
                stream.write(data)
            except UnicodeError:
                stream.write(data.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))
            stream.flush()
        return len(data)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        for stream in self._streams():
            stream.flush()
