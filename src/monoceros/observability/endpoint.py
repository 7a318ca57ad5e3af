"""The master's own HTTP endpoint (`--metrics-bind`): `/metrics`, `/healthz` and `/readyz`.

It runs inside the master's main loop (a ``PolledServer``). A connection gets one request, read whole
within a few seconds and 8 KiB, and its answer; then it is closed. The answers are built by the handler the
master gives, from what it already holds, so a scrape never waits on a worker.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from monoceros.config.bindaddr import parse_address
from monoceros.observability.polled import Client, PolledServer, is_socket

MAX_HEAD = 8192
READ_SECONDS = 5.0

# (status, content type, body) for a path
Handler = Callable[[str], tuple[int, str, bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class Endpoint(PolledServer):
    """`--metrics-bind`: one request per connection, answered by ``handler(path)``, then closed."""

    max_clients = 64
    idle_seconds = READ_SECONDS
    read_size = 4096

    def __init__(self, address: str, handler: Handler, backlog: int = 64) -> None:
        self.handler = handler
        self.configured = address
        target = parse_address(address, default_port=9100)
        if isinstance(target, str):
            if is_socket(target):
                os.unlink(target)  # a stale socket file from an earlier run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix_path: str | None = target
        elif isinstance(target, tuple):
            family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            unix_path = None
        else:
            raise ValueError("metrics_bind takes HOST:PORT or unix:PATH, not a file descriptor")
        try:
            sock.bind(target)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        super().__init__(sock, unix_path)

    @property
    def address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def received(self, client: Client) -> None:
        if client.outbox:
            return  # answered already: what else the client sends is not read
        head, sep, _ = client.inbox.partition(b"\r\n\r\n")
        if not sep:
            if len(client.inbox) > MAX_HEAD:
                self._answer(client, 400, "text/plain", b"request head too large\n")
            return
        self._respond(client, head)

    def sent(self, client: Client) -> None:
        self.drop(client)  # Connection: close

    def _respond(self, client: Client, head: bytes) -> None:
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._answer(client, 400, "text/plain", b"bad request line\n")
            return
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            self._answer(client, 405, "text/plain", b"GET or HEAD only\n", extra="Allow: GET, HEAD\r\n")
            return
        path = target.split("?", 1)[0]
        try:
            status, kind, body = self.handler(path)
        except Exception as exc:  # the endpoint must never take the master down
            status, kind, body = 503, "text/plain", f"error: {exc}\n".encode()
        self._answer(client, status, kind, b"" if method == "HEAD" else body, length=len(body))

    def _answer(
        self, client: Client, status: int, kind: str, body: bytes, extra: str = "", length: int | None = None
    ) -> None:
        reason = _REASONS.get(status, "")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n{extra}Connection: close\r\n\r\n"
        )
        client.outbox = head.encode("latin-1") + body
        self.flush(client)
