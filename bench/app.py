"""The one WSGI app every server in the benchmark runs (``app:application``, from this folder).

    /        hello world, 13 bytes
    /big     64 KiB
    /echo    reads the whole request body (the suite POSTs 4 KiB) and answers it
    /sleep   sleeps 10 ms, then hello world (an I/O-bound view)

It only needs ``REQUEST_METHOD`` and ``PATH_INFO`` for ``/`` and ``/big`` so that ``floor.py``,
which builds a minimal environ, can run it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

HELLO = b"Hello, World!"
BIG = b"x" * 65536
SLEEP = 0.010

_TEXT = ("Content-Type", "text/plain")
_HELLO_HEADERS = [_TEXT, ("Content-Length", str(len(HELLO)))]
_BIG_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO]
    if path == "/big":
        start_response("200 OK", _BIG_HEADERS)
        return [BIG]
    if path == "/echo":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path == "/sleep":
        time.sleep(SLEEP)
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO]
    start_response("404 Not Found", [_TEXT, ("Content-Length", "9")])
    return [b"not found"]
