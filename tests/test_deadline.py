"""The request deadline's mechanisms in-process: SIGALRM into the main thread, and asynchronous interrupts
into a pool thread that never land outside the call they were meant for."""

from __future__ import annotations

import _thread
import sys
import threading
import time

import pytest

from monoceros.workers.deadline import MainThreadDeadline, ThreadDeadlines
from monoceros.wsgi import RequestTimeout


def test_the_main_thread_is_interrupted_in_a_blocking_call() -> None:
    deadline = MainThreadDeadline(0.2)
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        deadline.arm()
        time.sleep(5)
    assert time.monotonic() - started < 2
    assert not deadline.armed


def test_a_disarmed_deadline_never_raises() -> None:
    deadline = MainThreadDeadline(0.05)
    deadline.arm()
    deadline.disarm()
    time.sleep(0.2)  # (a stray SIGALRM would raise here)
    deadline.armed = False
    deadline._expired(14, None)  # a signal that arrives after the call: ignored


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# Under a tracing function (coverage's, a debugger's) CPython can deliver the asynchronous exception inside
# the tracer and the thread then spins in its own teardown with the GIL held: the in-process thread tests run
# untraced only. The functional gthread tests exercise the same path in real servers.
untraced = pytest.mark.skipif(sys.gettrace() is not None, reason="async exceptions under a tracer (coverage)")


@untraced
def test_a_thread_past_its_deadline_is_interrupted_once() -> None:
    clock = Clock()
    deadlines = ThreadDeadlines(2.0, clock)
    began = threading.Event()
    outcome: list[str] = []

    def call() -> None:
        deadlines.begin("conn")
        try:
            began.set()
            n = 0
            while True:
                n += 1
        except RequestTimeout as exc:
            outcome.append(str(exc))
        finally:
            deadlines.end()

    thread = threading.Thread(target=call)
    thread.start()
    began.wait(5)
    assert deadlines.check(101.0) == ([], [])  # not yet
    interrupted, stuck = deadlines.check(102.5)
    assert [(conn, age) for conn, _, age in interrupted] == [("conn", 2.5)]
    assert "in call" in interrupted[0][1]  # the thread's stack names the function
    thread.join(5)
    assert outcome == ["request_timeout (2 s) passed"]
    assert deadlines.check(110.0) == ([], [])  # gone from the table


@untraced
def test_a_thread_blocked_in_c_is_answered_for_once_and_interrupted_when_it_returns() -> None:
    clock = Clock()
    deadlines = ThreadDeadlines(1.0, clock)
    lock = _thread.allocate_lock()
    lock.acquire()
    began = threading.Event()
    outcome: list[str] = []

    def call() -> None:
        try:
            deadlines.begin("conn")
            began.set()
            lock.acquire()  # blocked in C: the interrupt waits for the next bytecode
            outcome.append("returned without the interrupt")
        except RequestTimeout:
            outcome.append("interrupted once back in Python")
        finally:
            deadlines.end()

    thread = threading.Thread(target=call)
    thread.start()
    began.wait(5)
    interrupted, _ = deadlines.check(101.5)
    assert len(interrupted) == 1
    assert deadlines.check(102.0) == ([], [])  # the grace is a second
    assert deadlines.check(102.6) == ([], ["conn"])  # answered for by the loop, once
    assert deadlines.check(104.0) == ([], [])
    lock.release()
    thread.join(5)
    assert outcome == ["interrupted once back in Python"]
    assert deadlines.calls == {}
