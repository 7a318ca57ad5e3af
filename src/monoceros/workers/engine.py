"""The worker's I/O engine: one non-blocking epoll loop that accepts, reads, parses and writes.

Every worker kind runs this loop; they differ only in how the application is run for a complete
request (a strategy of ``workers.running``: inline for ``sync``, a thread pool for ``gthread``). Because
the loop reads a whole request before the application sees it and drains responses as the socket
allows, no client — one that sends its head slowly, trickles its body or stops reading — can hold a worker.

Rules the loop keeps:
- A connection is in one state (``connection.IDLE`` ... ``LINGER``) with one deadline; the sweep in
  ``_tick`` (about once a second, which is also when the heartbeat is sent) closes overdue ones.
- Pipelined requests are answered in order: after a response the parser is asked again before the
  loop waits for the socket, and while a response is still being written no new request is started.
- The heartbeat comes from this loop only, never from a helper thread.
- The socket kind is the transport's (``workers.transport``: plain or TLS, one interface). The TLS
  handshake is one more state (``HANDSHAKE``), driven by the loop without blocking and bounded by the
  request timeout like a slow request head.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from monoceros.http import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    RemoteProtocolError,
    Request,
)
from monoceros.workers.bodies import BodyLimits, BufferedBody
from monoceros.workers.connection import (
    BUSY,
    HANDSHAKE,
    IDLE,
    LINGER,
    PARSING,
    READ_SIZE,
    READING,
    WRITING,
    Conn,
)
from monoceros.workers.flow import FlowControl
from monoceros.workers.running import Inline
from monoceros.workers.serving import RequestRunner
from monoceros.workers.tls import WorkerTLS
from monoceros.workers.transport import PlainTransport, TLSTransport

if TYPE_CHECKING:
    from monoceros.workers.base import Worker

TICK = 1.0  # at most this many seconds between heartbeats and deadline sweeps
_WAKE_READ = 4096  # bytes of the wake-up pipe taken a read
LINGER_TIME = 2.0  # how long a closing connection may go without sending before we drop it
LINGER_MAX = 30.0  # and how long it may keep sending in all (as nginx's lingering_time)
EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLONESHOT = select.EPOLLONESHOT
# Level-triggered and not EPOLLEXCLUSIVE: with it, the one worker woken for a new connection may be
# one that is stopping and declines it, and the others are never told; the connection then waits
# in the backlog until another arrives (seen during a USR2 upgrade). A thundering herd is the price.
LISTEN_FLAGS = EPOLLIN


class Poller(Protocol):
    """What the loop waits on: ``select.epoll``'s interface (the strategy may give another that has it)."""

    def register(self, fd: int, eventmask: int = ...) -> None: ...
    def modify(self, fd: int, eventmask: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None = ..., maxevents: int = ...) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


class Listening(Protocol):
    """What the loop watches for incoming connections: a listening socket, or the hand-off inbox."""

    sock: socket.socket

    def fileno(self) -> int: ...
    def getsockname(self) -> Any: ...
    def close(self) -> None: ...


# The socket class of the standard library, taken when this module is imported (in the master): gevent's
# monkey-patching replaces `socket.socket` with a class whose every send and recv is Python code; the loop
# only makes non-blocking calls and waits in its own way, so the plain class is the one it wants everywhere.
_SOCKET = socket.socket


def _accept(listener: Listening) -> tuple[socket.socket, Any] | None:
    """A connection from ``listener``'s backlog, non-blocking; None when there is none waiting. A client that
    gave up while it waited is skipped; another accept() failure raises."""
    lsock = listener.sock
    while True:
        try:
            fd, peer = lsock._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionAbortedError:
            continue
        sock = _SOCKET(lsock.family, lsock.type, lsock.proto, fileno=fd)
        sock.setblocking(False)
        return sock, peer


class Engine:
    """The serving loop of one worker process."""

    def __init__(self, worker: Worker, runner: RequestRunner, strategy: Inline | None = None) -> None:
        cfg = worker.cfg
        self.worker = worker
        self.log = worker.log
        self.runner = runner
        # How the app is run (`workers.running`): inline, inline with hand-off, or in a thread pool.
        self.strategy = strategy = Inline() if strategy is None else strategy
        # (the strategy's: under gevent the wait for events must let the other greenlets run)
        self.epoll = strategy.poller()
        self.listeners: dict[int, Listening] = {lst.fileno(): lst for lst in worker.sockets}
        self.conns: dict[int, Conn] = {}
        self.keepalive = float(cfg.keepalive)
        # A request (head and body) must arrive within this; `timeout` is Gunicorn's per-request bound.
        self.request_timeout = float(cfg.timeout) if cfg.timeout > 0 else 30.0
        # A writer blocked on a client that stopped reading gives up before the master's
        # heartbeat check would kill the whole worker for it.
        self.flow = FlowControl.for_timeout(cfg.timeout)
        self.max_conns = max(1, int(cfg.worker_connections))
        self.bodies = BodyLimits(
            cfg.request_body_memory,
            cfg.request_body_read_ahead,
            cfg.worker_body_memory,
            cfg.worker_body_disk,
            cfg.tmp_upload_dir,
        )
        self.sendfile: bool = cfg.sendfile
        self.accept_batch = 1 if cfg.workers > 1 else 16
        self.listening = False
        self.stopping = False
        self.stop_deadline = 0.0
        self.quit = False  # exit now, without the graceful stop (set from the main thread, `ThreadPool`)
        # The loop's clock; every deadline is read against it (tests move it by hand).
        self.clock: Callable[[], float] = time.monotonic
        self.now = self.clock()
        self.transport: PlainTransport = PlainTransport()
        if cfg.is_ssl:
            self.transport = TLSTransport(WorkerTLS(cfg, self.log), self.log)
        self.plain = type(self.transport) is PlainTransport
        strategy.attach(self)
        self.dispatch: Callable[[Conn, Request, BufferedBody | None, bool], bool] = strategy.dispatch
        # 0: level-triggered (sync, gthread: `_round` stops the events of a connection another thread is
        # serving when one comes). EPOLLONESHOT: a connection handed to a greenlet gets no events until it is
        # armed again (gevent).
        self.oneshot = strategy.oneshot
        # Connections other workers pass arrive here, watched like a listener (hand-off only).
        self.inbox = strategy.inbox
        if self.inbox is not None:
            self.listeners[self.inbox.fileno()] = self.inbox

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        self.strategy.start()
        try:
            self.strategy.serve(self)  # (Inline: `loop()`; the thread pool hands the loop between threads)
        finally:
            self.strategy.stop()

    def loop(self) -> None:
        """Serve until the worker stops: ``prepare``, ``spin``, ``teardown``."""
        self.prepare()
        try:
            self.spin()
        finally:
            self.teardown()

    def prepare(self) -> None:
        """Before the first round: watch the wake-up pipe and the listeners."""
        self.epoll.register(self.worker.PIPE[0], EPOLLIN)
        self._listen(True)

    def spin(self) -> None:
        """Rounds of events until the loop should end. The thread pool may run it in another thread than
        the one that began it, after that one got stuck in the application (``running.ThreadPool``)."""
        worker = self.worker
        poll = self.epoll.poll
        clock = self.clock
        oneshot = bool(self.oneshot)
        # The worker's `timeout` is half the master's: notifying at least that often leaves the
        # master a margin even when the machine is slow (a 1 s timeout means a 0.5 s tick).
        tick = min(TICK, worker.timeout) if worker.timeout > 0 else TICK
        # Access lines are rendered after each round of events and held until 16 KiB are held or the oldest
        # is 0.1 s old (the sink's end_round() says until when); the wait for events ends then.
        sink = self.runner.sink if self.runner.log_access else None
        held_until = 0.0
        next_tick = 0.0
        while True:
            now = self.now = clock()
            if now >= next_tick:
                next_tick = now + tick
                if not self._tick(now):
                    return
            self._round(poll(min(tick, max(0.0, held_until - now)) if held_until else tick), oneshot)
            if sink is not None:
                held_until = sink.end_round()  # writes what is held once it is due
            if self.stopping or not worker.alive:
                next_tick = 0.0  # re-check promptly while shutting down
                if self.quit:
                    return

    def teardown(self) -> None:
        """The loop ended: close what is left, publish the last counts, write the held access lines."""
        for conn in list(self.conns.values()):
            self.close(conn)
        self.epoll.close()
        self.runner.drain_counts()  # the last requests' counts, before the master folds them in
        if self.runner.log_access:
            self.runner.sink.flush()

    def _round(self, events: list[tuple[int, int]], oneshot: bool) -> None:
        """Handle one round of epoll events."""
        conns = self.conns
        for fd, mask in events:
            conn = conns.get(fd)
            if conn is not None:
                if oneshot:
                    conn.armed = 0
                    if conn.state == BUSY:
                        continue  # the app's thread owns it; re-armed when it is done
                elif conn.state == BUSY:
                    # Another thread runs the app for it (gthread) and the client sent more, or went away:
                    # no events for it (EPOLLHUP included, once) until it is back (`rearm`).
                    if conn.armed:
                        conn.armed = 0
                        self.epoll.modify(fd, EPOLLONESHOT)
                    continue
                if mask & EPOLLOUT:
                    self.on_writable(conn)
                else:
                    self.on_readable(conn)
                if oneshot:
                    self.rearm(conn)
            elif fd in self.listeners:
                self.on_accept(self.listeners[fd])
            elif fd == self.worker.PIPE[0]:
                self._drain_wakeups()

    def _tick(self, now: float) -> bool:
        """Heartbeat, parent check, deadlines. False when the loop should end."""
        worker = self.worker
        worker.notify()
        if worker.stats is not None:
            worker.stats.connections(len(self.conns))
            self.runner.drain_counts()
        if not worker.parent_alive():
            worker.alive = False
        if not worker.alive and not self.stopping:
            self._begin_stop(now)
        for conn in [c for c in self.conns.values() if c.deadline <= now and c.state != BUSY]:
            self._expire(conn)
        if not self.listening and len(self.conns) < self.max_conns:
            self._listen(True)  # after an accept() failure
        self.transport.tick(now)
        self.strategy.tick(now)
        if self.stopping:
            return bool(self.conns) and now < self.stop_deadline
        return True

    def _drain_wakeups(self) -> None:
        # A read shorter than asked for emptied the pipe (a byte written after it makes it readable again,
        # for the next round): one read a wake-up, not a second one that fails with EAGAIN. The gthread
        # worker is woken this way for each batch of finished requests.
        fd = self.worker.PIPE[0]
        try:
            while len(os.read(fd, _WAKE_READ)) == _WAKE_READ:
                pass
        except BlockingIOError:
            pass
        self.strategy.woken()

    def _begin_stop(self, now: float) -> None:
        """Graceful stop: no new connections; requests in progress finish within ``graceful_timeout``;
        kept-alive connections stay open ``worker.stop_linger`` more seconds at most (2: the last response
        said keep-alive, so the client may be sending its next request already; Gunicorn 27's gthread keeps
        them 2 s too), so that such a request is answered (with ``Connection: close``) rather than lost."""
        inbox = self.inbox
        if inbox is not None:
            # The inbox stays watched until the worker exits: a connection a sibling passed just before the
            # stop is served here (its next response says Connection: close) rather than left in the channel.
            self.listeners.pop(inbox.fileno(), None)
        self.stopping = True
        self.stop_deadline = now + float(self.worker.cfg.graceful_timeout)
        self._listen(False)
        if self.worker.nr < self.worker.max_requests:  # a signal, not max_requests: the server may be going
            for listener in list(self.listeners.values()):
                self._take_backlog(listener)
        for lst in self.listeners.values():
            lst.close()
        self.listeners = {} if inbox is None else {inbox.fileno(): inbox}
        linger_until = now + self.worker.stop_linger
        for conn in self.conns.values():
            if conn.state == IDLE:
                conn.deadline = min(conn.deadline, linger_until)
            else:
                # Tell the client, if its head is not out yet; one that said keep-alive stands (the app's
                # thread may be sending it now), and the connection then lingers as an idle one.
                conn.http.drain()

    def _take_backlog(self, listener: Listening) -> None:
        """Accept the connections already waiting in ``listener``'s backlog, so that they are served (their
        first response says ``Connection: close``): when the last copy of a listening socket is closed, the
        kernel resets the connections still queued on it, and their clients lose the request they sent."""
        while len(self.conns) < self.max_conns:
            try:
                accepted = _accept(listener)
            except OSError:
                return
            if accepted is None:
                return
            self.on_readable(self.adopt(*accepted, listener))

    def _listen(self, on: bool) -> None:
        if on == self.listening or self.stopping and on:
            return
        self.listening = on
        for fd in self.listeners:
            if on:
                self.epoll.register(fd, LISTEN_FLAGS)
            else:
                self.epoll.unregister(fd)

    # -- connections ----------------------------------------------------------------------------

    def on_accept(self, listener: Listening) -> None:
        if listener is self.inbox:
            self.strategy.receive()
            return
        if not self.worker.alive or self.stopping:
            # e.g. max_requests was reached by a request earlier in this batch of events
            if not self.stopping:
                self._begin_stop(self.now)
            return
        for _ in range(self.accept_batch):
            try:
                accepted = _accept(listener)
            except OSError as exc:
                # Out of file descriptors or memory: the listener stays readable, so stop watching
                # it until the next tick rather than spin (and log) at full speed.
                self.log.warning("accept() failed on %s: %s", listener, exc)
                self._listen(False)
                return
            if accepted is None:
                return
            conn = self.adopt(*accepted, listener)
            if len(self.conns) >= self.max_conns:
                self._listen(False)
            # The request is usually in the socket already: save a trip through epoll.
            self.on_readable(conn)
            if not self.listening or not self.worker.alive:
                return

    def adopt(self, sock: socket.socket, peer: object, listener: Listening) -> Conn:
        """Start serving a new connection accepted on ``listener``."""
        transport = self.transport
        sock = transport.wrap(sock)
        http, environ = self.runner.connection(peer, listener, sock)
        conn = transport.conn_class(sock, peer, http, environ, self.flow)
        conn.listener_fd = listener.fileno()
        conn.sendfile_ok = self.sendfile
        conn.state = transport.first_state
        conn.deadline = self.now + self.request_timeout
        self.conns[conn.fd] = conn
        conn.armed = EPOLLIN
        self.epoll.register(conn.fd, EPOLLIN | self.oneshot)
        return conn

    def on_readable(self, conn: Conn) -> None:
        if conn.state == HANDSHAKE:
            self._handshake(conn)
            return
        try:
            # A plain socket is read here (a call saved per request); the transport reads any other kind.
            data = conn.sock.recv(READ_SIZE) if self.plain else self.transport.recv(conn)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close(conn)
            return
        if data is not None:
            self.received(conn, data)

    def received(self, conn: Conn, data: bytes) -> None:
        """Bytes from the client (b"" at EOF), however they were read."""
        if conn.state == LINGER:
            if not data:
                self.close(conn)
            else:  # still sending (the rest of a refused body): closing now would reset our answer
                conn.deadline = max(conn.deadline, min(self.now + LINGER_TIME, conn.linger_end))
            return
        if conn.state == IDLE:
            conn.state = READING
            conn.deadline = self.now + self.request_timeout
        conn.http.receive_data(data)
        self.process(conn)

    def on_writable(self, conn: Conn) -> None:
        if conn.state == HANDSHAKE:
            self._handshake(conn)
            return
        try:
            done = conn.flush()
        except OSError:
            self.close(conn)
            return
        if not done:
            conn.deadline = self.flow.deadline(self.now)
            if self.oneshot:
                self._arm(conn, EPOLLOUT)
            return
        if conn.state == LINGER:
            self._shut(conn)
            return
        self._arm(conn, EPOLLIN)
        self.idle(conn)
        self.process(conn)

    def process(self, conn: Conn) -> None:
        """Turn parser events into served requests until the parser needs more bytes."""
        http = conn.http
        while conn.state in PARSING:
            try:
                event = http.next_event()
            except RemoteProtocolError as exc:
                self.reject(conn, exc)
                return
            if event is NEED_DATA:
                return
            kind = type(event)
            if kind is Request:
                assert isinstance(event, Request)
                if not (event.content_length or event.chunked):
                    http.next_event()  # the EndOfMessage that follows a body-less request at once
                    if not self.dispatch(conn, event, None, False):
                        return
                elif not self.start_body(conn, event):
                    return
            elif kind is Data:
                assert isinstance(event, Data)
                if not self.body_data(conn, event.data):
                    return
            elif kind is EndOfMessage:
                if not self.serve(conn):
                    return
            elif kind is ConnectionClosed:
                self.close(conn)
                return
            else:
                return

    def serve(self, conn: Conn) -> bool:
        """A complete request was read: run the app; True when the connection goes on reading."""
        request, body = conn.request, conn.body
        assert request is not None
        conn.request = conn.body = None
        return self.dispatch(conn, request, body, False)

    def serve_live(self, conn: Conn, request: Request) -> None:
        """``Expect: 100-continue``: the app runs first and its reads pull the body (and send 100)."""
        conn.pending = b""
        if self.dispatch(conn, request, None, True):
            self.process(conn)

    def start_body(self, conn: Conn, request: Request) -> bool:
        """A request with a body: read it ahead (True) or let the app read it as it comes (False)."""
        if request.expect_continue:
            self.serve_live(conn, request)
            return False
        conn.request = request
        conn.body = BufferedBody(self.bodies)
        if request.content_length and request.content_length > self.bodies.read_ahead:
            self.serve_streaming(conn)  # announced too big to read ahead
            return False
        return True

    def body_data(self, conn: Conn, data: bytes) -> bool:
        """Body bytes read ahead; False when the app took over the connection or the request failed."""
        assert conn.body is not None
        try:
            more = conn.body.append(data)
        except OSError as exc:
            self.spool_failed(conn, exc)
            return False
        if not more:
            self.serve_streaming(conn)
        return more

    def serve_streaming(self, conn: Conn) -> None:
        """A body past the read-ahead bound: the app runs now, gets what was read, then reads the rest from
        the connection itself (no ``100 Continue``: the client is sending already)."""
        request, body = conn.request, conn.body
        assert request is not None and body is not None
        conn.request = conn.body = None
        conn.pending = b""
        body.stream_rest(conn)
        if self.dispatch(conn, request, body, True):
            self.process(conn)

    def spool_failed(self, conn: Conn, exc: OSError) -> None:
        """The body could not be kept (a full disk): this request gets 503, the worker goes on."""
        request, body = conn.request, conn.body
        assert request is not None and body is not None
        conn.request = conn.body = None
        body.close()
        self.log.error(
            "Could not spool the request body of %s %s from %s: %s",
            request.method,
            request.path,
            conn.peer,
            exc,
        )
        try:
            conn.write(conn.http.refuse(503, "the request body could not be stored"))
        except OSError:
            self.close(conn)
            return
        self.close_after_output(conn)

    def app_done(self, conn: Conn, body: BufferedBody | None, ok: bool, live: bool) -> bool:
        """The app is done with ``conn`` (``ok``: its response went out whole); True when the connection
        goes on reading. Whether it may is the connection's decision (``Connection.end_response``)."""
        if body is not None:
            body.close()
        if live and conn.pending:
            ok = False  # body bytes the app did not take: the rest of the body is unread
        if conn.closed:
            return False
        # (a stop that came during the call finds the connection idle, and `idle` / `_begin_stop` shorten
        # its keep-alive: the client was told keep-alive and may be sending its next request)
        if not conn.http.end_response(ok):
            self.close_after_output(conn)
            return False
        if conn.out:
            conn.state = WRITING
            conn.deadline = self.flow.deadline(self.now)
            self._arm(conn, EPOLLOUT)
            return False
        if self.stopping:
            self.idle(conn)
        else:  # `idle`, spelled out for the usual case (a call saved per request)
            conn.state = IDLE
            conn.deadline = self.now + self.keepalive
        return True

    def in_flight(self) -> list[str]:
        """The requests the app is running now, with their peer and age (the stuck-worker report)."""
        now = self.clock()
        return [
            f"{conn.current.method} {conn.current.target} from {conn.peer} ({now - conn.busy_since:.1f}s)"
            for conn in list(self.conns.values())
            if conn.state == BUSY and conn.current is not None
        ]

    def current(self) -> tuple[str, str, float] | None:
        """The oldest request the app is running now, as (method, target, since)."""
        busy = [c for c in list(self.conns.values()) if c.state == BUSY and c.current is not None]
        if not busy:
            return None
        oldest = min(busy, key=lambda c: c.busy_since)
        request = oldest.current
        assert request is not None
        return request.method, request.target, oldest.busy_since

    def rearm(self, conn: Conn) -> None:
        """Watch for reads again unless the connection is elsewhere (busy, armed, closed): after a oneshot
        event, or after `_round` stopped the events of a connection another thread was serving."""
        if not conn.armed and not conn.closed and conn.state != BUSY:
            self._arm(conn, EPOLLIN)

    def _arm(self, conn: Conn, mask: int) -> None:
        """Ask epoll for ``mask`` events on ``conn`` (a no-op when already armed so, level-triggered)."""
        if conn.armed != mask or self.oneshot:
            conn.armed = mask
            self.epoll.modify(conn.fd, mask | self.oneshot)

    def idle(self, conn: Conn) -> None:
        """Between requests: wait for the next one (keep-alive; briefly when the worker is stopping)."""
        conn.state = IDLE
        conn.deadline = self.now + (
            min(self.keepalive, self.worker.stop_linger) if self.stopping else self.keepalive
        )

    def reject(self, conn: Conn, exc: RemoteProtocolError) -> None:
        """A request we will not serve: answer its status and close."""
        self.log.debug("Invalid request from %s: %s", conn.peer, exc.reason)
        try:
            conn.write(conn.http.refuse(exc.status, exc.reason))
        except OSError:
            self.close(conn)
            return
        self.close_after_output(conn)

    def close_after_output(self, conn: Conn) -> None:
        """Close once the pending output is sent, reading (and dropping) what the client still sends."""
        conn.state = LINGER
        conn.linger_end = self.now + LINGER_MAX
        if conn.out:
            conn.deadline = self.flow.deadline(self.now)
            self._arm(conn, EPOLLOUT)
            return
        self._shut(conn)

    def _shut(self, conn: Conn) -> None:
        # Closing with unread input makes the kernel send RST, which can destroy the response
        # before the client reads it (RFC 9112 §9.6): half-close, then drain for a moment.
        if conn.state != HANDSHAKE:
            self.transport.close_notify(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close(conn)
            return
        conn.state = LINGER
        conn.deadline = self.now + LINGER_TIME
        conn.linger_end = max(conn.linger_end, self.now + LINGER_MAX)
        self._arm(conn, EPOLLIN)

    def _expire(self, conn: Conn) -> None:
        if conn.state == READING and not self.stopping:
            self.log.debug("Request from %s timed out", conn.peer)
        elif conn.state == HANDSHAKE:
            self.log.debug("TLS handshake with %s timed out", conn.peer)
        self.close(conn)

    def close(self, conn: Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        conn.release()
        self.conns.pop(conn.fd, None)
        try:
            self.epoll.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        conn.sock.close()
        if not self.listening and not self.stopping and len(self.conns) < self.max_conns:
            self._listen(True)

    def _handshake(self, conn: Conn) -> None:
        """Drive the TLS handshake of ``conn`` as far as the socket allows."""
        assert isinstance(self.transport, TLSTransport)
        try:
            wants = self.transport.handshake(conn, self.now)
        except OSError:
            self._shut(conn)  # (still in HANDSHAKE: no close_notify on a session that never began)
            return
        if wants:
            self._arm(conn, wants)
            return
        conn.state = READING  # the request timeout that started at accept() still runs
        self._arm(conn, EPOLLIN)
        self.on_readable(conn)  # the request often came with the client's last handshake flight
