"""The engine's connection as a WSGI transport, over a real socket pair: sendfile queued with its own file
descriptor (so the app may close its file at once), copied when sendfile is off, drained in order."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest

from monoceros.http import ConnectionFactory
from monoceros.workers.connection import Conn
from monoceros.workers.flow import FlowControl
from monoceros.wsgi import EnvironBuilder


@pytest.fixture
def pair() -> Iterator[tuple[Conn, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    env = EnvironBuilder("test", False, False).connection(("127.0.0.1", 1), ("127.0.0.1", 2))
    conn = Conn(ours, ("127.0.0.1", 1), ConnectionFactory()(), env, FlowControl(5.0))
    yield conn, theirs
    conn.release()
    ours.close()
    theirs.close()


def test_sendfile_outlives_the_apps_file(pair: tuple[Conn, socket.socket]) -> None:
    conn, peer = pair
    payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket takes at once
    with tempfile.TemporaryFile() as handle:
        handle.write(payload)
        handle.flush()
        conn.write(b"head;")
        assert conn.sendfile(handle, 0, None) == len(payload)
    # the app closed its file; the queued part still has its own descriptor
    conn.write(b";tail")
    received = b""
    peer.settimeout(5)
    while len(received) < len(payload) + 10:
        conn.flush()
        received += peer.recv(1 << 20)
    assert received == b"head;" + payload + b";tail"
    assert conn.flush()


def test_sendfile_off_means_copy(pair: tuple[Conn, socket.socket]) -> None:
    conn, _ = pair
    conn.sendfile_ok = False
    with tempfile.TemporaryFile() as handle:
        handle.write(b"abc")
        assert conn.sendfile(handle, 0, 3) is None


def test_release_closes_queued_file_parts(pair: tuple[Conn, socket.socket]) -> None:
    conn, peer = pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with tempfile.TemporaryFile() as handle:
        handle.write(b"x" * (4 << 20))
        handle.flush()
        conn.sendfile(handle, 0, None)
    part = conn.out[-1]
    fd = part.fd  # type: ignore[union-attr]
    conn.release()
    assert not conn.out
    with pytest.raises(OSError):
        os.fstat(fd)


def test_an_invalid_body_read_while_the_app_runs_fails_every_read(pair: tuple[Conn, socket.socket]) -> None:
    # An app that catches the error and reads on must not see the body end as if it were complete.
    from monoceros.http import InvalidChunkSize, Request

    conn, peer = pair
    conn.http.receive_data(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    request = conn.http.next_event()
    assert isinstance(request, Request)
    conn.http.respond(request)
    peer.sendall(b"zz\r\n")  # not a chunk size
    for _ in range(2):
        with pytest.raises(InvalidChunkSize):
            conn.read_body(100)
    assert peer.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # asked for once, before the body
