"""Type information for the native fast path (``_speedups.c``)."""

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
