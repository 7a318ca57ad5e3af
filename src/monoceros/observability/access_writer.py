"""Writing access-log lines cheaply: straight into our own handlers' files when nothing else listens.

Going through `logging.Logger.info()` builds a `LogRecord` (clock, pid, thread and frame lookups)
and runs the formatter for every request: a few microseconds, a sizeable part of a hello-world
request. When the access logger holds only the handlers Monoceros installed (a file or stdout,
plain `%(message)s` format), has no filters, does not propagate and logs at INFO, the line goes
directly to them under each handler's lock, and reaches the kernel at once as a handler's would.
A log file is written with one `os.write` (the file is opened in append mode, so each line lands
whole at the end even with several writers; the text layer's buffer is always empty because
logging flushes after each record). Anything else (a user's logging config, syslog, a handler an
app added later) takes the logging path, checked on every call so a later change is respected.

A worker's serving loop may ask for batching (`batch()`): lines then wait in a queue and go out with
one write per handler when `HOLD_BYTES` are held or the oldest held line is `HOLD_SECONDS` old (`due()`;
the loop's wait for events ends at `held_until()`), on USR1, on a new logging set-up and on exit. A write
to a log file costs a busy worker far more than its microsecond in a loop of writes (about 4 % of
hello-world throughput when made after each round of events), and a worker under load is idle for a few
microseconds between rounds, too often to write then. The price: a line shows up at most 0.1 s after its
response, and a worker killed by SIGKILL loses what it held (at most 16 KiB or 0.1 s of lines). The queue
is a deque: the application threads of a `gthread` worker append to it while the loop thread drains it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

# Under sustained load, held lines go out once this many characters are held, or the oldest is this old.
HOLD_BYTES = 16 * 1024
HOLD_SECONDS = 0.1


class AccessWriter:
    def __init__(self, logger: logging.Logger, own: Sequence[logging.Handler]) -> None:
        self.logger = logger
        self.own: list[logging.Handler] = list(own)
        self._files = {id(h) for h in own if isinstance(h, logging.FileHandler)}
        self.pending: deque[str] | None = None  # set by batch()
        self._held = 0  # characters in `pending`
        self._since = 0.0  # when the oldest of them was held (time.monotonic())

    def batch(self) -> None:
        """From now on, queue lines until `flush()` (a worker's loop: when `due()`, and on exit)."""
        if self.pending is None:
            self.pending = deque()

    def flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        lines = []
        while pending:
            lines.append(pending.popleft())
        self._held = 0
        self._write_text("\n".join(lines) + "\n", lines)

    def hold(self, text: str) -> None:
        """Queue ``text`` (one line, or lines joined by newlines; no final one) until the next `flush()`;
        without batching, write it at once, as `logger.info(text)` would."""
        pending = self.pending
        if pending is None:
            self._write_text(text + "\n", (text,))
            return
        if not pending:
            self._since = time.monotonic()
        pending.append(text)
        self._held += len(text)

    def held_until(self) -> float:
        """When (`time.monotonic()`) what is held must go out; 0.0 when nothing is held."""
        return self._since + HOLD_SECONDS if self.pending else 0.0

    def due(self) -> bool:
        """True when what is held should go out now although the loop is busy."""
        return bool(self.pending) and (
            self._held >= HOLD_BYTES or time.monotonic() - self._since >= HOLD_SECONDS
        )

    def direct(self) -> bool:
        """True when writing to our handlers' streams is what logging would do."""
        log = self.logger
        return (
            bool(self.own)
            and log.handlers == self.own
            and not (log.propagate or log.filters or log.disabled)
            and log.isEnabledFor(logging.INFO)
        )

    def _write_text(self, text: str, lines: Sequence[str]) -> None:
        for handler in self.own:
            stream: Any = getattr(handler, "stream", None)
            if stream is None:  # a FileHandler closed by a reopen in progress: let it reopen itself
                for line in lines:
                    record = self.logger.makeRecord(self.logger.name, logging.INFO, "", 0, line, (), None)
                    handler.handle(record)
                continue
            with handler.lock or _NO_LOCK:
                if id(handler) in self._files:
                    _write_all(stream.fileno(), text.encode(stream.encoding, stream.errors))
                else:
                    stream.write(text)
                    stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # only on a full disk or a signal: the common case is one call
        data = data[written:]
        written = os.write(fd, data)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
