"""A minimal WSGI app, reachable as `fixtureapps.hello` (default name), `:app`, plus broken variants."""

from collections.abc import Callable, Iterable


def application(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


app = application
none_app = None
not_callable = 42
