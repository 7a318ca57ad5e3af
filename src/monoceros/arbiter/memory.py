"""Memory-based worker recycling (``max_worker_memory``): the master samples each worker's memory and retires
one that stays over the limit.

A worker is sampled every ``interval`` seconds, each worker on its own schedule (the interval drawn again
from ±20 % every time), so workers that grow alike do not all hit the limit, and restart, at once. It is
recycled after ``samples`` samples in a row over the limit: one allocation spike does not cost a restart.
The figure is PSS (the worker's share of the pages it maps, from ``/proc/PID/smaps_rollup``): a preloaded
application's shared pages count once across the workers, not once per worker as in RSS. Where the kernel
has no ``smaps_rollup``, RSS (``/proc/PID/statm``) is used.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable

SAMPLE_SECONDS = 2.0
SAMPLES_OVER = 3
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def worker_memory(pid: int) -> int | None:
    """The worker's PSS in bytes (else its RSS); None when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class MemoryWatch:
    """Which workers to recycle for their memory; ``check(pids, now)`` once per pass of the master's loop."""

    def __init__(
        self,
        limit_mib: int,
        interval: float = SAMPLE_SECONDS,
        samples: int = SAMPLES_OVER,
        measure: Callable[[int], int | None] = worker_memory,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = limit_mib * 1024 * 1024
        self.interval = interval
        self.samples = samples
        self.measure = measure
        self.rng = rng or random.Random()
        self._next: dict[int, float] = {}
        self._over: dict[int, int] = {}

    def check(self, pids: Iterable[int], now: float) -> list[tuple[int, int]]:
        """(pid, bytes) of the workers that have just been over the limit ``samples`` times in a row."""
        due = []
        alive = set(pids)
        for pid in list(self._next):
            if pid not in alive:
                del self._next[pid]
                self._over.pop(pid, None)
        for pid in alive:
            when = self._next.get(pid)
            if when is None:
                self._next[pid] = now + self._spread()
                continue
            if now < when:
                continue
            self._next[pid] = now + self._spread()
            used = self.measure(pid)
            if used is None or used <= self.limit:
                self._over.pop(pid, None)
                continue
            self._over[pid] = count = self._over.get(pid, 0) + 1
            if count >= self.samples:
                del self._over[pid]
                due.append((pid, used))
        return due

    def _spread(self) -> float:
        return self.interval * self.rng.uniform(0.8, 1.2)
