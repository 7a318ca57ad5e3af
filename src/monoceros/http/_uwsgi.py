"""The uwsgi binary protocol (what nginx's `uwsgi_pass` speaks), sans-IO, with the request parser's interface.

A request is a 4-byte header — modifier1 (0: a WSGI request), the size of the variables block (16 bits,
little-endian), modifier2 — then that block: pairs of a 16-bit little-endian length and bytes, key then value,
holding CGI variables (REQUEST_METHOD, REQUEST_URI, PATH_INFO, QUERY_STRING, SERVER_PROTOCOL, CONTENT_LENGTH,
CONTENT_TYPE, HTTP_*). The body follows, CONTENT_LENGTH bytes. Events are the HTTP parser's: a ``Request``
whose header names are the HTTP ones (``HTTP_X_FORWARDED_FOR`` -> ``X-FORWARDED-FOR``), ``Data``,
``EndOfMessage``.
The response goes back as an HTTP response, unchunked (nginx frames it for its own client).
"""

from __future__ import annotations

from ._errors import ForbiddenProxyRequest, InvalidHeader, RemoteProtocolError, _ParseError
from ._events import NEED_DATA, ConnectionClosed, EndOfMessage, Event, ProxyInfo, Request, Sentinel
from ._parser import _BODY, _CLOSED, _DONE, _ERROR, _HEAD, ReceivedBytes
from ._readers import ContentLengthReader
from ._semantics import parse_content_length

MAX_VARS = 1000  # as Gunicorn
_VERSIONS = {"HTTP/1.1": (1, 1), "HTTP/1.0": (1, 0)}


class InvalidUwsgiHeader(_ParseError):
    """A uwsgi packet that does not parse (400)."""


class UnsupportedModifier(_ParseError):
    """A uwsgi packet for something else than a WSGI request (modifier1 != 0): 501."""

    default_status = 501


class UwsgiParser(ReceivedBytes):
    """One connection's uwsgi request parser (``RequestParser``'s interface)."""

    __slots__ = ("_reader", "_allowed", "proxy_info")
    native = False  # uwsgi packets are read in Python; their responses are written by the Python writer

    def __init__(self, peer_allowed: bool = True) -> None:
        self._buf = bytearray()
        self._eof = False
        self._state = _HEAD
        self._reader: ContentLengthReader | None = None
        self._error: RemoteProtocolError | None = None
        self._allowed = peer_allowed
        self.proxy_info: ProxyInfo | None = None

    def next_event(self) -> Event | Sentinel:
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._state = _ERROR
            self._error = exc
            raise

    def _next(self) -> Event | Sentinel:
        state = self._state
        settled = self._settled(state)
        if settled is not None:
            return settled
        if state == _BODY:
            assert self._reader is not None
            event = self._reader.read(self._buf, self._eof)
            if type(event) is EndOfMessage:
                self._state = _DONE
            return event
        return self._head()

    def _head(self) -> Request | ConnectionClosed | Sentinel:
        if not self._allowed:
            raise ForbiddenProxyRequest("uwsgi requests are not allowed from this address")
        buf = self._buf
        if len(buf) < 4:
            if self._eof:
                if buf:
                    raise InvalidUwsgiHeader("connection closed in a uwsgi header")
                self._state = _CLOSED
                return ConnectionClosed()
            return NEED_DATA
        if buf[0] != 0:
            raise UnsupportedModifier(f"uwsgi modifier1 {buf[0]} is not a WSGI request")
        size = int.from_bytes(buf[1:3], "little")
        if len(buf) < 4 + size:
            if self._eof:
                raise InvalidUwsgiHeader("connection closed in the uwsgi variables")
            return NEED_DATA
        block = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        request = _request(_variables(block))
        self._reader = ContentLengthReader(request.content_length or 0)  # 0: EndOfMessage at once
        self._state = _BODY
        return request


def _variables(block: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    pos, end = 0, len(block)
    while pos < end:
        if len(found) >= MAX_VARS:
            raise InvalidUwsgiHeader("too many uwsgi variables")
        key, pos = _string(block, pos)
        value, pos = _string(block, pos)
        found[key] = value
    return found


def _string(block: bytes, pos: int) -> tuple[str, int]:
    if pos + 2 > len(block):
        raise InvalidUwsgiHeader("truncated uwsgi variable")
    size = int.from_bytes(block[pos : pos + 2], "little")
    start = pos + 2
    if start + size > len(block):
        raise InvalidUwsgiHeader("truncated uwsgi variable")
    return block[start : start + size].decode("latin-1"), start + size


def _request(env: dict[str, str]) -> Request:
    method = env.get("REQUEST_METHOD", "GET")
    path = env.get("PATH_INFO", "/")
    query = env.get("QUERY_STRING", "")
    target = env.get("REQUEST_URI") or (f"{path}?{query}" if query else path)
    version = _VERSIONS.get(env.get("SERVER_PROTOCOL", ""), (1, 1))
    headers = []
    for key, value in env.items():
        if key.startswith("HTTP_"):
            if key in ("HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"):
                continue  # nginx sends both forms: the CGI variables below are the ones that count
            headers.append((key[5:].replace("_", "-"), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-"), value))
    length_text = env.get("CONTENT_LENGTH", "")
    try:
        length = parse_content_length(length_text) if length_text else None
    except InvalidHeader:
        raise InvalidUwsgiHeader(f"invalid CONTENT_LENGTH {length_text[:32]!r}") from None
    connection = env.get("HTTP_CONNECTION", "").lower()
    keep_alive = connection != "close" and (version >= (1, 1) or connection == "keep-alive")
    return tuple.__new__(
        Request, (method, target, path, query, "", version, headers, [], length, False, keep_alive, False)
    )
