"""The WSGI app of ``bench/gevent_bench.py`` (``gevent_app:application``, from this folder).

    /             hello world: 13 bytes, text/plain, with Content-Length
    /sleep?ms=N   ``gevent.sleep(N / 1000)``, then the same hello world

Both servers run it under their gevent worker, which has monkey-patched the process before importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import gevent

HELLO = b"Hello, World!"
_HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]
_NOT_FOUND_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "9")]


def _ms(query: str) -> int:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "ms" and value.isdigit():
            return int(value)
    return 0


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO]
    if path == "/sleep":
        gevent.sleep(_ms(environ.get("QUERY_STRING", "")) / 1000)
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO]
    start_response("404 Not Found", _NOT_FOUND_HEADERS)
    return [b"not found"]
