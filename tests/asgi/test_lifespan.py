"""The lifespan protocol against applications that speak it well, badly, or not at all, in each mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from monoceros.asgi import Lifespan, LifespanFailed, LifespanUnsupported

Events = list[str]


def speaking(events: Events, startup: str = "complete", shutdown: str = "complete") -> Callable[..., Any]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan" and scope["asgi"]["version"] == "3.0"
        message = await receive()
        assert message["type"] == "lifespan.startup"
        scope["state"]["db"] = "connected"
        events.append("startup")
        await send({"type": f"lifespan.startup.{startup}", "message": "no database"})
        if startup != "complete":
            return
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        events.append("shutdown")
        await send({"type": f"lifespan.shutdown.{shutdown}", "message": "flush failed"})

    return app


async def http_only(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")  # what frameworks without lifespan do


async def returns_at_once(scope: Any, receive: Any, send: Any) -> None:
    return None


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_startup_and_shutdown_run_in_order_and_state_reaches_requests() -> None:
    events: Events = []

    async def go() -> dict[str, Any]:
        lifespan = Lifespan(speaking(events), "on")
        await lifespan.startup()
        state = lifespan.request_state()
        state["per_request"] = True  # a request's own changes
        assert "per_request" not in lifespan.state
        await lifespan.shutdown()
        return state

    assert run(go()) == {"db": "connected", "per_request": True}
    assert events == ["startup", "shutdown"]


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_a_startup_the_app_reports_failed_fails_in_both_modes(mode: str) -> None:
    async def go() -> None:
        await Lifespan(speaking([], startup="failed"), mode).startup()

    with pytest.raises(LifespanFailed, match="application startup failed: no database"):
        run(go())


def test_a_failed_shutdown_is_reported() -> None:
    async def go() -> None:
        lifespan = Lifespan(speaking([], shutdown="failed"), "auto")
        await lifespan.startup()
        await lifespan.shutdown()

    with pytest.raises(LifespanFailed, match="shutdown failed: flush failed"):
        run(go())


@pytest.mark.parametrize("app", [http_only, returns_at_once])
def test_auto_tolerates_an_app_without_lifespan(app: Callable[..., Any]) -> None:
    async def go() -> Lifespan:
        lifespan = Lifespan(app, "auto")
        with pytest.raises(LifespanUnsupported):
            await lifespan.startup()
        await lifespan.shutdown()  # nothing to shut down: returns at once
        return lifespan

    assert run(go()).supported is False


@pytest.mark.parametrize(("app", "how"), [(http_only, "raised ValueError"), (returns_at_once, "returned")])
def test_on_requires_lifespan(app: Callable[..., Any], how: str) -> None:
    async def go() -> None:
        await Lifespan(app, "on").startup()

    with pytest.raises(LifespanFailed, match=how):
        run(go())


def test_off_never_calls_the_app() -> None:
    called: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    async def go() -> None:
        lifespan = Lifespan(app, "off")
        await lifespan.startup()
        await lifespan.shutdown()

    run(go())
    assert called == []


def test_an_app_that_returns_after_its_startup_has_nothing_to_shut_down() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    async def go() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await lifespan.shutdown()  # whether its task has returned yet or not

    run(go())


def test_an_app_that_raises_during_shutdown_fails_it() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("pool already closed")

    async def go() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await lifespan.shutdown()

    with pytest.raises(LifespanFailed, match="shutdown failed: .*raised RuntimeError: pool already closed"):
        run(go())


def test_a_message_out_of_turn_fails_the_startup() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.shutdown.complete"})  # answers the wrong question

    async def go() -> None:
        await Lifespan(app, "on").startup()

    with pytest.raises(LifespanFailed, match="unexpected ASGI lifespan message"):
        run(go())


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, on or off"):
        Lifespan(http_only, "sometimes")
