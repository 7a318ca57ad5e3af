"""systemd integration: socket activation (`LISTEN_FDS`) and readiness notification (`$NOTIFY_SOCKET`).

Implemented with the stdlib only, following sd_listen_fds(3) and sd_notify(3).
"""

import os
import socket

from monoceros.observability.logger import ErrorLog

SD_LISTEN_FDS_START = 3


def listen_fds(unset_environment: bool = True) -> int:
    """How many listening sockets systemd passed to *this* process (fds 3, 4, ...); 0 if none.

    `LISTEN_PID` must be our pid: the variables are inherited by children that did not get the fds.
    """
    try:
        listen_pid = int(os.environ.get("LISTEN_PID", "0"))
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return 0
    if listen_pid != os.getpid():
        return 0
    if unset_environment:
        os.environ.pop("LISTEN_PID", None)
        os.environ.pop("LISTEN_FDS", None)
    return max(count, 0)


def sd_notify(state: str, log: ErrorLog, unset_environment: bool = False) -> None:
    """Send `state` (e.g. `READY=1`) to systemd; a no-op outside a `Type=notify` service.

    Failures are logged at debug level only: a missing notify socket must never stop the server.
    """
    addr = os.environ.get("NOTIFY_SOCKET")
    if unset_environment:
        os.environ.pop("NOTIFY_SOCKET", None)
    if not addr:
        return
    if addr.startswith("@"):
        # Linux abstract namespace: systemd writes it with a leading '@' for the NUL byte.
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        log.debug("Exception while invoking sd_notify()", exc_info=True)
