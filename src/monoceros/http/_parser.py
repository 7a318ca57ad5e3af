"""The sans-IO HTTP/1.1 request parser: bytes in (``receive_data``), events out (``next_event``).

States: (PROXY header) -> HEAD -> BODY -> DONE, and DONE -> HEAD again on ``start_next_cycle()``.
The head is found with one search for CRLFCRLF that resumes where the last one stopped (long lines are
stepped over LF by LF, ``find_head_end``), then decoded and split once (``_request_line``, ``_fields``,
``_semantics``): a head under 1 KiB by the strict patterns alone, a bigger one by faster patterns after one
C pass has proved it free of control bytes (``_fields.clean_lines``). The body goes to a ``_readers`` reader.
While a head is incomplete, the lines already complete are checked as they arrive (``_check_partial_head``),
so an input that is already invalid raises at once instead of waiting for more bytes.
After an error the parser is dead: every later ``next_event()`` raises the same error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from . import _fields
from ._abnf import CLEAN_ORIGIN_REQUEST_LINE, FIELD_LINES, ORIGIN_REQUEST_LINE
from ._caches import Caches
from ._errors import (
    InvalidRequestLine,
    LimitRequestLine,
    LocalProtocolError,
    NoMoreData,
    RemoteProtocolError,
)
from ._events import (
    NEED_DATA,
    NO_TRAILERS,
    PAUSED,
    ConnectionClosed,
    EndOfMessage,
    Event,
    ProxyInfo,
    Request,
    Sentinel,
)
from ._fields import (
    FieldRules,
    LineChecker,
    clean_count,
    line_fault,
    split_fields,
    split_unmatched,
    within_limits,
)
from ._native import HeadScanner, take_chunks
from ._proxy import read_proxy_header
from ._readers import ChunkedReader, ContentLengthReader
from ._request_line import RequestLine, RequestLineRules, parse_request_line
from ._semantics import HeaderPolicy, HeadFields, build_request

_HTTP11 = (1, 1)
_HTTP10 = (1, 0)

# The parser's states; `_state.CLIENT_STATE_OF_PARSER` says what each is as the client's side.
_PROXY, _HEAD, _BODY, _NO_BODY = "PROXY", "HEAD", "BODY", "NO_BODY"
_DONE, _CLOSED, _ERROR = "DONE", "CLOSED", "ERROR"

# Gunicorn's limits: the request line is capped at 8190; its "0 = unlimited" gets a 1 MiB safety cap (the
# value Gunicorn's own C parser uses); 0 or more than 32768 fields means 32768; a field size of 0 means 8190.
MAX_REQUEST_LINE = 8190
UNLIMITED_REQUEST_LINE = 1024 * 1024
MAX_FIELDS = 32768
DEFAULT_FIELD_SIZE = 8190
DEFAULT_FORWARDERS = frozenset({"SCRIPT_NAME", "PATH_INFO"})


def _line_limit(limit: int) -> int:
    if limit == 0:
        return UNLIMITED_REQUEST_LINE
    return MAX_REQUEST_LINE if limit < 0 or limit >= MAX_REQUEST_LINE else limit


_Derived = tuple[int, FieldRules, HeaderPolicy, RequestLineRules, "HeadScanner | None"]


def _derive(
    limit_request_line: int,
    limit_request_fields: int,
    limit_request_field_size: int,
    permit_method: bool,
    permit_version: bool,
    casefold_method: bool,
    strip_header_spaces: bool,
    permit_obsolete_folding: bool,
    header_map: str,
    forwarders: frozenset[str],
    peer_trusted: bool,
    proxy_protocol: str,
    require_host: bool,
    caches: Caches,
    native: bool,
) -> _Derived:
    """Check the settings and build the rule objects a parser uses."""
    if header_map not in ("drop", "refuse", "dangerous"):
        raise ValueError(f"header_map must be drop, refuse or dangerous, not {header_map!r}")
    if proxy_protocol not in ("off", "v1", "v2", "auto"):
        raise ValueError(f"proxy_protocol must be off, v1, v2 or auto, not {proxy_protocol!r}")
    fields = limit_request_fields
    rules = FieldRules(
        MAX_FIELDS if fields <= 0 or fields > MAX_FIELDS else fields,
        limit_request_field_size if limit_request_field_size > 0 else DEFAULT_FIELD_SIZE,
        strip_header_spaces,
        permit_obsolete_folding,
    )
    policy = HeaderPolicy(header_map, forwarders, peer_trusted, require_host, caches.names, caches.hosts)
    line_rules = RequestLineRules(permit_method, permit_version, casefold_method)
    line_limit = _line_limit(limit_request_line)
    scanner = None
    if native:
        if HeadScanner is None:
            raise ValueError("native=True: the native parser (monoceros.http._speedups) was not built")
        scanner = HeadScanner(
            line_limit,
            rules.max_fields,
            rules.max_field_size,
            require_host,
            caches.hosts,
            Request,
            _HTTP10,
            _HTTP11,
        )
    return line_limit, rules, policy, line_rules, scanner


# A line at least this long is stepped over by a search for its LF (memchr, ~0.03 ns a byte) rather than by
# the 4-byte search for CRLFCRLF (~0.6 ns a byte); on shorter lines the extra step costs more than it saves.
_LONG_LINE = 512
_LONG_HEAD = 2 * _LONG_LINE  # below this, a plain search (the caller's short cut)


def find_head_end(buf: bytearray, start: int) -> int:
    r"""``buf.find(b"\r\n\r\n", start)``, quicker when the head has long lines (big cookies, tokens)."""
    pos = start
    while True:
        lf = buf.find(b"\n", pos)
        if lf < 0:
            return -1
        if lf - pos < _LONG_LINE:
            # No CRLFCRLF starts before pos - 1: its first LF would lie in a line already stepped over.
            return buf.find(b"\r\n\r\n", max(start, pos - 1))
        if lf > start and buf[lf - 1 : lf + 3] == b"\r\n\r\n":
            return lf - 1
        pos = lf + 1


class ReceivedBytes:
    """What both request parsers (HTTP/1.1, uwsgi) share: the bytes given (``receive_data``; ``b""`` is EOF)
    and not consumed yet, the state, and the end of a message cycle (paused, closed, dead after an error)."""

    __slots__ = ("_buf", "_eof", "_state", "_error")

    _buf: bytearray
    _eof: bool
    _state: str
    _error: RemoteProtocolError | None

    @property
    def state(self) -> str:
        """The parser's state: PROXY, HEAD, BODY, NO_BODY, DONE, CLOSED or ERROR."""
        return self._state

    def start_next_cycle(self) -> None:
        """After ``EndOfMessage``: go on with the next (maybe already buffered) request."""
        if self._state != _DONE:
            raise LocalProtocolError(500, "start_next_cycle() is only allowed after EndOfMessage")
        self._state = _HEAD

    def _settled(self, state: str) -> Event | Sentinel | None:
        """The answer of a state in which no byte is read (paused, closed, dead); None for the others."""
        if state == _DONE:
            return PAUSED
        if state == _CLOSED:
            return ConnectionClosed()
        if state == _ERROR:
            assert self._error is not None
            raise self._error
        return None

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its side (EOF)."""
        if data:
            if self._eof:
                raise RuntimeError("received data after EOF")
            self._buf += data
        else:
            self._eof = True

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """(the bytes not consumed yet, whether EOF was seen)."""
        return bytes(self._buf), self._eof

    @property
    def buffered(self) -> int:
        """How many received bytes are not consumed yet (pipelined requests wait here during a response)."""
        return len(self._buf)

    @property
    def drained(self) -> bool:
        """Every received byte is consumed and the peer has not closed: between requests, nothing can happen
        until more bytes arrive (``next_event`` would say ``NEED_DATA``)."""
        return not self._buf and not self._eof


class RequestParser(ReceivedBytes):
    """One connection's request parser. Limits and policies are plain constructor arguments."""

    __slots__ = (
        "_limit_line",
        "_rules",
        "_policy",
        "_line_rules",
        "_scanner",
        "_proxy_mode",
        "_proxy_trusted",
        "_reader",
        "_scanned",
        "_checked",
        "_line_scan",
        "_lines",
        "_fields",
        "_line",
        "proxy_info",
    )

    def __init__(
        self,
        limit_request_line: int = 4094,
        limit_request_fields: int = 100,
        limit_request_field_size: int = 8190,
        permit_unconventional_http_method: bool = False,
        permit_unconventional_http_version: bool = False,
        casefold_http_method: bool = False,
        strip_header_spaces: bool = False,
        permit_obsolete_folding: bool = False,
        header_map: str = "drop",
        forwarder_headers: Iterable[str] = DEFAULT_FORWARDERS,
        peer_trusted: bool = False,
        proxy_protocol: str = "off",
        proxy_trusted: bool = False,
        require_host: bool = True,
        caches: Caches | None = None,
        native: bool = False,
    ) -> None:
        forwarders = (
            DEFAULT_FORWARDERS
            if forwarder_headers is DEFAULT_FORWARDERS
            else frozenset(name.upper() for name in forwarder_headers)
        )
        derived = _derive(
            limit_request_line,
            limit_request_fields,
            limit_request_field_size,
            permit_unconventional_http_method,
            permit_unconventional_http_version,
            casefold_http_method,
            strip_header_spaces,
            permit_obsolete_folding,
            header_map,
            forwarders,
            peer_trusted,
            proxy_protocol,
            require_host,
            Caches() if caches is None else caches,
            native,
        )
        self._start(*derived, proxy_protocol, proxy_trusted)

    @staticmethod
    def factory(**settings: Any) -> Callable[[], RequestParser]:
        """A function that makes parsers with these settings (the constructor's arguments, ``caches`` the
        worker's), each call cheaper than the constructor: the settings are checked and derived here, once."""
        model = RequestParser(**settings)
        state = (
            model._limit_line,
            model._rules,
            model._policy,
            model._line_rules,
            model._scanner,
            model._proxy_mode,
            model._proxy_trusted,
        )
        return partial(_FactoryMade, *state)

    def _start(
        self,
        limit_line: int,
        rules: FieldRules,
        policy: HeaderPolicy,
        line_rules: RequestLineRules,
        scanner: HeadScanner | None,
        proxy_mode: str,
        proxy_trusted: bool,
    ) -> None:
        self._limit_line = limit_line
        self._rules = rules
        self._policy = policy
        self._line_rules = line_rules
        self._scanner = scanner
        self._proxy_mode = proxy_mode
        self._proxy_trusted = proxy_trusted
        self._buf = bytearray()
        self._eof = False
        self._state = _HEAD if proxy_mode == "off" else _PROXY
        self._reader: ContentLengthReader | ChunkedReader | None = None
        self._error: RemoteProtocolError | None = None
        # The head state, as _reset_head() sets it (spelled out: a parser per connection, a call saved).
        self._scanned = 0  # the CRLFCRLF search resumes here
        self._checked = 0  # complete head lines were validated up to here
        self._line_scan = 0  # the incomplete request line was searched for CRLF and LF up to here
        self._lines: LineChecker | None = None  # the checks of a partial head's field lines ...
        self._fields: HeadFields | None = None  # ... and of what they mean
        self._line: RequestLine | None = None  # the request line, once validated on a partial head
        self.proxy_info: ProxyInfo | None = None

    @property
    def native(self) -> bool:
        """This parser takes the native fast path (and its connection the native writer)."""
        return self._scanner is not None

    def _reset_head(self) -> None:
        self._scanned = 0
        self._checked = 0
        self._line_scan = 0
        self._lines = None
        self._fields = None
        self._line = None

    def next_event(self) -> Event | Sentinel:
        """The next event, ``NEED_DATA`` (feed more bytes) or ``PAUSED`` (call ``start_next_cycle``)."""
        try:
            state = self._state
            if state == _HEAD:
                return self._next_head()
            if state == _NO_BODY:
                self._state = _DONE
                return NO_TRAILERS
            if state == _BODY:
                assert self._reader is not None
                event = self._reader.read(self._buf, self._eof)
                if type(event) is EndOfMessage:
                    self._state = _DONE
                return event
            if state == _DONE:  # (asked once after every message: answered without the calls below)
                return PAUSED
            return self._other_state(state)
        except RemoteProtocolError as exc:
            self._state = _ERROR
            self._error = exc
            raise

    def _other_state(self, state: str) -> Event | Sentinel:
        settled = self._settled(state)
        if settled is not None:
            return settled
        info = read_proxy_header(self._buf, self._proxy_mode, self._proxy_trusted, self._eof)
        if isinstance(info, Sentinel):
            return info
        self.proxy_info = info
        self._state = _HEAD
        return self._next_head()

    def _next_head(self) -> Request | ConnectionClosed | Sentinel:
        buf = self._buf
        if not buf:
            if not self._eof:
                return NEED_DATA
        elif buf[0] == 13:  # CR: an index, not a method call, in the common case
            while buf.startswith(b"\r\n"):  # RFC 9112 §2.2: empty lines before a request line are ignored
                del buf[:2]
                self._scanned = self._line_scan = 0
        scanned = self._scanned
        end = (
            buf.find(b"\r\n\r\n", scanned) if len(buf) - scanned < _LONG_HEAD else find_head_end(buf, scanned)
        )
        if end < 0:
            return self._incomplete_head()
        scanner = self._scanner
        parts = None if scanner is None else scanner.read(buf, end + 2)
        if isinstance(parts, Request):  # the native path read a plain head whole, as build_request would
            request = parts
            del buf[: end + 4]
        else:
            head = buf[: end + 2]
            del buf[: end + 4]
            try:
                if parts is None:
                    request = self._parse_head(head)
                else:  # the line and fields as `_parse_head`'s first branch reads them; build_request judges
                    method, target, path, query, minor, pairs = parts
                    version = _HTTP11 if minor else _HTTP10
                    request = build_request(method, target, path, query, "", version, pairs, self._policy)
            except RemoteProtocolError:
                self._first_error(head)  # the error a byte-by-byte reading meets first, if there is one
                raise
        if scanned:
            self._scanned = 0
        if self._line is not None or self._line_scan:
            self._reset_head()
        if request.chunked:
            self._reader = ChunkedReader(self._rules, self._policy, None if scanner is None else take_chunks)
        elif request.content_length:
            self._reader = ContentLengthReader(request.content_length)
        else:
            self._state = _NO_BODY
            return request
        self._state = _BODY
        return request

    def _incomplete_head(self) -> ConnectionClosed | Sentinel:
        buf = self._buf
        if buf:
            self._check_partial_head()
            self._scanned = max(0, len(buf) - 3)
        if not self._eof:
            return NEED_DATA
        if buf:
            raise NoMoreData("connection closed in the middle of a request head")
        self._state = _CLOSED
        return ConnectionClosed()

    def _parse_head(self, head: bytearray) -> Request:
        lines = -1 if len(head) < _fields.CLEAN_FROM else clean_count(head)  # clean_lines(), a call saved
        fields = lines - 1 if lines > 0 else -1  # the field lines of a clean head: all but the request line
        text = head.decode("latin-1")  # once: every later step works on this text
        # The common line (conventional method, origin-form without fragment, HTTP/1.x), valid under every
        # rule set: no second look at it.
        if lines < 0:
            match = ORIGIN_REQUEST_LINE.match(text)
            if match is not None:
                method, target, path, query, minor = match.groups()
                end = match.end()
                if end - 2 <= self._limit_line and method != "CONNECT":
                    # split_fields' first step, a call saved: every line a strict field line, within limits
                    # (then strip_header_spaces has nothing to strip).
                    rules = self._rules
                    pairs = FIELD_LINES.findall(text, end)
                    if len(pairs) != text.count("\n", end):
                        pairs = split_unmatched(text, end, rules)
                    elif len(pairs) > rules.max_fields or len(text) - end > rules.max_field_size:
                        pairs = within_limits(pairs, text, end, rules)
                    version = _HTTP11 if minor == "1" else _HTTP10
                    return build_request(method, target, path, query or "", "", version, pairs, self._policy)
        else:
            match = CLEAN_ORIGIN_REQUEST_LINE.match(text)
            if match is not None:
                method, target, minor = match.groups()
                end = match.end()
                if (
                    end - 2 <= self._limit_line
                    and method != "CONNECT"
                    and " " not in target
                    and "\t" not in target
                    and "#" not in target
                    and target.isascii()
                ):
                    path, _, query = target.partition("?")
                    version = _HTTP11 if minor == "1" else _HTTP10
                    pairs = split_fields(text, end, self._rules, fields)
                    return build_request(method, target, path, query, "", version, pairs, self._policy)
        line_end = text.find("\r\n")
        line = self._line or self._request_line(text[:line_end])
        return build_request(*line, split_fields(text, line_end + 2, self._rules, fields), self._policy)

    def _request_line(self, line: str) -> RequestLine:
        """Validate a complete request line (without CRLF), its length first as a partial line's is."""
        if len(line) > self._limit_line or "\n" in line:  # (else neither fault can be there)
            fault = line_fault(line + "\r", 0, self._limit_line + 2)
            if fault == "lf":
                raise InvalidRequestLine("bare LF in the request line")
            if fault == "size":
                raise LimitRequestLine(f"request line is too large ({len(line)} > {self._limit_line})")
        return parse_request_line(line, self._line_rules)

    def _first_error(self, head: bytearray) -> None:
        """Raise the first error of a complete head in line order, as checks of a partial head would meet it
        (request line, then each field line with what it means); return if there is none before the end."""
        text = head.decode("latin-1")
        line_end = text.find("\r\n")
        line = self._request_line(text[:line_end])
        lines, fields = LineChecker(self._rules), HeadFields(self._policy, line.version)
        for raw in text[line_end + 2 :].split("\r\n")[:-1]:
            name, value = lines.line(raw)
            if name is not None:
                fields.field(name, value)

    def _check_partial_head(self) -> None:
        """Refuse an incomplete head now if what arrived of it can no longer become valid: a complete line
        that is invalid (or a field that makes the head so), or a last line that already is."""
        if self._line is None and not self._check_partial_request_line():
            return
        assert self._lines is not None and self._fields is not None
        buf = self._buf
        last = buf.rfind(b"\r\n", self._checked)
        if last >= self._checked:
            for line in bytes(buf[self._checked : last]).decode("latin-1").split("\r\n"):
                name, value = self._lines.line(line)
                if name is not None:
                    self._fields.field(name, value)
            self._checked = last + 2
        self._lines.tail(bytes(buf[self._checked :]).decode("latin-1"))

    def _check_partial_request_line(self) -> bool:
        """Validate the request line if it is complete (True), else check what there is of it (False).

        Only the bytes that arrived since the last call are searched, so a line trickled byte by byte costs
        linear time, whatever ``limit_request_line`` allows.
        """
        buf = self._buf
        scan = self._line_scan
        end = buf.find(b"\r\n", max(0, scan - 1))
        if end < 0:
            # A bare LF or too many bytes, whichever a byte-by-byte reading meets first (as `line_fault`).
            lf = buf.find(b"\n", scan)
            size_at = self._limit_line + 1
            if size_at <= len(buf) and buf[size_at - 1] == 13:
                size_at += 1
            if 0 <= lf < size_at:
                raise InvalidRequestLine("bare LF in the request line")
            if size_at <= len(buf):
                raise LimitRequestLine(f"request line is too large (more than {self._limit_line})")
            self._line_scan = len(buf)
            return False
        self._line = line = self._request_line(bytes(buf[:end]).decode("latin-1"))
        self._checked = end + 2
        self._lines = LineChecker(self._rules)
        self._fields = HeadFields(self._policy, line.version)
        return True


class _FactoryMade(RequestParser):
    """What ``RequestParser.factory`` makes: a ``RequestParser`` constructed straight from derived settings
    (a type call is about 60 ns cheaper than ``object.__new__`` called by name, and a frame is saved)."""

    __slots__ = ()
    __init__ = RequestParser._start
