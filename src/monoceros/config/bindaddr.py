"""Parsing of listen addresses (`bind`, `statsd_host`) into what the socket layer binds.

Forms, as Gunicorn accepts them: `unix:PATH` / `unix://PATH` (a path string), `fd://N` (an int),
`tcp://HOST:PORT`, `[IPv6]:PORT`, `HOST:PORT`, `HOST` (default port) and `""` (all interfaces).
Unlike Gunicorn, a port outside 0-65535 or a malformed `[IPv6]` is refused here, at config time.
"""

from __future__ import annotations

import re

from monoceros.config.errors import InvalidValue

Address = tuple[str, int] | str | int

_UNIX = re.compile(r"unix:(//)?")


def parse_address(netloc: str, default_port: int = 8000) -> Address:
    """`"127.0.0.1:8000"` -> `("127.0.0.1", 8000)`; `"unix:/run/s"` -> `"/run/s"`; `"fd://3"` -> `3`."""
    unix = _UNIX.match(netloc)
    if unix:
        path = netloc[unix.end() :]
        if not path:
            raise InvalidValue("is not a valid address: the unix socket path is empty")
        return path
    if netloc.startswith("fd://"):
        return _parse_fd(netloc[len("fd://") :])
    if netloc.startswith("tcp://"):
        netloc = netloc[len("tcp://") :]
    host, port = _split_host_port(netloc, default_port)
    return host.lower(), _parse_port(port)


def _parse_fd(text: str) -> int:
    if not text.isdigit():
        raise InvalidValue(f"is not a valid address: {text!r} is not a file descriptor number")
    return int(text)


def _split_host_port(netloc: str, default_port: int) -> tuple[str, str]:
    if netloc.startswith("["):
        host, sep, rest = netloc[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InvalidValue("is not a valid address: use [IPv6]:PORT")
        return host, rest[1:] if rest else str(default_port)
    if netloc == "":
        return "0.0.0.0", str(default_port)
    if ":" in netloc:
        host, _, port = netloc.partition(":")
        return host, port
    return netloc, str(default_port)


def _parse_port(port: str) -> int:
    if not port.isdigit() or int(port) > 65535:
        raise InvalidValue(f"is not a valid address: port {port!r} is not a number from 0 to 65535")
    return int(port)
