"""Request bodies that were read in full before the application runs.

The engine reads a whole request (head and body) without blocking before it calls the application,
so a slow uploader never holds a worker. Small bodies stay in memory; past ``SPOOL_LIMIT`` they go
to an anonymous temporary file, so a large upload costs disk rather than memory.
"""

from __future__ import annotations

import tempfile
from typing import IO

SPOOL_LIMIT = 1 << 20


class BufferedBody:
    """Collects ``Data`` events; then serves them as a ``BodySource`` (``read_body``)."""

    __slots__ = ("_chunks", "_size", "_file", "_pos", "_view")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._file: IO[bytes] | None = None
        self._pos = 0
        self._view = memoryview(b"")

    @property
    def size(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        self._size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._chunks.append(data)
        if self._size > SPOOL_LIMIT:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            spool.writelines(self._chunks)
            self._chunks = []
            self._file = spool

    def finish(self) -> BufferedBody:
        """Switch from collecting to serving."""
        if self._file is not None:
            self._file.seek(0)
        else:
            self._view = memoryview(b"".join(self._chunks))
            self._chunks = []
        return self

    def read_body(self, size: int) -> bytes:
        if self._file is not None:
            return self._file.read(size)
        pos = self._pos
        chunk = self._view[pos : pos + size]
        self._pos = pos + len(chunk)
        return bytes(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
