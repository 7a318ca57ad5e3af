"""One WebSocket connection with an ASGI application, over ``wsproto`` (the sans-IO WebSocket library of the
h11 family: frames, masking, fragmentation, control frames and permessage-deflate, no I/O of its own).

The opening handshake is HTTP/1.1 and goes through the connection's ``http.Connection`` like any response:
``websocket.accept`` becomes a ``101`` whose head the ``ResponseWriter`` validates and frames, and
``end_response`` moves both sides to ``SWITCHED_PROTOCOL``; what the client sent after its request
(``trailing_data``) is the first WebSocket bytes. ``websocket.close`` before the accept is a ``403``; the
denial-response extension (``websocket.http.response.start``/``body``) sends any HTTP response instead.

After the switch: a message arrives whole (its fragments joined) as ``websocket.receive``; one longer than
``max_size`` closes the connection with 1009; pings are answered here; the client's close frame is answered
and reaches the app as ``websocket.disconnect`` with its code. When the worker stops, ``going_away`` closes
with 1001. Incoming messages the app has not taken are bounded: past ``high_water`` bytes the channel stops
reading until ``receive`` takes them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

from wsproto.connection import Connection as WSConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.utilities import LocalProtocolError as WSLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WSRemoteProtocolError

from monoceros.http import Connection, Request

from .http import Channel, status_text, str_headers

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HIGH_WATER = 1 << 20
# Close codes (RFC 6455 §7.4.1)
GOING_AWAY, PROTOCOL_ERROR, MESSAGE_TOO_BIG, INTERNAL_ERROR, ABNORMAL = 1001, 1002, 1009, 1011, 1006


def is_upgrade(request: Request) -> bool:
    """The request asks for a WebSocket (``Upgrade: websocket`` with ``Connection: upgrade``, GET)."""
    fields = request.headers
    for name, _ in fields:  # (most requests have no Upgrade field: found absent in the cheapest loop)
        if name == "UPGRADE":
            break
    else:
        return False
    wants = upgrade = False
    for name, value in fields:
        if name == "UPGRADE":
            upgrade = upgrade or "websocket" in value.lower()
        elif name == "CONNECTION":
            wants = wants or "upgrade" in value.lower()
    return wants and upgrade


def handshake_problem(request: Request) -> tuple[int, str, list[tuple[str, str]]] | None:
    """Why this upgrade request cannot be a WebSocket (status, reason, extra headers), or None."""
    if request.method != "GET" or request.version < (1, 1):
        return 400, "a WebSocket handshake is an HTTP/1.1 GET", []
    key = version = None
    for name, value in request.headers:
        if name == "SEC-WEBSOCKET-KEY":
            key = value
        elif name == "SEC-WEBSOCKET-VERSION":
            version = value
    if version is None or version.strip() != "13":
        return 426, "unsupported WebSocket version", [("Sec-WebSocket-Version", "13")]
    try:
        valid = key is not None and len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        return 400, "missing or invalid Sec-WebSocket-Key", []
    return None


def accept_token(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.strip().encode("latin-1") + _GUID).digest()).decode("ascii")


def _negotiate(request: Request, enabled: bool) -> tuple[list[Extension], str | None]:
    """permessage-deflate, when the client offers it (and it is on): the extensions and the answer header."""
    if not enabled:
        return [], None
    offers = [value for name, value in request.headers if name == "SEC-WEBSOCKET-EXTENSIONS"]
    for offer in ",".join(offers).split(","):
        if offer.split(";", 1)[0].strip() == PerMessageDeflate.name:
            deflate = PerMessageDeflate()
            answer = deflate.accept(offer.strip())
            if answer is True:
                return [deflate], deflate.name
            if answer:
                return [deflate], f"{deflate.name}; {answer}"
    return [], None


class WebSocketCycle:
    """The ASGI side of one WebSocket connection."""

    def __init__(
        self,
        http: Connection,
        request: Request,
        channel: Channel,
        on_switch: Callable[[WebSocketCycle], None],
        on_http_done: Callable[[WebSocketCycle], None],
        max_size: int = 16 * 1024 * 1024,
        compression: bool = True,
    ) -> None:
        self.http = http
        self.request = request
        self.channel = channel
        self.max_size = max_size
        self.compression = compression
        self._on_switch = on_switch
        self._on_http_done = on_http_done
        self.ws: WSConnection | None = None
        self.state = "CONNECTING"  # -> OPEN -> CLOSED, or -> RESPONDING (denial) -> CLOSED
        self._inbox: deque[dict[str, Any]] = deque([{"type": "websocket.connect"}])
        self._queued = 0
        self._arrived = asyncio.Event()
        self._arrived.set()
        self._parts: list[Any] = []
        self._part_size = 0
        self.close_code: int | None = None  # the code the connection ended with
        self.status = ""  # for the access log: what the handshake answered
        self.headers: list[tuple[str, str]] = []
        self.writer: Any = None
        self.complete = False

    @property
    def head_sent(self) -> bool:
        return self.state != "CONNECTING"

    @property
    def bytes_sent(self) -> int:
        return 0 if self.writer is None else int(self.writer.bytes_sent)

    # -- the application's side -----------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        while not self._inbox:
            if self.state == "CLOSED":
                return {"type": "websocket.disconnect", "code": self.close_code or ABNORMAL, "reason": ""}
            self._arrived.clear()
            await self._arrived.wait()
        message = self._inbox.popleft()
        size = message.pop("_size", 0)
        if size:
            self._queued -= size
            if self._queued < HIGH_WATER // 2:
                self.channel.body_taken()
        return message

    async def send(self, message: Any) -> None:
        kind = message["type"]
        state = self.state
        if state == "OPEN":
            if kind == "websocket.send":
                await self._send_data(message)
            elif kind == "websocket.close":
                self._close(int(message.get("code") or 1000), message.get("reason") or "")
            else:
                raise RuntimeError(f"ASGI: unexpected message {kind!r} on an open WebSocket")
        elif state == "CONNECTING":
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                # Refused before the handshake completed: 403, as the spec says.
                self._respond_http(403, [("content-length", "0")], b"")
            elif kind == "websocket.http.response.start":
                self.status = status_text(message["status"])
                self.headers = str_headers(message.get("headers", ()))
                self.writer = self.http.respond(self.request)
                self.writer.start(self.status, self.headers)
                self.state = "RESPONDING"
            else:
                raise RuntimeError(f"ASGI: unexpected message {kind!r} before websocket.accept")
        elif state == "RESPONDING":
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"ASGI: unexpected message {kind!r} in a WebSocket denial response")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            writer = self.writer
            if not writer.head_sent:
                self.channel.write(writer.head())
            self.channel.write(writer.body(body))
            if not more:
                self.channel.write(writer.end())
                self._http_done()
            else:
                await self.channel.drain()
        elif state == "CLOSED":
            if kind in ("websocket.send", "websocket.close"):
                return  # the client is gone: dropped, as for HTTP (the app learns it from receive())
            raise RuntimeError(f"ASGI: unexpected message {kind!r} on a closed WebSocket")

    def _accept(self, message: Any) -> None:
        request = self.request
        key = next(value for name, value in request.headers if name == "SEC-WEBSOCKET-KEY")
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_token(key)),
        ]
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers.append(("Sec-WebSocket-Protocol", str(subprotocol)))
        extensions, answer = _negotiate(request, self.compression)
        if answer:
            headers.append(("Sec-WebSocket-Extensions", answer))
        for name, value in str_headers(message.get("headers", ())):
            if name.lower() not in (
                "sec-websocket-accept",
                "sec-websocket-extensions",
                "upgrade",
                "connection",
            ):
                headers.append((name, value))
        self.status = "101 Switching Protocols"
        self.headers = headers
        self.writer = writer = self.http.respond(request)
        writer.start(self.status, headers)
        self.channel.write(writer.head())
        self.http.end_response(True)  # (a 101 with Upgrade: both sides switch)
        self.ws = WSConnection(ConnectionType.SERVER, extensions=extensions)
        self.state = "OPEN"
        self._on_switch(self)
        data, eof = self.http.trailing_data
        if data:
            self.feed(data)
        if eof:
            self.connection_lost()

    def _respond_http(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status_text(status)
        self.headers = headers
        self.writer = writer = self.http.respond(self.request)
        writer.start(self.status, headers)
        self.channel.write(writer.whole(body))
        self._http_done()

    def _http_done(self) -> None:
        self.state = "CLOSED"
        self.close_code = 1000
        self.complete = True
        self._arrived.set()
        self._on_http_done(self)

    async def _send_data(self, message: Any) -> None:
        ws = self.ws
        assert ws is not None
        data = message.get("bytes")
        if data is None:
            text = message.get("text")
            if text is None:
                raise RuntimeError("ASGI: websocket.send needs bytes or text")
            out = ws.send(TextMessage(data=str(text)))
        else:
            out = ws.send(BytesMessage(data=bytes(data)))
        self.channel.write(out)
        await self.channel.drain()

    def _close(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is not None and ws.state is ConnectionState.OPEN:
            try:
                self.channel.write(ws.send(CloseConnection(code=code, reason=reason)))
            except WSLocalProtocolError:
                pass
        self._finish(code)
        self.channel.close_soon()

    def going_away(self) -> None:
        """The worker is stopping: close with 1001 and tell the app."""
        if self.state == "OPEN":
            self._close(GOING_AWAY, "server shutting down")

    # -- the connection's side ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        ws = self.ws
        if ws is None or self.state != "OPEN":
            return
        try:
            ws.receive_data(data)
            events = list(ws.events())
        except WSRemoteProtocolError as exc:
            self._protocol_error(exc)
            return
        for event in events:
            if isinstance(event, (TextMessage, BytesMessage)):
                self._parts.append(event.data)
                self._part_size += len(event.data)
                if self._part_size > self.max_size:
                    self._close(MESSAGE_TOO_BIG, "message too big")
                    return
                if event.message_finished:
                    self._deliver(isinstance(event, TextMessage))
            elif isinstance(event, Ping):
                self.channel.write(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    self.channel.write(ws.send(event.response()))
                self._finish(event.code)
                self.channel.close_soon()
                return
        if self._queued > HIGH_WATER:
            self.channel.pause()

    def _deliver(self, text: bool) -> None:
        parts = self._parts
        size = self._part_size
        if text:
            message: dict[str, Any] = {"type": "websocket.receive", "text": "".join(parts)}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(parts)}
        message["_size"] = size
        self._parts = []
        self._part_size = 0
        self._inbox.append(message)
        self._queued += size
        self._arrived.set()

    def _protocol_error(self, exc: WSRemoteProtocolError) -> None:
        ws = self.ws
        code = getattr(exc.event_hint, "code", None) or PROTOCOL_ERROR
        if ws is not None and exc.event_hint is not None:
            try:
                self.channel.write(ws.send(exc.event_hint))
            except WSLocalProtocolError:
                pass
        self._finish(int(code))
        self.channel.close_soon()

    def _finish(self, code: int) -> None:
        if self.state != "CLOSED":
            self.state = "CLOSED"
            self.close_code = code
            self._inbox.append({"type": "websocket.disconnect", "code": code, "reason": ""})
            self._arrived.set()
            self.complete = True

    def connection_lost(self) -> None:
        if self.state in ("OPEN", "CONNECTING", "RESPONDING"):
            self.state = "CLOSED"
            self.close_code = self.close_code or ABNORMAL
            self._inbox.append({"type": "websocket.disconnect", "code": self.close_code, "reason": ""})
        self._arrived.set()
