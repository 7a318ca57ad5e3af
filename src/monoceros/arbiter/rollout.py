"""The rolling reload: which workers a HUP forks and retires, step by step, so capacity never drops.

A HUP starts a `Rollout` over the workers alive at that moment (the old generation). On each pass of
the master's loop, `plan()` looks at the active workers (oldest first) and at which of them have
reported ready (their first heartbeat, sent once the app is loaded and they listen), and says how
many new workers to fork and which old ones to retire:

- an old worker is retired only when a ready new worker takes its place, so at every moment at
  least `workers` booted workers accept connections (counting the old ones still serving);
- new workers are forked `batch` at a time, the next batch once the last one is ready, so a
  rollout costs at most `batch` extra processes;
- a worker that dies during the rollout is replaced at once, as outside a rollout.

A new worker that exits before it reported ready fails the rollout (the master then keeps the
workers it has, see `Arbiter`): nothing here kills or halts. The plan is a pure function of what it
is shown, so the master's unit tests drive it with fake pids.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from typing import NamedTuple


def batch_size(setting: int, workers: int) -> int:
    """`reload_batch`: the setting when positive, else a quarter of the workers (at least one)."""
    if setting > 0:
        return setting
    return max(1, -(-workers // 4))


class Step(NamedTuple):
    spawn: int
    retire: list[int]
    done: bool


class Rollout:
    """One HUP's replacement of the old generation of workers by new ones."""

    def __init__(self, old: Iterable[int], batch: int) -> None:
        self.old = set(old)
        self.batch = max(1, batch)
        self.new: set[int] = set()  # the pids forked for this rollout (told by the master)
        self.replaced = 0

    def plan(self, active: Sequence[int], ready: Container[int], target: int) -> Step:
        """The next step, given the active (not retiring) workers oldest first, which pids are ready and
        the number of workers wanted."""
        old = [pid for pid in active if pid in self.old]
        new = [pid for pid in active if pid not in self.old]
        booting = sum(1 for pid in new if pid not in ready)
        # each old worker goes only when a ready new one stands in its place
        surplus = len(old) + (len(new) - booting) - target
        retire = old[: max(0, surplus)]
        self.replaced += len(retire)
        self.old.difference_update(retire)
        left = len(old) - len(retire)
        if left == 0:
            return Step(max(0, target - len(new)), retire, True)
        spawn = max(0, target - left - len(new))  # a worker that died is replaced at once
        if booting == 0:
            spawn = max(spawn, min(self.batch, target - len(new)))
        return Step(spawn, retire, False)
