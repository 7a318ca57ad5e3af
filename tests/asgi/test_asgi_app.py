"""ASGI 2 and 3 applications are told apart and both called as ASGI 3."""

from __future__ import annotations

import asyncio
from typing import Any

from monoceros.asgi import as_asgi3, is_asgi3


async def asgi3_function(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "seen", "scope": scope["type"], "shape": 3})


class Asgi3Object:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": scope["type"], "shape": 3})


class Asgi2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": self.scope["type"], "shape": 2})


def asgi2_function(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        await send({"type": "seen", "scope": scope["type"], "shape": 2})

    return instance


class Declared:
    asgi_version = "2.0"

    def __call__(self, scope: Any) -> Any:
        return asgi2_function(scope)


def call(app: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(as_asgi3(app)({"type": "http"}, receive, send))
    return sent


def test_each_shape_is_recognised_and_called_the_same_way() -> None:
    for app, shape in (
        (asgi3_function, 3),
        (Asgi3Object(), 3),
        (Asgi2Class, 2),
        (asgi2_function, 2),
        (Declared(), 2),
    ):
        assert is_asgi3(app) is (shape == 3), app
        assert call(app) == [{"type": "seen", "scope": "http", "shape": shape}], app


def test_an_asgi3_app_is_not_wrapped() -> None:
    assert as_asgi3(asgi3_function) is asgi3_function
