"""Which master this process is: the only one, or the new one of a USR2 upgrade while the old one still runs.

During an upgrade the new master serves as ``Master.2``, with the process name ``<proc_name>.2`` and the
pidfile ``<pidfile>.2``, so that both masters can be told apart and neither overwrites the other's pidfile;
once the old master is gone the new one is promoted and drops the suffix (Gunicorn's convention). The suffix
is decided here only; the master, reload and re-exec read it from this object.
"""

from __future__ import annotations

UPGRADE_SUFFIX = ".2"


class MasterRole:
    """``old_master_pid``: the pid of the master this one is taking over from, 0 when there is none."""

    __slots__ = ("old_master_pid",)

    def __init__(self, old_master_pid: int = 0) -> None:
        self.old_master_pid = old_master_pid

    @property
    def suffix(self) -> str:
        return UPGRADE_SUFFIX if self.old_master_pid else ""

    @property
    def name(self) -> str:
        """How the master names itself in the log: ``Master`` or ``Master.2``."""
        return "Master" + self.suffix

    def proc_name(self, configured: str) -> str:
        return configured + self.suffix

    def pidfile(self, configured: str) -> str:
        return configured + self.suffix

    def promote(self, parent_pid: int) -> bool:
        """True (and the suffix is gone) when this master was the new one and its old master has exited,
        which its parent pid changing tells."""
        if self.old_master_pid == 0 or self.old_master_pid == parent_pid:
            return False
        self.old_master_pid = 0
        return True
