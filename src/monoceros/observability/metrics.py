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
import signal
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat

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
IN_FLIGHT = COUNTERS  # requests in the app now (threaded and async kinds publish it)
CONNECTIONS = IN_FLIGHT + 1
BUSY_SINCE = CONNECTIONS + 1  # monotonic start of the request the sync worker is running (0: idle)
CURRENT_SINCE = BUSY_SINCE + 1  # the start of the request named in the text below
CURRENT_SEQ = CURRENT_SINCE + 1  # bumped each time the text is written (the master waits for it)
FIELDS = CURRENT_SEQ + 1
# After the doubles: a request being served as "METHOD target" (latin-1), its length in the first two bytes.
TEXT_AT = FIELDS * 8
TEXT_MAX = 254
SIZE = TEXT_AT + 2 + TEXT_MAX
# The signal that asks a worker to write the request it is serving now into its slot (`ctl show workers`):
# the text costs nothing per request, and the handler runs even while a sync worker's app is busy.
PUBLISH_SIGNAL = signal.SIGRTMIN + 3


class Tally:
    """A worker's counters (one per thread for gthread), kept in a plain list: an increment there costs a
    fraction of one into shared memory. ``StatsSlot.publish`` copies them out about once a second and at
    exit, so a scrape may lag a second behind, and a worker killed with SIGKILL loses its last second."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0.0] * COUNTERS

    def add(self, method: str, status: int, seconds: float, body_bytes: int, queued: float | None) -> None:
        counts = self.counts
        klass = status // 100 - 1
        if 0 <= klass < 5:
            counts[_METHOD_INDEX.get(method, _OTHER) * 5 + klass] += 1
        counts[DURATION + bisect_left(DURATION_BOUNDS, seconds)] += 1
        counts[DURATION_SUM] += seconds
        counts[BYTES] += body_bytes
        if queued is not None:
            counts[QUEUE + bisect_left(QUEUE_BOUNDS, queued)] += 1
            counts[QUEUE_SUM] += queued

    def add_batch(
        self,
        methods: Sequence[str],
        statuses: Sequence[int],
        seconds: Sequence[float],
        body_bytes: Sequence[int],
        queued: Iterable[float] = (),
    ) -> None:
        """Many requests at once, the same as ``add`` for each (column by column: ``Counter``, ``map`` and
        ``sum`` do the per-request work in C, about a fifth of the cost of ``add`` per request)."""
        n = len(statuses)
        if not n:
            return
        counts = self.counts
        # The common batch has one method and one status, and every duration in the first bucket: a C scan
        # each (count, max) tells, and saves the counting of keys.
        method, status = methods[0], statuses[0]
        if methods.count(method) == n:
            row = _METHOD_INDEX.get(method, _OTHER) * 5
            by_status = {status: n} if statuses.count(status) == n else Counter(statuses)
            for status, times in by_status.items():
                klass = status // 100 - 1
                if 0 <= klass < 5:
                    counts[row + klass] += times
        else:
            for (method, status), times in Counter(zip(methods, statuses, strict=True)).items():
                klass = status // 100 - 1
                if 0 <= klass < 5:
                    counts[_METHOD_INDEX.get(method, _OTHER) * 5 + klass] += times
        first = DURATION_BOUNDS[0]
        if max(seconds) <= first:
            counts[DURATION] += n
        else:
            later = list(filter(first.__lt__, seconds))
            counts[DURATION] += n - len(later)
            for bucket, times in Counter(map(bisect_left, repeat(DURATION_BOUNDS), later)).items():
                counts[DURATION + bucket] += times
        counts[DURATION_SUM] += sum(seconds)
        counts[BYTES] += sum(body_bytes)
        for value in queued:
            counts[QUEUE + bisect_left(QUEUE_BOUNDS, value)] += 1
            counts[QUEUE_SUM] += value


class StatsSlot:
    """One worker's shared counters: written by the worker, read by the master."""

    __slots__ = ("mem", "values")

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, SIZE)  # anonymous and shared: the forked worker writes the same pages
        self.values = memoryview(self.mem).cast("B")[:TEXT_AT].cast("d")

    # -- the worker's side ----------------------------------------------------------------------------

    def publish(self, tallies: Iterable[Tally]) -> None:
        """Copy the counters out (they are totals since the worker started)."""
        summed = [0.0] * COUNTERS
        for tally in tallies:
            for index, value in enumerate(tally.counts):
                summed[index] += value
        self.values[:COUNTERS] = array("d", summed)

    def write_current(self, current: tuple[str, str, float] | None) -> None:
        """The request being served now, as (method, target, since), or None when idle."""
        values = self.values
        if current is None:
            values[CURRENT_SINCE] = 0.0
        else:
            method, target, since = current
            text = f"{method} {target}".encode("latin-1", "replace")[:TEXT_MAX]
            self.mem[TEXT_AT : TEXT_AT + 2 + len(text)] = len(text).to_bytes(2, "little") + text
            values[CURRENT_SINCE] = since
        values[CURRENT_SEQ] += 1

    def connections(self, count: int) -> None:
        """How many connections the worker has open (published by its loop about once a second)."""
        self.values[CONNECTIONS] = count

    # -- the master's side ----------------------------------------------------------------------------

    def served(self) -> int:
        return int(sum(self.values[DURATION : DURATION + len(DURATION_BOUNDS) + 1]))

    def in_flight(self) -> int:
        values = self.values
        return max(int(values[IN_FLIGHT]), 1 if values[BUSY_SINCE] else 0)

    def current(self) -> tuple[str, float] | None:
        """("METHOD target", since) of the request named last, None when idle."""
        since = self.values[CURRENT_SINCE]
        if not since:
            return None
        length = int.from_bytes(self.mem[TEXT_AT : TEXT_AT + 2], "little")
        return self.mem[TEXT_AT + 2 : TEXT_AT + 2 + min(length, TEXT_MAX)].decode("latin-1"), since

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
    """Counters over every worker that ever ran; in flight and connections over the live ones."""
    summed = list(totals.values) + [0.0] * (FIELDS - COUNTERS)
    for slot in live:
        values = slot.values
        for index in range(COUNTERS):
            summed[index] += values[index]
        summed[IN_FLIGHT] += slot.in_flight()
        summed[CONNECTIONS] += values[CONNECTIONS]
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
