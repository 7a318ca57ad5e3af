"""`--paste` with a real PasteDeploy file: the app, its filter pipeline, `#name`, `--paste-global`, and the
file's `[loggers]` configuration, as under Gunicorn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, wait_for

Factory = Callable[..., Server]
pytest.importorskip("paste.deploy")

INI = """
[app:main]
use = call:pasteapps:make_app
greeting = hi

[app:other]
use = call:pasteapps:make_app
greeting = bonjour

[filter:tag]
use = call:pasteapps:make_filter
header = X-Tagged

[pipeline:tagged]
pipeline = tag other

[loggers]
keys = root, pasteapps

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
level = WARNING
handlers = file

[logger_pasteapps]
level = WARNING
handlers = file
qualname = pasteapps
propagate = 0

[handler_file]
class = FileHandler
args = ({logfile!r}, "a")
formatter = plain

[formatter_plain]
format = paste-log %(name)s %(message)s
"""


def _ini(tmp_path: Path) -> Path:
    path = tmp_path / "site.ini"
    path.write_text(INI.format(logfile=str(tmp_path / "paste.log")))
    return path


def test_paste_file_main_app_with_global_conf_and_its_loggers(
    server_factory: Factory, tmp_path: Path
) -> None:
    ini = _ini(tmp_path)
    server = server_factory(
        ["--workers", "1", "--paste", str(ini), "--paste-global", "region=eu"], app="ignored:app"
    )
    response = server.request("/x")
    assert response.body == b"hi from paste, region=eu"
    # The file's [loggers] became the logging configuration: the app's logger writes where it says.
    wait_for(
        lambda: "paste-log pasteapps served /x" in (tmp_path / "paste.log").read_text(), what="the log line"
    )


def test_paste_named_pipeline_applies_its_filter(server_factory: Factory, tmp_path: Path) -> None:
    ini = _ini(tmp_path)
    server = server_factory(["--workers", "1", "--paste", f"{ini}#tagged"], app="ignored:app")
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert b"\r\nX-Tagged: yes\r\n" in data
    assert data.endswith(b"bonjour from paste, region=-")


def test_a_missing_paste_file_is_one_line(server_factory: Factory, tmp_path: Path) -> None:
    server = server_factory(["--paste", str(tmp_path / "nope.ini")], app="ignored:app", ready=False)
    assert server.wait(10) == 1
    assert f"Error: paste: '{tmp_path / 'nope.ini'}' not found" in server.log
