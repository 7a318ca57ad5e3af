"""A Flask application served by a real master, read with urllib3 (the client most Python code uses)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3
from harness import Server, wait_for

Factory = Callable[..., Server]


@pytest.mark.parametrize("kind", [["sync"], ["gthread", "--threads", "4"]], ids=["sync", "gthread"])
def test_flask_app_is_served(server_factory: Factory, kind: list[str]) -> None:
    server = server_factory(["--workers", "2", "--worker-class", *kind], app="flaskapp:app", tcp=True)
    base = f"http://{server.address}"
    with urllib3.PoolManager(retries=False) as http:
        response = http.request("GET", base + "/")
        assert response.status == 200
        assert response.data == b"flask says hello"
        response = http.request("POST", base + "/json", body=json.dumps({"a": [1, 2]}).encode())
        assert json.loads(response.data) == {"received": {"a": [1, 2]}, "method": "POST", "path": "/json"}
        response = http.request("POST", base + "/form", fields={"b": "2", "a": "1"}, encode_multipart=False)
        assert response.data == b"a=1,b=2"
        response = http.request("GET", base + "/stream")
        assert response.data == b"line 0\nline 1\nline 2\n"
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert http.request("GET", base + "/missing-here").status == 404
        assert http.request("GET", base + "/does-not-exist").status == 404
        # all of it over one kept-alive connection per pool
        assert http.connection_from_url(base).num_connections == 1


@pytest.mark.parametrize("kind", [["sync"], ["gthread", "--threads", "4"]], ids=["sync", "gthread"])
def test_flask_logger_lands_in_the_error_log(
    server_factory: Factory, kind: list[str], tmp_path: Path
) -> None:
    """``wsgi.errors`` is the error log, as in Gunicorn: Flask's app.logger goes to --error-logfile."""
    errors = tmp_path / "errors.log"
    server = server_factory(
        ["--workers", "1", "--error-logfile", str(errors), "--worker-class", *kind],
        app="flaskapp:app",
        tcp=True,
    )
    with urllib3.PoolManager(retries=False) as http:
        assert http.request("GET", f"http://{server.address}/log?marker=m-{id(errors)}").data == b"logged"
    wait_for(lambda: f"flask logged m-{id(errors)}" in errors.read_text(), what="the line in the error log")
    assert f"m-{id(errors)}" not in server.log  # not on the console


@pytest.mark.parametrize("kind", [["sync"], ["gthread", "--threads", "4"]], ids=["sync", "gthread"])
def test_flask_upload_and_send_file(server_factory: Factory, kind: list[str]) -> None:
    server = server_factory(["--workers", "1", "--worker-class", *kind], app="flaskapp:app", tcp=True)
    base = f"http://{server.address}"
    photo = os.urandom(3 << 20)  # past the 1 MiB kept in memory: spooled to a file before the app runs
    with urllib3.PoolManager(retries=False) as http:
        response = http.request(
            "POST",
            base + "/upload",
            fields={
                "title": "holiday",
                "photo": ("beach.jpg", photo, "image/jpeg"),
                "note": ("a.txt", b"hi"),
            },
        )
        assert response.status == 200
        got = json.loads(response.data)
        assert got["fields"] == {"title": "holiday"}
        assert got["files"]["photo"] == {
            "filename": "beach.jpg",
            "size": len(photo),
            "sha256": hashlib.sha256(photo).hexdigest(),
        }
        assert got["files"]["note"]["size"] == 2
        response = http.request("GET", base + "/download")
        assert response.status == 200
        assert response.data == bytes(range(256)) * 4096 + b"!"
        assert response.headers["Content-Disposition"].startswith("attachment")
