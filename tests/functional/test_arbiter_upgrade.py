"""USR2 binary upgrade: a new master inherits the sockets; TERM to the old one loses no request."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from harness import Server, pid_alive, wait_for


def _client_loop(server: Server, stop: threading.Event, served: list[int], failures: list[str]) -> None:
    while not stop.is_set():
        try:
            served.append(server.request(timeout=5).worker_pid)
        except (OSError, ValueError, AssertionError) as exc:
            failures.append(repr(exc))


def test_usr2_then_term_old_master_serves_all_along(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    pidfile = tmp_path / "m.pid"
    server = server_factory(["--graceful-timeout", "5", "--workers", "2", "--pid", str(pidfile)])
    old_workers = server.wait_workers(2)
    stop, served, failures = threading.Event(), [], []  # type: ignore[var-annotated]
    client = threading.Thread(target=_client_loop, args=(server, stop, served, failures))
    client.start()
    try:
        server.send(signal.SIGUSR2)
        child_pidfile = Path(f"{pidfile}.2")
        wait_for(lambda: child_pidfile.exists() and child_pidfile.read_text().strip(), what="<pidfile>.2")
        new_master = int(child_pidfile.read_text())
        server.extra_pids.append(new_master)
        new_workers = server.wait_workers(2, master=new_master)
        assert pidfile.read_text() == f"{server.pid}\n"

        server.send(signal.SIGTERM)
        assert server.wait(10) == 0
        server.wait_log("Master has been promoted.")
        wait_for(
            lambda: pidfile.exists() and pidfile.read_text() == f"{new_master}\n", what="pidfile renamed"
        )
        assert not child_pidfile.exists()
        assert os.path.exists(server.address[5:])  # the old master left the shared socket in place
        count = len(served)
        wait_for(lambda: len(served) > count + 5, what="requests served by the new master")
    finally:
        stop.set()
        client.join(10)
    assert failures == []
    assert set(served) & set(old_workers) and set(served) & set(new_workers)
    assert served[-1] in new_workers

    os.kill(new_master, signal.SIGTERM)
    wait_for(lambda: not pid_alive(new_master), what="the new master to stop")
    assert not os.path.exists(server.address[5:])  # the promoted master owns the socket now
    assert not pidfile.exists()


def test_second_usr2_is_ignored_while_a_child_exists(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    pidfile = tmp_path / "m.pid"
    server = server_factory(["--graceful-timeout", "2", "--workers", "1", "--pid", str(pidfile)])
    server.wait_workers(1)
    server.send(signal.SIGUSR2)
    child_pidfile = Path(f"{pidfile}.2")
    wait_for(lambda: child_pidfile.exists() and child_pidfile.read_text().strip(), what="<pidfile>.2")
    new_master = int(child_pidfile.read_text())
    server.extra_pids.append(new_master)
    server.send(signal.SIGUSR2)
    server.wait_log("USR2 signal ignored. Child exists.")
    os.kill(new_master, signal.SIGUSR2)
    server.wait_log("USR2 signal ignored. Parent exists.")
    os.kill(new_master, signal.SIGQUIT)
    wait_for(lambda: not pid_alive(new_master), what="the new master to stop")
    assert os.path.exists(server.address[5:])  # a re-exec'd master never unlinks the shared socket
    assert server.request().status == 200
