"""The master's pid file: refuse to start over a live master, write atomically, remove only our own.

Same rules as Gunicorn's: readers (init scripts, `kill $(cat pidfile)`) never see a half-written file,
and a master never deletes a pid file that a newer master (USR2 upgrade) has taken over.
"""

import errno
import os
import tempfile

_MODE = 0o644


class Pidfile:
    """A pid file at `fname`; `pid` is what we wrote there (None until `create`)."""

    def __init__(self, fname: str) -> None:
        self.fname = fname
        self.pid: int | None = None

    def create(self, pid: int) -> None:
        """Write `pid`, unless the file names another live process."""
        oldpid = self.validate()
        if oldpid is not None and oldpid != os.getpid():
            raise RuntimeError(f"Already running on PID {oldpid} (or pid file '{self.fname}' is stale)")
        self.pid = pid
        fdir = os.path.dirname(self.fname)
        if fdir and not os.path.isdir(fdir):
            raise RuntimeError(f"{fdir} doesn't exist. Can't create pidfile.")
        self._write_atomically(fdir or ".", f"{pid}\n".encode())

    def _write_atomically(self, fdir: str, content: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=fdir, prefix=".pid-")
        try:
            os.write(fd, content)
            # mkstemp makes 0600; the mode is set before the rename so the final name is never private.
            os.fchmod(fd, _MODE)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, self.fname)

    def rename(self, path: str) -> None:
        """Move our pid to `path` (a promoted USR2 master drops the `.2` suffix)."""
        self.unlink()
        self.fname = path
        if self.pid is not None:
            self.create(self.pid)

    def unlink(self) -> None:
        """Remove the file, but only while it still holds our pid."""
        if self.pid is None:
            return
        try:
            with open(self.fname) as f:
                current = int(f.read().strip() or 0)
            if current == self.pid:
                os.unlink(self.fname)
        except (OSError, ValueError):
            pass

    def validate(self) -> int | None:
        """The pid in the file if that process is alive, else None (missing, garbage or stale)."""
        try:
            with open(self.fname) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            wpid = int(text.strip())
        except ValueError:
            return None
        return wpid if wpid > 0 and _alive(wpid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        if e.errno == errno.EPERM:
            # It exists but belongs to someone else: still a live master as far as we can tell.
            return True
        if e.errno == errno.ESRCH:
            return False
        raise
    return True
