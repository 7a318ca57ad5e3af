"""Running the application for one parsed request: the glue between the engine and the WSGI layer.

``RequestRunner`` is built once per worker from the settings. It makes each connection's parser and
environ builder (trust decisions are taken once per connection, not per request) and runs a request:
environ, hooks, the app through ``monoceros.wsgi.run_app``, request accounting. It returns whether
the connection may carry another request; the engine does all the I/O around it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from monoceros import SERVER_SOFTWARE
from monoceros.http import ProtocolError, Request, RequestParser, ResponseWriter, UwsgiParser, error_response
from monoceros.wsgi import EnvironBuilder, IPTrust, input_for, run_app
from monoceros.wsgi.environ import ConnectionEnviron
from monoceros.wsgi.types import BodySource

if TYPE_CHECKING:
    from monoceros.workers.base import Worker
    from monoceros.workers.connection import Conn
    from monoceros.workers.engine import Listening

SERVER_HEADER = b"monoceros"


class RequestRunner:
    """Per-worker request settings and the code that serves one request."""

    def __init__(self, worker: Worker, multithread: bool) -> None:
        cfg = worker.cfg
        self.worker = worker
        self.log = worker.log
        self.app: Any = worker.wsgi
        self.forwarded_trust = IPTrust(cfg.forwarded_allow_ips)
        self.proxy_trust = IPTrust(cfg.proxy_allow_ips)
        self.proxy_protocol: str = cfg.proxy_protocol
        # --protocol uwsgi: requests come in uwsgi packets (nginx's uwsgi_pass) from the allowed peers.
        self.uwsgi = cfg.protocol == "uwsgi"
        self.uwsgi_trust = IPTrust(cfg.uwsgi_allow_ips)
        # A uwsgi response body is opaque to nginx, which frames it for its client: never chunked, so it is
        # framed as for HTTP/1.0 (Content-Length, or the end of the connection).
        self.writer_version: tuple[int, int] | None = (1, 0) if self.uwsgi else None
        self.parser_args: dict[str, Any] = {
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
            "proxy_protocol": self.proxy_protocol,
        }
        self.environ = EnvironBuilder(
            SERVER_SOFTWARE,
            multithread=multithread,
            multiprocess=cfg.workers > 1,
            script_name_env=os.environ.get("SCRIPT_NAME", ""),
            secure_scheme_headers=cfg.secure_scheme_headers,
            forwarder_headers=cfg.forwarder_headers,
            errors_stream=_wsgi_errors(self.log),
        )
        self.url_scheme = "https" if cfg.is_ssl else "http"
        self.keepalive = cfg.keepalive > 0
        # Hooks left at their defaults are skipped: the default pre_request only logs at debug level.
        self.pre_request = None if cfg.is_default("pre_request") else cfg.pre_request
        self.post_request = None if cfg.is_default("post_request") else cfg.post_request
        self.debug = self.log.loglevel_is_debug() if hasattr(self.log, "loglevel_is_debug") else False
        self._socknames: dict[int, object] = {}
        # One parser factory per (peer trusted, PROXY header trusted): the settings are derived once.
        self._parsers: dict[tuple[bool, bool], Callable[[], RequestParser]] = {}
        # Access logging costs a clock read and a call per request: only when it is configured.
        wants_access = getattr(self.log, "wants_access", None)
        self.log_access = bool(wants_access()) if callable(wants_access) else False
        batch = getattr(self.log, "batch_access", None)
        if self.log_access and callable(batch):
            batch()  # the engine's loop flushes after each round of events (flush_access)
        # With our logger the request joins its queue directly: no call per request.
        queue = getattr(self.log, "access_queue", None)
        self.access_queue: Callable[[tuple[Any, Request, dict[str, Any], float]], None] | None = (
            queue() if self.log_access and callable(queue) else None
        )
        wants_time = getattr(self.log, "wants_request_time", None)
        self.time_requests = self.log_access and (bool(wants_time()) if callable(wants_time) else True)

    # -- per connection -------------------------------------------------------------------------

    def connection(
        self, peer: object, listener: Listening, sock: socket.socket
    ) -> tuple[RequestParser | UwsgiParser, ConnectionEnviron]:
        """The parser and the environ builder of a new connection; the peer's trust is decided once."""
        trusted = self.forwarded_trust.allows(peer)
        parser: RequestParser | UwsgiParser
        if self.uwsgi:
            parser = UwsgiParser(self.uwsgi_trust.allows(peer))
        else:
            key = (trusted, self.proxy_protocol != "off" and self.proxy_trust.allows(peer))
            make = self._parsers.get(key)
            if make is None:
                make = self._parsers[key] = RequestParser.factory(
                    peer_trusted=key[0], proxy_trusted=key[1], **self.parser_args
                )
            parser = make()
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
        return parser, environ

    # -- per request ----------------------------------------------------------------------------

    def run(self, conn: Conn, request: Request, body: BodySource | None) -> bool:
        """Serve ``request`` on ``conn``; True when the connection may be kept alive."""
        worker = self.worker
        source: BodySource = conn if body is None else body
        try:
            environ = conn.env.build(request, input_for(request, source), conn.parser.proxy_info, conn.sock)
        except ProtocolError as exc:
            conn.write(error_response(exc.status, exc.reason))
            return False
        # Decided before the head goes out, so the client is told (Connection: close) when this
        # is the last request: keep-alive off, the worker stopping, or max_requests reached.
        keep_alive = (
            request.keep_alive and self.keepalive and worker.alive and worker.nr + 1 < worker.max_requests
        )
        writer = ResponseWriter(
            request.method, self.writer_version or request.version, keep_alive, SERVER_HEADER
        )
        if self.pre_request is not None:
            self.pre_request(worker, request)
        elif self.debug:
            self.log.debug("%s %s", request.method, request.path)
        info = None
        started = time.perf_counter() if self.time_requests else 0.0
        conn.writer = writer
        try:
            info = run_app(self.app, environ, request, writer, conn, self.log)
        except OSError:
            return False  # the client is gone; run_app already closed the app's iterable
        finally:
            conn.writer = None
            worker.count_request()
            if self.post_request is not None:
                self._post_request(request, environ, info)
        if self.log_access:
            elapsed = time.perf_counter() - started if self.time_requests else 0.0
            if self.access_queue is not None:
                self.access_queue((info, request, environ, elapsed))
            else:
                self.log.access(info, request, environ, timedelta(seconds=elapsed))
        return info.keep_alive

    def _post_request(self, request: Request, environ: dict[str, Any], info: object) -> None:
        try:
            self.post_request(self.worker, request, environ, info)  # type: ignore[misc]
        except Exception:
            self.log.exception("Exception in post_request hook")


def _wsgi_errors(log: Any) -> object:
    """The error log as ``wsgi.errors`` (our logger and its subclasses); stderr for a logger class of
    another kind."""
    make = getattr(log, "wsgi_errors", None)
    return make() if callable(make) else None
