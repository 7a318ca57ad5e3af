"""The sync workers' hand-off: the channel the master makes through ``Worker.shared_state``, and the guard
that moves a busy worker's idle connections into it. Real sockets, a real epoll, the guard's own thread."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator

import pytest

from monoceros.config import Config
from monoceros.http import ConnectionFactory
from monoceros.workers.connection import BUSY, IDLE, Conn
from monoceros.workers.flow import FlowControl
from monoceros.workers.handoff import BUSY_AFTER, BusyGuard, HandoffChannel, receive_connection
from monoceros.workers.sync import SyncWorker
from monoceros.wsgi import EnvironBuilder


def cfg(**settings: object) -> Config:
    c = Config()
    for name, value in {"workers": 2, **settings}.items():
        c.set(name, value)
    return c


@pytest.mark.parametrize(
    ("settings", "usable"),
    [
        ({}, True),
        ({"workers": 1}, False),  # nobody to pass to
        ({"keepalive": 0}, False),  # no idle connections
        ({"proxy_protocol": "v1"}, False),  # the PROXY header was read in this worker
    ],
)
def test_the_channel_exists_only_where_connections_can_move(
    settings: dict[str, object], usable: bool
) -> None:
    shared = SyncWorker.shared_state(cfg(**settings), None)
    assert isinstance(shared, HandoffChannel) is usable
    if shared is not None:
        shared.close()


def test_the_channel_is_kept_across_reloads() -> None:
    first = SyncWorker.shared_state(cfg(), None)
    assert first is not None
    try:
        # old and new workers must share one channel, or a connection passed by an old one is stranded
        assert SyncWorker.shared_state(cfg(), first) is first
        assert SyncWorker.shared_state(cfg(workers=1), first) is None
    finally:
        first.close()


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        ours, _ = server.accept()
    ours.setblocking(False)
    return ours, client


CLIENTS: list[socket.socket] = []


@pytest.fixture
def guarded() -> Iterator[tuple[BusyGuard, dict[int, Conn], HandoffChannel, select.epoll]]:
    channel = HandoffChannel()
    epoll = select.epoll()
    conns: dict[int, Conn] = {}
    guard = BusyGuard(conns, epoll, channel.sender)
    guard.start()
    yield guard, conns, channel, epoll
    guard.busy_since = 0.0
    for conn in conns.values():
        conn.sock.close()
    while CLIENTS:
        CLIENTS.pop().close()
    epoll.close()
    channel.close()


def make_conn(conns: dict[int, Conn], epoll: select.epoll, state: str) -> tuple[Conn, socket.socket]:
    ours, client = tcp_pair()
    env = EnvironBuilder("test", False, False).connection(("127.0.0.1", 1), ("127.0.0.1", 2))
    conn = Conn(ours, client.getsockname(), ConnectionFactory()(), env, FlowControl(5.0))
    conn.state = state
    conn.listener_fd = 5  # the listener it came from, as the receiving worker is told
    conns[conn.fd] = conn
    CLIENTS.append(client)
    epoll.register(conn.fd, select.EPOLLIN)
    return conn, client


def wait_for(condition: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_busy_worker_passes_its_idle_connections_on(
    guarded: tuple[BusyGuard, dict[int, Conn], HandoffChannel, select.epoll],
) -> None:
    guard, conns, channel, epoll = guarded
    idle, idle_client = make_conn(conns, epoll, IDLE)
    busy, _ = make_conn(conns, epoll, BUSY)  # the one the app is running for stays
    idle_client.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")  # already sent: it moves with the socket
    guard.busy_since = time.monotonic()
    received = None

    def arrived() -> bool:
        nonlocal received
        received = receive_connection(channel.receiver)
        return received is not None

    wait_for(arrived)
    moved = guard.call_done()
    assert moved == [idle]
    assert received is not None
    sock, listener_fd = received
    assert listener_fd == 5
    with sock:
        assert os.path.sameopenfile(sock.fileno(), idle.fd)  # the very connection, intact
        sock.setblocking(True)
        assert sock.recv(100).startswith(b"GET /next ")


def test_nothing_moves_before_the_call_is_slow_or_after_it_returned(
    guarded: tuple[BusyGuard, dict[int, Conn], HandoffChannel, select.epoll],
) -> None:
    guard, conns, channel, epoll = guarded
    make_conn(conns, epoll, IDLE)
    guard.busy_since = time.monotonic() + 3600  # "busy" from a moment far ahead: never slow enough
    time.sleep(BUSY_AFTER * 3)  # the guard's own period is the point here: it must have looked and refused
    assert guard.call_done() == []
    assert receive_connection(channel.receiver) is None


def test_a_connection_with_bytes_in_the_parser_stays(
    guarded: tuple[BusyGuard, dict[int, Conn], HandoffChannel, select.epoll],
) -> None:
    guard, conns, channel, epoll = guarded
    conn, _ = make_conn(conns, epoll, IDLE)
    conn.http.receive_data(b"GET /half")  # part of a request is ours already: it cannot move
    other, _ = make_conn(conns, epoll, IDLE)
    guard.busy_since = time.monotonic()
    wait_for(lambda: bool(guard.moved))
    assert guard.call_done() == [other]
