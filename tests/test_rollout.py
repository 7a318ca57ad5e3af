"""The rolling reload's plan, stepped by hand: pids are numbers, readiness is a set the test fills in, and
each step's forks and retirements are applied the way the master applies them."""

from __future__ import annotations

import itertools

import pytest

from monoceros.arbiter.rollout import Rollout, batch_size


class Pool:
    """The master's view: active workers oldest first, which are ready, and the plan applied to them."""

    def __init__(self, count: int) -> None:
        self.pids = itertools.count(100)
        self.active = [next(self.pids) for _ in range(count)]
        self.ready = set(self.active)
        self.least_ready = count

    def apply(self, rollout: Rollout, target: int) -> bool:
        old = set(rollout.old)
        step = rollout.plan(self.active, self.ready, target)
        for pid in step.retire:
            assert pid in old  # only old ones are retired
            self.active.remove(pid)
        for _ in range(step.spawn):
            pid = next(self.pids)
            rollout.new.add(pid)
            self.active.append(pid)
        self.least_ready = min(self.least_ready, sum(1 for pid in self.active if pid in self.ready))
        return step.done

    def boot(self) -> None:
        self.ready.update(self.active)


@pytest.mark.parametrize(("workers", "batch"), [(1, 1), (4, 1), (4, 2), (5, 2), (8, 3), (3, 5)])
def test_capacity_never_drops_and_every_worker_is_replaced(workers: int, batch: int) -> None:
    pool = Pool(workers)
    first = list(pool.active)
    rollout = Rollout(first, batch)
    steps = 0
    while not pool.apply(rollout, workers):
        assert len(pool.active) <= workers + batch  # at most `batch` extra processes
        pool.boot()
        steps += 1
        assert steps < 100
    assert pool.least_ready >= workers
    assert len(pool.active) == workers and not set(pool.active) & set(first)
    assert rollout.replaced == workers
    assert steps == -(-workers // min(batch, workers))


def test_nothing_is_retired_while_the_new_batch_boots() -> None:
    pool = Pool(4)
    rollout = Rollout(pool.active, 1)
    assert not pool.apply(rollout, 4)
    for _ in range(5):  # the new worker is still loading its app
        step = rollout.plan(pool.active, pool.ready, 4)
        assert step.retire == [] and step.spawn == 0 and not step.done


def test_a_worker_that_dies_mid_rollout_is_replaced_at_once() -> None:
    pool = Pool(4)
    rollout = Rollout(pool.active, 1)
    pool.apply(rollout, 4)  # 4 old + 1 booting
    pool.active.remove(pool.active[1])  # an old one crashes: the booting one already stands in for it
    assert rollout.plan(pool.active, pool.ready, 4).spawn == 0
    pool.active.remove(pool.active[1])  # another one: 2 old + 1 booting
    step = rollout.plan(pool.active, pool.ready, 4)
    assert step.spawn == 1 and step.retire == []


def test_a_shrinking_target_retires_old_workers_without_waiting() -> None:
    pool = Pool(4)
    rollout = Rollout(pool.active, 1)
    step = rollout.plan(pool.active, pool.ready, 2)
    assert step.retire == pool.active[:2] and step.spawn == 1


def test_a_growing_target_fills_up_first() -> None:
    pool = Pool(2)
    rollout = Rollout(pool.active, 1)
    step = rollout.plan(pool.active, pool.ready, 4)
    assert step.spawn == 2 and step.retire == []


def test_batch_size_default_is_a_quarter_rounded_up() -> None:
    assert [batch_size(0, n) for n in (1, 2, 4, 5, 8, 9, 16)] == [1, 1, 1, 2, 2, 3, 4]
    assert batch_size(3, 16) == 3
