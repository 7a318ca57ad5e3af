"""Flow control: how much output may wait for a slow reader, and how long a peer may stall.

One policy per worker (``FlowControl``), used by the loop and by the application's writes and body reads:

- Output the socket cannot take waits in the connection's queue, drained by the loop. Past ``high_water``
  queued bytes, the application's next write waits until the socket has taken the queue down to
  ``low_water``: a slow reader costs memory up to about the mark, never an unbounded buffer. One large body
  handed over at once is already in memory; it is queued whole and drained without holding the worker.
- A peer that takes nothing (while we wait to write) or sends nothing (while the app waits for its body) for
  ``stall_timeout`` seconds is given up on: ``Stalled``, an ``OSError`` like a vanished client. The bound is
  under the master's heartbeat timeout, so one stuck client costs its connection, never the whole worker.
- The loop's deadline for a connection waiting to write is ``deadline(now)``: the same bound.
"""

from __future__ import annotations

import select

HIGH_WATER = 1 << 20  # queued output bytes past which a write waits


class Stalled(OSError):
    """The peer stopped reading (or sending) for longer than the stall timeout."""


class FlowControl:
    """The back-pressure marks and the stall bound of one worker."""

    __slots__ = ("high_water", "low_water", "stall_timeout")

    def __init__(self, stall_timeout: float, high_water: int = HIGH_WATER) -> None:
        self.stall_timeout = stall_timeout
        self.high_water = high_water
        self.low_water = high_water // 2

    @classmethod
    def for_timeout(cls, timeout: float) -> FlowControl:
        """The policy for a worker whose heartbeat ``timeout`` is this (Gunicorn's ``timeout``; 0 = none):
        give up on a stalled peer at 80 % of it (at least 1 s), or after 30 s without one."""
        return cls(max(1.0, 0.8 * timeout) if timeout > 0 else 30.0)

    def deadline(self, now: float) -> float:
        """When a connection that is waiting to write (or to be read from) is given up on."""
        return now + self.stall_timeout

    def wait(self, fd: int, events: int) -> None:
        """Block until ``fd`` is ready for ``events`` (``select.POLLIN`` or ``POLLOUT``); else ``Stalled``."""
        poller = select.poll()
        poller.register(fd, events | select.POLLERR | select.POLLHUP)
        if not poller.poll(self.stall_timeout * 1000):
            raise Stalled(f"client stalled for {self.stall_timeout:g}s")
