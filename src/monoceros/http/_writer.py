"""Response framing: the status line and headers, the body framing and the keep-alive decision.

``ResponseWriter`` turns what a WSGI application asked for into bytes that are safe to put
on the wire. Everything is validated in ``start()``, before a single byte exists, so a
bad status or header can only ever become a clean 500 and never a split response
(CVE-2018-1000164 was Gunicorn getting this wrong).

Rules, in the order ``start()`` applies them:

1. The status is ``"NNN reason"`` (100-599); a bare ``"NNN"`` is accepted like Gunicorn 27
   does and sent as ``"NNN "`` (RFC 9112 §4 keeps the space). Header names are RFC 9110
   tokens and values match ``[ \\t\\x21-\\x7e\\x80-\\xff]*``: no CR, LF, NUL or other CTL
   except HTAB, nothing outside latin-1. Anything else raises ``LocalProtocolError``.
2. Hop-by-hop headers from the app are dropped, and so are ``Server`` and ``Date`` (we send
   our own). As in Gunicorn, ``Upgrade: websocket`` survives. When the app also asks for
   ``Connection: upgrade`` we send ``Connection: upgrade``, set ``upgrade`` and decide not
   to keep the connection alive: after a protocol switch the bytes that follow are not
   HTTP, so the worker must never parse another request from that connection.
3. Framing: a ``Content-Length`` from the app (digits only) is honoured and output beyond
   it is cut off; otherwise HTTP/1.1 bodies are chunked and HTTP/1.0 bodies are delimited
   by closing the connection. HEAD, 1xx, 204 and 304 get no body bytes at all;
   ``Content-Length`` is kept for HEAD and 304 and stripped for 1xx and 204 (RFC 9110
   §8.6, as Gunicorn 26.1).
4. Keep-alive: only when the request allows it, the body length is knowable, and the
   status is not 1xx (a 1xx as the *final* answer would leave the client waiting for
   another one). ``Connection: keep-alive``, ``close`` or ``upgrade`` is always sent, in
   Gunicorn's header order: Server, Date, Connection, Transfer-Encoding, then the app's.
5. A body shorter than its ``Content-Length`` is detectable: ``complete`` is False, and
   ``end()`` turns ``keep_alive`` off so the worker closes instead of desynchronising the
   client (Gunicorn keeps such connections open).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._caches import HEADER_LISTS_SIZE, STATUS_SIZE, Caches
from ._date import date_line
from ._errors import LocalProtocolError

# RFC 9110 §5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: field-value = *field-content, with obs-text; no CTL but HTAB.
_VALUE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")
# RFC 9112 §4: status-code SP [ reason-phrase ], reason-phrase = *( HTAB / SP / VCHAR / obs-text )
_STATUS = re.compile(r"[1-5][0-9][0-9](?: [ \t\x21-\x7e\x80-\xff]*)?")

# RFC 9110 §7.6.1 connection options, plus the two we always set ourselves.
_DROPPED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "server",
        "date",
    }
)
# Everything the filter loop must look at twice; one set lookup for the common case.
_SPECIAL = _DROPPED | {"content-length"}

_CONNECTION = {
    "keep-alive": b"Connection: keep-alive\r\n",
    "close": b"Connection: close\r\n",
    "upgrade": b"Connection: upgrade\r\n",
}
_CHUNKED = b"Transfer-Encoding: chunked\r\n"
_LAST_CHUNK = b"0\r\n\r\n"

# Life cycle of a writer: NEW -start()-> STARTED (start() again: still STARTED) -head()-> HEAD_SENT
# -end()-> ENDED, or STARTED -whole()-> ENDED. Each method checks the state it may be called in.
_NEW, _STARTED, _HEAD_SENT, _ENDED = "NEW", "STARTED", "HEAD_SENT", "ENDED"
_HEAD_OUT = frozenset({_HEAD_SENT, _ENDED})


def _server_line(server: bytes, lines: dict[bytes, bytes]) -> bytes:
    # Comes from configuration, not the app, but is validated all the same, once per worker.
    line = lines.get(server)
    if line is None:
        if not _VALUE.fullmatch(server.decode("latin-1")):
            raise ValueError(f"invalid Server header value: {server!r}")
        line = b"Server: " + server + b"\r\n"
        if len(lines) < 16:
            lines[server] = line
    return line


def _parse_status(status: str, lines: dict[str, tuple[int, bytes, bytes]]) -> tuple[int, bytes, bytes]:
    """(code, HTTP/1.1 status line, HTTP/1.0 status line) of a valid status; ``lines`` is the worker's cache
    (apps use a handful of statuses; bounded, since the reason phrase is free text)."""
    try:
        return lines[status]
    except (KeyError, TypeError):
        pass
    try:
        valid = _STATUS.fullmatch(status) is not None
    except TypeError:
        valid = False
    if not valid:
        raise LocalProtocolError(500, f"invalid response status {status!r}")
    # RFC 9112 §4: the space after the code stays even without a reason phrase.
    rest = status.encode("latin-1") + (b" \r\n" if len(status) == 3 else b"\r\n")
    entry = (int(status[:3]), b"HTTP/1.1 " + rest, b"HTTP/1.0 " + rest)
    if len(lines) < STATUS_SIZE:
        lines[status] = entry
    return entry


_MAX_LENGTH = 2**63 - 1

_token = _TOKEN.fullmatch
_value = _VALUE.fullmatch

Header = tuple[str, str]


def _parse_length(value: str) -> int:
    value = value.strip(" \t")
    # isdigit() alone would let through non-ASCII digits such as "\u0661"; a length past 2**63 - 1 is no
    # body anyone can send (and the native writer holds lengths in 63 bits).
    if not (value.isascii() and value.isdigit()) or (len(value) > 18 and int(value) > _MAX_LENGTH):
        raise LocalProtocolError(500, "invalid Content-Length in the response")
    return int(value)


def _upgrade(dropped: list[Header], kept: list[Header]) -> bool:
    """Keep ``Upgrade: websocket``; True when the app also asked for ``Connection: upgrade``."""
    wants = has = False
    for name, value in dropped:
        lname = name.lower()
        if lname == "connection":
            options = {option.strip(" \t") for option in value.lower().split(",")}
            wants = wants or "upgrade" in options
        elif lname == "upgrade" and value.strip(" \t").lower() == "websocket":
            has = True
            kept.append((name, value))
    return wants and has


def _read_fields(headers: Iterable[Header]) -> tuple[list[Header], int | None, bool]:
    """Validate the app's headers; return those to send, the Content-Length, and the upgrade wish."""
    kept: list[Header] = []
    dropped: list[Header] = []
    length: int | None = None
    try:
        for field in headers:
            name, value = field
            if not _token(name):
                raise LocalProtocolError(500, f"invalid response header name {name!r}")
            if not _value(value):
                # The value may be a secret (a cookie, a token): name the header only.
                raise LocalProtocolError(500, f"invalid value for response header {name!r}")
            lname = name.lower()
            if lname not in _SPECIAL:
                kept.append(field)
            elif lname != "content-length":
                dropped.append(field)
            elif length is None:
                length = _parse_length(value)
                kept.append(field)
            elif _parse_length(value) != length:
                raise LocalProtocolError(500, "conflicting Content-Length headers in the response")
            # else: an identical repeat adds nothing
    except (TypeError, ValueError) as exc:
        # Non-str names or values (the regexes refuse them with TypeError), or items
        # that are not (name, value) pairs.
        raise LocalProtocolError(500, "response headers must be (str, str) pairs") from exc
    return kept, length, bool(dropped) and _upgrade(dropped, kept)


def interim_response(status: int, phrase: str, headers: Iterable[tuple[str | bytes, str | bytes]]) -> bytes:
    """A whole 1xx response (``103 Early Hints``, RFC 8297): its status line and fields, validated as a final
    response's are (CR/LF in a name or value would split the response); bytes are read as latin-1."""
    if not 100 <= status <= 199:
        raise LocalProtocolError(500, f"not an interim status: {status}")
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("latin-1"))]
    for name, value in headers:
        name = name.decode("latin-1") if isinstance(name, bytes) else name
        value = value.decode("latin-1") if isinstance(value, bytes) else value
        if not isinstance(name, str) or not _token(name):
            raise LocalProtocolError(500, f"invalid interim response header name {name!r}")
        if not isinstance(value, str) or not _value(value):
            raise LocalProtocolError(500, f"invalid value for interim response header {name!r}")
        lines.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.strip(" \t").encode("latin-1")))
    lines.append(b"\r\n")
    return b"".join(lines)


# What start() derives from a header list: the headers to send, the Content-Length, the upgrade wish, and
# the encoded block.
_Fields = tuple[list[Header], "int | None", bool, bytes]


def _encode(kept: list[Header]) -> bytes:
    return ("\r\n".join(map(": ".join, kept)) + "\r\n").encode("latin-1") if kept else b""


def _without_length(kept: list[Header]) -> bytes:
    """The header block with Content-Length left out (a 1xx or 204 response has no body to size)."""
    return _encode([field for field in kept if field[0].lower() != "content-length"])


def _trailer_block(trailers: Iterable[Header]) -> bytes:
    """Trailer fields, validated as headers are, encoded; Content-Length has no meaning there."""
    kept, _, _ = _read_fields(trailers)
    return _without_length(kept)


def _fields(headers: Iterable[Header], lists: dict[tuple[Header, ...], _Fields]) -> _Fields:
    """Validate ``headers``; ``lists`` is the worker's cache of header lists (an application sends the same
    few, literals in its code; bounded, since values such as Content-Length vary)."""
    try:
        key = tuple(headers)
    except TypeError as exc:
        raise LocalProtocolError(500, "response headers must be a list of (str, str) pairs") from exc
    try:
        cached = lists.get(key)
    except TypeError:  # unhashable items: validated (and refused) below, never cached
        kept, length, upgrade = _read_fields(key)
        return kept, length, upgrade, _encode(kept)
    if cached is not None:
        return cached
    kept, length, upgrade = _read_fields(key)
    cached = (kept, length, upgrade, _encode(kept))
    if len(lists) < HEADER_LISTS_SIZE:
        lists[key] = cached
    return cached


class ResponseWriter:
    """Frames one response to one request; build a new one per request."""

    __slots__ = (
        "method",
        "version",
        "keep_alive",
        "status_code",
        "content_length",
        "chunked",
        "upgrade",
        "bytes_sent",
        "_server_line",
        "_no_body",
        "_status_line",
        "_fields",
        "_state",
        "_caches",
        "closing",
        "ended",
    )

    def __init__(
        self,
        method: str,
        version: tuple[int, int],
        keep_alive: bool,
        server: bytes | None = b"monoceros",
        caches: Caches | None = None,
    ) -> None:
        self.method = method
        self.version = version
        # What the request allows until start() runs, then the final decision.
        self.keep_alive = keep_alive
        self.status_code = 0
        self.bytes_sent = 0
        # (content_length, chunked, upgrade and the head are set by start(); nothing reads them before)
        self._caches = caches = Caches() if caches is None else caches
        if server is None:
            self._server_line = b""
        else:
            self._server_line = caches.server_lines.get(server) or _server_line(server, caches.server_lines)
        # Set (by another thread, maybe) when the server is stopping: the head, if it is not out yet, says
        # Connection: close. Read once where the head is built, so keep_alive always says what went out.
        self.closing = False
        self._state = _NEW
        self.ended = False  # the response is complete (`end()` or `whole()` ran)

    def start(self, status: str, headers: Iterable[tuple[str, str]]) -> None:
        """Validate and record the status and headers; raises ``LocalProtocolError``.

        May be called again until ``head()`` runs (WSGI ``exc_info`` replaces headers).
        """
        if self._state in _HEAD_OUT:
            raise LocalProtocolError(500, "the response head was already sent")
        # The caches' hits are looked up here, the calls saved for a status or header list not seen yet.
        caches = self._caches
        try:
            code, line11, line10 = caches.status_lines[status]
        except (KeyError, TypeError):
            code, line11, line10 = _parse_status(status, caches.status_lines)
        fields: _Fields | None = None
        key = headers
        try:
            key = tuple(headers)  # once: `headers` may be an iterator
            fields = caches.header_lists.get(key)
        except TypeError:  # not iterable, or unhashable items: `_fields` says which
            pass
        if fields is None:
            fields = _fields(key, caches.header_lists)
        kept, length, upgrade, encoded = fields
        # Body framing and keep-alive (rules 3 and 4 of the module docstring).
        informational = code < 200
        self._no_body = no_body = informational or code in (204, 304) or self.method == "HEAD"
        if length is not None and (informational or code == 204):
            encoded = _without_length(kept)
            length = None
        version = self.version
        self.content_length = length
        self.upgrade = upgrade
        self.chunked = chunked = length is None and not no_body and version >= (1, 1)
        knowable = length is not None or chunked or no_body
        self.keep_alive = self.keep_alive and knowable and not informational and not upgrade
        self.bytes_sent = 0
        self._status_line = line11 if version >= (1, 1) else line10
        self._fields = encoded
        self.status_code = code
        self._state = _STARTED

    def head(self) -> bytes:
        """The status line and header block; exactly once, after ``start()``."""
        if self._state != _STARTED:
            raise LocalProtocolError(500, "head() needs start() and may be called once")
        self._state = _HEAD_SENT
        if self.upgrade:
            connection = _CONNECTION["upgrade"]
        else:
            if self.closing:
                self.keep_alive = False
            connection = _CONNECTION["keep-alive" if self.keep_alive else "close"]
        return b"".join(
            (
                self._status_line,
                self._server_line,
                date_line(),
                connection,
                _CHUNKED if self.chunked else b"",
                self._fields,
                b"\r\n",
            )
        )

    def whole(self, data: bytes) -> bytes:
        """``head() + body(data) + end()`` in one call: the whole response for a body known in full.

        The usual small response takes this path, so it is written out flat rather than through the three.
        """
        if self._state != _STARTED or type(data) is not bytes or self.chunked:
            return self.head() + self.body(data) + self.end()
        self._state = _ENDED
        self.ended = True
        length = self.content_length
        if self._no_body:
            data = b""
        elif length is not None and len(data) != length:
            if len(data) > length:
                data = data[:length]
            else:
                self.keep_alive = False  # short of its Content-Length: the connection cannot go on
        self.bytes_sent = len(data)
        if self.upgrade:
            connection = _CONNECTION["upgrade"]
        else:
            if self.closing:
                self.keep_alive = False
            connection = _CONNECTION["keep-alive" if self.keep_alive else "close"]
        return b"".join(
            (self._status_line, self._server_line, date_line(), connection, self._fields, b"\r\n", data)
        )

    def body(self, data: bytes) -> bytes:
        """Frame ``data`` for the wire: chunked, cut to Content-Length, or nothing at all.

        Empty input gives ``b""``, never an (ending) empty chunk.
        """
        if self._state != _HEAD_SENT:
            raise LocalProtocolError(500, "body() must come after head() and before end()")
        if not isinstance(data, bytes):
            raise LocalProtocolError(500, f"response body chunks must be bytes, not {type(data).__name__}")
        size = len(data)
        if self._no_body or not size:
            return b""
        if self.content_length is not None:
            left = self.content_length - self.bytes_sent
            if size > left:
                size = left
                data = data[:size]
        self.bytes_sent += size
        if self.chunked:
            return b"%X\r\n%s\r\n" % (size, data)
        return data

    def end(self, trailers: Iterable[Header] = ()) -> bytes:
        """Finish the body: the last chunk when chunked, with ``trailers`` (validated as headers are; only
        a chunked body can carry them, so they are dropped otherwise); settles ``keep_alive`` for good."""
        if self._state != _HEAD_SENT:
            raise LocalProtocolError(500, "end() must come after head(), once")
        fields = _trailer_block(trailers) if trailers and self.chunked else b""
        self._state = _ENDED
        self.ended = True
        if not self.complete:
            self.keep_alive = False
        if not self.chunked:
            return b""
        return b"0\r\n" + fields + b"\r\n" if fields else _LAST_CHUNK

    @property
    def head_sent(self) -> bool:
        """The head went out (``head()`` or ``whole()`` ran): the status and headers can no longer change."""
        return self._state in _HEAD_OUT

    @property
    def remaining(self) -> int | None:
        """Body bytes still owed to the client under Content-Length, or None if unbounded."""
        if self.content_length is None or self._no_body:
            return None
        return self.content_length - self.bytes_sent

    @property
    def complete(self) -> bool:
        """False while a Content-Length body is still short of its announced length."""
        remaining = self.remaining
        return remaining is None or remaining == 0
