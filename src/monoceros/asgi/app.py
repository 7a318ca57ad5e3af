"""The two shapes of an ASGI application, and the one the server calls.

ASGI 3 (the current spec) is one coroutine callable ``app(scope, receive, send)``. ASGI 2 (the "double
callable") is ``app(scope)`` returning an instance whose ``await instance(receive, send)`` runs the exchange;
frameworks from before 2019 and some class-based apps still have it. ``as_asgi3`` turns either into the
first, so the worker only ever knows one.

Telling them apart (the spec gives no marker): a class is ASGI 2 (calling it with the scope builds the
instance); a function or an object whose ``__call__`` is a coroutine function is ASGI 3; anything else
callable is taken as ASGI 2. An app may also say ``asgi_version = "3.0"`` (or ``"2.0"``) itself, which wins.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_asgi3(app: Any) -> bool:
    declared = getattr(app, "asgi_version", None)
    if isinstance(declared, str) and declared[:1] in ("2", "3"):
        return declared.startswith("3")
    if inspect.isclass(app):
        return False
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 (the method itself is what is inspected)
    return inspect.iscoroutinefunction(call)


def as_asgi3(app: Any) -> ASGIApp:
    """``app`` as an ASGI 3 callable (itself when it is one already)."""
    if is_asgi3(app):
        return app  # type: ignore[no-any-return]

    async def asgi2(scope: Scope, receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    asgi2.__qualname__ = f"asgi2({getattr(app, '__qualname__', type(app).__name__)})"
    return asgi2
