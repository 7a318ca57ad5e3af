"""In-memory I/O for the WSGI layer's tests: the Transport and BodySource are this layer's real boundary."""

from __future__ import annotations

import io
import sys
from typing import IO

from monoceros.http import (
    NEED_DATA,
    Data,
    EndOfMessage,
    Request,
    RequestParser,
    ResponseWriter,
)
from monoceros.wsgi import EnvironBuilder


class RecordingTransport:
    """Records every write and sendfile call; ``sendfile_ok=False`` plays a TLS transport."""

    def __init__(self, sendfile_ok: bool = True, fail_after: int | None = None) -> None:
        self.writes: list[bytes] = []
        self.sendfiles: list[tuple[int, int | None]] = []
        self.sendfile_ok = sendfile_ok
        self.fail_after = fail_after  # raise BrokenPipeError once this many writes were made

    def write(self, data: bytes) -> None:
        if self.fail_after is not None and len(self.writes) >= self.fail_after:
            raise BrokenPipeError(32, "Broken pipe")
        self.writes.append(bytes(data))

    def sendfile(self, file: IO[bytes], offset: int, count: int | None) -> int | None:
        if not self.sendfile_ok:
            return None
        self.sendfiles.append((offset, count))
        file.seek(offset)
        data = file.read() if count is None else file.read(count)
        self.writes.append(data)
        return len(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


class BytesSource:
    """A BodySource over known bytes that hands out at most ``step`` bytes per call."""

    def __init__(self, body: bytes, step: int = 1 << 30) -> None:
        self.body = body
        self.pos = 0
        self.step = step
        self.calls: list[int] = []

    def read_body(self, size: int) -> bytes:
        assert size > 0, "the stream asked for nothing"
        self.calls.append(size)
        n = min(size, self.step)
        data = self.body[self.pos : self.pos + n]
        self.pos += len(data)
        return data


class Log:
    """Collects what the driver logs."""

    def __init__(self) -> None:
        self.exceptions: list[str] = []
        self.errors: list[BaseException | None] = []  # what was being handled when exception() ran
        self.debugs: list[str] = []

    def exception(self, msg: str, *args: object) -> None:
        self.exceptions.append(msg % args)
        self.errors.append(sys.exc_info()[1])

    def debug(self, msg: str, *args: object) -> None:
        self.debugs.append(msg % args)


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    version: tuple[int, int] = (1, 1),
    content_length: int | None = None,
    chunked: bool = False,
    keep_alive: bool = True,
) -> Request:
    path, _, query = target.partition("?")
    return Request(
        method=method,
        target=target,
        path=path,
        query=query,
        fragment="",
        version=version,
        headers=[("HOST", "example.com")] if headers is None else headers,
        raw_headers=[],
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
        expect_continue=False,
    )


def writer_for(req: Request) -> ResponseWriter:
    return ResponseWriter(req.method, req.version, req.keep_alive)


def builder(**kwargs: object) -> EnvironBuilder:
    kwargs.setdefault("errors_stream", io.StringIO())
    return EnvironBuilder("monoceros/test", multithread=False, multiprocess=True, **kwargs)  # type: ignore[arg-type]


class ParsedBody:
    """A BodySource fed by RequestParser events (what the worker does, minus the socket)."""

    def __init__(self, parser: RequestParser) -> None:
        self.parser = parser
        self.pending = b""
        self.done = False

    def read_body(self, size: int) -> bytes:
        while not self.pending and not self.done:
            event = self.parser.next_event()
            if isinstance(event, Data):
                self.pending = event.data
            elif isinstance(event, EndOfMessage) or event is NEED_DATA:
                self.done = True
        data, self.pending = self.pending[:size], self.pending[size:]
        return data


def parse(raw: bytes) -> tuple[Request, ParsedBody]:
    """Parse a whole request with the real parser; the body is read lazily from the parser's events."""
    parser = RequestParser()
    parser.receive_data(raw)
    event = parser.next_event()
    assert isinstance(event, Request), event
    return event, ParsedBody(parser)
