"""`request_timeout`: interrupting an application call that ran too long, without killing the worker.

How Python code is interrupted depends on the thread it runs in:

- ``MainThreadDeadline`` (the sync worker: the app runs in the main thread): a one-shot ``SIGALRM`` timer
  (``setitimer``) armed around the call; its handler raises ``RequestTimeout`` into the app. A blocking
  system call (``time.sleep``, a socket read) is interrupted too: Python runs the handler on ``EINTR``.
- ``ThreadDeadlines`` (gthread: the app runs in a pool thread): the loop's tick finds the calls past their
  deadline and raises ``RequestTimeout`` in their thread asynchronously
  (``PyThreadState_SetAsyncExc``). That takes effect at the thread's next bytecode: pure-Python code
  stops at once, a thread blocked in C (``time.sleep``, a C extension) only when the call returns. So
  one second later, if the call has still not ended, the loop answers the client itself (504 if the head
  is not out) and shuts the connection down; the thread's own writes then fail and its request ends when
  it returns to Python.

A C call that never returns to the interpreter cannot be interrupted by either: in the sync worker the
heartbeat stops too and the master's `timeout` kills the worker, as without this setting.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from monoceros.wsgi import RequestTimeout

# PyThreadState_SetAsyncExc(thread id, exception class or NULL): how many thread states it changed. No
# argtypes: None must go as a NULL pointer (which takes a pending exception back), not as Py_None.
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.restype = ctypes.c_int


def raise_in_thread(ident: int, exc: type[BaseException] | None) -> bool:
    """Make ``exc`` raise in thread ``ident`` at its next bytecode; None takes a pending one back."""
    return bool(_set_async_exc(ctypes.c_ulong(ident), None if exc is None else ctypes.py_object(exc)))


def thread_stack(ident: int) -> str:
    """The current stack of thread ``ident``, formatted as a traceback is (empty if it is gone)."""
    frame = sys._current_frames().get(ident)
    return "".join(traceback.format_stack(frame)) if frame is not None else ""


def task_stack(task: Any) -> str:
    """Where an asyncio task is suspended: its coroutine and each one it awaits, innermost last (a task's
    own ``get_stack()`` gives only the outermost frame of a suspended coroutine)."""
    frames: list[tuple[FrameType, int]] = []
    coro = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append((frame, frame.f_lineno))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "".join(traceback.StackSummary.extract(frames).format())


class MainThreadDeadline:
    """Raise ``RequestTimeout`` in the main thread ``seconds`` after ``arm()``, unless ``disarm()`` came
    first. Only one call at a time (the sync worker runs one)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False
        signal.signal(signal.SIGALRM, self._expired)

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        # The timer may fire just as the call ends: only an armed deadline raises.
        if self.armed:
            self.armed = False
            raise RequestTimeout(self.seconds)

    def arm(self) -> None:
        self.armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        self.armed = False  # first: a signal arriving now is ignored
        signal.setitimer(signal.ITIMER_REAL, 0)


class _Call:
    __slots__ = ("conn", "started", "interrupted")

    def __init__(self, conn: Any, started: float) -> None:
        self.conn = conn
        self.started = started
        self.interrupted = 0.0  # when RequestTimeout was raised into its thread; 0 until then


class ThreadDeadlines:
    """The application calls running in pool threads, and their interruption at the deadline.

    ``begin``/``end`` run in the pool thread around each call; ``check`` in the loop's thread. A lock keeps
    an interrupt from being raised into a thread that has already left the call: ``end`` takes back an
    interrupt that was raised but not yet delivered, so it can never land in the next request.
    """

    GRACE = 1.0  # after the interrupt: how long a thread stuck in C gets before the loop answers for it

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock

        class Expired(RequestTimeout):  # raised by class, without arguments: it knows its seconds
            def __init__(self) -> None:
                super().__init__(seconds)

        self.expired = Expired
        self.calls: dict[int, _Call] = {}  # thread id -> its call
        self.lock = threading.Lock()
        # Under a tracing function (coverage, a debugger) CPython may deliver the interrupt inside the tracer,
        # and the thread then spins with the GIL held, stopping the whole worker: then no thread is
        # interrupted, and only the loop's answer for a stuck call (after GRACE) applies.
        self.interrupts = sys.gettrace() is None and threading.gettrace() is None

    def begin(self, conn: Any) -> None:
        call = _Call(conn, self.clock())
        with self.lock:
            self.calls[threading.get_ident()] = call

    def end(self) -> None:
        ident = threading.get_ident()
        with self.lock:
            call = self.calls.pop(ident, None)
            if call is not None and call.interrupted:
                raise_in_thread(ident, None)

    def check(self, now: float) -> tuple[list[tuple[Any, str, float]], list[Any]]:
        """(calls just interrupted: their connection, stack and age; connections whose thread is still stuck
        in C ``GRACE`` seconds after the interrupt, to be answered by the loop)."""
        interrupted: list[tuple[Any, str, float]] = []
        stuck: list[Any] = []
        with self.lock:
            for ident, call in self.calls.items():
                if not call.interrupted:
                    if now - call.started >= self.seconds:
                        call.interrupted = now
                        interrupted.append((call.conn, thread_stack(ident), now - call.started))
                        if self.interrupts:
                            raise_in_thread(ident, self.expired)
                elif call.interrupted > 0 and now - call.interrupted >= self.GRACE:
                    call.interrupted = -1.0  # answered for: once
                    stuck.append(call.conn)
        return interrupted, stuck
