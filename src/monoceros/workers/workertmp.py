"""The worker heartbeat: an unlinked temporary file whose mtime the worker bumps and the master reads.

The file is created by the master before the fork, so both processes share the open file
description; the worker only ever writes metadata to it (`os.utime`), never data. Times are
monotonic-clock seconds, compared by the master against its own monotonic clock.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monoceros.config import Config

Clock = Callable[[], float]


class WorkerTmp:
    """One worker's heartbeat file, stamped "alive now" when created."""

    def __init__(self, cfg: Config, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        fdir = cfg.worker_tmp_dir or None
        if fdir and not os.path.isdir(fdir):
            raise RuntimeError(f"{fdir} doesn't exist. Can't create workertmp.")
        old_umask = os.umask(cfg.umask)
        try:
            fd, name = tempfile.mkstemp(prefix="wmonoceros-", dir=fdir)
        finally:
            os.umask(old_umask)
        try:
            # the worker may drop privileges after the fork and must still be able to touch it
            if cfg.uid != os.geteuid() or cfg.gid != os.getegid():
                os.fchown(fd, cfg.uid, cfg.gid)
            os.unlink(name)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._stamp(clock())

    def _stamp(self, value: float) -> None:
        os.utime(self._fd, (value, value))

    def grant_boot_grace(self, seconds: float) -> None:
        """Push the first heartbeat deadline `seconds` further, for a worker still loading its app.

        Gunicorn (>= 22) never times out a worker before its first heartbeat, so a hung import hangs
        forever; we bound it instead (see docs/differences.md, Master).
        """
        self._stamp(self._clock() + seconds)

    def notify(self) -> None:
        """Record that the worker is alive now."""
        self._stamp(self._clock())

    def last_update(self) -> float:
        """The monotonic time of the last heartbeat (raises OSError/ValueError once closed)."""
        if self._fd < 0:
            raise ValueError("I/O operation on closed heartbeat file")
        return os.fstat(self._fd).st_mtime

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        """Close the file; safe to call more than once."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
