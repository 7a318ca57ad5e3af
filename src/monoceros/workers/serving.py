"""Running the application for one parsed request: the glue between the engine and the WSGI layer.

``RequestRunner`` is built once per worker from the settings. It makes each connection's parser and
environ builder (trust decisions are taken once per connection, not per request) and runs a request:
environ, hooks, the app through ``monoceros.wsgi.run_app``, request accounting. It returns whether
the response went out whole; the connection (``monoceros.http.Connection``) decides whether another request
may follow, and the engine does all the I/O around it.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from itertools import repeat, starmap
from time import monotonic  # (a global name: one lookup on the per-request path)
from typing import TYPE_CHECKING, Any

from monoceros import SERVER_SOFTWARE
from monoceros.http import Connection, ConnectionFactory, ProtocolError, Request, native_chosen
from monoceros.observability.metrics import StatsSlot, Tally, parse_request_start
from monoceros.observability.sink import AccessSink, sink_for
from monoceros.wsgi import EnvironBuilder, IPTrust, RequestTimeout, ResponseInfo, input_for, run_app
from monoceros.wsgi.environ import ConnectionEnviron
from monoceros.wsgi.types import BodySource

if TYPE_CHECKING:
    from monoceros.config import Config
    from monoceros.workers.base import Worker
    from monoceros.workers.connection import Conn
    from monoceros.workers.deadline import MainThreadDeadline
    from monoceros.workers.engine import Listening

SERVER_HEADER = b"monoceros"


class _Unanswered:
    """How the metrics count a request whose response never went out."""

    status_code = 0
    bytes_sent = 0


_UNANSWERED = _Unanswered()
RECORD = 4  # the values `record` takes per request (method, status, body bytes, seconds)


def parser_settings(cfg: Config) -> dict[str, Any]:
    """The request parser's limits and policies, from the settings: the same for every worker kind."""
    return {
        "limit_request_line": cfg.limit_request_line,
        "limit_request_fields": cfg.limit_request_fields,
        "limit_request_field_size": cfg.limit_request_field_size,
        "permit_unconventional_http_method": cfg.permit_unconventional_http_method,
        "permit_unconventional_http_version": cfg.permit_unconventional_http_version,
        "casefold_http_method": cfg.casefold_http_method,
        "strip_header_spaces": cfg.strip_header_spaces,
        "permit_obsolete_folding": cfg.permit_obsolete_folding,
        "header_map": cfg.header_map,
        "forwarder_headers": frozenset(h.strip().upper() for h in cfg.forwarder_headers),
        "proxy_protocol": cfg.proxy_protocol,
        "native": native_chosen(cfg.http_parser),  # (`fast` without it was refused at start)
    }


class RequestRunner:
    """Per-worker request settings and the code that serves one request."""

    def __init__(self, worker: Worker, multithread: bool) -> None:
        cfg = worker.cfg
        self.worker = worker
        self.log = worker.log
        self.sink: AccessSink = sink_for(worker.log)  # what this path asks of the logs
        self.app: Any = worker.wsgi
        self.forwarded_trust = IPTrust(cfg.forwarded_allow_ips)
        self.proxy_trust = IPTrust(cfg.proxy_allow_ips)
        self.proxy_protocol: str = cfg.proxy_protocol
        # --protocol uwsgi: requests come in uwsgi packets (nginx's uwsgi_pass) from the allowed peers.
        self.uwsgi = cfg.protocol == "uwsgi"
        self.uwsgi_trust = IPTrust(cfg.uwsgi_allow_ips)
        self.connections = ConnectionFactory(
            keep_alive=cfg.keepalive > 0, server=SERVER_HEADER, uwsgi=self.uwsgi, **parser_settings(cfg)
        )
        self.environ = EnvironBuilder(
            SERVER_SOFTWARE,
            multithread=multithread,
            multiprocess=cfg.workers > 1,
            script_name_env=os.environ.get("SCRIPT_NAME", ""),
            secure_scheme_headers=cfg.secure_scheme_headers,
            forwarder_headers=cfg.forwarder_headers,
            errors_stream=self.sink.errors(),
        )
        self.url_scheme = "https" if cfg.is_ssl else "http"
        # Hooks left at their defaults are skipped: the default pre_request only logs at debug level.
        self.pre_request = None if cfg.is_default("pre_request") else cfg.pre_request
        self.post_request = None if cfg.is_default("post_request") else cfg.post_request
        self.debug = self.sink.debug
        self._socknames: dict[int, object] = {}
        # Access logging costs a clock read and a call per request: only when it is configured. With our
        # logger the request joins its queue directly (no call per request); the engine's loop ends each
        # round of events with `sink.end_round()`.
        self.log_access = self.sink.enabled
        self.access_queue = self.sink.queue
        self.time_requests = self.sink.timed
        # request_timeout for an app running in the main thread (the sync worker sets it); None: no limit
        self.deadline: MainThreadDeadline | None = None
        # The request counters for the master (metrics, control socket), when it gave this worker a stats
        # slot: a tally per thread, published by the loop about once a second.
        self.stats: StatsSlot | None = worker.stats
        # (counted only for --metrics-bind: the control socket alone needs no counts, and they cost CPU)
        self.counting = worker.stats is not None and bool(cfg.metrics_bind)
        self.tally = Tally()
        # method, status, body bytes, seconds in the app: RECORD values a request, flat, until the next tick
        # (one extend, atomic under the GIL: gthread's pool threads add while the loop's thread takes); and
        # (X-Request-Start, began, peer) for a request that has the header
        self.pending: list[Any] = []
        self.record = self.pending.extend
        self.stamped: deque[tuple[str, float, Any]] = deque()

    # -- per connection -------------------------------------------------------------------------

    def connection(
        self, peer: object, listener: Listening, sock: socket.socket
    ) -> tuple[Connection, ConnectionEnviron]:
        """The HTTP state and the environ builder of a new connection; the peer's trust is decided once."""
        trusted = self.forwarded_trust.allows(peer)
        if self.uwsgi:
            http = self.connections(trusted, uwsgi_allowed=self.uwsgi_trust.allows(peer))
        else:
            http = self.connections(trusted, self.proxy_protocol != "off" and self.proxy_trust.allows(peer))
        fd = listener.fileno()
        sockname = self._socknames.get(fd)
        if sockname is None:
            if fd < 0:  # a connection passed to a stopping worker, whose listeners are closed
                sockname = sock.getsockname()
            else:
                sockname = self._socknames[fd] = listener.getsockname()
        environ = self.environ.connection(
            peer,  # type: ignore[arg-type]
            sockname,  # type: ignore[arg-type]
            self.url_scheme,
            trusted,
        )
        return http, environ

    # -- per request ----------------------------------------------------------------------------

    def run(self, conn: Conn, request: Request, body: BodySource | None) -> bool:
        """Serve ``request`` on ``conn``; True when its response went out whole (whether the connection is
        kept alive is ``conn.http``'s decision)."""
        worker = self.worker
        http = conn.http
        source: BodySource = conn if body is None else body
        try:
            environ = conn.environ_builder.build(
                request, input_for(request, source), http.parser.proxy_info, conn.sock
            )
        except ProtocolError as exc:
            conn.write(http.refuse(exc.status, exc.reason))
            return False
        if not worker.alive or worker.nr + 1 >= worker.max_requests:
            # The worker is stopping, or this is its last request: the head says Connection: close.
            http.drain()
        writer = http.respond(request)
        if self.pre_request is not None:
            self.pre_request(worker, request)
        elif self.debug:
            self.log.debug("%s %s", request.method, request.path)
        info = None
        started = time.perf_counter() if self.time_requests else 0.0
        deadline = self.deadline
        counting = self.counting
        try:
            if deadline is None:
                info = run_app(self.app, environ, request, writer, conn, self.log)
            else:
                info = self._run_app_timed(deadline, environ, request, writer, conn)
                if info is None:
                    return False
        except OSError:
            return False  # the client is gone; run_app already closed the app's iterable
        finally:
            worker.nr += 1  # `Worker.count_request`, spelled out on this path (a call saved per request)
            if worker.nr >= worker.max_requests:
                worker.reached_max_requests()
            if self.post_request is not None:
                self._post_request(request, environ, info)
            if counting:
                sent: _Unanswered | ResponseInfo = _UNANSWERED if info is None else info
                self.record(
                    (request.method, sent.status_code, sent.bytes_sent, monotonic() - conn.busy_since)
                )
                if "HTTP_X_REQUEST_START" in environ and info is not None:
                    self.stamped.append((environ["HTTP_X_REQUEST_START"], conn.busy_since, conn.peer))
        if self.log_access:
            elapsed = time.perf_counter() - started if self.time_requests else 0.0
            if self.access_queue is not None:
                self.access_queue((info, request, environ, elapsed))
            else:
                self.sink.record(info, request, environ, elapsed)
        return not info.failed

    def drain_counts(self) -> None:
        """Add the requests recorded since the last call to the tally and publish it to the worker's shared
        stats (the loop's tick, about once a second, and at the end). Per request the serving path only
        appends a tuple: counting them here, in one warm loop, costs a fraction of doing it inline."""
        stats = self.stats
        if stats is None or not self.counting:  # (counting implies a stats slot; the check tells mypy)
            return
        pending = self.pending
        taken = len(pending) - len(pending) % RECORD  # (a thread may be adding one now: only whole ones)
        if taken:
            batch = pending[:taken]
            del pending[:taken]  # (what threads added meanwhile is after it, and stays)
            queued: list[float] = []
            stamped = self.stamped
            if stamped:
                trust = self.forwarded_trust
                wall_minus_mono = time.time() - time.monotonic()
                for stamp, start, peer in starmap(stamped.popleft, repeat((), len(stamped))):
                    # the queue time is a router's word: taken from peers trusted with forwarded headers only
                    if trust.allows(peer):
                        value = parse_request_start(stamp, start + wall_minus_mono)
                        if value is not None:
                            queued.append(value)
            self.tally.add_batch(
                batch[0::RECORD], batch[1::RECORD], batch[3::RECORD], batch[2::RECORD], queued
            )
        stats.publish((self.tally,))

    def _run_app_timed(
        self, deadline: MainThreadDeadline, environ: dict[str, Any], request: Request, writer: Any, conn: Conn
    ) -> ResponseInfo | None:
        """run_app under `request_timeout` (the sync worker: SIGALRM in this, the main, thread)."""
        try:
            deadline.arm()
            info = run_app(self.app, environ, request, writer, conn, self.log)
            deadline.disarm()
            return info
        except RequestTimeout:
            # The timer fired just as run_app returned (inside it, run_app answers the timeout itself): the
            # response went out, only its record is lost; the connection closes to be safe.
            deadline.disarm()
            return None

    def _post_request(self, request: Request, environ: dict[str, Any], info: object) -> None:
        try:
            self.post_request(self.worker, request, environ, info)  # type: ignore[misc]
        except Exception:
            self.log.exception("Exception in post_request hook")
