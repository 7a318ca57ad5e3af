"""One HTTP/1.1 connection, sans-IO: the request parser, the response writer and every decision between them.

``Connection`` is what every worker kind drives. Bytes go in (``receive_data``; ``b""`` is EOF), events come
out (``next_event``), and what to send comes back as bytes: the response through the ``ResponseWriter`` that
``respond`` hands out, ``100 Continue`` from ``continue_bytes``, error pages from ``refuse``. The states of
both sides move along the tables of ``_state``.

Keep-alive is decided here and only here, from:

- the request: its version and ``Connection`` field (``Request.keep_alive``), and ``CONNECT``;
- this server: keep-alive switched off (``keepalive = 0``), the worker draining (``drain``: a stop, or
  ``max_requests``) — taken when the response starts, so its head says ``Connection: close``;
- the response: a body whose length the client cannot know, a 1xx as the final answer, a protocol switch,
  a body shorter than its ``Content-Length`` (the writer reports these framing facts in its ``keep_alive``);
- the exchange: a failure (``end_response(False)``), an error page, or a request body not read to its end.

``end_response`` settles it: True means both sides are ``IDLE`` again and the next (maybe pipelined) request
may be read; False means our side is ``MUST_CLOSE`` (or ``SWITCHED_PROTOCOL``) and the worker closes once
its output is out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._caches import Caches
from ._errorpage import error_response
from ._errors import LocalProtocolError
from ._events import NEED_DATA, ProxyInfo, Request
from ._parser import RequestParser
from ._state import (
    CLIENT_TRANSITIONS,
    CLOSE,
    CYCLE,
    ERROR,
    IDLE,
    KEEP,
    MUST_CLOSE,
    REFUSE,
    REQUEST,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER_TRANSITIONS,
    SWITCH,
    SWITCHED_PROTOCOL,
)
from ._uwsgi import UwsgiParser
from ._writer import ResponseWriter

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HTTP11 = (1, 1)

Parser = RequestParser | UwsgiParser


class Connection:
    """The HTTP/1.1 state of one connection; made by a worker's ``ConnectionFactory``."""

    __slots__ = (
        "parser",
        "receive_data",
        "their_state",
        "our_state",
        "request",
        "writer",
        "keep_alive",
        "_next",
        "_caches",
        "_server",
        "_version",
        "_reuse",
        "_draining",
        "_continue",
    )

    def __init__(
        self,
        parser: Parser,
        caches: Caches,
        server: bytes | None = b"monoceros",
        keep_alive: bool = True,
        response_version: tuple[int, int] | None = None,
    ) -> None:
        self.parser = parser
        self.receive_data: Callable[[bytes], None] = parser.receive_data
        self._next = parser.next_event
        self.their_state = IDLE
        self.our_state = IDLE
        self.request: Request | None = None  # the request of this cycle, once its head arrived
        self.writer: ResponseWriter | None = None  # its response, once `respond` ran
        self.keep_alive = False  # the decision, once `end_response` ran
        self._caches = caches
        self._server = server
        self._version = response_version  # frame every response as this version (uwsgi: HTTP/1.0)
        self._reuse = keep_alive  # this server keeps connections alive at all
        self._draining = False
        self._continue = False  # the client waits for "100 Continue" before it sends its body

    # -- what the client sends ------------------------------------------------------------------

    def next_event(self) -> Any:
        """The parser's next event (``Request``, ``Data``, ``EndOfMessage``, ``ConnectionClosed``) or
        ``NEED_DATA`` / ``PAUSED``; ``RemoteProtocolError`` when the client sent something invalid."""
        try:
            event = self._next()
        except Exception:
            self.their_state = ERROR
            raise
        if event is NEED_DATA:
            return event
        state = CLIENT_TRANSITIONS.get((self.their_state, type(event)))
        if state is not None:
            if state is SEND_BODY and self.their_state is IDLE:
                self._request_arrived(event)  # type: ignore[arg-type]
            self.their_state = state
        return event

    def _request_arrived(self, request: Request) -> None:
        self.request = request
        self.our_state = SERVER_TRANSITIONS[(self.our_state, REQUEST)]
        self._continue = request.expect_continue

    @property
    def proxy_info(self) -> ProxyInfo | None:
        return self.parser.proxy_info

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """(bytes received and not consumed, EOF seen): after a protocol switch, the new protocol's."""
        return self.parser.trailing_data

    # -- what we send ---------------------------------------------------------------------------

    def respond(self, request: Request) -> ResponseWriter:
        """The writer that frames the response to ``request`` (the head of this cycle); whether the head may
        offer keep-alive is decided now, so the client is told when this is the last request."""
        if self.our_state is not SEND_RESPONSE or request is not self.request:
            raise LocalProtocolError(500, f"no request to answer (our side is {self.our_state})")
        allowed = request.keep_alive and self._reuse and not self._draining
        self.writer = writer = ResponseWriter(
            request.method, self._version or request.version, allowed, self._server, self._caches
        )
        return writer

    def continue_bytes(self) -> bytes:
        """``100 Continue`` when the client waits for it before sending its body (call when the body is wanted
        and no data is there); ``b""`` when it does not, was told already, or a response head went out."""
        if not self._continue:
            return b""
        self._continue = False
        if self.their_state is not SEND_BODY or (self.writer is not None and self.writer.head_sent):
            return b""
        return CONTINUE

    def drain(self) -> None:
        """The worker is stopping (or retiring): no response that has not started its head offers
        keep-alive any more. Safe to call from another thread than the one producing the response."""
        self._draining = True
        writer = self.writer
        if writer is not None:
            writer.closing = True

    @property
    def draining(self) -> bool:
        return self._draining

    def refuse(self, status: int, detail: str = "") -> bytes:
        """An error page in place of a response (an invalid request, a failure before the app ran); the
        connection closes after it."""
        self.our_state = SERVER_TRANSITIONS[(self.our_state, REFUSE)]
        self.keep_alive = False
        self._continue = False
        return error_response(status, detail)

    def end_response(self, ok: bool = True) -> bool:
        """Our response is out (``ok``) or was abandoned (a failure, a client gone): the keep-alive decision.
        True: both sides are ``IDLE`` and the next request may be read; False: the connection must close."""
        writer = self.writer
        if self.our_state is not SEND_RESPONSE:
            if self.our_state is MUST_CLOSE:  # an error page went out in its place (`refuse`)
                self.writer = None
                return False
            raise LocalProtocolError(500, f"no response to end (our side is {self.our_state})")
        if writer is not None and writer.upgrade and ok:
            action = SWITCH
        elif ok and writer is not None and writer.ended and writer.keep_alive:
            action = KEEP
        else:
            action = CLOSE
        ours = SERVER_TRANSITIONS[(self.our_state, action)]
        theirs, ours = CYCLE.get((self.their_state, ours)) or (self.their_state, MUST_CLOSE)
        self.their_state = theirs
        self.our_state = ours
        self.writer = None
        self._continue = False
        if ours is IDLE:
            self.request = None
            self.parser.start_next_cycle()
            self.keep_alive = True
            return True
        self.keep_alive = False
        return False

    @property
    def switched(self) -> bool:
        """Both sides agreed to another protocol: what follows is in ``trailing_data`` and on the socket."""
        return self.our_state is SWITCHED_PROTOCOL

    @property
    def must_close(self) -> bool:
        return self.our_state is MUST_CLOSE

    @property
    def idle(self) -> bool:
        """Between requests: nothing was received of the next one."""
        return self.their_state is IDLE and self.our_state is IDLE

    def __repr__(self) -> str:
        return f"<Connection client={self.their_state} server={self.our_state}>"


class ConnectionFactory:
    """One worker's connection settings and caches: ``factory(peer_trusted, proxy_trusted)`` is a new
    ``Connection``. The parser settings are checked and derived once per trust combination."""

    def __init__(
        self,
        *,
        keep_alive: bool = True,
        server: bytes | None = b"monoceros",
        uwsgi: bool = False,
        **parser_settings: Any,
    ) -> None:
        self.caches = Caches()
        self._keep_alive = keep_alive
        self._server = server
        self._uwsgi = uwsgi
        # A uwsgi response body is opaque to the front server, which frames it for its own client: never
        # chunked, so it is framed as for HTTP/1.0 (Content-Length, or the end of the connection).
        self._version: tuple[int, int] | None = (1, 0) if uwsgi else None
        self._settings = parser_settings
        self._parsers: dict[tuple[bool, bool], Callable[[], RequestParser]] = {}
        if not uwsgi:
            self._parser(False, False)  # settings errors surface now, not at the first connection

    def _parser(self, peer_trusted: bool, proxy_trusted: bool) -> Callable[[], RequestParser]:
        key = (peer_trusted, proxy_trusted)
        make = self._parsers.get(key)
        if make is None:
            make = self._parsers[key] = RequestParser.factory(
                peer_trusted=peer_trusted, proxy_trusted=proxy_trusted, caches=self.caches, **self._settings
            )
        return make

    def __call__(
        self, peer_trusted: bool = False, proxy_trusted: bool = False, uwsgi_allowed: bool = True
    ) -> Connection:
        """A connection from a peer trusted (or not) for forwarded headers, for PROXY headers and (with
        uwsgi) as a sender of uwsgi packets at all."""
        parser: Parser
        if self._uwsgi:
            parser = UwsgiParser(uwsgi_allowed)
        else:
            parser = self._parser(peer_trusted, proxy_trusted)()
        return Connection(parser, self.caches, self._server, self._keep_alive, self._version)
