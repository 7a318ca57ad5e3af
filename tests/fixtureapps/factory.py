"""Application factories for `module:factory(...)` with literal arguments."""

from collections.abc import Callable, Iterable

App = Callable[[dict[str, object], Callable[..., object]], Iterable[bytes]]


def create_app(greeting: str = "hello", times: int = 1) -> App:
    body = (greeting * times).encode()

    def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def broken_factory() -> App:
    # A TypeError from inside the factory is an application bug, not a bad APP_MODULE.
    return len(42)  # type: ignore[arg-type]


def returns_none() -> None:
    return None


class AppClass:
    """A class is a valid factory too: its instances are the WSGI callables."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [self.name.encode()]
