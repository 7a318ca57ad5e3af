"""``wsgi.file_wrapper`` (PEP 3333 "Optional Platform-Specific File Handling").

An app that returns ``environ["wsgi.file_wrapper"](file)`` lets the response driver hand the file to the
kernel (``sendfile``) instead of copying it through Python. Any other server sees a plain iterable of blocks,
so the wrapper must also work as one: the driver falls back to iterating it when sendfile is not possible.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO


class FileWrapper:
    """Iterate ``filelike`` in ``blksize`` blocks; ``close()`` closes it (PEP 3333 asks for that)."""

    __slots__ = ("filelike", "blksize")

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def __getitem__(self, key: int) -> bytes:
        # The pre-iterator protocol, which old servers (and Gunicorn) still use.
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise IndexError(key)

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


def real_fileno(filelike: object) -> int | None:
    """The file descriptor behind ``filelike``, or None if it has none (``BytesIO``, a closed file)."""
    fileno = getattr(filelike, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd if isinstance(fd, int) else None
