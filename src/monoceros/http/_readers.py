"""Body readers, one per framing (RFC 9112 §6): Content-Length and chunked (with trailers).

A reader takes bytes from the front of the parser's buffer and returns ``Data``, ``EndOfMessage`` or
``NEED_DATA``. It never waits for bytes that cannot make an invalid input valid: a bad chunk line, a missing
CRLF after chunk data or an over-long trailer section raise as soon as the bytes that prove it are there.
EOF in the middle of a body raises too, so an EOF never leads to ``NEED_DATA`` forever.
"""

from __future__ import annotations

from collections.abc import Callable

from ._abnf import CHUNK_EXT_RE, CHUNK_HEAD, CHUNK_LINE, HEX_RE, SIZE_PREFIX
from ._errors import (
    ChunkMissingTerminator,
    InvalidChunkExtension,
    InvalidChunkSize,
    NoMoreData,
)
from ._events import NEED_DATA, NO_TRAILERS, Data, EndOfMessage, Sentinel
from ._fields import FieldRules, LineChecker, clean_lines, split_fields
from ._semantics import HeaderPolicy, build_trailers

ReadResult = Data | EndOfMessage | Sentinel

# A chunk line is a size of at most 16 hex digits plus extensions; the extensions are bounded like one field
# line (limit_request_field_size), which is far more than any real client sends.


def _take(buf: bytearray, count: int) -> bytes:
    if count >= len(buf):
        data = bytes(buf)
        buf.clear()
        return data
    data = bytes(buf[:count])
    del buf[:count]
    return data


class ContentLengthReader:
    """Exactly ``length`` body bytes."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, buf: bytearray, eof: bool) -> ReadResult:
        if self.remaining == 0:
            return NO_TRAILERS
        if not buf:
            if eof:
                raise NoMoreData(f"connection closed with {self.remaining} body bytes missing")
            return NEED_DATA
        data = _take(buf, self.remaining)
        self.remaining -= len(data)
        return tuple.__new__(Data, (data,))  # NamedTuple's __new__ is a Python frame: twice the cost


_SIZE, _DATA, _CRLF, _TRAILERS, _DONE = range(5)


class ChunkedReader:
    """RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailer-section CRLF.

    One ``read`` walks every complete chunk in the buffer with an index and cuts the buffer once; the data of
    those chunks comes out as one ``Data`` (a client that sends many small chunks costs one event per read,
    not three steps and an event per chunk).
    """

    __slots__ = ("_rules", "_policy", "_take", "_remaining", "_state", "_scanned", "_checked", "_lines")

    def __init__(
        self,
        rules: FieldRules,
        policy: HeaderPolicy,
        take: Callable[[bytearray, int], tuple[int, bytes]] | None = None,
    ) -> None:
        self._rules = rules
        self._policy = policy
        # The native fast path (`_speedups.take_chunks`): the plain complete chunks at the buffer's start.
        self._take = take
        self._remaining = 0  # data bytes left in the current chunk
        self._state = _SIZE
        self._scanned = 0  # how far the current line/section has been searched for its terminator
        self._checked = 0  # complete trailer lines were validated up to here
        self._lines: LineChecker | None = None  # their checks, once the trailer section started

    def read(self, buf: bytearray, eof: bool) -> ReadResult:
        if self._state >= _TRAILERS:
            return self._trailers(buf, eof)
        pieces: list[bytes] = []
        pos = 0
        if self._take is not None and self._state == _SIZE:
            pos, data = self._take(buf, self._rules.max_field_size)
            if pos:
                pieces.append(data)
                self._scanned = 0  # (a line that was partial is complete and taken now)
        pos = self._walk(buf, eof, pieces, pos)
        if pos:
            del buf[:pos]
        if pieces:
            return tuple.__new__(Data, (pieces[0] if len(pieces) == 1 else b"".join(pieces),))
        if self._state == _TRAILERS:
            return self._trailers(buf, eof)
        if eof:
            if self._state == _DATA:
                raise NoMoreData("connection closed in chunk data")
            raise ChunkMissingTerminator("connection closed before the CRLF after chunk data")
        return NEED_DATA

    def _walk(self, buf: bytearray, eof: bool, pieces: list[bytes], pos: int) -> int:
        """Take the data of every complete chunk from ``pos``, and of the last one so far; return where it
        stopped."""
        state = self._state
        remaining = self._remaining
        scanned = self._scanned
        size = len(buf)
        limit = self._rules.max_field_size
        while True:
            if state == _SIZE:
                match = CHUNK_HEAD.match(buf, pos)
                if match is None:
                    self._no_size_line(buf, pos, eof)  # raises, or the line is incomplete
                    break
                if scanned:
                    self._scanned = scanned = 0
                end = match.end()
                if end - pos > limit:  # the line and its CR, as a partial one counts it
                    raise InvalidChunkExtension("chunk line too long")
                pos = end
                remaining = int(match[1], 16)
                if not remaining:
                    state = _TRAILERS
                    break
                end = pos + remaining
                if end + 2 <= size and buf[end] == 13 and buf[end + 1] == 10:
                    # The whole chunk and its CRLF are here (the common case): one step.
                    pieces.append(bytes(buf[pos:end]))
                    pos = end + 2
                    continue
                state = _DATA
            if state == _DATA:
                take = min(remaining, size - pos)
                if take:
                    pieces.append(bytes(buf[pos : pos + take]))
                    pos += take
                    remaining -= take
                if remaining:
                    break
                state = _CRLF
            if size - pos < 2:
                if size > pos and buf[pos] != 13:
                    raise ChunkMissingTerminator("chunk data not followed by CRLF")
                break
            if buf[pos] != 13 or buf[pos + 1] != 10:
                raise ChunkMissingTerminator("chunk data not followed by CRLF")
            pos += 2
            state = _SIZE
        self._state = state
        self._remaining = remaining
        return pos

    def _no_size_line(self, buf: bytearray, pos: int, eof: bool) -> None:
        """No valid chunk line at ``pos``: raise for an invalid one, or check what there is of it."""
        end = buf.find(b"\r\n", pos + self._scanned)
        if end >= 0:
            self._parse_size(bytes(buf[pos:end]))
            raise AssertionError("a chunk line CHUNK_HEAD refused parsed")  # _parse_size raised
        self._check_partial_line(bytes(buf[pos:]), eof)  # raises at EOF
        self._scanned = max(0, len(buf) - pos - 1)

    def _check_partial_line(self, partial: bytes, eof: bool) -> None:
        """An unterminated chunk line: refuse it now if no continuation can make it valid."""
        content = partial[:-1] if partial.endswith(b"\r") else partial
        size, semi, ext = content.partition(b";")
        if semi:
            _check_size(size.rstrip(b" \t"))
            if b"\r" in ext or b"\n" in ext:
                raise InvalidChunkExtension("bare CR or LF in a chunk extension")
        elif not SIZE_PREFIX.fullmatch(size):
            raise InvalidChunkSize(f"invalid chunk size {size[:32]!r}")
        if len(partial) > self._rules.max_field_size:
            raise InvalidChunkExtension("chunk line too long")
        if eof:
            raise NoMoreData("connection closed in a chunk size line")

    @staticmethod
    def _parse_size(line: bytes) -> int:
        match = CHUNK_LINE.fullmatch(line)
        if match is None:
            size, semi, ext = line.partition(b";")
            _check_size(size.rstrip(b" \t") if semi else size)
            if not CHUNK_EXT_RE.fullmatch(semi + ext):
                raise InvalidChunkExtension(f"invalid chunk extension {ext[:32]!r}")
            raise InvalidChunkSize(f"invalid chunk line {line[:32]!r}")
        return int(match.group(1), 16)

    def _trailers(self, buf: bytearray, eof: bool) -> ReadResult:
        if self._state == _DONE:
            raise AssertionError("the chunked body already ended")  # the parser stops calling after EOM
        if buf[:2] == b"\r\n":
            del buf[:2]
            self._state = _DONE
            return NO_TRAILERS
        end = buf.find(b"\r\n\r\n", self._scanned)
        if end < 0:
            self._check_partial_trailers(buf, eof)
            return NEED_DATA
        raw = buf[: end + 2]
        del buf[: end + 4]
        self._state = _DONE
        fields = split_fields(raw.decode("latin-1"), 0, self._rules, clean_lines(raw))
        return EndOfMessage(build_trailers(fields, self._policy))

    def _check_partial_trailers(self, buf: bytearray, eof: bool) -> None:
        """Check the complete trailer lines as they arrive, and the length of the last one."""
        if eof:
            raise ChunkMissingTerminator("connection closed before the end of the chunked body")
        if self._lines is None:
            self._lines = LineChecker(self._rules)
        last = buf.rfind(b"\r\n", self._checked)
        if last >= self._checked:
            for line in bytes(buf[self._checked : last]).decode("latin-1").split("\r\n"):
                self._lines.line(line)
            self._checked = last + 2
        self._lines.tail(bytes(buf[self._checked :]).decode("latin-1"))
        self._scanned = max(0, len(buf) - 3)


def _check_size(size: bytes) -> None:
    if not HEX_RE.fullmatch(size):
        raise InvalidChunkSize(f"invalid chunk size {size[:32]!r}")
