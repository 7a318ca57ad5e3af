"""Type information for the native fast path (``_speedups.c``)."""

from collections.abc import Callable, Iterable
from typing import Any

from ._caches import Caches
from ._events import Request

class HeadScanner:
    def __init__(
        self,
        limit_line: int,
        max_fields: int,
        max_field_size: int,
        require_host: bool,
        hosts: set[str],
        request_type: type[Request],
        http10: tuple[int, int],
        http11: tuple[int, int],
    ) -> None: ...
    def scan(
        self, buf: bytes | bytearray | memoryview, n: int, /
    ) -> tuple[str, str, str, str, int, list[tuple[str, str]]] | None: ...
    def read(
        self, buf: bytes | bytearray | memoryview, n: int, /
    ) -> Request | tuple[str, str, str, str, int, list[tuple[str, str]]] | None: ...

def take_chunks(buf: bytes | bytearray | memoryview, limit: int, /) -> tuple[int, bytes]: ...

class ResponseWriter:
    """``_writer.ResponseWriter`` in C: the same methods, attributes and errors."""

    method: str
    version: tuple[int, int]
    keep_alive: bool
    status_code: int
    content_length: int | None
    chunked: bool
    upgrade: bool
    bytes_sent: int
    closing: bool
    ended: bool
    def __init__(
        self,
        method: str,
        version: tuple[int, int],
        keep_alive: bool,
        server: bytes | None = b"monoceros",
        caches: Caches | None = None,
    ) -> None: ...
    def start(self, status: str, headers: Iterable[tuple[str, str]], /) -> None: ...
    def head(self) -> bytes: ...
    def whole(self, data: bytes, /) -> bytes: ...
    def body(self, data: bytes, /) -> bytes: ...
    def end(self, trailers: Iterable[tuple[str, str]] = (), /) -> bytes: ...
    @property
    def head_sent(self) -> bool: ...
    @property
    def remaining(self) -> int | None: ...
    @property
    def complete(self) -> bool: ...

def bind(
    error: type[Exception],
    parse_status: Callable[..., Any],
    fields: Callable[..., Any],
    server_line: Callable[..., Any],
    without_length: Callable[..., Any],
    trailer_block: Callable[..., Any],
    caches_type: type[Caches],
    status_size: int,
    lists_size: int,
    /,
) -> None: ...
