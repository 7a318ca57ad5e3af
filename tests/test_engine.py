"""The I/O engine without a network or a clock: a socket that takes only what the test lets it, and time moved
by hand (``Engine.now`` and ``Engine._tick(now)``), so every deadline and ordering rule is checked exactly.

The engine, the runner, the worker and the logger are the real ones, built from a real ``Config``; the
connection's descriptor is a real socket's (epoll watches it), its reads and writes go to ``FakeSocket``.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monoceros.config import Config
from monoceros.http import Request
from monoceros.workers.connection import BUSY, IDLE, LINGER, READING, WRITING, Conn
from monoceros.workers.engine import LINGER_MAX, LINGER_TIME, Engine
from monoceros.workers.running import Inline, ThreadPool
from monoceros.workers.serving import RequestRunner
from monoceros.workers.sync import SyncWorker

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"


class FakeSocket:
    """Takes at most ``window`` more bytes (then "would block"); reads come from ``incoming``."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.sent = bytearray()
        self.window = 1 << 30
        self.incoming: list[bytes] = []
        self.shut = False

    def fileno(self) -> int:
        return self.real.fileno()

    def getsockname(self) -> Any:
        return ("127.0.0.1", 8000)

    def send(self, data: Any) -> int:
        size = min(len(data), self.window)
        if size == 0:
            raise BlockingIOError
        self.sent += bytes(data[:size])
        self.window -= size
        return size

    def recv(self, size: int) -> bytes:
        if not self.incoming:
            raise BlockingIOError
        return self.incoming.pop(0)

    def shutdown(self, how: int) -> None:
        self.shut = True

    def close(self) -> None:
        self.real.close()


class Listening:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def getsockname(self) -> Any:
        return ("127.0.0.1", 8000)

    def close(self) -> None:
        pass


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    body = b"x" * 100_000 if path == "/big" else path.encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Engine, Conn, FakeSocket]]]:
    made: list[tuple[Engine, socket.socket]] = []

    def build(strategy: Inline | None = None, **settings: object) -> tuple[Engine, Conn, FakeSocket]:
        cfg = Config()
        for name, value in settings.items():
            cfg.set(name, value)
        worker = SyncWorker(1, os.getppid(), [], None, 30.0, cfg, cfg.logger_class(cfg))  # type: ignore[arg-type]
        worker.wsgi = app
        worker.PIPE = os.pipe()
        for fd in worker.PIPE:
            os.set_blocking(fd, False)
        threaded = isinstance(strategy, ThreadPool)
        engine = Engine(worker, RequestRunner(worker, multithread=threaded), strategy)
        ours, theirs = socket.socketpair()
        made.append((engine, theirs))
        engine.clock = lambda: engine.now  # time moves only when a test moves it
        engine.now = 1000.0
        conn = engine.adopt(ours, ("127.0.0.1", 40000), Listening(ours))
        fake = FakeSocket(ours)
        conn.sock = fake  # type: ignore[assignment]
        return engine, conn, fake

    yield build
    for engine, theirs in made:
        for conn in list(engine.conns.values()):
            engine.close(conn)
        engine.strategy.stop()
        theirs.close()
        for fd in engine.worker.PIPE:
            os.close(fd)


def responses(fake: FakeSocket) -> list[bytes]:
    """The status lines and bodies sent, in order (hello-sized bodies only)."""
    return [part.split(b"\r\n\r\n", 1)[1] for part in bytes(fake.sent).split(b"HTTP/1.1 ")[1:]]


def test_keep_alive_deadline(make: Callable[..., tuple[Engine, Conn, FakeSocket]]) -> None:
    engine, conn, fake = make(keepalive=2)
    engine.received(conn, GET)
    assert responses(fake) == [b"/a"]
    assert conn.state == IDLE and conn.deadline == 1002.0
    engine._tick(1001.9)
    assert not conn.closed
    engine._tick(1002.0)
    assert conn.closed


def test_a_request_must_arrive_within_the_timeout(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make(timeout=10)
    engine.received(conn, GET)
    engine.now = 1001.0
    engine.received(conn, b"GET /b HTTP/1.1\r\n")  # half a head: the request clock starts now
    assert conn.state == READING and conn.deadline == 1011.0
    engine._tick(1010.9)
    assert not conn.closed
    engine._tick(1011.0)
    assert conn.closed and responses(fake) == [b"/a"]  # nothing was answered for the half


def test_a_reader_that_stalls_is_dropped_at_the_stall_bound(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make(timeout=10)
    fake.window = 1000  # the client reads the first kilobyte, then nothing
    engine.received(conn, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.state == WRITING and conn.out_len > 0
    assert conn.deadline == engine.flow.deadline(1000.0) == 1008.0  # 80 % of the timeout
    engine._tick(1007.9)
    assert not conn.closed
    engine._tick(1008.0)
    assert conn.closed


def test_a_reader_that_takes_something_keeps_its_connection(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make(timeout=10)
    fake.window = 1000
    engine.received(conn, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    engine.now = 1007.0
    fake.window = 1000
    engine.on_writable(conn)  # a little progress moves the deadline
    assert conn.deadline == 1015.0
    fake.window = 1 << 30
    engine.now = 1014.0
    engine.on_writable(conn)
    assert conn.state == IDLE and not conn.out


def test_pipelined_requests_wait_for_the_response_before_them(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make()
    fake.window = 10  # the first response cannot go out whole
    engine.received(conn, GET + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.state == WRITING and len(fake.sent) == 10  # /b is not started while /a is being written
    fake.window = 1 << 30
    engine.on_writable(conn)
    assert responses(fake) == [b"/a", b"/b"] and conn.state == IDLE


def test_a_refused_request_lingers_while_the_client_sends(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make()
    engine.received(conn, b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
    assert fake.sent.startswith(b"HTTP/1.1 400 ") and fake.shut
    assert conn.state == LINGER and conn.deadline == 1000.0 + LINGER_TIME
    now = 1000.0
    while now < 1000.0 + LINGER_MAX:  # the rest of a refused upload keeps coming
        now += LINGER_TIME / 2
        engine.now = now
        engine.received(conn, b"more")
        assert conn.deadline == min(now + LINGER_TIME, 1000.0 + LINGER_MAX)
        engine._tick(now)
    assert conn.closed  # but never for longer than LINGER_MAX in all


def test_a_stop_shortens_the_keep_alive_of_idle_connections(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make(keepalive=5)
    engine.received(conn, GET)
    engine.worker.stop_linger = 0.5
    engine.worker.alive = False  # as the TERM handler leaves it
    engine._begin_stop(1001.0)
    assert conn.deadline == 1001.5
    engine.received(conn, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")  # a request already on its way is served
    assert responses(fake) == [b"/a", b"/b"]
    assert b"Connection: close\r\n" in bytes(fake.sent).split(b"HTTP/1.1 ")[2]
    assert conn.state == LINGER


def test_the_last_request_of_max_requests_says_close(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    engine, conn, fake = make()
    engine.worker.max_requests = 2
    engine.received(conn, GET)
    engine.received(conn, GET)
    first, second = bytes(fake.sent).split(b"HTTP/1.1 ")[1:]
    assert b"Connection: keep-alive" in first and b"Connection: close" in second
    assert not engine.worker.alive


def wait_readable(fd: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    assert poller.poll(10_000), "the application thread never handed the connection back"


def test_the_thread_pool_hands_connections_back_through_the_loop(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]],
) -> None:
    pool = ThreadPool(2, warn_every=0.0, takeover=0)  # (the pool's path: no inline calls)
    engine, conn, fake = make(pool)
    pool.start()
    engine.received(conn, GET + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.state == BUSY  # in a thread now; the loop does not touch it
    for expected in ([b"/a"], [b"/a", b"/b"]):
        wait_readable(engine.worker.PIPE[0])
        engine._drain_wakeups()  # the loop takes the connection back and goes on with the next request
        if conn.state == BUSY:
            assert responses(fake) == expected
    assert responses(fake) == [b"/a", b"/b"] and conn.state == IDLE


def test_a_request_running_long_in_a_thread_is_logged(
    make: Callable[..., tuple[Engine, Conn, FakeSocket]], capsys: pytest.CaptureFixture[str]
) -> None:
    pool = ThreadPool(1, warn_every=10.0)
    engine, conn, _ = make(pool)
    conn.state = BUSY  # as `dispatch` leaves it, without a thread to finish it
    conn.current = Request("GET", "/slow", "/slow", "", "", (1, 1), [], [], None, False, True, False)
    conn.busy_since, conn.warn_at = 1000.0, 1010.0
    pool.tick(1009.9)
    assert "still running" not in capsys.readouterr().err
    pool.tick(1010.0)
    assert "Request still running after 10s: GET /slow" in capsys.readouterr().err
    assert conn.warn_at == 1020.0
