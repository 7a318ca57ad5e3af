"""How a worker kind runs the application for a complete request: the one part of the engine that varies.

The engine reads a request whole, then calls its strategy's ``dispatch``; when the app is done with the
connection the strategy calls ``Engine.app_done`` (from the loop's thread, always). Three strategies:

- ``Inline`` (``sync`` with one worker, or no keep-alive): the app runs in the loop's thread.
- ``InlineWithHandoff`` (``sync`` with several workers): the same, and while a call runs long the idle
  keep-alive connections of this worker move to the others (``workers.handoff``); what the others pass
  arrives on the strategy's ``inbox``, which the engine watches like a listening socket.
- ``ThreadPool`` (``gthread``): the app runs in a pool of threads; the loop keeps reading and writing
  for every other connection. A connection in a thread gets no epoll events (the loop stops them when
  one comes) until the thread hands it back through a completion queue and the wake-up pipe
  (``woken``). While the app answers quickly, the thread running the loop runs it itself and an idle
  one watches, ready to take the loop over from a call that lasts (see the class).
"""

from __future__ import annotations

import os
import queue
import select
import socket
import threading
from collections import deque
from typing import TYPE_CHECKING

from monoceros.http import TIMEOUT_DETAIL, error_response
from monoceros.observability.metrics import BUSY_SINCE, IN_FLIGHT
from monoceros.workers.connection import BUSY, Conn
from monoceros.workers.deadline import ThreadDeadlines
from monoceros.workers.handoff import BusyGuard, HandoffChannel, Inbox, receive_connection, send_connection
from monoceros.wsgi import RequestTimeout

if TYPE_CHECKING:
    from monoceros.http import Request
    from monoceros.workers.bodies import BufferedBody
    from monoceros.workers.engine import Engine, Listening, Poller


class Inline:
    """The application runs in the loop's thread, one request at a time."""

    oneshot = 0  # level-triggered epoll: the loop's thread owns every connection
    inbox: Listening | None = None  # where connections passed by other workers arrive (hand-off only)

    def poller(self) -> Poller:
        """What the engine waits on for socket events: an epoll object, or one that behaves as such."""
        return select.epoll()

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        self.run = engine.runner.run
        stats = engine.worker.stats
        self.slot_values = stats.values if stats is not None else None  # (the master reads who is busy)

    def start(self) -> None:
        """Before the loop runs."""

    def serve(self, engine: Engine) -> None:
        """Run the engine's loop until the worker stops."""
        engine.loop()

    def stop(self) -> None:
        """After the loop ended (its connections are closed)."""

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        """Run the app for ``request``; True when the connection goes on reading (``Engine.app_done``)."""
        engine = self.engine
        conn.state = BUSY
        conn.current = request  # (what a stuck-worker report names)
        conn.busy_since = engine.now
        slot_values = self.slot_values
        if slot_values is not None:
            slot_values[BUSY_SINCE] = engine.now
        ok = self.run(conn, request, body.as_source() if body is not None else None)
        if slot_values is not None:
            slot_values[BUSY_SINCE] = 0.0
        conn.current = None
        engine.now = engine.clock()  # the call may have been long: deadlines count from its end
        return engine.app_done(conn, body, ok, live)

    def woken(self) -> None:
        """The wake-up pipe was drained."""

    def tick(self, now: float) -> None:
        """From the loop's tick (about once a second)."""

    def receive(self) -> None:
        """The inbox is readable."""


class InlineWithHandoff(Inline):
    """Inline, and idle connections move to the other workers while a call runs long."""

    def __init__(self, channel: HandoffChannel) -> None:
        self.channel = channel
        self.inbox = Inbox(channel.receiver)

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        self.guard = BusyGuard(engine.conns, engine.epoll, self.channel.sender)
        # The listeners of this worker, kept for a connection passed in after the stop closed them.
        self.listeners = dict(engine.listeners)

    def start(self) -> None:
        self.guard.start()

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        engine, guard = self.engine, self.guard
        # A stopping worker keeps its connections: its siblings may be stopping too, and a connection still
        # in the channel when the last of them exits would be reset with the client's request in it.
        guard.busy_since = 0.0 if engine.stopping else engine.now
        try:
            return super().dispatch(conn, request, body, live)
        finally:
            for moved in guard.call_done():
                # Another worker owns it now (epoll no longer watches it here): just drop our fd.
                engine.conns.pop(moved.fd, None)
                moved.closed = True
                moved.sock.close()

    def receive(self) -> None:
        received = receive_connection(self.channel.receiver)
        if received is None:
            return
        sock, listener_fd = received
        # After a HUP that changed `bind`, the listener may be one this worker never had: any will do
        # for the environ's SERVER_NAME/PORT rather than dropping the client.
        origin = self.listeners.get(listener_fd) or next(iter(self.listeners.values()), None)
        if origin is None:
            # Not ours to serve: back into the channel for another worker. Closing our copy leaves the
            # one in flight open (only when the channel is full is the connection dropped).
            send_connection(self.channel.sender, sock.fileno(), listener_fd)
            sock.close()
            return
        try:
            peer = sock.getpeername()
        except OSError:
            sock.close()
            return
        engine = self.engine
        conn = engine.adopt(sock, peer, origin)
        engine.idle(conn)  # kept alive elsewhere until now; the keep-alive clock restarts here
        engine.on_readable(conn)


def warn_long_requests(engine: Engine, every: float, now: float) -> None:
    """Log each request the app has been running for another ``every`` seconds (0: never). The workers
    whose heartbeat does not wait on the app (gthread, gevent) say so instead of being killed for it."""
    if not every:
        return
    for conn in list(engine.conns.values()):
        if conn.state == BUSY and conn.current is not None and now >= conn.warn_at:
            conn.warn_at = now + every
            engine.log.warning(
                "Request still running after %.0fs: %s %s",
                now - conn.busy_since,
                conn.current.method,
                conn.current.path,
            )


_Job = tuple[Conn, "Request", "BufferedBody | None", bool]
_Done = tuple[Conn, "BufferedBody | None", bool, bool]


class Deposed(BaseException):
    """Raised in a thread whose turn at the loop ended while it ran the app inline (another thread took the
    loop over): it unwinds that thread out of the loop, which it must not touch any more. A BaseException,
    so that no ``except Exception`` on the way holds it."""


_WATCH = object()  # a token in the job queue: the idle thread that takes it watches the loop's inline calls
_IDLE = object()  # (what a watch that ended with nothing to run returns)
_LEAD = object()  # the thread that takes it runs the loop first
_CALL = 0  # (the key of `ThreadPool.calling`)
QUIT_WAIT = 0.5  # seconds the main thread, exiting at once, gives the loop's thread to close and flush
TAKEOVER = 0.002  # seconds an inline call may hold the loop (between one and two of them) before it is taken
COOL = 1.0  # after a takeover, or a slow call in a pool thread: only the pool runs the app this long at least
# A pool call this long keeps the pool on: longer than the takeover, since a pool thread's time includes
# its waits for the GIL and for a core, which a loaded machine makes long without the call being slow.
SLOW = 0.01


class ThreadPool(Inline):
    """The application runs in ``threads`` threads; the loop's thread does all the I/O.

    Like Gunicorn's gthread worker, a request running longer than ``timeout`` does not kill the worker (the
    heartbeat comes from the loop); it is logged every ``timeout`` seconds while it runs.

    Handing every request to another thread costs a wake-up and several passes of the GIL a request (a
    third of the throughput, on one core), which buys nothing while the app answers in microseconds. So
    while calls are quick the thread running the loop runs them itself, as the sync worker does, and an
    idle thread watches it (``_watch``): a call still running after ``takeover`` seconds (up to twice
    that) makes the watcher take the loop over. The old loop thread finishes its call, hands the
    connection back as a pool thread does (``Deposed``) and joins the pool; the loop then hands every
    request to the pool until a tick (about a second) finds no call of the last ``COOL`` seconds that ran
    longer than ``SLOW``. At most ``threads`` calls run at once either way (a watcher that finds a job
    queued before it came runs it, and for that moment an inline call may make one more), and the loop never
    waits on the app for longer than the takeover: heartbeats, deadlines and other clients' I/O go on. The
    loop runs in the pool's threads (``threads`` + 1 of them, one at the loop at any time); the main thread
    waits for the end and runs the signal handlers, so the app never runs there, as in Gunicorn.
    ``takeover=0``: always hand requests to the pool.
    """

    def __init__(
        self, threads: int, warn_every: float, request_timeout: float = 0.0, takeover: float = TAKEOVER
    ) -> None:
        self.jobs: queue.SimpleQueue[_Job | object | None] = queue.SimpleQueue()
        self.done: deque[_Done] = deque()
        self.wake_pending = False
        self.warn_every = warn_every
        self.request_timeout = request_timeout
        self.deadlines: ThreadDeadlines | None = None  # with request_timeout, once attached
        self.takeover = takeover
        self.inline = takeover > 0  # the loop's thread runs calls itself (while a watcher is there)
        self.lock = threading.Lock()  # the watcher's state against a second watcher and the loop's tick
        # The loop's inline call, while it runs: {_CALL: its connection}. Whoever pops it first owns its end
        # (one C call, atomic under the GIL): the loop's thread as the call returns, or a watcher taking the
        # loop over; no lock on the loop's side.
        self.calling: dict[int, Conn] = {}
        self.calls = 0  # inline calls begun: the watcher sees the loop move on by it
        self.watching = False  # a thread watches the inline calls: without one they go to the pool
        self.watch_asked = False  # a watch token is in the queue
        self.pool_until = 0.0  # no inline calls before then (a call was slow)
        self.slow = False  # a pool call ran longer than SLOW since the last tick
        self.running: dict[int, float] = {}  # pool thread -> when its call began
        self.finished = threading.Event()  # the loop has ended (the main thread waits for it)
        self.ended_w = -1  # closed when it has (the main thread polls the other end)
        self.failure: BaseException | None = None  # what ended the loop, raised again in the main thread
        # One thread more than `threads`: the one running the loop at any moment, which calls the app only
        # inline (and then another thread stands ready to take the loop over).
        self.threads = [
            threading.Thread(target=self._work, name=f"monoceros-app-{n}", daemon=True)
            for n in range(threads + 1)
        ]

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        if self.request_timeout > 0:
            self.deadlines = ThreadDeadlines(self.request_timeout, engine.clock)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for _ in range(len(self.threads) + 1):
            self.jobs.put(None)

    # -- the loop, from thread to thread --------------------------------------------------------------

    def serve(self, engine: Engine) -> None:
        """The pool's threads run the loop, in turns; the main thread only waits for it to end (and runs
        the signal handlers, which Python runs there alone)."""
        engine.prepare()
        # (a wait on a pipe, not on the Event: a lock's wait is restarted after a signal whose handler has
        # SA_RESTART, TERM's, and the handler would only run once the wait ends; poll returns to run it)
        ended_r, self.ended_w = os.pipe()
        self.jobs.put(_LEAD)
        if self.inline:
            self.watch_asked = True
            self.jobs.put(_WATCH)
        try:
            waiting = select.poll()
            waiting.register(ended_r, select.POLLIN)
            while not self.finished.is_set():
                waiting.poll()
        except BaseException:
            # A quick exit (QUIT, INT) or an abort raised in the main thread by its handler: the loop's thread
            # closes the connections and writes what the access log holds, if it can do so at once.
            engine.quit = True
            try:
                os.write(engine.worker.PIPE[1], b"\0")
            except OSError:
                pass
            self.finished.wait(QUIT_WAIT)
            raise
        finally:
            os.close(ended_r)
        if self.failure is not None:
            raise self.failure

    def _lead(self) -> bool:
        """Run the loop in this thread until it ends (True) or another thread takes it over (False)."""
        try:
            self.engine.spin()
        except Deposed:
            return False
        except BaseException as exc:
            self.failure = exc  # (raised again in the main thread)
        try:
            self.engine.teardown()
        finally:
            self.stop()  # every other pool thread leaves its wait
            self.finished.set()
            os.close(self.ended_w)  # (the main thread's wait ends)
        return True

    def _work(self) -> None:
        jobs = self.jobs
        leading = False
        while True:
            if leading:
                leading = False
                if self._lead():
                    return
            job = jobs.get()
            if job is _LEAD:
                leading = True
                continue
            while job is _WATCH:
                job = self._watch()  # the loop (True), a job that came meanwhile, or nothing more to watch
                if job is True:
                    leading = True
                elif job is not None and job is not _IDLE:
                    self._run_job(job)  # type: ignore[arg-type]
                    job = _WATCH  # then watch again, unless another thread does by now
            if job is None:
                return
            if job is not _IDLE and job is not True:
                self._run_job(job)  # type: ignore[arg-type]

    def _watch(self) -> object:
        """Watch the loop's inline calls, waiting for jobs meanwhile: True when this thread has taken the
        loop over, else what ended the watch (a job for this thread, ``None``, or ``_IDLE``)."""
        with self.lock:
            self.watch_asked = False
            if self.watching or not self.inline or self.finished.is_set():
                return _IDLE  # (a stale token)
            self.watching = True
        jobs, clock, takeover, calling = self.jobs, self.engine.clock, self.takeover, self.calling
        seen = -1
        quiet_since = clock()
        while True:
            try:
                job = jobs.get(timeout=takeover)
            except queue.Empty:
                job = _IDLE
            now = clock()
            with self.lock:
                if job is not _IDLE and job is not _WATCH or not self.inline or self.finished.is_set():
                    self.watching = False  # a job to run (the next inline call asks for a watcher again)
                    if calling and not self.watch_asked:
                        self.watch_asked = True  # (and this call needs one now)
                        jobs.put(_WATCH)
                    return job
                calls = self.calls
                if calls == seen and calling.pop(_CALL, None) is not None:
                    # The same call as a look ago (it has held the loop for `takeover` at least), and it is
                    # ours: its thread will find it gone when it returns.
                    self.inline = self.watching = False
                    self.pool_until = now + COOL
                    return True
                if calls != seen or calling:
                    seen, quiet_since = calls, now
                elif now - quiet_since > COOL:
                    # No inline call for a while: stop looking every `takeover` seconds in an idle worker; the
                    # next request goes to the pool and asks for a watcher again.
                    self.watching = False
                    return _IDLE

    # -- requests ---------------------------------------------------------------------------------------

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        engine = self.engine
        now = engine.now
        conn.state = BUSY
        conn.current = request
        conn.busy_since = now
        conn.warn_at = now + self.warn_every
        slot_values = self.slot_values
        if slot_values is not None:
            slot_values[IN_FLIGHT] += 1  # (the thread running the loop alone writes it)
        if not self.watching or not self.jobs.empty():  # (no watcher, calls are slow, or requests wait)
            if self.inline and not self.watch_asked:
                self.watch_asked = True
                self.jobs.put(_WATCH)  # an idle thread, if there is one, comes to watch for the next calls
            self.jobs.put((conn, request, body, live))
            return False
        calling = self.calling
        calling[_CALL] = conn
        self.calls += 1
        ok = self._call(conn, request, body)
        if calling.pop(_CALL, None) is None:
            # A watcher took the loop over: another thread runs it now. Hand the connection back to it, as
            # a pool thread does, and leave the loop.
            self._hand_back(conn, body, ok, live)
            raise Deposed
        if slot_values is not None:
            slot_values[IN_FLIGHT] -= 1
        conn.current = None
        engine.now = engine.clock()
        return engine.app_done(conn, body, ok, live)

    def _call(self, conn: Conn, request: Request, body: BufferedBody | None) -> bool:
        """Run the app for ``request`` in this thread (inline or a pool thread); True when its response went
        out whole. Never raises: the thread must go on to hand its connection back (or keep the loop)."""
        deadlines = self.deadlines
        if deadlines is not None:
            return self._run_timed(deadlines, conn, request, body)
        try:
            return self.run(conn, request, body.as_source() if body is not None else None)
        except BaseException:  # (the app never runs in the main thread: no signal lands here)
            self.engine.log.exception("Error handling request %s", request.path)
            return False

    def _run_job(self, job: _Job) -> None:
        conn, request, body, live = job
        clock = self.engine.clock
        me = threading.get_ident()
        began = self.running[me] = clock()
        ok = self._call(conn, request, body)
        del self.running[me]
        if clock() - began > SLOW:
            self.slow = True
        self._hand_back(conn, body, ok, live)

    def _hand_back(self, conn: Conn, body: BufferedBody | None, ok: bool, live: bool) -> None:
        self.done.append((conn, body, ok, live))
        if not self.wake_pending:
            self.wake_pending = True
            try:
                os.write(self.engine.worker.PIPE[1], b"\0")
            except BlockingIOError:
                pass  # the pipe is full: the loop is awake anyway

    def woken(self) -> None:
        self.wake_pending = False
        engine, done = self.engine, self.done
        slot_values = self.slot_values
        while done:
            conn, body, ok, live = done.popleft()
            conn.current = None
            if slot_values is not None:
                slot_values[IN_FLIGHT] -= 1
            if conn.closed:
                if body is not None:
                    body.close()
                continue
            if engine.app_done(conn, body, ok, live):
                engine.process(conn)  # (may run the next request inline, and lose the loop in it)
            engine.rearm(conn)

    def tick(self, now: float) -> None:
        if self.deadlines is not None:
            self._enforce(self.deadlines, now)
        warn_long_requests(self.engine, self.warn_every, now)
        if self.takeover > 0:
            self._choose(now)

    def _choose(self, now: float) -> None:
        """Inline calls again once no pool call of the last `COOL` seconds was slow (from the loop's tick)."""
        if self.inline:
            return
        if self.slow or any(now - began > SLOW for began in list(self.running.values())):
            self.slow = False
            self.pool_until = now + COOL
        elif now >= self.pool_until:
            self.inline = True  # (the next call finds no watcher and asks for one)

    def _enforce(self, deadlines: ThreadDeadlines, now: float) -> None:
        log = self.engine.log
        interrupted, stuck = deadlines.check(now)
        for conn, stack, age in interrupted:
            request = conn.current
            log.error(
                "Request past request_timeout (%g s) after %.1f s: %s %s from %s; interrupting its thread."
                " Where it was:\n%s",
                deadlines.seconds,
                age,
                request.method if request is not None else "-",
                request.target if request is not None else "-",
                conn.peer,
                stack.rstrip(),
            )
        for conn in stuck:
            # The thread is in C code that does not return (time.sleep, a C extension): the loop answers
            # for it. Holding the GIL, and with the head not built yet, the thread cannot be writing now;
            # after the shutdown its own writes fail, and it hands the connection back once back in Python.
            log.error("The thread of %s did not return to Python: its client is answered for it", conn.peer)
            writer = getattr(conn.http, "writer", None)
            try:
                if writer is not None and not writer.head_sent and not conn.out:
                    conn.sock.send(error_response(504, TIMEOUT_DETAIL))
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run_timed(
        self, deadlines: ThreadDeadlines, conn: Conn, request: Request, body: BufferedBody | None
    ) -> bool:
        ok = False
        try:
            deadlines.begin(conn)
            try:
                ok = self.run(conn, request, body.as_source() if body is not None else None)
            except BaseException:  # (a RequestTimeout that arrived outside run_app too)
                self.engine.log.exception("Error handling request %s", request.path)
                ok = False
            finally:
                deadlines.end()
        except RequestTimeout:
            # raised just after the call, before `end` took it back: the request is over all the same
            deadlines.end()
            ok = False
        return ok
