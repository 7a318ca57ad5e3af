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
from typing import Any, cast

from ._caches import Caches
from ._errorpage import error_response
from ._errors import LocalProtocolError
from ._events import Request
from ._native import NativeResponseWriter
from ._parser import RequestParser
from ._state import (
    CLIENT_STATE_OF_PARSER,
    CLOSE,
    CYCLE,
    DONE,
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
# The same interface (the stub of `_speedups` declares it), typed as the reference for the code that uses it.
_NATIVE_WRITER = cast("type[ResponseWriter]", NativeResponseWriter)


# What the tables say about the two transitions every request takes, looked up once: our side when a request
# arrives, and our side after a response that allowed keep-alive to a request read to its end.
_ANSWERING = SERVER_TRANSITIONS[(IDLE, REQUEST)]
assert [state for state, action in SERVER_TRANSITIONS if action == REQUEST] == [IDLE]
_OWED = frozenset({SEND_BODY, DONE})  # the client's states once its request of this cycle has arrived
_KEPT = CYCLE[(DONE, SERVER_TRANSITIONS[(_ANSWERING, KEEP)])][1]


class Connection:
    """The HTTP/1.1 state of one connection; made by a worker's ``ConnectionFactory``."""

    __slots__ = (
        "parser",
        "receive_data",
        "next_event",
        "_ours",
        "request",
        "writer",
        "_caches",
        "_server",
        "_version",
        "_reuse",
        "_draining",
        "_continued",
        "_writer_type",
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
        # Bytes in, events out: the parser's own methods (it keeps the client's state, `their_state`), so that
        # the hot path pays no call for the connection. `next_event` gives Request, Data, EndOfMessage,
        # ConnectionClosed, NEED_DATA or PAUSED, and raises RemoteProtocolError for invalid input.
        self.receive_data: Callable[[bytes], None] = parser.receive_data
        self.next_event: Callable[[], Any] = parser.next_event
        self._ours = IDLE
        self.request: Request | None = None  # the request answered last (`respond`)
        self.writer: ResponseWriter | None = None  # its response, once `respond` ran
        self._caches = caches
        self._server = server
        self._version = response_version  # frame every response as this version (uwsgi: HTTP/1.0)
        self._reuse = keep_alive  # this server keeps connections alive (at all, and not draining)
        self._draining = False
        self._continued: Request | None = None  # the request "100 Continue" was settled for (sent or not)
        # The native path (`http_parser`) is the parser's and the writer's both: one setting, one choice.
        self._writer_type = _NATIVE_WRITER if parser.native else ResponseWriter

    # -- what the client sends ------------------------------------------------------------------

    @property
    def our_state(self) -> str:
        """Our side: ``IDLE``, ``SEND_RESPONSE`` (a request arrived: a response is owed), ``DONE`` (briefly,
        inside ``end_response``), ``MUST_CLOSE`` or ``SWITCHED_PROTOCOL``."""
        ours = self._ours
        if ours is IDLE and CLIENT_STATE_OF_PARSER[self.parser.state] in _OWED:
            # The request's arrival moves our side (SERVER_TRANSITIONS' REQUEST); taken when `respond` runs,
            # so that reading an event costs nothing here.
            return SERVER_TRANSITIONS[(IDLE, REQUEST)]
        return ours

    @property
    def their_state(self) -> str:
        """The client's side: ``IDLE``, ``SEND_BODY``, ``DONE``, ``CLOSED``, ``ERROR`` or
        ``SWITCHED_PROTOCOL``."""
        if self._ours is SWITCHED_PROTOCOL:
            return SWITCHED_PROTOCOL
        return CLIENT_STATE_OF_PARSER[self.parser.state]

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """(bytes received and not consumed, EOF seen): after a protocol switch, the new protocol's."""
        return self.parser.trailing_data

    # -- what we send ---------------------------------------------------------------------------

    def respond(self, request: Request) -> ResponseWriter:
        """The writer that frames the response to ``request`` (the head of this cycle); whether the head may
        offer keep-alive is decided now, so the client is told when this is the last request."""
        if self._ours is not IDLE:  # the one state a request is answered from (SERVER_TRANSITIONS)
            raise LocalProtocolError(500, f"the request was answered already (our side is {self._ours})")
        self._ours = _ANSWERING
        self.request = request
        self.writer = writer = self._writer_type(
            request.method,
            self._version or request.version,
            request.keep_alive and self._reuse,
            self._server,
            self._caches,
        )
        return writer

    def continue_bytes(self, request: Request) -> bytes:
        """``100 Continue`` when the client of ``request`` (this cycle's) waits for it to send its body:
        call when the body is wanted, before waiting for it. ``b""`` when it does not wait, was told already,
        its body has arrived, or a response head went out (a final answer replaces the interim one)."""
        if not request.expect_continue or self._continued is request:
            return b""
        self._continued = request
        if self.their_state is not SEND_BODY or (self.writer is not None and self.writer.head_sent):
            return b""
        return CONTINUE

    def drain(self) -> None:
        """The worker is stopping (or retiring): no response that has not started its head offers
        keep-alive any more. Safe to call from another thread than the one producing the response."""
        self._draining = True
        self._reuse = False
        writer = self.writer
        if writer is not None:
            writer.closing = True

    @property
    def draining(self) -> bool:
        return self._draining

    def refuse(self, status: int, detail: str = "") -> bytes:
        """An error page in place of a response (an invalid request, a failure before the app ran); the
        connection closes after it."""
        self._ours = SERVER_TRANSITIONS[(self._ours, REFUSE)]
        return error_response(status, detail)

    def end_response(self, ok: bool = True) -> bool:
        """Our response is out (``ok``) or was abandoned (a failure, a client gone): the keep-alive decision.
        True: both sides are ``IDLE`` and the next request may be read; False: the connection must close."""
        # The usual case first, its outcome read from the tables once (`_KEPT`): a complete response that
        # allows keep-alive, to a request read to its end (the parser refuses a new cycle otherwise).
        if ok and self._ours is _ANSWERING:
            writer = self.writer
            if writer.ended and writer.keep_alive:  # type: ignore[union-attr]  # (set by `respond`)
                try:
                    self.parser.start_next_cycle()
                except LocalProtocolError:
                    pass  # the client is still sending a body the app did not read: closing, below
                else:
                    self._ours = _KEPT
                    self.writer = None
                    return True
        writer = self.writer
        if self._ours is not SEND_RESPONSE:
            if self._ours is MUST_CLOSE:  # an error page went out in its place (`refuse`)
                self.writer = None
                return False
            raise LocalProtocolError(500, f"no response to end (our side is {self._ours})")
        if ok and writer is not None and writer.head_sent and writer.upgrade:
            action = SWITCH
        elif ok and writer is not None and writer.ended and writer.keep_alive:
            action = KEEP
        else:
            action = CLOSE
        ours = SERVER_TRANSITIONS[(self._ours, action)]
        theirs = CLIENT_STATE_OF_PARSER[self.parser.state]
        ours = (CYCLE.get((theirs, ours)) or (theirs, MUST_CLOSE))[1]
        self._ours = ours
        self.writer = None
        if ours is IDLE:
            self.parser.start_next_cycle()
            return True
        return False

    @property
    def keep_alive(self) -> bool:
        """The connection may carry another request after the current one (False once it must close)."""
        return self._ours is not MUST_CLOSE and self._ours is not SWITCHED_PROTOCOL

    @property
    def switched(self) -> bool:
        """Both sides agreed to another protocol: what follows is in ``trailing_data`` and on the socket."""
        return self._ours is SWITCHED_PROTOCOL

    @property
    def must_close(self) -> bool:
        return self._ours is MUST_CLOSE

    @property
    def idle(self) -> bool:
        """Between requests: nothing was received of the next one."""
        return self.their_state is IDLE and self._ours is IDLE

    def __repr__(self) -> str:
        return f"<Connection client={self.their_state} server={self._ours}>"


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
