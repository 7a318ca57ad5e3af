"""Moving idle keep-alive connections away from a busy sync worker.

A sync worker runs one application call at a time. With keep-alive, a client's next request goes to
the worker that holds its connection, so it would wait behind a slow request while other workers
sit idle — the reason Gunicorn's sync worker never keeps connections alive. Instead, when an
application call has run for ``BUSY_AFTER`` seconds, a small guard thread passes this worker's idle
connections (nothing buffered in our parser, nothing left to write) to the other workers over a
Unix datagram socket pair the master shares with all of them (``SCM_RIGHTS``). A request the client
already sent stays in the kernel's socket buffer and moves with the connection, intact; whichever
worker is free receives it like a new connection. A fast request therefore waits at most about
``BUSY_AFTER + CHECK_EVERY`` behind a slow one, and keep-alive stays on.

The guard never sends the heartbeat and never touches a connection the loop is using: it acts only
while the loop thread is inside the application, under a lock the loop takes when the call returns.
"""

from __future__ import annotations

import array
import socket
import threading
import time
from typing import TYPE_CHECKING

from monoceros.workers.connection import IDLE, Conn

if TYPE_CHECKING:
    from monoceros.workers.engine import Poller

BUSY_AFTER = 0.1  # seconds an app call may run before idle connections are moved elsewhere
CHECK_EVERY = 0.05
_FD_SIZE = array.array("i").itemsize


class HandoffChannel:
    """The Unix datagram socket pair the sync workers of one master share (``SyncWorker.shared_state``):
    any worker sends on ``sender``, whichever is free receives on ``receiver``."""

    def __init__(self) -> None:
        self.receiver, self.sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for end in (self.receiver, self.sender):
            end.setblocking(False)

    def close(self) -> None:
        """The master's copy; workers forked with it keep theirs."""
        self.receiver.close()
        self.sender.close()


class Inbox:
    """The receiving end of the channel, watched by the engine like a listening socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def __str__(self) -> str:
        return "handoff"

    def fileno(self) -> int:
        return self.sock.fileno()

    def getsockname(self) -> object:
        return self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()


def send_connection(channel: socket.socket, conn_fd: int, listener_fd: int) -> bool:
    """Pass ``conn_fd`` (accepted on ``listener_fd``) to whichever worker reads the channel next."""
    try:
        channel.sendmsg(
            [listener_fd.to_bytes(4, "little")],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [conn_fd]))],
            socket.MSG_DONTWAIT,
        )
    except OSError:  # the queue is full or the channel is gone: keep the connection here
        return False
    return True


def receive_connection(channel: socket.socket) -> tuple[socket.socket, int] | None:
    """One passed connection as (socket, listener fd), or None when there is none."""
    try:
        data, ancdata, _flags, _addr = channel.recvmsg(4, socket.CMSG_LEN(_FD_SIZE))
    except (BlockingIOError, InterruptedError):
        return None
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
    if not fds:
        return None
    sock = socket.socket(fileno=fds[0])
    sock.setblocking(False)
    return sock, int.from_bytes(data[:4], "little") if len(data) >= 4 else -1


class BusyGuard:
    """The guard thread of one sync worker."""

    def __init__(
        self,
        conns: dict[int, Conn],
        epoll: Poller,
        channel: socket.socket,
    ) -> None:
        self.conns = conns
        self.epoll = epoll
        self.channel = channel
        self.lock = threading.Lock()
        self.busy_since = 0.0  # set by the loop around each application call
        self.moved: list[Conn] = []
        self._thread = threading.Thread(target=self._watch, name="monoceros-busy-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_done(self) -> list[Conn]:
        """The loop is back from the app: stop moving; the connections moved meanwhile."""
        with self.lock:
            self.busy_since = 0.0
            moved, self.moved = self.moved, []
        return moved

    def _watch(self) -> None:
        while True:
            time.sleep(CHECK_EVERY)
            started = self.busy_since
            if started and time.monotonic() - started > BUSY_AFTER:
                with self.lock:
                    if self.busy_since == started:
                        try:
                            self._move_idle()
                        except Exception:  # the guard must outlive any surprise; the next call retries
                            pass

    def _move_idle(self) -> None:
        for conn in list(self.conns.values()):
            if conn.state != IDLE or conn.out or conn.closed or conn in self.moved:
                continue
            if conn.http.trailing_data[0]:
                continue  # part of a request is in our parser already: it cannot move
            if send_connection(self.channel, conn.fd, conn.listener_fd):
                self.moved.append(conn)  # another worker owns it now, whatever happens next
                try:
                    self.epoll.unregister(conn.fd)
                except OSError:
                    pass
