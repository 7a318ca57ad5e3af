"""``MemoryWatch``, the master's memory-based recycling: samples on a jittered schedule per worker, a worker
recycled after enough samples in a row over the limit, and only then."""

from __future__ import annotations

import os
import random

from monoceros.arbiter.memory import MemoryWatch, worker_memory

MIB = 1024 * 1024


def test_recycled_after_three_samples_in_a_row_over_the_limit() -> None:
    used = {1: 50 * MIB, 2: 10 * MIB}
    watch = MemoryWatch(40, interval=1.0, samples=3, measure=used.get, rng=random.Random(1))
    due = []
    for tick in range(12):  # 0.5 s steps: each worker sampled about every second
        due += watch.check([1, 2], tick * 0.5)
    assert [pid for pid, _ in due] == [1]
    assert due[0][1] == 50 * MIB


def test_a_spike_below_three_samples_is_forgiven() -> None:
    readings = iter([50, 50, 10, 50, 50, 10, 50, 50, 10])
    watch = MemoryWatch(40, interval=1.0, samples=3, measure=lambda pid: next(readings) * MIB)
    due = []
    now = 0.0
    watch.check([7], now)  # the first pass only schedules
    for _ in range(9):
        now += 2.0
        due += watch.check([7], now)
    assert due == []


def test_schedules_are_spread_and_gone_workers_forgotten() -> None:
    watch = MemoryWatch(1, interval=10.0, measure=lambda pid: 0, rng=random.Random(3))
    watch.check(range(50), 0.0)
    times = set(watch._next.values())
    assert len(times) == 50 and min(times) >= 8.0 and max(times) <= 12.0
    watch.check([1], 20.0)
    assert set(watch._next) == {1}


def test_worker_memory_of_this_process() -> None:
    mine = worker_memory(os.getpid())
    assert mine is not None and mine > MIB
    assert worker_memory(2**22 + 12345) is None
