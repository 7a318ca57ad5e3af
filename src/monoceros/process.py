"""Process-level utilities for the master and workers: identity (uid/gid), file descriptor flags,
daemonizing and the process title.

Everything here acts on the current process or on one path/fd; nothing keeps state.
"""

import fcntl
import os
import pwd
import socket
import sys
from collections.abc import Callable

_TITLE_PREFIX = "monoceros: "


def _load_setproctitle() -> Callable[[str], None] | None:
    # setproctitle crashes forked children on macOS (benoitc/gunicorn#3021), so titles are Linux/BSD only.
    if sys.platform == "darwin":
        return None
    try:
        import setproctitle
    except ImportError:
        return None
    # Touch it now: it takes over the memory behind argv/environ on first use, and must do so before
    # anything (systemd's LISTEN_FDS removal) rewrites the environment (benoitc/gunicorn#3430).
    setproctitle.getproctitle()
    return setproctitle.setproctitle


_setproctitle = _load_setproctitle()


def set_proctitle(title: str) -> None:
    """Show `monoceros: <title>` in ps/top; a no-op without the optional setproctitle package."""
    if _setproctitle is not None:
        _setproctitle(_TITLE_PREFIX + title)


def get_username(uid: int) -> str:
    """The login name of `uid` (KeyError if the user does not exist)."""
    return pwd.getpwuid(uid).pw_name


def set_owner_process(uid: int, gid: int, initgroups: bool = False) -> None:
    """Drop to `uid`/`gid` (group first: once the uid is dropped we may no longer change groups).

    With `initgroups`, the supplementary groups of the user are set too, when the user has a name.
    Zero means "keep", as in Gunicorn, so root is never switched *to* explicitly.
    """
    if gid:
        username = _username_or_none(uid) if (uid and initgroups) else None
        if username is not None:
            os.initgroups(username, gid)
        # initgroups() only sets the supplementary groups; Gunicorn stops there and leaves the
        # primary gid unchanged, so we set it in both cases.
        if gid != os.getgid():
            os.setgid(gid)
    if uid and uid != os.getuid():
        os.setuid(uid)


def _username_or_none(uid: int) -> str | None:
    try:
        return get_username(uid)
    except KeyError:
        return None


def chown(path: str, uid: int, gid: int) -> None:
    """Give `path` to `uid`/`gid` (-1 leaves one unchanged)."""
    os.chown(path, uid, gid)


def close_on_exec(fd: int) -> None:
    """Set FD_CLOEXEC so the fd does not leak into exec'd programs (re-exec'd masters, app subprocesses)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFD)
    fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)


def set_non_blocking(fd: int) -> None:
    """Set O_NONBLOCK on `fd`."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def is_ipv6(addr: str) -> bool:
    """Whether `addr` is a literal IPv6 address (no brackets, no port)."""
    try:
        socket.inet_pton(socket.AF_INET6, addr)
    except (OSError, ValueError):
        # ValueError: the platform was built without IPv6 support.
        return False
    return True


def daemonize(enable_stdio_inheritance: bool = False) -> None:
    """Detach from the terminal: double fork, new session, umask 022, stdio onto /dev/null.

    Skipped in a re-exec'd master (MONOCEROS_FD/GUNICORN_FD set): it is already detached, and forking
    again would lose the parent/child link the upgrade relies on.
    With `enable_stdio_inheritance`, stdout/stderr are kept unless they are a terminal, so that
    `monoceros ... > out.log 2>&1` still captures output; stdin always goes to /dev/null.
    """
    if "MONOCEROS_FD" in os.environ or "GUNICORN_FD" in os.environ:
        return
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.umask(0o22)
    _redirect_stdio(enable_stdio_inheritance)


def _redirect_stdio(keep_non_tty: bool) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, 0)
        for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
            if keep_non_tty and not os.isatty(fd):
                continue
            _flush(stream)
            os.dup2(null, fd)
    finally:
        if null > 2:
            os.close(null)


def _flush(stream: object) -> None:
    flush = getattr(stream, "flush", None)
    if flush is not None:
        try:
            flush()
        except (OSError, ValueError):
            pass


def available_cpus(cgroup_root: str = "/sys/fs/cgroup") -> tuple[int, str]:
    """How many CPUs this process may use, and where that came from: the cgroup's CPU quota (v2
    ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; a fraction counts as one), capped by
    the CPUs it may run on (``os.sched_getaffinity``), else ``os.cpu_count()``."""
    try:
        affinity = len(os.sched_getaffinity(0))
        where = f"{affinity} CPUs in this process's affinity mask"
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
        where = f"{affinity} CPUs"
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus, how = quota
        if cpus < affinity:
            return cpus, how
    return max(1, affinity), where


def _cgroup_quota(root: str) -> tuple[int, str] | None:
    def read(path: str) -> str | None:
        try:
            with open(path) as file:
                return file.read().strip()
        except OSError:
            return None

    v2 = read(os.path.join(root, "cpu.max"))
    if v2 is not None:
        limit, _, period = v2.partition(" ")
        if limit != "max" and limit.isdigit() and period.isdigit() and int(period) > 0:
            cpus = max(1, -(-int(limit) // int(period)))  # rounded up: 1.5 CPUs can keep 2 workers busy
            return cpus, f"the cgroup's cpu.max ({limit} per {period} us: {cpus} CPUs)"
        return None
    for v1 in (os.path.join(root, "cpu"), os.path.join(root, "cpu,cpuacct"), root):
        limit_text = read(os.path.join(v1, "cpu.cfs_quota_us"))
        period_text = read(os.path.join(v1, "cpu.cfs_period_us"))
        if limit_text is None or period_text is None:
            continue
        try:
            quota_us, period_us = int(limit_text), int(period_text)
        except ValueError:
            return None
        if quota_us <= 0 or period_us <= 0:
            return None  # -1: no quota
        cpus = max(1, -(-quota_us // period_us))
        return cpus, f"the cgroup's cpu.cfs_quota_us ({quota_us} per {period_us} us: {cpus} CPUs)"
    return None
