"""Out of file descriptors: the worker does not spin on a listener it cannot accept from, and serves again
once descriptors are free."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness import Server, wait_for

Factory = Callable[..., Server]

CONFIG = """
import resource

def post_worker_init(worker):
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
"""


def test_emfile_pauses_accepting_then_recovers(server_factory: Factory, tmp_path: Path) -> None:
    conf = tmp_path / "limits.py"
    conf.write_text(CONFIG)
    server = server_factory(
        ["-c", str(conf), "--workers", "1", "--keep-alive", "30", "--timeout", "30"],
        app="servingapp:app",
        tcp=True,
    )
    held = []
    try:
        for _ in range(60):  # more than the worker can hold: the rest wait in the backlog
            held.append(server.connect())
        server.wait_log("accept() failed", timeout=10)
        # An observation window, not a wait for something: a spinning loop would log the failure
        # thousands of times a second, a paused one once a tick. (A busy machine only lowers the count.)
        time.sleep(1.5)
        assert server.log.count("accept() failed") < 10
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: server.try_request("/", timeout=3), 15, "the worker to serve again")
    assert server.request("/").status == 200
