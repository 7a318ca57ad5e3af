"""Type information for the native fast path (``_speedups.c``)."""

class HeadScanner:
    def __init__(self, limit_line: int, max_fields: int, max_field_size: int) -> None: ...
    def scan(
        self, buf: bytes | bytearray | memoryview, n: int, /
    ) -> tuple[str, str, str, str, int, list[tuple[str, str]]] | None: ...
