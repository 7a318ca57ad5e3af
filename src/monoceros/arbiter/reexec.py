"""USR2 binary upgrade: exec a new master that inherits the listening sockets.

The old master forks; the child runs the `pre_exec` hook and execs `python -m monoceros` with the
original arguments, in the original directory and environment, plus:
- `MONOCEROS_PID` and `GUNICORN_PID`: the old master's pid (the new master serves under the name
  `Master.2` and writes `<pidfile>.2` until the old master is gone), and
- `MONOCEROS_FD` and `GUNICORN_FD`: the listener fds, or `LISTEN_PID`/`LISTEN_FDS` when the
  sockets came from systemd (the fds are then 3, 4, ... already).
Both spellings are written so that either server can take over from the other.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, NoReturn

from monoceros.process import set_proctitle

if TYPE_CHECKING:
    from monoceros.arbiter.master import Arbiter

PID_VARS = ("MONOCEROS_PID", "GUNICORN_PID")
FD_VARS = ("MONOCEROS_FD", "GUNICORN_FD")


def start_context() -> dict[str | int, Any]:
    """What a later re-exec needs to know about how this master was started."""
    return {
        "args": [sys.executable, "-m", "monoceros", *sys.argv[1:]],
        "cwd": _getcwd(),
        0: sys.executable,
    }


def _getcwd() -> str:
    # keep the symlinked path the operator used ($PWD) when it is the same directory
    cwd = os.getcwd()
    try:
        pwd = os.environ["PWD"]
        a, b = os.stat(pwd), os.stat(cwd)
    except (KeyError, OSError):
        return cwd
    return pwd if (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev) else cwd


def parent_master_pid(environ: MutableMapping[str, str]) -> int:
    """The old master's pid when this process is a re-exec'd child, else 0."""
    for name in PID_VARS:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def forget_parent_master(environ: MutableMapping[str, str]) -> None:
    """Called on promotion, so a later USR2 from this master starts clean."""
    for name in PID_VARS:
        environ.pop(name, None)


def pop_inherited_fds(environ: MutableMapping[str, str]) -> list[int] | None:
    """The listener fds handed over by the old master (removed from the environment), if any."""
    values = [environ.pop(name, "") for name in FD_VARS]
    for value in values:
        if value:
            return [int(fd) for fd in value.split(",") if fd.strip()]
    return None


def new_master_environ(
    base: MutableMapping[str, str], master_pid: int, fds: list[int], systemd: bool
) -> dict[str, str]:
    """The environment of the new master."""
    environ = dict(base)
    for name in PID_VARS:
        environ[name] = str(master_pid)
    if systemd:
        # systemd's protocol: the fds start at 3 and LISTEN_PID names the process that owns them
        environ["LISTEN_PID"] = str(os.getpid())
        environ["LISTEN_FDS"] = str(len(fds))
    else:
        joined = ",".join(str(fd) for fd in fds)
        for name in FD_VARS:
            environ[name] = joined
    return environ


def exec_new_master(args: list[str], cwd: str, environ: dict[str, str], fds: Iterable[int]) -> NoReturn:
    """Replace the current (forked) process with the new master."""
    for fd in fds:
        os.set_inheritable(fd, True)
    os.chdir(cwd)
    os.execve(args[0], args, environ)


def reexec(server: Arbiter) -> None:
    """Fork; the child becomes the new master. At most one upgrade in flight, from the real master."""
    if server.reexec_pid != 0:
        server.log.warning("USR2 signal ignored. Child exists.")
        return
    if server.master_pid != 0:
        server.log.warning("USR2 signal ignored. Parent exists.")
        return
    master_pid = os.getpid()
    server.reexec_pid = os.fork()
    if server.reexec_pid == 0:
        _become_new_master(server, master_pid)


def _become_new_master(server: Arbiter, master_pid: int) -> NoReturn:
    try:
        server.cfg.pre_exec(server)
        fds = [lnr.fileno() for lnr in server.LISTENERS]
        environ = new_master_environ(server.env_orig, master_pid, fds, server.systemd)
        args = [str(arg) for arg in server.START_CTX["args"]]
        exec_new_master(args, str(server.START_CTX["cwd"]), environ, fds)
    except BaseException:
        server.log.exception("Exception while re-executing the master")
    # never unwind into a copy of the old master's main loop
    os._exit(1)


def maybe_promote(server: Arbiter) -> None:
    """Once the old master is gone (our parent changed), drop the `.2` names and take its pidfile."""
    if not server.role.promote(os.getppid()):
        return
    server.log.info("Master has been promoted.")
    forget_parent_master(os.environ)
    if server.pidfile is not None and server.cfg.pidfile is not None:
        server.pidfile.rename(server.cfg.pidfile)
    set_proctitle(f"master [{server.proc_name}]")
    server._open_control()  # the old master's control socket is gone with it: this one takes the path
