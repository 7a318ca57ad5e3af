"""How a worker kind runs the application for a complete request: the one part of the engine that varies.

The engine reads a request whole, then calls its strategy's ``dispatch``; when the app is done with the
connection the strategy calls ``Engine.app_done`` (from the loop's thread, always). Three strategies:

- ``Inline`` (``sync`` with one worker, or no keep-alive): the app runs in the loop's thread.
- ``InlineWithHandoff`` (``sync`` with several workers): the same, and while a call runs long the idle
  keep-alive connections of this worker move to the others (``workers.handoff``); what the others pass
  arrives on the strategy's ``inbox``, which the engine watches like a listening socket.
- ``ThreadPool`` (``gthread``): the app runs in a pool of threads; the loop keeps reading and writing
  for every other connection. A connection in a thread gets no epoll events (``oneshot``) until the
  thread hands it back through a completion queue and the wake-up pipe (``woken``).
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


class ThreadPool(Inline):
    """The application runs in ``threads`` threads; the loop's thread does all the I/O.

    Like Gunicorn's gthread worker, a request running longer than ``timeout`` does not kill the worker (the
    heartbeat comes from the loop); it is logged every ``timeout`` seconds while it runs.
    """

    oneshot = select.EPOLLONESHOT

    def __init__(self, threads: int, warn_every: float, request_timeout: float = 0.0) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.done: deque[_Done] = deque()
        self.wake_pending = False
        self.warn_every = warn_every
        self.request_timeout = request_timeout
        self.deadlines: ThreadDeadlines | None = None  # with request_timeout, once attached
        self.threads = [
            threading.Thread(target=self._work, name=f"monoceros-app-{n}", daemon=True)
            for n in range(threads)
        ]

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        if self.request_timeout > 0:
            self.deadlines = ThreadDeadlines(self.request_timeout, engine.clock)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)

    def dispatch(self, conn: Conn, request: Request, body: BufferedBody | None, live: bool) -> bool:
        now = self.engine.now
        conn.state = BUSY
        conn.current = request
        conn.busy_since = now
        conn.warn_at = now + self.warn_every
        if self.slot_values is not None:
            self.slot_values[IN_FLIGHT] += 1  # (the loop's thread alone writes it)
        self.jobs.put((conn, request, body, live))
        return False

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
                engine.process(conn)
            engine.rearm(conn)

    def tick(self, now: float) -> None:
        if self.deadlines is not None:
            self._enforce(self.deadlines, now)
        warn_long_requests(self.engine, self.warn_every, now)

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

    def _work(self) -> None:
        jobs, done, run, log = self.jobs, self.done, self.run, self.engine.log
        wake_fd = self.engine.worker.PIPE[1]
        deadlines = self.deadlines
        while True:
            job = jobs.get()
            if job is None:
                return
            conn, request, body, live = job
            if deadlines is None:
                try:
                    ok = run(conn, request, body.as_source() if body is not None else None)
                except BaseException:  # a thread must always hand its connection back
                    log.exception("Error handling request %s", request.path)
                    ok = False
            else:
                ok = self._run_timed(deadlines, conn, request, body)
            done.append((conn, body, ok, live))
            if not self.wake_pending:
                self.wake_pending = True
                try:
                    os.write(wake_fd, b"\0")
                except BlockingIOError:
                    pass  # the pipe is full: the loop is awake anyway

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
