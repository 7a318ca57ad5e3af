"""The ASGI worker's connections: an asyncio protocol per connection driving the sans-IO ``http.Connection``.

``AsgiServer`` is built once per worker from the settings (the connection factory and parser limits the WSGI
workers use, the scope builder, the access log, the timeouts); ``HTTPProtocol`` is one connection. Each
request runs the application in a task of its own (``monoceros.asgi.HTTPCycle`` for HTTP,
``WebSocketCycle`` for a WebSocket), so a slow request holds nothing but itself.

What the connection guarantees, as in the WSGI engine:

- pipelined requests are answered in order: the parser pauses after each request, and reading stops until
  the response is complete (the next request then starts even if the app's call goes on with background
  work after its response);
- a request head (or a body the app waits for) must arrive within ``timeout`` (30 s without one); an idle
  kept-alive connection closes after ``keepalive``; a client that stops reading a streamed response is given
  up on at 80 % of ``timeout`` (``FlowControl``); a request body the app has not read yet is held up to
  about 64 KiB before reading stops;
- an exception in the app before its response started is a 500; after it started, the connection closes;
  both are logged with the traceback and the worker goes on;
- a stopping worker finishes in-flight requests with ``Connection: close``, closes idle connections, and
  closes WebSockets with 1001.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from monoceros.asgi.http import HTTPCycle
from monoceros.asgi.scope import ConnectionScope, ScopeBuilder
from monoceros.http import (
    NEED_DATA,
    PAUSED,
    TIMEOUT_DETAIL,
    ConnectionClosed,
    ConnectionFactory,
    Data,
    EndOfMessage,
    ProtocolError,
    RemoteProtocolError,
    Request,
)
from monoceros.observability.metrics import IN_FLIGHT, StatsSlot, Tally, parse_request_start
from monoceros.observability.sink import AccessSink, sink_for
from monoceros.workers.deadline import task_stack
from monoceros.workers.flow import FlowControl
from monoceros.workers.serving import parser_settings
from monoceros.wsgi import EnvironBuilder, IPTrust

if TYPE_CHECKING:
    from monoceros.asgi.app import ASGIApp
    from monoceros.workers.base import Worker

LINGER_TIME = 2.0  # a closing connection may go this long without sending before it is dropped
LINGER_MAX = 30.0  # and keep sending this long in all
BODY_HIGH_WATER = 64 * 1024  # request body bytes held for an app that has not read them, before reading stops
PIPELINE_HIGH_WATER = 64 * 1024  # bytes of pipelined requests held during a response, before reading stops
SERVER_HEADER = b"monoceros"
EAGER_TASKS = sys.version_info >= (3, 12)  # asyncio.Task(..., eager_start=True)


class AsgiResponse:
    """One exchange as the access log and the hooks see it (the shape of the WSGI ``ResponseInfo``)."""

    __slots__ = ("status", "status_code", "headers", "bytes_sent", "failed")

    def __init__(self, status: str, headers: list[tuple[str, str]], bytes_sent: int, failed: bool) -> None:
        self.status = status
        self.status_code = int(status[:3]) if status[:3].isdigit() else 0
        self.headers = headers
        self.bytes_sent = bytes_sent
        self.failed = failed


class AsgiServer:
    """One worker's ASGI serving state: settings, the app, the open connections."""

    def __init__(
        self,
        worker: Worker,
        app: ASGIApp,
        state: dict[str, Any] | None,
        options: dict[str, Any] | None = None,
    ) -> None:
        options = options or {}
        cfg = worker.cfg
        self.worker = worker
        self.log = worker.log
        self.app = app
        self.loop = asyncio.get_event_loop()
        self.sink: AccessSink = sink_for(worker.log)
        self.forwarded_trust = IPTrust(options.get("forwarded_allow_ips") or cfg.forwarded_allow_ips)
        self.proxy_trust = IPTrust(cfg.proxy_allow_ips)
        self.proxy_protocol: str = cfg.proxy_protocol
        # --protocol uwsgi: requests come in uwsgi packets (nginx's uwsgi_pass), as for the WSGI workers.
        self.uwsgi = cfg.protocol == "uwsgi"
        self.uwsgi_trust = IPTrust(cfg.uwsgi_allow_ips)
        self.connections = ConnectionFactory(
            keep_alive=cfg.keepalive > 0,
            server=SERVER_HEADER if options.get("server_header", True) else None,
            uwsgi=self.uwsgi,
            **parser_settings(cfg),
        )
        trust = self.forwarded_trust
        self.scopes = ScopeBuilder(
            root_path=options.get("root_path", cfg.root_path) or "",
            secure_scheme_headers=cfg.secure_scheme_headers,
            proxy_headers=bool(options.get("proxy_headers", False)),
            is_trusted=trust.allows,
            state=(lambda: dict(state)) if state is not None else None,
        )
        # The access log renders from a WSGI-shaped environ, as Gunicorn's atoms are defined over one.
        self.environ = EnvironBuilder("monoceros", multithread=False, multiprocess=cfg.workers > 1)
        self.tls = bool(cfg.is_ssl)
        self.keepalive = float(cfg.keepalive)
        self.request_timeout = float(cfg.timeout) if cfg.timeout > 0 else 30.0
        # request_timeout: the deadline of an HTTP request's call (0: none)
        self.app_timeout = float(cfg.request_timeout)
        self.flow = FlowControl.for_timeout(cfg.timeout)
        self.grace = max(0.0, float(cfg.asgi_disconnect_grace_period))
        self.ws_max_size = int(options.get("ws_max_size") or cfg.websocket_max_message_size)
        self.websockets = options.get("ws", "auto") != "none" and HAVE_WSPROTO
        self.ws_compression = options.get("ws_per_message_deflate", True)
        self.pre_request = None if cfg.is_default("pre_request") else cfg.pre_request
        self.post_request = None if cfg.is_default("post_request") else cfg.post_request
        self.open: set[HTTPProtocol] = set()
        # The apps' calls no open connection holds (asyncio keeps only weak references to tasks): one still
        # running after its connection closed, or after its response while the next request runs. A call
        # that ends with its response is held by its connection alone, which costs no set and no callback.
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.idle_event = asyncio.Event()  # the last connection closed (a stop waits for it)
        self.stop_linger = 2.0
        self.on_room: Any = None  # called when a connection closed (the worker may accept again)
        self._flush_due = False  # a flush of the access lines is scheduled
        self.headers_cache: dict[Any, list[tuple[str, str]]] = {}  # the apps' response header lists
        self.stats: StatsSlot | None = worker.stats  # the counters shared with the master (metrics, ctl)
        self.tally = Tally()
        self.counting = self.stats is not None and bool(cfg.metrics_bind)  # for the metrics endpoint only
        # Whether a finished exchange is looked at at all (the access log, post_request, the metrics)
        self.accounting = self.counting or self.post_request is not None or self.sink.enabled

    def protocol(self) -> HTTPProtocol:
        return HTTPProtocol(self)

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold ``task`` until it ends (its connection no longer does)."""
        tasks = self.tasks
        if task not in tasks:
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def pending(self) -> list[asyncio.Task[None]]:
        """Every app call not ended yet: those held here and those the open connections hold."""
        running = {task for task in self.tasks if not task.done()}
        running.update(p._task for p in self.open if p._task is not None and not p._task.done())
        return list(running)

    def _flush_access(self) -> None:
        """Write the access lines of this round of events; those the logger holds back go out when due."""
        self._flush_due = False
        held_until = self.sink.end_round()
        if held_until:
            self._flush_due = True
            self.loop.call_later(max(0.0, held_until - time.monotonic()), self._flush_access)

    def stop(self) -> None:
        """The worker is stopping: every connection finishes what it is doing and closes."""
        self.stopping = True
        for proto in list(self.open):
            proto.stop()
        if not self.open:
            self.idle_event.set()

    def sweep(self, now: float) -> None:
        """Close the connections whose deadline passed (called about once a second)."""
        for proto in [p for p in self.open if p.deadline and p.deadline <= now]:
            proto.expire()
        if self.app_timeout:
            for proto in [p for p in self.open if p.app_deadline and p.app_deadline <= now]:
                proto.app_expired(now)

    def closed(self, proto: HTTPProtocol) -> None:
        self.open.discard(proto)
        if not self.open and self.stopping:
            self.idle_event.set()
        if self.on_room is not None:
            self.on_room()

    def count_request(self) -> None:
        worker = self.worker
        worker.nr += 1
        if worker.nr >= worker.max_requests:
            worker.reached_max_requests()

    def access(self, proto: HTTPProtocol, request: Request, cycle: Any, failed: bool, seconds: float) -> None:
        if self.counting:
            self._count(proto, request, cycle, seconds)
        if self.post_request is not None or self.sink.enabled:
            status = cycle.status or "500 Internal Server Error"
            info = AsgiResponse(status, cycle.headers, cycle.bytes_sent, failed)
            environ = proto.environ(request)
            if self.post_request is not None:
                try:
                    self.post_request(self.worker, request, environ, info)
                except Exception:
                    self.log.exception("Exception in post_request hook")
            if self.sink.enabled:
                queue = self.sink.queue
                if queue is not None:
                    queue((info, request, environ, seconds))
                    if not self._flush_due:
                        self._flush_due = True
                        self.loop.call_soon(self._flush_access)  # once per round of the loop's events
                else:
                    self.sink.record(info, request, environ, seconds)

    def _count(self, proto: HTTPProtocol, request: Request, cycle: Any, seconds: float) -> None:
        status = cycle.status
        code = int(status[:3]) if status and status[:3].isdigit() else 500
        queued = None
        for name, value in request.headers:
            if name == "X-REQUEST-START":
                if proto._trusted:  # a router's word: from the peers trusted with forwarded headers only
                    queued = parse_request_start(value, time.time() - seconds)
                break
        self.tally.add(request.method, code, seconds, cycle.bytes_sent, queued)

    def current(self) -> tuple[str, str, float] | None:
        """The oldest HTTP request in progress, as (method, target, since on the monotonic clock)."""
        busy = [proto for proto in self.open if isinstance(proto.cycle, HTTPCycle)]
        oldest = min(busy, key=lambda proto: proto.started, default=None)
        if oldest is None or oldest.cycle is None:
            return None
        since = time.monotonic() - (time.perf_counter() - oldest.started)
        return oldest.cycle.request.method, oldest.cycle.request.target, since

    def publish(self) -> None:
        """Put the counters and what is in flight into the shared stats (the heartbeat loop, about once a
        second, and at the stop)."""
        stats = self.stats
        if stats is None:
            return
        if self.counting:
            stats.publish([self.tally])
        stats.values[IN_FLIGHT] = sum(1 for proto in self.open if isinstance(proto.cycle, HTTPCycle))
        stats.connections(len(self.open))


try:
    from monoceros.asgi.websocket import WebSocketCycle, handshake_problem, is_upgrade
except ImportError:  # no wsproto (the `asgi` extra): upgrade requests are served as plain HTTP
    HAVE_WSPROTO = False
else:
    HAVE_WSPROTO = True


def _raise(exc: BaseException) -> None:
    raise exc


class HTTPProtocol(asyncio.Protocol):
    """One client connection of the ASGI worker."""

    def __init__(self, server: AsgiServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.http: Any = None
        self.scope: ConnectionScope | None = None
        self.cycle: HTTPCycle | WebSocketCycle | None = None
        self.ws: WebSocketCycle | None = None
        self.closed = False
        self.peer: Any = None
        self.sockname: Any = None
        self._trusted = False
        # When this connection is given up on (0.0: never): the head of a request not in by then, an idle
        # keep-alive connection, a lingering close. Checked by the worker's sweep, about once a second: a
        # float set per request costs less than a timer armed and cancelled.
        self.deadline = 0.0
        self._reading = True
        self._paused_by: set[str] = set()
        self._writable: asyncio.Future[None] | None = None
        self.started = 0.0
        self._environ: Any = None
        self._keepalive_deadline = (
            False  # the deadline is the keep-alive one (the next request has not begun)
        )
        self._task: asyncio.Task[None] | None = None  # the app's call for the latest request
        self._pending: Any = None  # the app's call for the request just parsed, not started yet
        self._processing = False  # `_process` is running (a response completed inside it must not recurse)
        self._again = False
        self._lingering = False  # our side is shut: what arrives is dropped until the client closes
        self._body_wait = False  # the app waits for body bytes (the deadline is the stall bound)
        self._linger_end = 0.0
        self.app_deadline = 0.0  # request_timeout: when the app's call for this request is cancelled
        self._timed_out = False  # the app's call was cancelled for request_timeout

    # -- asyncio's side -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self.server
        self.transport = transport  # type: ignore[assignment]  # (uvloop's transports do not subclass asyncio's)
        server.open.add(self)
        self.peer = transport.get_extra_info("peername")
        self.sockname = transport.get_extra_info("sockname")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer_host = self.peer[0] if isinstance(self.peer, tuple) else (self.peer or "")
        self._trusted = server.forwarded_trust.allows(peer_host)
        proxy = server.proxy_protocol != "off" and server.proxy_trust.allows(peer_host)
        if server.uwsgi:
            self.http = server.connections(self._trusted, uwsgi_allowed=server.uwsgi_trust.allows(peer_host))
        else:
            self.http = server.connections(self._trusted, proxy)
        self._arm(server.request_timeout)
        if server.stopping:
            self.stop()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingered()
            return
        if self.ws is not None:
            self.ws.feed(data)
            return
        if self._keepalive_deadline:
            # The next request begins: its head has the request timeout to arrive, armed when the parser
            # finds it incomplete (a head that came whole needs no deadline).
            self._keepalive_deadline = False
            self.deadline = 0.0
        self.http.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        if self._lingering:
            return False  # (the client has read what it wanted: close)
        if self.ws is not None:
            self.ws.connection_lost()
            return False
        self.http.receive_data(b"")
        self._process()
        # Keep our side open while a response is still owed (a client may half-close after its request).
        cycle = self.cycle
        if isinstance(cycle, HTTPCycle):
            cycle.eof()
        return cycle is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline = 0.0
        cycle = self.cycle
        if cycle is not None:
            if self.ws is not None:
                self.ws.connection_lost()
            else:
                cycle.disconnect()  # type: ignore[union-attr]
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        task = self._task
        if task is not None and not task.done():
            # The app was told the client left (http.disconnect, websocket.disconnect); it has
            # asgi_disconnect_grace_period seconds to finish before its task is cancelled.
            self.loop.call_later(self.server.grace, task.cancel)
            self.server.keep(task)
        self._task = None
        self.server.closed(self)

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- the Channel the cycles use -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and data:
            self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        waiter = self._writable
        if waiter is None or self.closed:
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.server.flow.stall_timeout)
        except asyncio.TimeoutError:
            self.server.log.debug("client %s stopped reading: connection given up", self.peer)
            self.abort()

    def body_taken(self) -> None:
        self._resume("body")

    def pause(self) -> None:
        self._pause("body")

    async def wait_body(self, arrived: asyncio.Future[None]) -> bool:
        # The stall bound is a deadline like the others (swept once a second), not a timer per wait.
        self._resume("body")
        self._body_wait = True
        self.deadline = self.loop.time() + self.server.flow.stall_timeout
        try:
            await arrived
        finally:
            self._body_wait = False
            if not self._lingering:
                self.deadline = 0.0
        return not self.closed

    def close_soon(self) -> None:
        """Close once what was written is out. Our side is shut first and what the client still sends is
        read and dropped for a while (a lingering close, as the WSGI engine and nginx do): closing at
        once would make the kernel answer those bytes with a reset, which can destroy the response the
        client has not read yet (an error page for a refused upload, say)."""
        transport = self.transport
        if self.closed or transport is None or self._lingering:
            return
        if self.ws is not None or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        now = self.loop.time()
        self._linger_end = now + LINGER_MAX
        self.deadline = now + LINGER_TIME
        self._resume_all()
        transport.write_eof()

    def _lingered(self) -> None:
        """Bytes came while lingering: dropped; the client gets LINGER_TIME more, up to LINGER_MAX."""
        self.deadline = min(self.loop.time() + LINGER_TIME, self._linger_end)

    def _resume_all(self) -> None:
        self._paused_by.clear()
        if not self._reading and not self.closed and self.transport is not None:
            self._reading = True
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- reading --------------------------------------------------------------------------------

    def _pause(self, why: str) -> None:
        self._paused_by.add(why)
        if self._reading and self.transport is not None:
            self._reading = False
            self.transport.pause_reading()

    def _resume(self, why: str) -> None:
        paused = self._paused_by
        paused.discard(why)
        if not paused and not self._reading and not self.closed:
            self._reading = True
            self.transport.resume_reading()  # type: ignore[union-attr]

    def _arm(self, seconds: float) -> None:
        self.deadline = self.loop.time() + seconds if seconds > 0 else 0.0

    def expire(self) -> None:
        """The deadline passed (the worker's sweep): close, unless a request is being served; a body the
        app waits for that stopped coming gives the connection up (the app is told the client left)."""
        self.deadline = 0.0
        if self.transport is None:
            return
        if self._body_wait:
            self.server.log.debug("client %s stopped sending its body: connection given up", self.peer)
            self.abort()
        elif self.cycle is None or self._lingering:
            self.transport.close()  # idle, a request that never arrived whole, or a lingering close's end

    def _process(self) -> None:
        """Take the parser's events until it needs data or pauses, then start the app for the request that
        arrived (once its body events of this round are taken: an app started eagerly may finish its
        response at once, and the connection must not move on before the parser has ended the request)."""
        if self._processing:
            self._again = True  # (a response completed while the events were being taken: go on after)
            return
        self._processing = True
        try:
            while True:
                self._again = False
                self._events()
                coro = self._pending
                if coro is not None:
                    self._pending = None
                    self._launch(coro)
                if not self._again or self.closed:
                    break
        finally:
            self._processing = False

    def _events(self) -> None:
        http = self.http
        while True:
            try:
                event = http.next_event()
            except RemoteProtocolError as exc:
                self._reject(exc)
                return
            kind = type(event)
            if kind is Request:
                self.deadline = 0.0
                self._start(event)
            elif kind is EndOfMessage:
                cycle = self.cycle
                if type(cycle) is HTTPCycle:
                    cycle.finish()
            elif kind is Data:
                self._body_event(event)
            elif event is NEED_DATA:
                if self.cycle is None and not self.deadline:
                    self._arm(self.server.request_timeout)
                return
            elif event is PAUSED:
                # A pipelined request waits until this response is complete. Reading goes on meanwhile (so
                # that a client leaving is seen) until that much of what follows is held.
                if http.parser.buffered > PIPELINE_HIGH_WATER:
                    self._pause("cycle")
                return
            elif kind is ConnectionClosed:
                self.close_soon()
                return
            else:
                return
            if self.ws is not None or self.closed:
                return

    def _body_event(self, event: Data) -> None:
        cycle = self.cycle
        if not isinstance(cycle, HTTPCycle):
            return
        cycle.feed(event.data)
        if cycle.buffered > BODY_HIGH_WATER:
            self._pause("body")  # until the app takes what is held

    def _reject(self, exc: RemoteProtocolError) -> None:
        cycle = self.cycle
        if isinstance(cycle, HTTPCycle):
            # The body turned out invalid while the app reads it: the app is told the client left; if its
            # response has not started, the client gets the error page.
            cycle.disconnect()
            if not cycle.head_sent and not cycle.started:
                self.write(self.http.refuse(exc.status, exc.reason))
            self.close_soon()
            return
        self.server.log.debug("Invalid request from %s: %s", self.peer, exc)
        self.write(self.http.refuse(exc.status, exc.reason))
        self.close_soon()

    # -- one request ----------------------------------------------------------------------------

    def _start(self, request: Request) -> None:
        server = self.server
        http = self.http
        worker = server.worker
        if self.scope is None:
            self.scope = server.scopes.connection(
                self.peer, self.sockname, server.tls, self._trusted, http.parser.proxy_info
            )
        if server.stopping or not worker.alive or worker.nr + 1 >= worker.max_requests:
            http.drain()
        self.started = time.perf_counter()
        websocket = server.websockets and is_upgrade(request)
        try:
            scope = self.scope.websocket(request) if websocket else self.scope.http(request)
        except ProtocolError as exc:
            self._reject(RemoteProtocolError(exc.status, exc.reason))
            return
        if server.pre_request is not None:
            try:
                server.pre_request(worker, request)
            except Exception:
                server.log.exception("Exception in pre_request hook")
        if websocket:
            self._start_websocket(request, scope)
            return
        cycle = HTTPCycle(http, request, self, self._finish, server.headers_cache)
        self.cycle = cycle
        if server.app_timeout:
            self._timed_out = False
            self.app_deadline = self.loop.time() + server.app_timeout
        self._pending = self._run_http(cycle, scope)  # started by `_process` after this round's events

    def _launch(self, coro: Any) -> None:
        if EAGER_TASKS:
            # The app runs at once, up to its first real wait (Python 3.12+): a request answered without
            # waiting costs no trip through the loop's ready queue.
            try:
                task = asyncio.Task(coro, loop=self.loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            except (SystemExit, KeyboardInterrupt) as exc:
                # The app was interrupted in its first step (the master's abort of a blocked loop, a ^C).
                # Raised here it would end in the transport's callback, which swallows it: raised again
                # from the loop itself, it stops the worker as it does when a task is stepped there.
                self.loop.call_soon(_raise, exc)
                return
        else:
            task = self.loop.create_task(coro)
        previous = self._task
        self._task = task
        if previous is not None and not previous.done():
            self.server.keep(previous)  # (its app goes on after its response: held by the worker now)

    async def _run_http(self, cycle: HTTPCycle, scope: dict[str, Any]) -> None:
        server = self.server
        failed = False
        try:
            await server.app(scope, cycle.receive, cycle.send)
        except BaseException as exc:
            failed = True
            if self._timed_out and isinstance(exc, asyncio.CancelledError) and self.cycle is cycle:
                pass  # request_timeout: logged with the app's stack when it was cancelled
            elif cycle.disconnected:
                # The client left first (the app was told so): what the app raised then is its way of
                # giving up on that client, not a failure of the application.
                server.log.debug(
                    "%s: the client %s went away", cycle.request.target, self.peer, exc_info=True
                )
            else:
                server.log.exception("Error handling request %s", cycle.request.target)
            if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
                raise
        else:
            if not cycle.started:
                server.log.error(
                    "ASGI callable returned without starting a response: %s", cycle.request.target
                )
                failed = True
            elif not cycle.complete and not cycle.disconnected:
                server.log.error(
                    "ASGI callable returned without completing its response: %s", cycle.request.target
                )
                failed = True
        finally:
            server.count_request()
        if failed and not cycle.complete:
            self._failed(cycle)

    def _failed(self, cycle: HTTPCycle) -> None:
        """The app raised or returned early: a 500 (504 for request_timeout) if nothing of the response went
        out, else close."""
        if self.cycle is not cycle:
            return
        if not cycle.head_sent and not self.closed and not cycle.disconnected:
            if self._timed_out:
                cycle.status = "504 Gateway Timeout"
                page = self.http.refuse(504, TIMEOUT_DETAIL)
            else:
                cycle.status = "500 Internal Server Error"
                page = self.http.refuse(500)
            cycle.headers = []
            self.write(page)
        self._finish(cycle, ok=False)

    def app_expired(self, now: float) -> None:
        """request_timeout passed (the worker's sweep): cancel the app's call, logging where it was; if it
        has not ended a second later (it caught the cancellation), give the connection up."""
        task, cycle = self._task, self.cycle
        if not isinstance(cycle, HTTPCycle) or task is None or task.done():
            self.app_deadline = 0.0
            return
        log = self.server.log
        if self._timed_out:
            self.app_deadline = 0.0
            log.error(
                "The app ignored the cancellation of %s: its connection is closed", cycle.request.target
            )
            self.abort()
            return
        self._timed_out = True
        self.app_deadline = now + 1.0
        where = task_stack(task)
        log.error(
            "Request timed out after %g s (request_timeout): %s %s from %s; its task is cancelled, the worker"
            " goes on. Where it was:\n%s",
            self.server.app_timeout,
            cycle.request.method,
            cycle.request.target,
            self.peer,
            where.rstrip(),
        )
        task.cancel()

    def _finish(self, cycle: HTTPCycle | WebSocketCycle, ok: bool = True) -> None:
        """The response is out (or abandoned): the access log, then keep-alive or close."""
        if self.cycle is not cycle:
            return
        server = self.server
        self.cycle = None
        request = cycle.request
        if server.accounting:
            server.access(self, request, cycle, not ok, time.perf_counter() - self.started)
        http = self.http
        keep = http.end_response(ok) if ok else self._end_failed()
        if not keep or self.closed:
            self.close_soon()
            return
        if self._paused_by:
            self._resume("cycle")
        if server.stopping:
            http.drain()
        if http.parser.drained:
            # The usual case: both sides are idle (end_response said so) and nothing of the next request is
            # here yet, so there is nothing to parse; it has the keep-alive timeout to begin.
            self._arm(min(server.keepalive, server.stop_linger) if server.stopping else server.keepalive)
            self._keepalive_deadline = True
            return
        self._process()  # a pipelined request, or the client's EOF

    def _end_failed(self) -> bool:
        try:
            return bool(self.http.end_response(False))
        except ProtocolError:
            return False

    def environ(self, request: Request) -> dict[str, Any]:
        """A WSGI-shaped environ of ``request``, for the access log and ``post_request`` hooks."""
        builder = self._environ
        if builder is None:
            peer = self.peer if self.peer is not None else ""
            builder = self._environ = self.server.environ.connection(
                peer, self.sockname or "", "https" if self.server.tls else "http", self._trusted
            )
        try:
            return builder.build(request, None, self.http.parser.proxy_info)  # type: ignore[no-any-return]
        except ProtocolError:  # (a path outside SCRIPT_NAME: the scope never needed it)
            return {
                "REQUEST_METHOD": request.method,
                "RAW_URI": request.target,
                "SERVER_PROTOCOL": "HTTP/1.1",
            }

    # -- WebSockets -----------------------------------------------------------------------------

    def _start_websocket(self, request: Request, scope: dict[str, Any]) -> None:
        problem = handshake_problem(request)
        if problem is not None:
            status, reason, headers = problem
            writer = self.http.respond(request)
            body = reason.encode()
            writer.start(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
            self.write(writer.whole(body))
            self.http.end_response(False)
            self.close_soon()
            return
        server = self.server
        cycle = WebSocketCycle(
            self.http,
            request,
            self,
            on_switch=self._switched,
            on_http_done=lambda c: self._finish(c, ok=False),
            max_size=server.ws_max_size,
            compression=bool(server.ws_compression),
        )
        self.cycle = cycle
        self._pause("cycle")
        self._pending = self._run_websocket(cycle, scope)

    def _switched(self, cycle: WebSocketCycle) -> None:
        self.ws = cycle
        self._resume("cycle")
        self.server.access(self, cycle.request, cycle, False, time.perf_counter() - self.started)

    async def _run_websocket(self, cycle: WebSocketCycle, scope: dict[str, Any]) -> None:
        server = self.server
        try:
            await server.app(scope, cycle.receive, cycle.send)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                server.log.exception("Error in ASGI WebSocket application %s", cycle.request.target)
            if not cycle.head_sent and not self.closed:
                cycle.status = "500 Internal Server Error"
                self.write(self.http.refuse(500))
                self._finish(cycle, ok=False)
            elif cycle.state == "OPEN":
                cycle._close(1011, "")
            if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
                raise
        else:
            if not cycle.head_sent and not self.closed:
                # Returned without accepting: refused, as with websocket.close (403).
                cycle.status = "403 Forbidden"
                self.write(self.http.refuse(403))
                self._finish(cycle, ok=False)
            elif cycle.state == "OPEN":
                cycle._close(1000, "")
        finally:
            server.count_request()
            self.close_soon()

    # -- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        http = self.http
        if http is not None:
            http.drain()
        if self.ws is not None:
            self.ws.going_away()
        elif self.cycle is None:
            # Idle, or its request still coming: a request already on its way (or a connection taken from
            # the backlog at the stop) is still answered, with Connection: close, for a short while.
            until = self.loop.time() + self.server.stop_linger
            self.deadline = min(self.deadline, until) if self.deadline else until
            self._keepalive_deadline = False
