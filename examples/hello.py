"""The demo application `make run` serves: Hello, World! in plain WSGI."""

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, World!"


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
