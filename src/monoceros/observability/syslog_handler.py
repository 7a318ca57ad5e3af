"""Syslog handlers for `--log-syslog`: the address forms, facility names and line prefix of Gunicorn.

Addresses: `unix://PATH[#dgram|#stream]`, `udp://HOST[:PORT]`, `tcp://HOST[:PORT]` (port 514 by
default, `[v6]` brackets allowed). Lines read `gunicorn.<prefix>.<error|access>: [pid] message`,
with `prefix` = `syslog_prefix` or the process name: the program name stays Gunicorn's so that
syslog filters written for Gunicorn keep matching.
"""

from __future__ import annotations

import logging
import logging.handlers
import socket

SYSLOG_FACILITIES = {
    "auth": 4,
    "authpriv": 10,
    "cron": 9,
    "daemon": 3,
    "ftp": 11,
    "kern": 0,
    "lpr": 6,
    "mail": 2,
    "news": 7,
    "security": 4,  # an old alias of auth
    "syslog": 5,
    "user": 1,
    "uucp": 8,
    **{f"local{n}": 16 + n for n in range(8)},
}
SYSLOG_FORMAT = "[%(process)d] %(message)s"
DEFAULT_PORT = 514

SyslogAddress = tuple[str, int] | str


class SyslogError(ValueError):
    """The syslog settings are unusable; the text is one line for `Error: ...`."""


def parse_syslog_address(addr: str) -> tuple[socket.SocketKind | None, SyslogAddress]:
    """`"udp://h:514"` -> `(SOCK_DGRAM, ("h", 514))`; `"unix:///dev/log"` -> `(None, "/dev/log")`.

    A None socket type lets `SysLogHandler` try datagram then stream, as Gunicorn does.
    """
    if addr.startswith("unix://"):
        path, _, kind = addr[len("unix://") :].partition("#")
        return {"dgram": socket.SOCK_DGRAM, "stream": socket.SOCK_STREAM}.get(kind), path
    scheme, sep, rest = addr.partition("://")
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    if not sep or scheme not in kinds:
        raise SyslogError(
            f"invalid syslog address {addr!r}: use unix://PATH, udp://HOST:PORT or tcp://HOST:PORT"
        )
    return kinds[scheme], _host_port(rest)


def _host_port(rest: str) -> tuple[str, int]:
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
    else:
        host, _, port = rest.partition(":")
        tail = ":" + port if port else ""
    port_text = tail[1:] if tail.startswith(":") else ""
    if port_text and not port_text.isdigit():
        raise SyslogError(f"{port_text!r} is not a valid port number")
    return (host.lower() or "localhost"), int(port_text or DEFAULT_PORT)


def facility_code(name: str) -> int:
    try:
        return SYSLOG_FACILITIES[name.lower()]
    except KeyError:
        raise SyslogError(f"unknown syslog facility {name!r}") from None


def syslog_handler(addr: str, facility: str, prefix: str, kind: str) -> logging.Handler:
    """A connected `SysLogHandler` for the `error` or `access` log; SyslogError if unreachable."""
    socktype, address = parse_syslog_address(addr)
    code = facility_code(facility)
    try:
        _probe(address, socktype)
        handler = logging.handlers.SysLogHandler(address=address, facility=code, socktype=socktype)
    except OSError as exc:
        raise SyslogError(f"cannot reach syslog at {addr}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter(f"gunicorn.{prefix}.{kind}: {SYSLOG_FORMAT}"))
    return handler


def _probe(address: SyslogAddress, socktype: socket.SocketKind | None) -> None:
    """Connect once before the handler does: on Python 3.10 a `SysLogHandler` whose constructor failed to
    connect is still registered with `logging`, and its close at exit raises AttributeError (no `socket`)."""
    if isinstance(address, str):
        probe = socket.socket(socket.AF_UNIX, socktype or socket.SOCK_DGRAM)
        try:
            probe.connect(address)
        except OSError:
            if socktype:  # the handler tries the other type of Unix socket only when none is given
                raise
            probe.close()
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.connect(address)
        finally:
            probe.close()
        return
    if socktype == socket.SOCK_STREAM:
        socket.create_connection(address, timeout=5).close()
