"""A bare StatsD client: Gunicorn's datagram strings over a connected UDP or Unix datagram socket.

Datagrams: gauge `name:v|g`, counter `name:v|c|@1.0`, decrement `name:-v|c|@1.0`, timer
`name:v|ms`, histogram `name:v|h`; `|#tags` is appended when DogStatsD tags are set. The prefix and
the tags are used as raw text, as Gunicorn does. Sending never raises: a metric is not worth a
failed request. The socket is connected once and never reconnected (Gunicorn's behaviour too).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

from monoceros.config.bindaddr import parse_address

DEFAULT_PORT = 8125


def normalize_prefix(prefix: str) -> str:
    """`"app"` and `"app..."` -> `"app."`; `""` stays empty (Gunicorn's rule)."""
    return re.sub(r"^(.+[^.]+)\.*$", r"\g<1>.", prefix)


def open_socket(host: str) -> socket.socket | None:
    """A datagram socket connected to `HOST[:PORT]` or `unix://PATH`; None if that fails."""
    address = parse_address(host, default_port=DEFAULT_PORT)
    if isinstance(address, str):
        family, target = socket.AF_UNIX, address
    elif isinstance(address, tuple):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        target = address  # type: ignore[assignment]
    else:
        return None  # fd:// makes no sense here
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(target)
    except OSError:
        sock.close()
        return None
    return sock


class StatsdClient:
    """`client.increment("gunicorn.requests", 1)` sends `<prefix>gunicorn.requests:1|c|@1.0`."""

    def __init__(
        self, sock: socket.socket | None, prefix: str, tags: str, on_error: Callable[[str], None]
    ) -> None:
        self.sock = sock
        self.prefix = normalize_prefix(prefix)
        self.suffix = ("|#" + tags).encode("ascii") if tags else b""
        self.on_error = on_error

    def gauge(self, name: str, value: object) -> None:
        self.send(f"{self.prefix}{name}:{value}|g")

    def increment(self, name: str, value: object, sampling_rate: float = 1.0) -> None:
        self.send(f"{self.prefix}{name}:{value}|c|@{sampling_rate}")

    def decrement(self, name: str, value: object, sampling_rate: float = 1.0) -> None:
        self.send(f"{self.prefix}{name}:-{value}|c|@{sampling_rate}")

    def timer(self, name: str, value: object) -> None:
        self.send(f"{self.prefix}{name}:{value}|ms")

    def histogram(self, name: str, value: object) -> None:
        self.send(f"{self.prefix}{name}:{value}|h")

    def send(self, line: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.send(line.encode("ascii") + self.suffix)
        except Exception:
            self.on_error("Error sending message to statsd")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
