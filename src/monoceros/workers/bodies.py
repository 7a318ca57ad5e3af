"""Request bodies read ahead before the application runs, and the bounds on what a worker holds of them.

The engine reads a request (head and body) without blocking before it calls the application, so a slow
uploader never holds a worker. What it holds meanwhile is bounded (``BodyLimits``, from the settings):

- a body stays in memory up to ``request_body_memory`` bytes, and while the worker's bodies in memory stay
  under ``worker_body_memory``; past either, it goes on in a temporary file in ``tmp_upload_dir``;
- a body is read ahead up to ``request_body_read_ahead`` bytes, and while the worker's spooled bodies stay
  under ``worker_body_disk``; past either, reading ahead stops and the application gets the rest as it reads
  it, straight from the connection (as Gunicorn gives every body), so a huge upload costs neither disk nor
  memory.

A write to the spool file that fails (a full disk) raises ``OSError`` from ``append``: the engine answers
that one request with 503 and goes on.
"""

from __future__ import annotations

import tempfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from monoceros.wsgi.types import BodySource

MIB = 1 << 20


class BodyLimits:
    """One worker's bounds on read-ahead bodies and what its bodies hold now (memory and disk bytes)."""

    __slots__ = (
        "request_memory",
        "read_ahead",
        "worker_memory",
        "worker_disk",
        "spool_dir",
        "memory",
        "disk",
    )

    def __init__(
        self,
        request_memory: int = MIB,
        read_ahead: int = 16 * MIB,
        worker_memory: int = 64 * MIB,
        worker_disk: int = 512 * MIB,
        spool_dir: str | None = None,
    ) -> None:
        self.request_memory = request_memory
        self.read_ahead = read_ahead
        self.worker_memory = worker_memory
        self.worker_disk = worker_disk
        self.spool_dir = spool_dir
        self.memory = 0  # bytes of bodies held in memory by this worker now
        self.disk = 0  # bytes of bodies in spool files now


class BufferedBody:
    """Collects ``Data`` events; then serves them as a ``BodySource`` (``read_body``), followed, for a body
    that outgrew the read-ahead, by the rest read from the connection (``stream_rest``)."""

    __slots__ = ("_limits", "_chunks", "_size", "_memory", "_disk", "_file", "_pos", "_view", "_rest")

    def __init__(self, limits: BodyLimits) -> None:
        self._limits = limits
        self._chunks: list[bytes] = []
        self._size = 0
        self._memory = 0  # what this body counts in limits.memory
        self._disk = 0  # and in limits.disk
        self._file: IO[bytes] | None = None
        self._pos = 0
        self._view = memoryview(b"")
        self._rest: BodySource | None = None

    @property
    def size(self) -> int:
        return self._size

    def append(self, data: bytes) -> bool:
        """Keep ``data``; False once the read-ahead is full (the rest must come from the connection).

        ``OSError`` when the spool file cannot be made or written; the body is then still safe to close.
        """
        size = len(data)
        self._size += size
        limits = self._limits
        if self._file is None:
            if self._size <= limits.request_memory and limits.memory + size <= limits.worker_memory:
                self._chunks.append(data)
                self._memory += size
                limits.memory += size
                return self._size < limits.read_ahead
            self._spill()
        assert self._file is not None
        self._disk += size  # counted before the write: close() gives back what was counted
        limits.disk += size
        self._file.write(data)
        return self._size < limits.read_ahead and limits.disk < limits.worker_disk

    def _spill(self) -> None:
        """Move what is in memory to a new spool file."""
        limits = self._limits
        spool = tempfile.TemporaryFile(dir=limits.spool_dir)  # noqa: SIM115 - closed by close()
        self._file = spool
        limits.memory -= self._memory
        limits.disk += self._memory
        self._disk += self._memory
        self._memory = 0
        chunks, self._chunks = self._chunks, []
        spool.writelines(chunks)

    def stream_rest(self, rest: BodySource) -> None:
        """After what was read ahead, reads go on from ``rest`` (the connection)."""
        self._rest = rest

    def as_source(self) -> BufferedBody:
        """Switch from collecting to serving."""
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
        else:
            self._view = memoryview(b"".join(self._chunks))
            self._chunks = []
        return self

    def read_body(self, size: int) -> bytes:
        if self._file is not None:
            chunk = self._file.read(size)
        else:
            pos = self._pos
            chunk = bytes(self._view[pos : pos + size])
            self._pos = pos + len(chunk)
        if chunk or self._rest is None:
            return chunk
        return self._rest.read_body(size)

    def close(self) -> None:
        """Let go of the body: its file, and its share of the worker's limits."""
        limits = self._limits
        limits.memory -= self._memory
        limits.disk -= self._disk
        self._memory = self._disk = 0
        self._chunks = []
        self._view = memoryview(b"")
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                # A full disk: closing flushes what the file still buffers, and fails the same way. The
                # file is a discarded temporary one; what matters is that it is let go (close() did).
                pass
