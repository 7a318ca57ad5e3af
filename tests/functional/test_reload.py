"""`--reload` on a real master: an edit restarts the worker with the new code, a syntax error is served as
a 500 with its traceback until it is fixed (no restart loop), and `reload_extra_files` globs count too."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, wait_for

Factory = Callable[..., Server]
# Python trusts a cached .pyc whose source has the same size and the same mtime second: two versions
# written within one second would look the same to the import system (with Gunicorn too).
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}

APP = """
import os

def app(environ, start_response):
    body = ("{text} pid=%d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _write(path: Path, text: str) -> None:
    """Write a new version; its mtime moves on even within one clock tick of the last write."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def _body(server: Server) -> bytes | None:
    response = server.try_request("/")
    return None if response is None else response.body


@pytest.mark.parametrize(
    ("engine", "kind"),
    [("poll", None), ("inotify", None), ("auto", "gevent")],
    # (gevent: the reloader's thread is a greenlet; watchfiles would hold the hub, so it polls)
    ids=["poll", "inotify", "gevent"],
)
def test_an_edit_reloads_and_a_syntax_error_is_served_until_fixed(
    server_factory: Factory, tmp_path: Path, engine: str, kind: str | None
) -> None:
    if engine == "inotify":
        pytest.importorskip("watchfiles")
    if kind == "gevent":
        pytest.importorskip("gevent")
    source = tmp_path / "editedapp.py"
    _write(source, APP.format(text="v1"))
    server = server_factory(
        ["--workers", "1", "--reload", "--reload-engine", engine, "--graceful-timeout", "5"],
        app="editedapp:app",
        **({"worker_class": kind} if kind else {}),
    )
    assert server.request().body.startswith(b"v1 ")

    started = time.monotonic()
    _write(source, APP.format(text="v2"))
    wait_for(lambda: (_body(server) or b"").startswith(b"v2 "), timeout=10, what="the new code served")
    reload_seconds = time.monotonic() - started
    server.wait_log("Worker reloading: ")
    assert f"{source} modified" in server.log

    _write(source, APP.format(text="v3") + "\ndef broken(:\n")
    wait_for(lambda: server.try_request("/") is not None and server.request().status == 500, what="a 500")
    response = server.request()
    assert b"SyntaxError" in response.body
    assert "Error loading the application" in server.log
    booted = server.log.count("Booting worker with pid")
    pid = server.workers()
    # No restart loop: the worker that serves the error stays.
    for _ in range(3):
        assert server.request().status == 500
    assert server.workers() == pid
    assert server.log.count("Booting worker with pid") == booted

    _write(source, APP.format(text="v4"))
    wait_for(lambda: (_body(server) or b"").startswith(b"v4 "), timeout=10, what="the fixed code served")
    assert server.proc.poll() is None
    assert reload_seconds < 8  # (the bound is for a loaded machine; typically well under a second)


def test_extra_files_globs_reload_too(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "page.html"
    _write(template, "<p>1</p>")
    _write(tmp_path / "plainapp.py", APP.format(text="same"))
    server = server_factory(
        [
            "--workers",
            "1",
            "--reload",
            "--reload-engine",
            "poll",
            "--reload-extra-file",
            "templates/**/*.html",
        ],
        app="plainapp:app",
        env=NO_BYTECODE,
    )
    (first,) = server.wait_workers(1)
    _write(template, "<p>2</p>")
    wait_for(lambda: first not in server.workers() and len(server.workers()) == 1, what="a new worker")
    assert f"{template} modified" in server.log
    assert server.request().body.startswith(b"same ")


def test_a_misspelt_application_module_still_fails_to_boot(server_factory: Factory) -> None:
    """Only errors in the application's own files are served until fixed; a module that does not exist
    stops the server with Gunicorn's boot-error status, reload or not."""
    server = server_factory(["--workers", "1", "--reload"], app="no_such_module_here:app", ready=False)
    assert server.wait(15) == 3
    assert "No module named 'no_such_module_here'" in server.log


ASGI_APP = """
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("{text} pid=%d" % os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": body}})
"""


def test_reload_under_the_asgi_worker(server_factory: Factory, tmp_path: Path) -> None:
    """The same cycle for -k asgi: an edit is served, a syntax error is a 500 (an ASGI error app, which the
    lifespan in auto mode tolerates) until it is fixed."""
    source = tmp_path / "editedasgi.py"
    _write(source, ASGI_APP.format(text="v1"))
    server = server_factory(
        ["--workers", "1", "--reload", "--reload-engine", "poll", "--graceful-timeout", "5", "-k", "asgi"],
        app="editedasgi:app",
        env=NO_BYTECODE,
    )
    assert server.request().body.startswith(b"v1 ")
    _write(source, ASGI_APP.format(text="v2") + "\ndef broken(:\n")
    wait_for(lambda: server.try_request("/") is not None and server.request().status == 500, what="a 500")
    assert b"SyntaxError" in server.request().body
    _write(source, ASGI_APP.format(text="v3"))
    wait_for(lambda: (_body(server) or b"").startswith(b"v3 "), timeout=10, what="the fixed code served")
