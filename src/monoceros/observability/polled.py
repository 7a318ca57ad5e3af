"""A small non-blocking server for the master's own sockets (the metrics endpoint, the control socket).

The master runs no thread (one would be forked into every worker with whatever locks it held): its main loop
`select()`s on ``readers()`` and ``writers()`` and calls back here, and every step is non-blocking. A
subclass says what a connection's bytes mean (``received``) and what happens once an answer is out
(``sent``); the accepting, the bookkeeping, the deadlines and the closing are here, once.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Callable


class Client:
    __slots__ = ("sock", "inbox", "outbox", "deadline", "closing")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.inbox = b""
        self.outbox = b""
        self.deadline = deadline
        self.closing = False  # the peer is done sending: close once the outbox is empty


class PolledServer:
    """A listening socket and the few connections open on it."""

    max_clients = 32  # a flood of clients must not take the master's descriptors
    idle_seconds = 300.0  # a connection that sends nothing whole for this long is closed
    read_size = 65536

    def __init__(self, sock: socket.socket, unix_path: str | None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.unix_path = unix_path
        self.clients: dict[int, Client] = {}

    # -- what the subclass says ------------------------------------------------------------------

    def received(self, client: Client) -> None:
        """``client.inbox`` grew: take what is whole from it, put answers into ``client.outbox``."""
        raise NotImplementedError

    def sent(self, client: Client) -> None:
        """``client.outbox`` has all gone out."""
        if client.closing:
            self.drop(client)

    # -- for the master's loop -------------------------------------------------------------------

    def readers(self) -> dict[int, Callable[[], None]]:
        watch: dict[int, Callable[[], None]] = {self.sock.fileno(): self._accept}
        for fd, client in self.clients.items():
            watch[fd] = lambda client=client: self._read(client)  # type: ignore[misc]
        return watch

    def writers(self) -> dict[int, Callable[[], None]]:
        return {
            fd: (lambda client=client: self.flush(client))  # type: ignore[misc]
            for fd, client in self.clients.items()
            if client.outbox
        }

    def sweep(self, now: float) -> None:
        """Close the connections whose deadline passed."""
        for client in [c for c in self.clients.values() if c.deadline <= now]:
            self.drop(client)

    def close(self) -> None:
        """Stop serving and remove the socket file (when it is still a socket)."""
        self.forget()
        if self.unix_path is not None and is_socket(self.unix_path):
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def forget(self) -> None:
        """Close every descriptor without touching the file (in a forked worker, and before close)."""
        for client in self.clients.values():
            client.sock.close()
        self.clients.clear()
        self.sock.close()

    # -- the steps -------------------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(16):
            try:
                sock, _ = self.sock.accept()
            except OSError:
                return  # nothing waiting, or out of descriptors: the next pass tries again
            if len(self.clients) >= self.max_clients:
                sock.close()
                continue
            sock.setblocking(False)
            self.clients[sock.fileno()] = Client(sock, time.monotonic() + self.idle_seconds)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(self.read_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(client)
            return
        if not data:
            client.closing = True
            if not client.outbox:
                self.drop(client)
            return
        client.inbox += data
        self.received(client)

    def flush(self, client: Client) -> None:
        """Send what the socket takes of ``client.outbox`` now."""
        try:
            sent = client.sock.send(client.outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(client)
            return
        client.outbox = client.outbox[sent:]
        if not client.outbox:
            self.sent(client)

    def drop(self, client: Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        client.sock.close()


def is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
