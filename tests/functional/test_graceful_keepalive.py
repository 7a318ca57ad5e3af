"""Keep-alive clients across every kind of graceful stop: no request sent on a kept-alive connection is lost.

A client that was told ``keep-alive`` may send its next request at any moment, also while the worker holding
its connection is being stopped (HUP, TTOU, the old generation after USR2, a master TERM). The worker must
answer it (with ``Connection: close``, so the client moves to a new connection) instead of closing the idle
connection under it. The clients here send requests back to back, as a busy proxy or client pool does, and
count every request that got no response.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, parse_response, pid_alive, read_response, wait_for

Factory = Callable[..., Server]
REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
CLIENTS = 4


class KeepAliveClient(threading.Thread):
    """Sends requests back to back on one connection; a new connection only when the server closes it."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.served: list[int] = []  # worker pid of every response
        self.failures: list[str] = []  # requests sent on an open connection that got no response
        self.closes = 0  # responses that said Connection: close
        self.refused = 0  # connections the server no longer accepted (after a master TERM)
        self.reconnect = threading.Event()  # the test asks for a new connection (to spread the clients)

    def run(self) -> None:
        self.sock: socket.socket | None = None
        try:
            self._loop()
        except BaseException as exc:  # counted, so the test reports it rather than a thread warning
            self.failures.append(f"client crashed: {exc!r}")
        finally:
            if self.sock is not None:
                self.sock.close()

    def _loop(self) -> None:
        sock: socket.socket | None = None
        while not self.stop.is_set():
            self.sock = sock
            if self.reconnect.is_set() and sock is not None:
                self.reconnect.clear()
                sock.close()
                sock = None
            if sock is None:
                try:
                    sock = self.sock = self.server.connect(timeout=10)
                except OSError:
                    self.refused += 1
                    if self.server.proc.poll() is not None:
                        return  # the server is gone: nothing left to ask
                    self.stop.wait(0.01)
                    continue
            try:
                sock.sendall(REQUEST)
                data = read_response(sock)
                response = parse_response(data)
            except (OSError, ValueError) as exc:
                self.failures.append(f"{exc!r} after {len(self.served)} responses")
                sock.close()
                sock = None
                continue
            self.served.append(int(response.body.split(b"=")[1]))
            if response.headers.get("connection", "").lower() == "close":
                self.closes += 1
                sock.close()
                sock = None
        self.sock = sock


def _start_clients(server: Server, workers: list[int]) -> list[KeepAliveClient]:
    """Clients with a connection open on every worker (each worker then has kept-alive clients to lose)."""
    clients = [KeepAliveClient(server) for _ in range(CLIENTS)]
    for client in clients:
        client.start()

    def spread() -> bool:
        if not all(len(c.served) >= 5 for c in clients):
            return False
        if {c.served[-1] for c in clients} >= set(workers):
            return True
        for client in clients:
            client.reconnect.set()
        return False

    wait_for(spread, what="clients on every worker")
    return clients


def _stop_clients(clients: list[KeepAliveClient]) -> None:
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(15)
        assert not client.is_alive()


def _served(clients: list[KeepAliveClient]) -> set[int]:
    return {pid for client in clients for pid in client.served}


def _failures(clients: list[KeepAliveClient]) -> list[str]:
    return [failure for client in clients for failure in client.failures]


def _total(clients: list[KeepAliveClient]) -> int:
    return sum(len(client.served) for client in clients)


KINDS = [
    ["--worker-class", "sync"],
    ["--worker-class", "gthread", "--threads", "2"],
    ["--worker-class", "gevent"],
]


@pytest.fixture(params=KINDS, ids=["sync", "gthread", "gevent"])
def kind(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def _args(kind: list[str], workers: int) -> list[str]:
    return ["--workers", str(workers), "--keep-alive", "30", "--graceful-timeout", "10", *kind]


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTTOU], ids=["HUP", "TTOU"])
def test_keep_alive_clients_lose_nothing_when_workers_stop(
    server_factory: Factory, kind: list[str], sig: signal.Signals
) -> None:
    server = server_factory(_args(kind, 2))
    old = server.wait_workers(2)
    clients = _start_clients(server, old)
    try:
        server.send(sig)
        # Until every old worker that is to go has gone, and the clients were served after that.
        leaving = old if sig == signal.SIGHUP else None
        if leaving is None:
            wait_for(lambda: len([p for p in old if pid_alive(p)]) == 1, what="one worker stopped")
        else:
            wait_for(lambda: not any(pid_alive(p) for p in leaving), what="the old workers to stop")
        count = _total(clients)
        wait_for(lambda: _total(clients) > count + 20, what="requests served after the stop")
    finally:
        _stop_clients(clients)
    assert _failures(clients) == []
    assert sum(c.closes for c in clients) >= 1  # the stopping worker told its clients to move
    if sig == signal.SIGHUP:
        assert _served(clients) - set(old), "no request reached the new workers"


def test_keep_alive_clients_lose_nothing_across_usr2_and_term(
    server_factory: Factory, kind: list[str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "m.pid"
    server = server_factory([*_args(kind, 2), "--pid", str(pidfile)])
    old = server.wait_workers(2)
    clients = _start_clients(server, old)
    try:
        server.send(signal.SIGUSR2)
        child_pidfile = Path(f"{pidfile}.2")
        wait_for(lambda: child_pidfile.exists() and child_pidfile.read_text().strip(), what="<pidfile>.2")
        new_master = int(child_pidfile.read_text())
        server.extra_pids.append(new_master)
        new = server.wait_workers(2, master=new_master)
        server.send(signal.SIGTERM)
        assert server.wait(20) == 0
        wait_for(lambda: _served(clients) & set(new), what="requests served by the new generation")
        count = _total(clients)
        wait_for(lambda: _total(clients) > count + 20, what="more requests served by the new generation")
    finally:
        _stop_clients(clients)
    assert _failures(clients) == []
    assert _served(clients) & set(old)


def test_keep_alive_clients_get_answers_until_the_master_stops(
    server_factory: Factory, kind: list[str]
) -> None:
    server = server_factory(_args(kind, 2))
    clients = _start_clients(server, server.wait_workers(2))
    try:
        server.send(signal.SIGTERM)
        assert server.wait(20) == 0
        for client in clients:
            client.join(15)  # each ends once the server refuses its new connection
    finally:
        _stop_clients(clients)
    # Every request sent on a kept-alive connection was answered; only new connections were refused.
    assert _failures(clients) == []
    assert all(c.closes >= 1 for c in clients)
