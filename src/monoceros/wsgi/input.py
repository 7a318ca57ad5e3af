"""``wsgi.input``: the request body as a read-only file, bounded by the request's framing.

The body comes from a ``BodySource`` that already removed the framing (Content-Length or chunked) and
answers ``b""`` at the end, so this stream can never read into the next pipelined request. With a known
Content-Length it also never asks the source for more than what is left.

Buffering is a ``bytearray`` consumed from the front: CPython deletes a bytearray's prefix by moving its
start, so reading a large body in small pieces or line by line stays linear. Whole-body reads join the
pieces once. ``EmptyInput`` serves the (common) requests without a body at no cost.
"""

from __future__ import annotations

from collections.abc import Iterator

from monoceros.http import Request

from .types import BodySource

_READ_AHEAD = 8192
_READ_ALL = 65536


class InputStream:
    """``read``, ``readline``, ``readlines`` and iteration (PEP 3333) over one request body."""

    __slots__ = ("_source", "_buf", "_remaining", "_eof")

    def __init__(self, source: BodySource, content_length: int | None) -> None:
        self._source = source
        self._buf = bytearray()
        self._remaining = content_length  # None: up to the source (chunked)
        self._eof = content_length == 0

    def _fetch(self, size: int) -> bytes:
        """One read from the source, never past the body; ``b""`` at its end."""
        if self._eof:
            return b""
        remaining = self._remaining
        if remaining is not None and size > remaining:
            size = remaining
        data = self._source.read_body(size)
        if not data:
            self._eof = True
        elif remaining is not None:
            remaining -= len(data)
            self._remaining = remaining
            self._eof = remaining <= 0
        return data

    def _take(self, size: int) -> bytes:
        buf = self._buf
        if size >= len(buf):
            data = bytes(buf)
            buf.clear()
            return data
        with memoryview(buf) as view:
            data = bytes(view[:size])
        del buf[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes, fewer only at the end of the body; everything left if ``size`` is None or < 0."""
        if size is None or size < 0:
            return self._read_all()
        buf = self._buf
        if not buf:
            # Common case for large bodies read in pieces: hand over the source's bytes uncopied.
            data = self._fetch(size) if size else b""
            if len(data) == size or not data:
                return data
            buf += data
        while len(buf) < size:
            data = self._fetch(max(size - len(buf), _READ_AHEAD))
            if not data:
                break
            buf += data
        return self._take(size)

    def _read_all(self) -> bytes:
        pieces = [bytes(self._buf)] if self._buf else []
        self._buf.clear()
        while True:
            data = self._fetch(_READ_ALL)
            if not data:
                return b"".join(pieces)
            pieces.append(data)

    def readline(self, size: int | None = -1) -> bytes:
        """One line including its ``\\n`` (or the rest of the body); at most ``size`` bytes if given."""
        if size is None or size < 0:
            size = -1
        elif size == 0:
            return b""
        buf = self._buf
        scanned = 0  # bytes already searched, so a long line is scanned once
        while True:
            end = len(buf) if size < 0 else min(len(buf), size)
            newline = buf.find(b"\n", scanned, end)
            if newline >= 0:
                return self._take(newline + 1)
            if end == size:
                return self._take(size)
            scanned = end
            data = self._fetch(_READ_AHEAD)
            if not data:
                return self._take(len(buf))
            buf += data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """The remaining lines; stop once ``hint`` bytes were read if ``hint`` > 0."""
        lines: list[bytes] = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class EmptyInput:
    """``wsgi.input`` for a request without a body: stateless, so one instance serves every request."""

    __slots__ = ()

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        raise StopIteration


EMPTY_INPUT = EmptyInput()


def input_for(request: Request, source: BodySource) -> InputStream | EmptyInput:
    """The ``wsgi.input`` for ``request``: ``EMPTY_INPUT`` when the framing says there is no body."""
    if request.chunked or request.content_length:
        return InputStream(source, None if request.chunked else request.content_length)
    return EMPTY_INPUT
