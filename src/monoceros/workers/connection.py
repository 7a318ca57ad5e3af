"""One client connection as the I/O engine sees it: socket, HTTP state, pending output, deadline.

A ``Conn`` is also the ``Transport`` the WSGI layer writes the response to, and — for a request whose
body is read while the application runs (``Expect: 100-continue``) — its ``BodySource``. Writes go
straight to the socket when it can take them; what it cannot take waits in ``out`` and the engine's
loop drains it; how much may wait and how long a peer may stall is the worker's ``flow.FlowControl``.

``TLSConn`` is the same over an ``ssl.SSLSocket``: "would block" is also ``SSLWantWriteError`` /
``SSLWantReadError``, sendfile is impossible (the WSGI layer then copies the file through ``write``)
and decrypted bytes waiting in the TLS layer count as readable (poll does not see them).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import time
from typing import IO, TYPE_CHECKING, ClassVar

from monoceros.http import (
    ERROR,
    NEED_DATA,
    SEND_BODY,
    Connection,
    Data,
    EndOfMessage,
    RemoteProtocolError,
    Request,
)
from monoceros.workers.flow import FlowControl, Stalled

if TYPE_CHECKING:
    from monoceros.workers.bodies import BufferedBody
    from monoceros.workers.tls import TLSEnviron
    from monoceros.wsgi.environ import ConnectionEnviron

READ_SIZE = 1 << 16

# Connection states: what the engine is waiting for on this connection (the HTTP state is `Conn.http`'s).
IDLE = "IDLE"  # between requests: the keep-alive timeout runs
READING = "READING"  # part of a request has arrived: the request timeout runs
WRITING = "WRITING"  # a response is waiting for the client to read it
BUSY = "BUSY"  # the application is running for this connection
LINGER = "LINGER"  # our side is shut; reading what the client still sends, then closing
HANDSHAKE = "HANDSHAKE"  # TLS: the handshake is in progress; the request timeout runs
# The states in which the engine asks the connection for requests (in the others it is elsewhere: writing,
# in the app, closing, in the TLS handshake).
PARSING = frozenset({IDLE, READING})


class FilePart:
    """A region of a file queued for ``os.sendfile``, with a descriptor of its own."""

    __slots__ = ("fd", "offset", "left")

    def __init__(self, fd: int, offset: int, left: int) -> None:
        self.fd = fd
        self.offset = offset
        self.left = left

    def send(self, sock_fd: int) -> bool:
        """Copy what the socket takes; True once all of it is sent (the descriptor is then closed)."""
        while self.left:
            try:
                sent = os.sendfile(sock_fd, self.fd, self.offset, self.left)
            except BlockingIOError:
                return False
            if sent == 0:  # the file is shorter than announced: the client sees a short body
                raise OSError("file ended before the announced length")
            self.offset += sent
            self.left -= sent
        self.close()
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Conn:
    """Per-connection state; owned by one engine."""

    # What a non-blocking send or recv raises when it cannot go on now (only looked at on an exception).
    would_block: ClassVar[tuple[type[OSError], ...]] = (BlockingIOError,)

    __slots__ = (
        "sock",
        "fd",
        "peer",
        "http",
        "environ_builder",
        "out",
        "out_len",
        "state",
        "deadline",
        "request",
        "body",
        "pending",
        "flow",
        "closed",
        "armed",
        "busy_since",
        "warn_at",
        "current",
        "listener_fd",
        "sendfile_ok",
        "linger_end",
    )

    def __init__(
        self,
        sock: socket.socket,
        peer: object,
        http: Connection,
        env: ConnectionEnviron | TLSEnviron,
        flow: FlowControl,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.http = http  # the HTTP/1.1 state: parser, response framing, keep-alive
        self.environ_builder = env
        self.out: list[memoryview | FilePart] = []
        self.out_len = 0
        self.state = IDLE
        self.deadline = 0.0
        self.request: Request | None = None  # the request being read, between two recv() calls
        self.body: BufferedBody | None = None  # its body so far
        self.pending = b""  # body bytes decoded but not yet handed to the app
        self.flow = flow
        self.closed = False
        self.armed = 0  # the epoll events this connection is registered for
        self.busy_since = 0.0  # when the application started on this connection's request
        self.warn_at = 0.0  # next time a long-running request is logged (threaded workers)
        self.current: Request | None = None  # the request the application is running for
        self.listener_fd = -1  # the listening socket it was accepted on
        self.sendfile_ok = True  # False with --no-sendfile: file responses are copied through Python
        self.linger_end = 0.0  # LINGER: the client may drain into our closing side until then at most

    # -- Transport ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not data:
            return
        # Back-pressure applies to what earlier writes left behind: one large body handed over
        # at once is already in memory and is drained by the loop without holding the worker.
        if self.out_len > self.flow.high_water:
            self.flush_blocking(self.flow.low_water)
        if self.out:
            self.out.append(memoryview(data))
            self.out_len += len(data)
            return
        try:
            sent = self.sock.send(data)
        except self.would_block:
            sent = 0
        if sent < len(data):
            self.out.append(memoryview(data)[sent:])
            self.out_len += len(data) - sent

    def sendfile(self, file: IO[bytes], offset: int, count: int | None) -> int | None:
        """Queue ``count`` bytes of ``file`` for the kernel to copy; the loop drains them like any output.

        The file descriptor is duplicated, so the application may close its file at once (WSGI always
        does); the queued part keeps its own descriptor until it is sent or the connection closes.
        """
        if not self.sendfile_ok:
            return None
        try:
            fileno = file.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        if count is None:
            count = os.fstat(fileno).st_size - offset
        if count <= 0:
            return 0
        self.out.append(FilePart(os.dup(fileno), offset, count))
        if len(self.out) == 1:
            self.flush()  # usually all of it goes at once
        return count

    # -- output draining ------------------------------------------------------------------------

    def flush(self) -> bool:
        """Send what the socket takes now; True when nothing is left. OSError if the peer is gone."""
        out = self.out
        while out:
            item = out[0]
            if isinstance(item, FilePart):
                if not item.send(self.fd):
                    return False
                out.pop(0)
                continue
            try:
                sent = self.sock.send(item)
            except self.would_block:
                return False
            self.out_len -= sent
            if sent == len(item):
                out.pop(0)
            else:
                out[0] = item[sent:]
                return False
        return True

    def release(self) -> None:
        """The connection is closing: let go of queued file parts."""
        for item in self.out:
            if isinstance(item, FilePart):
                item.close()
        self.out.clear()
        self.out_len = 0

    def flush_blocking(self, target: int) -> None:
        """Wait until at most ``target`` bytes are pending, bounded by the stall timeout."""
        while self.out_len > target:
            if not self.flush():
                self.flow.wait(self.fd, select.POLLOUT)

    # -- BodySource for a body read while the app runs ------------------------------------------

    def read_body(self, size: int) -> bytes:
        if self.pending:
            chunk, self.pending = self.pending[:size], self.pending[size:]
            return chunk
        http = self.http
        state = http.their_state
        if state is not SEND_BODY and state is not ERROR:
            return b""  # the body has ended (an invalid one raises its error again, below)
        request = http.request  # (the app is running: its response was started, `Connection.respond`)
        interim = http.continue_bytes(request) if request is not None else b""  # b"" unless the client waits
        if interim:
            self.write(interim)
            self.flush_blocking(0)
        deadline = self.flow.deadline(time.monotonic())
        while True:
            event = http.next_event()
            if type(event) is Data:
                chunk, self.pending = event.data[:size], event.data[size:]
                return chunk
            if type(event) is EndOfMessage:
                return b""
            if event is not NEED_DATA:
                raise RemoteProtocolError(400, "unexpected event in request body")
            if not self.buffered():
                self.flow.wait(self.fd, select.POLLIN)
            if time.monotonic() > deadline:
                raise Stalled("request body too slow")
            try:
                data = self.sock.recv(READ_SIZE)
            except self.would_block:
                continue
            http.receive_data(data)

    def buffered(self) -> bool:
        """Bytes are readable that poll() would not announce."""
        return False


class TLSConn(Conn):
    """A connection over TLS (``sock`` is an ``ssl.SSLSocket``, non-blocking)."""

    __slots__ = ()
    would_block = (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError)

    def sendfile(self, file: IO[bytes], offset: int, count: int | None) -> int | None:
        return None  # the kernel cannot encrypt: the WSGI layer copies the file through write()

    def buffered(self) -> bool:
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        return sock.pending() > 0
