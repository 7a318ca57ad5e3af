"""The master's signal queue: handlers only record the signal and wake the main loop.

A signal handler runs between two bytecodes of whatever the master was doing, so it must not log,
fork or touch the worker table. `SignalQueue.put` appends to a deque (atomic) and writes one byte
to a non-blocking self-pipe; the main loop sleeps in `select()` on that pipe and dispatches the
queued signals in order, at a point where doing real work is safe.
"""

from __future__ import annotations

import collections
import os
import select
import signal
from collections.abc import Callable, Mapping

# The signals the master handles, as in Gunicorn (CHLD is installed separately).
HANDLED_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


def signal_name(sig: int) -> str:
    """Gunicorn's spelling in `Handling signal: ...`: the lower-case name without `SIG`."""
    try:
        return signal.Signals(sig).name[3:].lower()
    except ValueError:
        return str(sig)


class SignalQueue:
    """Signals waiting for the main loop, plus the pipe that interrupts its sleep."""

    def __init__(self) -> None:
        self._pending: collections.deque[int] = collections.deque()
        self._read_fd, self._write_fd = os.pipe()
        for fd in (self._read_fd, self._write_fd):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)

    def put(self, sig: int) -> None:
        """Safe to call from a signal handler."""
        self._pending.append(sig)
        self.wakeup()

    def wakeup(self) -> None:
        try:
            os.write(self._write_fd, b".")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is already pending) or closed

    def get_nowait(self) -> list[int]:
        """Every queued signal, oldest first, without sleeping."""
        signals = []
        while self._pending:
            signals.append(self._pending.popleft())
        return signals

    def wait(
        self,
        timeout: float,
        readers: Mapping[int, Callable[[], None]] | None = None,
        writers: Mapping[int, Callable[[], None]] | None = None,
    ) -> list[int]:
        """Sleep until a signal arrives or `timeout` seconds pass, then return the queued signals. Also
        watched: ``readers`` and ``writers`` (fd -> what to call once it is ready; the master's endpoints),
        whose callbacks run here, before the signals are returned."""
        if not self._pending:
            try:
                ready, writable, _ = select.select(
                    [self._read_fd, *(readers or ())], list(writers or ()), [], timeout
                )
            except InterruptedError:
                ready, writable = [], []
            for fd in writable:
                if writers is not None and fd in writers:
                    writers[fd]()
            for fd in ready:
                if readers is not None and fd in readers:
                    readers[fd]()
        self._drain_pipe()
        return self.get_nowait()

    def _drain_pipe(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Release the pipe (a forked worker does not need the master's)."""
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._read_fd = self._write_fd = -1
