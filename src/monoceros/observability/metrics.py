"""Request metrics shared between the workers and the master, for `--metrics-bind` (Prometheus).

Each worker gets a ``StatsSlot``, a small anonymous shared memory page the master maps before the fork:
the worker writes its counters and gauges there as requests end (plain stores into a memoryview of
doubles, no system call, no lock: one writer per slot), and the master reads every slot when scraped,
never waiting on a worker. When a worker exits, the master folds its counters into ``Totals`` so that
counters never go down when a worker is replaced (Prometheus reads a drop as a counter reset); gauges
(in flight, connections) count the live workers only.

Doubles hold counts exactly up to 2**53, far past any counter here. A reader may see a request counted
while its duration is not yet added (two stores): a scrape is a snapshot within a microsecond or so.
"""

from __future__ import annotations

import mmap
from bisect import bisect_left
from collections.abc import Iterable, Sequence

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
_METHOD_INDEX = {name: index for index, name in enumerate(METHODS[:-1])}
_OTHER = len(METHODS) - 1

# Histogram upper bounds, in seconds (Prometheus' client defaults, with 25 ms and 2.5 s kept).
DURATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUE_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The slot's layout: offsets into an array of doubles.
REQUESTS = 0  # len(METHODS) * len(STATUS_CLASSES) counters, method-major
DURATION = REQUESTS + len(METHODS) * len(STATUS_CLASSES)  # bucket counts (not cumulative), then +Inf
DURATION_SUM = DURATION + len(DURATION_BOUNDS) + 1
BYTES = DURATION_SUM + 1
QUEUE = BYTES + 1  # the request queue time's buckets, +Inf, sum
QUEUE_SUM = QUEUE + len(QUEUE_BOUNDS) + 1
COUNTERS = QUEUE_SUM + 1  # everything before this is a counter (folded into Totals at exit)
IN_FLIGHT = COUNTERS
CONNECTIONS = IN_FLIGHT + 1
BUSY_SINCE = CONNECTIONS + 1  # monotonic start of the request being served (0: idle)
SERVED = BUSY_SINCE + 1  # requests this worker has served
FIELDS = SERVED + 1
# After the doubles: the current request as "METHOD target" (latin-1), its length in the first byte pair.
TEXT_AT = FIELDS * 8
TEXT_MAX = 254
SIZE = TEXT_AT + 2 + TEXT_MAX


def method_index(method: str) -> int:
    return _METHOD_INDEX.get(method, _OTHER)


class StatsSlot:
    """One worker's shared counters: written by the worker, read by the master."""

    __slots__ = ("mem", "values")

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, SIZE)  # anonymous and shared: the forked worker writes the same pages
        self.values = memoryview(self.mem).cast("B")[:TEXT_AT].cast("d")

    # -- the worker's side ----------------------------------------------------------------------------

    def begin(self, method: str, target: str, now: float) -> None:
        """A request is being served from ``now`` (what `ctl show workers` and `top` display)."""
        values = self.values
        values[IN_FLIGHT] += 1
        values[BUSY_SINCE] = now
        text = f"{method} {target}".encode("latin-1", "replace")[:TEXT_MAX]
        mem = self.mem
        mem[TEXT_AT + 2 : TEXT_AT + 2 + len(text)] = text
        mem[TEXT_AT : TEXT_AT + 2] = len(text).to_bytes(2, "little")

    def end(self, method: str, status: int, seconds: float, body_bytes: int, queued: float | None) -> None:
        """The request begun last is over: count it."""
        self.count(method, status, seconds, body_bytes, queued)
        values = self.values
        values[IN_FLIGHT] -= 1
        values[BUSY_SINCE] = 0.0

    def count(self, method: str, status: int, seconds: float, body_bytes: int, queued: float | None) -> None:
        """Count one request that is over (the ASGI worker's way: its loop publishes what is in flight)."""
        values = self.values
        klass = status // 100 - 1
        if 0 <= klass < 5:
            values[REQUESTS + method_index(method) * 5 + klass] += 1
        values[DURATION + bisect_left(DURATION_BOUNDS, seconds)] += 1
        values[DURATION_SUM] += seconds
        values[BYTES] += body_bytes
        if queued is not None:
            values[QUEUE + bisect_left(QUEUE_BOUNDS, queued)] += 1
            values[QUEUE_SUM] += queued
        values[SERVED] += 1

    def publish(self, in_flight: int, oldest: tuple[str, str, float] | None) -> None:
        """What is in flight now, and the oldest request of it as (method, target, since)."""
        values = self.values
        values[IN_FLIGHT] = in_flight
        if oldest is None:
            values[BUSY_SINCE] = 0.0
            return
        method, target, since = oldest
        self.begin(method, target, since)
        values[IN_FLIGHT] = in_flight

    def connections(self, count: int) -> None:
        """How many connections the worker has open (published by its loop about once a second)."""
        self.values[CONNECTIONS] = count

    # -- the master's side ----------------------------------------------------------------------------

    def current(self) -> str:
        """The request being served as "METHOD target", "" when idle."""
        if not self.values[BUSY_SINCE]:
            return ""
        length = int.from_bytes(self.mem[TEXT_AT : TEXT_AT + 2], "little")
        return self.mem[TEXT_AT + 2 : TEXT_AT + 2 + min(length, TEXT_MAX)].decode("latin-1")

    def snapshot(self) -> list[float]:
        return list(self.values)

    def close(self) -> None:
        self.values.release()
        try:
            self.mem.close()
        except BufferError:  # a view of it is still alive somewhere: the pages go with the process
            pass


class Totals:
    """The counters of the workers that have exited, kept by the master."""

    def __init__(self) -> None:
        self.values = [0.0] * COUNTERS

    def retire(self, slot: StatsSlot) -> None:
        values = slot.values
        for index in range(COUNTERS):
            self.values[index] += values[index]


def aggregate(totals: Totals, live: Iterable[StatsSlot]) -> list[float]:
    """Counters over every worker that ever ran; gauges over the live ones."""
    summed = list(totals.values) + [0.0] * (FIELDS - COUNTERS)
    for slot in live:
        values = slot.values
        for index in range(FIELDS):
            if index not in (BUSY_SINCE,):
                summed[index] += values[index]
    return summed


def parse_request_start(value: str | None, now_wall: float) -> float | None:
    """The queue time a router stated in ``X-Request-Start`` (``t=1700000000.123``, seconds,
    milliseconds or microseconds since the epoch, as nginx's ``t=${msec}`` and Heroku-style routers send
    it): how long before ``now_wall`` the request reached the router; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        stamp = float(text)
    except ValueError:
        return None
    # The unit, from the magnitude: seconds ~1.7e9, milliseconds ~1.7e12, microseconds ~1.7e15.
    if stamp > 1e14:
        stamp /= 1e6
    elif stamp > 1e11:
        stamp /= 1e3
    queued = now_wall - stamp
    if queued < 0:
        return 0.0  # clocks a little apart: not negative
    return queued if queued < 3600 else None  # a stamp an hour off is a wrong clock, not a queue


def cumulative(counts: Sequence[float]) -> list[float]:
    """Histogram buckets as Prometheus states them: each bucket counts everything at or below it."""
    out: list[float] = []
    running = 0.0
    for count in counts:
        running += count
        out.append(running)
    return out
