"""The master's listening sockets: bind TCP/IPv6/Unix addresses or adopt inherited fds, and close them.

Behaves as Gunicorn's `sock.py`: the same socket options, the same retry loop and log lines when an
address is busy, the same `str()` forms in `Listening at: ...`. Workers get the `Listener` objects
after fork and only `accept()` on them.
"""

import errno
import os
import socket
import stat
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from monoceros.errors import BindError
from monoceros.observability.logger import ErrorLog
from monoceros.process import chown, is_ipv6
from monoceros.workers.tls import TLSSetupError

# What `cfg.address` holds: (host, port) for TCP, a path for Unix (leading NUL: abstract), an int for fd://N.
Address = tuple[str, int] | str | int
# What a listener remembers: the above, or getsockname() of an adopted socket (IPv6 4-tuples, bytes
# for an abstract Unix name).
SockName = tuple[str, int] | tuple[str, int, int, int] | str | bytes

_INET = (socket.AF_INET, socket.AF_INET6)


class SocketConfig(Protocol):
    """The settings that shape the listeners."""

    @property
    def address(self) -> Sequence[Address]: ...
    @property
    def backlog(self) -> int: ...
    @property
    def umask(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def reuse_port(self) -> bool: ...
    @property
    def is_ssl(self) -> bool: ...
    @property
    def certfile(self) -> str | None: ...
    @property
    def keyfile(self) -> str | None: ...


# struct tcp_info (include/uapi/linux/tcp.h): 8 one-byte fields, then 32-bit ones; for a socket in LISTEN
# state, tcpi_unacked (the 13th field) is the current length of the accept queue.
_TCP_INFO_FORMAT = "8B24I"
_TCP_INFO_SIZE = struct.calcsize(_TCP_INFO_FORMAT)
_TCPI_UNACKED = 12


class Listener:
    """One listening socket and the address it was created for."""

    def __init__(self, sock: socket.socket, address: SockName, is_ssl: bool = False) -> None:
        self.sock = sock
        self.address = address
        self.family = sock.family
        self.is_ssl = is_ssl

    def __str__(self) -> str:
        if self.family == socket.AF_UNIX:
            return "unix:" + _unix_display(self.address)
        host, port = self.sock.getsockname()[:2]
        scheme = "https" if self.is_ssl else "http"
        if self.family == socket.AF_INET6:
            return f"{scheme}://[{host}]:{port}"
        return f"{scheme}://{host}:{port}"

    def __repr__(self) -> str:
        return f"<Listener {self} fd={self.sock.fileno()}>"

    def fileno(self) -> int:
        return self.sock.fileno()

    def getsockname(self) -> SockName:
        name: SockName = self.sock.getsockname()
        return name

    def backlog(self) -> int:
        """Connections waiting in the accept queue (Linux: ``tcpi_unacked`` of a listening TCP socket, as
        Gunicorn reads it); -1 where it cannot be known (a Unix socket, another system)."""
        if self.family not in (socket.AF_INET, socket.AF_INET6) or not hasattr(socket, "TCP_INFO"):
            return -1
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
        except OSError:
            return -1
        return int(struct.unpack_from(_TCP_INFO_FORMAT, info)[_TCPI_UNACKED])

    def accept(self) -> tuple[socket.socket, SockName]:
        conn, peer = self.sock.accept()
        return conn, peer

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass  # already gone: closing is best effort on shutdown

    @property
    def unix_path(self) -> str | None:
        """The file behind a Unix listener, None for TCP and abstract names."""
        addr = self.address
        if self.family != socket.AF_UNIX or not isinstance(addr, str) or not addr or addr[0] == "\0":
            return None
        return addr


def _unix_display(addr: SockName) -> str:
    name = addr.decode("utf-8", "replace") if isinstance(addr, bytes) else str(addr)
    return "@" + name[1:] if name.startswith("\0") else name


def create_sockets(
    cfg: SocketConfig,
    log: ErrorLog,
    fds: Iterable[int] | None = None,
    *,
    retries: int = 5,
    delay: float = 1.0,
) -> list[Listener]:
    """Listeners for `cfg.address`, or for `fds` when the sockets were inherited (systemd, re-exec).

    Inherited fds are the whole set a previous master or systemd handed over, so nothing is bound then.
    Raises `BindError` (exit status 1) once an address stayed unavailable for `retries` attempts.
    """
    _check_tls_files(cfg)
    if fds:
        return [adopt_fd(fd, cfg) for fd in fds]
    listeners: list[Listener] = []
    try:
        for addr in cfg.address:
            if isinstance(addr, int):
                listeners.append(adopt_fd(addr, cfg))
            else:
                listeners.append(_bind_with_retries(addr, cfg, log, retries, delay))
    except BaseException:
        close_sockets(listeners, unlink=True)
        raise
    return listeners


def close_sockets(listeners: Iterable[Listener], unlink: bool = True) -> None:
    """Close every listener; with `unlink`, also remove Unix socket files (not after a re-exec or under
    systemd, whose sockets outlive us)."""
    for listener in listeners:
        listener.close()
        path = listener.unix_path
        if unlink and path is not None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def adopt_fd(fd: int, cfg: SocketConfig) -> Listener:
    """A listener for an already bound socket fd (fd://N, LISTEN_FDS, MONOCEROS_FD), family kept."""
    try:
        # socket(fileno=) asks the kernel for family and type, and keeps the fd number.
        sock = socket.socket(fileno=fd)
    except OSError as e:
        raise ValueError(f"fd://{fd} is not a usable socket: {e.strerror}") from e
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ValueError(f"fd://{fd} is not a stream socket")
    try:
        _set_options(sock, cfg)
        _finish(sock, cfg)
    except BaseException:
        sock.detach()  # the fd belongs to whoever handed it over: do not close it on failure
        raise
    return Listener(sock, sock.getsockname(), cfg.is_ssl)


def _check_tls_files(cfg: SocketConfig) -> None:
    # Fail at bind time, in the master, rather than in every worker's first handshake.
    for name, path in (("certfile", cfg.certfile), ("keyfile", cfg.keyfile)):
        if path and not os.path.exists(path):
            raise TLSSetupError(f'{name} "{path}" does not exist')  # a ValueError: one line, exit 1


def _bind_with_retries(
    addr: tuple[str, int] | str, cfg: SocketConfig, log: ErrorLog, retries: int, delay: float
) -> Listener:
    for attempt in range(retries):
        try:
            return _bind(addr, cfg)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                log.error("Connection in use: %s", str(addr))
            elif e.errno == errno.EADDRNOTAVAIL:
                log.error("Invalid address: %s", str(addr))
            log.error("connection to %s failed: %s", str(addr), str(e))
            if attempt + 1 < retries:
                log.debug("Retrying in %g second%s.", delay, "" if delay == 1 else "s")
                time.sleep(delay)
    log.error("Can't connect to %s", str(addr))
    raise BindError(str(addr))


def _bind(addr: tuple[str, int] | str, cfg: SocketConfig) -> Listener:
    if isinstance(addr, str):
        family = socket.AF_UNIX
        _remove_stale_unix_socket(addr)
    else:
        family = socket.AF_INET6 if is_ipv6(addr[0]) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _set_options(sock, cfg)
        if isinstance(addr, str):
            _bind_unix(sock, addr, cfg)
        else:
            # IPV6_V6ONLY is left at the system default, as Gunicorn does: on Linux "[::]" is dual-stack.
            sock.bind(addr)
        _finish(sock, cfg)
    except BaseException:
        sock.close()
        raise
    return Listener(sock, addr, cfg.is_ssl)


def _remove_stale_unix_socket(path: str) -> None:
    if path.startswith("\0"):
        return  # abstract namespace: nothing on disk
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ValueError(f"{path!r} is not a socket: refusing to replace it with unix:{path}")
    os.remove(path)


def _bind_unix(sock: socket.socket, path: str, cfg: SocketConfig) -> None:
    # bind() creates the file, so its mode comes from the umask in force at that moment.
    old_umask = os.umask(cfg.umask)
    try:
        sock.bind(path)
    finally:
        os.umask(old_umask)
    if not path.startswith("\0"):
        chown(path, cfg.uid, cfg.gid)


def _set_options(sock: socket.socket, cfg: SocketConfig) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if cfg.reuse_port and hasattr(socket, "SO_REUSEPORT"):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except OSError as e:
            if e.errno not in (errno.ENOPROTOOPT, errno.EINVAL, errno.EOPNOTSUPP):
                raise
    if sock.family in _INET:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _finish(sock: socket.socket, cfg: SocketConfig) -> None:
    sock.setblocking(False)
    # Workers are forked and a USR2 master is exec'd with these fds: they must survive both.
    sock.set_inheritable(True)
    if not _is_listening(sock):
        sock.listen(cfg.backlog)


def _is_listening(sock: socket.socket) -> bool:
    # listen() again on a socket systemd already listens on can be refused (SELinux), so skip it then.
    if not hasattr(socket, "SO_ACCEPTCONN"):
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False
