"""The master's own HTTP endpoint (`--metrics-bind`): `/metrics`, `/healthz` and `/readyz`.

It runs inside the master's main loop, never in a thread (a thread in the master would be forked into
every worker mid-flight, with whatever locks it held): the loop's `select()` watches the listening socket
and each open connection, and every step here is non-blocking. A connection gets one request, read
whole within a few seconds and 8 KiB, and its answer; then it is closed. The answers are built from what
the master already holds (the workers' shared stats, its own tables), so a scrape never waits on a worker.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from collections.abc import Callable

from monoceros.config.bindaddr import parse_address

MAX_HEAD = 8192
MAX_CLIENTS = 64
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


class _Client:
    __slots__ = ("sock", "inbox", "outbox", "deadline")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.inbox = b""
        self.outbox = b""
        self.deadline = deadline


class Endpoint:
    """A listening socket and the few connections open on it."""

    def __init__(self, address: str, handler: Handler, backlog: int = 64) -> None:
        self.handler = handler
        self.configured = address
        target = parse_address(address, default_port=9100)
        if isinstance(target, str):
            if os.path.exists(target) and _is_socket(target):
                os.unlink(target)  # a stale socket file from an earlier run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.unix_path: str | None = target
        elif isinstance(target, tuple):
            family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.unix_path = None
        else:
            raise ValueError("metrics_bind takes HOST:PORT or unix:PATH, not a file descriptor")
        try:
            sock.bind(target)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.sock = sock
        self.clients: dict[int, _Client] = {}

    @property
    def address(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def readers(self) -> dict[int, Callable[[], None]]:
        """What the master's select() should watch for reading, and what to call then."""
        watch: dict[int, Callable[[], None]] = {self.sock.fileno(): self._accept}
        for fd, client in self.clients.items():
            if not client.outbox:
                watch[fd] = lambda client=client: self._read(client)  # type: ignore[misc]
        return watch

    def writers(self) -> dict[int, Callable[[], None]]:
        return {
            fd: (lambda client=client: self._write(client))  # type: ignore[misc]
            for fd, client in self.clients.items()
            if client.outbox
        }

    def sweep(self, now: float) -> None:
        """Close the connections that did not finish in time."""
        for client in [c for c in self.clients.values() if c.deadline <= now]:
            self._close(client)

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._close(client)
        self.sock.close()
        if self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def forget(self) -> None:
        """In a forked worker: drop the master's sockets without touching the file."""
        for client in self.clients.values():
            client.sock.close()
        self.clients.clear()
        self.sock.close()

    # -- the steps -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(16):
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    return  # out of descriptors: the next pass tries again
                raise
            if len(self.clients) >= MAX_CLIENTS:
                sock.close()  # a flood of scrapers must not take the master's descriptors
                continue
            sock.setblocking(False)
            self.clients[sock.fileno()] = _Client(sock, time.monotonic() + READ_SECONDS)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        if not data:
            self._close(client)
            return
        client.inbox += data
        head, sep, _ = client.inbox.partition(b"\r\n\r\n")
        if not sep:
            if len(client.inbox) > MAX_HEAD:
                self._answer(client, 400, "text/plain", b"request head too large\n")
            return
        self._respond(client, head)

    def _respond(self, client: _Client, head: bytes) -> None:
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
        self, client: _Client, status: int, kind: str, body: bytes, extra: str = "", length: int | None = None
    ) -> None:
        reason = _REASONS.get(status, "")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n{extra}Connection: close\r\n\r\n"
        )
        client.outbox = head.encode("latin-1") + body
        self._write(client)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        client.outbox = client.outbox[sent:]
        if not client.outbox:
            self._close(client)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        try:
            client.sock.close()
        except OSError:
            pass


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
