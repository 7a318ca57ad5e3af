"""Fixtures for the functional tests: a server factory that always cleans up, and the worker kind.

`MONOCEROS_TEST_WORKER=stub` runs the master tests with `workers_stub.StubWorker` (no HTTP engine
needed); the default is the real `sync` worker when it can be imported.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Server, start_server

STUB = "workers_stub.StubWorker"


def _default_worker() -> str:
    choice = os.environ.get("MONOCEROS_TEST_WORKER", "")
    if choice:
        return STUB if choice == "stub" else choice
    try:
        importlib.import_module("monoceros.workers.sync").SyncWorker  # noqa: B018
    except (ImportError, AttributeError):
        return STUB
    return "sync"


@pytest.fixture(scope="session")
def worker_class() -> str:
    return _default_worker()


@pytest.fixture
def server_factory(tmp_path: Path, worker_class: str) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(args: list[str], **kwargs: Any) -> Server:
        kwargs.setdefault("worker_class", worker_class)
        server = start_server(args, tmp_path, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
