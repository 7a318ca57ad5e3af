"""One HTTP request/response exchange with an ASGI application: its ``receive`` and ``send``.

``HTTPCycle`` sits between the application and the connection's I/O side (a ``Channel``, which the worker's
protocol implements). The request body arrives through ``feed``/``finish`` as the connection parses it and
leaves through ``receive()`` as ``http.request`` messages; the response goes through the connection's
``ResponseWriter``, which validates and frames it exactly as for WSGI (one set of rules for both).

Back-pressure both ways:

- body: the channel stops reading once ``buffered`` passes its mark and starts again when ``receive()`` has
  taken the buffer (``Channel.body_taken``): an app that reads slowly never makes the worker hold more than
  about the mark, and a slow upload holds nothing but its own task;
- response: after each piece of a streamed body, ``send`` waits on ``Channel.drain`` while the client is
  not taking what was written.

Messages (ASGI HTTP spec 2.4): ``http.response.start`` (``trailers`` too), ``http.response.body``
(``more_body`` streaming), ``http.response.trailers``, ``http.response.informational`` (103 Early Hints; not
sent to HTTP/1.0 clients) and ``http.response.pathsend`` (a file by path). Once the client is gone, ``send``
drops what it is given (as uvicorn and Gunicorn do) and ``receive`` answers ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from monoceros.http import Connection, LocalProtocolError, Request, ResponseWriter, interim_response

_STATUS: dict[int, str] = {}
_DISCONNECT = {"type": "http.disconnect"}
FILE_CHUNK = 256 * 1024


def status_text(code: Any) -> str:
    """``"200 OK"`` for 200: the status line's text for an ASGI status (an int)."""
    try:
        return _STATUS[code]
    except (KeyError, TypeError):
        pass
    if type(code) is not int or not 100 <= code <= 599:
        raise LocalProtocolError(500, f"invalid ASGI response status {code!r}")
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    text = _STATUS[code] = f"{code} {phrase}" if phrase else str(code)
    return text


HEADERS_CACHE_SIZE = 256  # header lists an app sends again and again (bounded: values such as lengths vary)


def str_headers(headers: Any, cache: dict[Any, list[tuple[str, str]]] | None = None) -> list[tuple[str, str]]:
    """ASGI headers (an iterable of two bytes) as the writer's (str, str) pairs; ``cache`` (the worker's)
    remembers the lists seen, by value."""
    key = None
    if cache is not None:
        try:
            key = tuple(headers)
            return cache[key]
        except (KeyError, TypeError):
            pass
    try:
        pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    except (AttributeError, TypeError, ValueError) as exc:
        raise LocalProtocolError(500, "ASGI response headers must be an iterable of [bytes, bytes]") from exc
    if key is not None and cache is not None and len(cache) < HEADERS_CACHE_SIZE:
        try:
            cache[key] = pairs
        except TypeError:  # (items that are lists: valid, not hashable)
            pass
    return pairs


class Channel(Protocol):
    """What a cycle asks of its connection's I/O side."""

    closed: bool  # the client is gone (or the connection was given up on)

    def write(self, data: bytes) -> None: ...
    def pause(self) -> None: ...
    def close_soon(self) -> None: ...
    async def drain(self) -> None: ...
    def body_taken(self) -> None: ...
    async def wait_body(self, arrived: asyncio.Future[None]) -> bool:
        """Wait for ``arrived`` (body bytes coming); False when the client stalled past the worker's bound."""
        ...


class HTTPCycle:
    """The ASGI side of one request on one connection."""

    __slots__ = (
        "http",
        "request",
        "channel",
        "writer",
        "_body",
        "buffered",
        "more_body",
        "_waiter",
        "_given_all",
        "disconnected",
        "client_eof",
        "started",
        "complete",
        "status",
        "headers",
        "_trailers",
        "_trailers_asked",
        "_on_complete",
        "_headers_cache",
    )

    def __init__(
        self,
        http: Connection,
        request: Request,
        channel: Channel,
        on_complete: Callable[[HTTPCycle], None],
        headers_cache: dict[Any, list[tuple[str, str]]] | None = None,
    ) -> None:
        self.http = http
        self.request = request
        self.channel = channel
        self.writer: ResponseWriter | None = None
        self._body: list[bytes] = []
        self.buffered = 0
        self.more_body = True  # the request body has not all arrived yet
        # What receive() waits on: body bytes, the body's end, a disconnect, the response's end. Made only
        # when the app does wait (most requests have their body whole before the app asks for it).
        self._waiter: asyncio.Future[None] | None = None
        self._given_all = False  # receive() returned the body's last piece
        self.disconnected = False
        self.client_eof = False
        self.started = False  # http.response.start was received
        self.complete = False  # the whole response was handed to the channel
        self.status = ""  # for the access log: the status line text, and the app's headers
        self.headers: list[tuple[str, str]] = []
        self._trailers = False  # the response's trailers go out (asked for, and the body is chunked)
        self._trailers_asked = False
        self._on_complete = on_complete
        self._headers_cache = headers_cache

    # -- the connection's side ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if data:
            self._body.append(data)
            self.buffered += len(data)
            self._wake()

    def finish(self) -> None:
        self.more_body = False
        if self._waiter is not None:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def eof(self) -> None:
        """The client shut its side after its request. The response still goes out (a client may
        half-close and read), but an app listening for the client's departure is told it left."""
        self.client_eof = True
        if not self.more_body:
            self._wake()

    # -- the application's side -----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if not self._body and not self.disconnected and not self.complete:
            if self.more_body:
                if self.request.expect_continue:
                    interim = self.http.continue_bytes(self.request)
                    if interim:
                        self.channel.write(interim)
                self._waiter = waiter = asyncio.get_running_loop().create_future()
                if not await self.channel.wait_body(waiter):
                    self.disconnect()  # the client sent nothing for too long: given up on
            elif self._given_all:
                # Nothing more will come: what is left to tell is the client leaving (or the response
                # ending, after which the exchange is over for the app too).
                if not self.client_eof:
                    self._waiter = waiter = asyncio.get_running_loop().create_future()
                    await waiter
                return _DISCONNECT
        if self.disconnected or self.complete:
            return _DISCONNECT
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        if self.buffered:
            self.buffered = 0
            self.channel.body_taken()
        more = self.more_body
        self._given_all = not more
        return {"type": "http.request", "body": data, "more_body": more}

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if self.disconnected or self.channel.closed:
            return
        if kind == "http.response.body":
            writer = self.writer
            if (
                writer is not None
                and not writer.head_sent
                and not self._trailers
                and not message.get("more_body", False)
            ):
                body = message.get("body", b"")
                if type(body) is bytes:  # the usual response: whole in one message, no coroutine of its own
                    self._whole(writer, body)
                    return
            await self._body_message(message)
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("ASGI: http.response.start sent twice")
            self.started = True
            code = message["status"]
            status = _STATUS.get(code) if type(code) is int else None  # (a bool is no status)
            self.status = status = status or status_text(code)
            self.headers = headers = str_headers(message.get("headers", ()), self._headers_cache)
            self.writer = writer = self.http.respond(self.request)
            writer.start(status, headers)
            self._trailers_asked = asked = bool(message.get("trailers", False))
            # Trailers need a chunked body; otherwise (HTTP/1.0, a Content-Length) they are dropped.
            self._trailers = asked and writer.chunked
        elif kind == "http.response.informational":
            self._informational(message)
        elif kind == "http.response.pathsend":
            await self._pathsend(message)
        elif kind == "http.response.trailers":
            self._send_trailers(message)
        else:
            raise RuntimeError(f"ASGI: unexpected message {kind!r} in an http exchange")

    async def _body_message(self, message: Any) -> None:
        writer = self.writer
        if writer is None or self.complete:
            if self.complete:
                raise RuntimeError("ASGI: http.response.body sent after the response was complete")
            raise RuntimeError("ASGI: http.response.body sent before http.response.start")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if type(body) is not bytes:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError(f"ASGI: http.response.body's body must be bytes, not {type(body).__name__}")
            body = bytes(body)
        channel = self.channel
        if not writer.head_sent:
            if not more and not self._trailers:
                self._whole(writer, body)
                return
            channel.write(writer.head() + writer.body(body))
        elif body:
            channel.write(writer.body(body))
        if not more:
            if self._trailers:
                return  # the trailers message ends it
            channel.write(writer.end())
            self._completed()
        else:
            await channel.drain()

    def _whole(self, writer: ResponseWriter, body: bytes) -> None:
        """The response's one body message, before its head went out: head and body in one write."""
        if writer.chunked:  # the whole body is here: sized, so it need not be chunked
            self.headers = headers = [*self.headers, ("Content-Length", str(len(body)))]
            writer.start(self.status, headers)
        self.channel.write(writer.whole(body))
        self._completed()

    def _informational(self, message: Any) -> None:
        if self.started:
            raise RuntimeError("ASGI: http.response.informational sent after http.response.start")
        if self.request.version < (1, 1):
            return  # HTTP/1.0 has no interim responses (RFC 9110 §15.2)
        code = message["status"]
        text = status_text(code)
        self.channel.write(interim_response(code, text[4:], message.get("headers", ())))

    def _send_trailers(self, message: Any) -> None:
        writer = self.writer
        if writer is None or not self._trailers_asked:
            raise RuntimeError("ASGI: http.response.trailers without trailers=True in http.response.start")
        if not self._trailers:
            return  # this response cannot carry them: it ended with its body
        if not writer.head_sent:
            self.channel.write(writer.head())
        if message.get("more_trailers", False):
            raise RuntimeError("ASGI: more_trailers is not supported")
        fields = str_headers(message.get("headers", ()))
        self.channel.write(writer.end(fields))
        self._completed()

    async def _pathsend(self, message: Any) -> None:
        writer = self.writer
        if writer is None or writer.head_sent:
            raise RuntimeError("ASGI: http.response.pathsend must follow http.response.start directly")
        path = message["path"]
        channel = self.channel
        with open(path, "rb") as file:
            channel.write(writer.head())
            while not channel.closed:
                data = file.read(FILE_CHUNK)
                if not data:
                    break
                channel.write(writer.body(data))
                await channel.drain()
        if not channel.closed:
            channel.write(writer.end())
            self._completed()

    def _completed(self) -> None:
        self.complete = True
        if self._waiter is not None:
            self._wake()
        self._on_complete(self)

    @property
    def head_sent(self) -> bool:
        return self.writer is not None and self.writer.head_sent

    @property
    def bytes_sent(self) -> int:
        return 0 if self.writer is None else self.writer.bytes_sent
