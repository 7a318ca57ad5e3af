"""How the engine talks to one kind of socket: plain TCP/Unix, or TLS over them.

Both transports have one interface, so the engine's loop is the same for both and pays nothing for TLS
when it is off:

- ``wrap(sock)`` and ``conn_class`` / ``first_state``: a newly accepted socket, the ``Conn`` kind that
  writes to it, and the engine state it starts in (``HANDSHAKE`` for TLS);
- ``recv(conn)``: the bytes that can be read now (``b""`` at EOF), or None when none can;
- ``handshake(conn)``: drive a TLS handshake without blocking: 0 when done, else the epoll event it waits for
  (plain sockets have none to do);
- ``close_notify(conn)``: what to send before our side is shut (TLS: ``close_notify``, so the client can tell
  a complete response from a cut one).
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import TYPE_CHECKING, Any, ClassVar

from monoceros.workers.connection import HANDSHAKE, READ_SIZE, READING, Conn, TLSConn

if TYPE_CHECKING:
    from monoceros.workers.tls import WorkerTLS


class PlainTransport:
    """Sockets as they are."""

    conn_class: ClassVar[type[Conn]] = Conn
    first_state: ClassVar[str] = READING

    def wrap(self, sock: socket.socket) -> socket.socket:
        return sock

    def recv(self, conn: Conn) -> bytes | None:
        try:
            return conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None

    def handshake(self, conn: Conn) -> int:
        return 0

    def close_notify(self, conn: Conn) -> None:
        pass

    def tick(self, now: float) -> None:
        pass


class TLSTransport(PlainTransport):
    """TLS over accepted sockets: the handshake is one more engine state, driven by the loop."""

    conn_class = TLSConn
    first_state = HANDSHAKE

    def __init__(self, tls: WorkerTLS, log: Any) -> None:
        self.worker_tls = tls
        self.log = log
        self.cert_warning_at = 0.0  # a refused client certificate is logged as a warning from then on

    def wrap(self, sock: socket.socket) -> socket.socket:
        return self.worker_tls.wrap(sock)

    def recv(self, conn: Conn) -> bytes | None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            data = sock.recv(READ_SIZE)
            # Bytes already decrypted wait in the TLS layer, where epoll cannot see them: take them now.
            while sock.pending():
                data += sock.recv(READ_SIZE)
        except TLSConn.would_block:
            return None
        return data

    def handshake(self, conn: Conn, now: float = 0.0) -> int:
        """0 once the handshake is done (the connection's environ then carries its keys), or the epoll event
        to wait for; ``OSError`` when it failed (logged here)."""
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return select.EPOLLIN
        except ssl.SSLWantWriteError:
            return select.EPOLLOUT
        except OSError as exc:  # also plain HTTP sent to this port, or a refused client certificate
            if isinstance(exc, ssl.SSLCertVerificationError) and now >= self.cert_warning_at:
                # A certificate the server's rules refuse is a deployment problem (a CA or client
                # certificate lacking what strict verification needs): say it, once a minute at most.
                self.cert_warning_at = now + 60.0
                reason = exc.verify_message or exc.reason or str(exc)
                self.log.warning("TLS client certificate from %s refused: %s", conn.peer, reason)
            else:
                self.log.debug("TLS handshake with %s failed: %s", conn.peer, exc)
            raise
        conn.environ_builder = self.worker_tls.environ(conn.environ_builder, sock)
        return 0

    def close_notify(self, conn: Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.unwrap()
        except OSError:
            pass  # best effort: the client need not answer it, and a full socket buffer can refuse it

    def tick(self, now: float) -> None:
        self.worker_tls.tick(now)
