"""A PasteDeploy application and filter for the functional tests (entry points named by `call:`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def make_app(global_conf: dict[str, str], greeting: str = "hello") -> App:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        logging.getLogger("pasteapps").warning("served %s", environ["PATH_INFO"])
        body = f"{greeting} from paste, region={global_conf.get('region', '-')}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def make_filter(global_conf: dict[str, str], header: str = "X-Filtered") -> Callable[[App], App]:
    def wrap(inner: App) -> App:
        def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                return start_response(status, [*headers, (header, "yes")], exc_info)

            return inner(environ, start)

        return app

    return wrap
