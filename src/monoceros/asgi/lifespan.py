"""The ASGI lifespan protocol: the application's startup and shutdown, run once per worker process.

``Lifespan(app, mode)`` calls the app with a ``lifespan`` scope in a task of its own and talks to it through
``receive``/``send``: ``startup()`` sends ``lifespan.startup`` and waits for the answer, ``shutdown()`` sends
``lifespan.shutdown`` and waits for the answer, then for the app's call to return. ``state`` is the dict the
app fills during startup; every request scope gets a shallow copy of it (the spec's ``state``).

``mode`` is Gunicorn 27's ``asgi_lifespan`` (and uvicorn's ``--lifespan``):

- ``on``: the app must speak lifespan. Failing to (raising, or returning before it answered) is a failed
  startup: ``LifespanFailed``, which stops the worker with the boot error code.
- ``auto``: an app that raises or returns before answering ``lifespan.startup`` does not speak it
  (``LifespanUnsupported`` is raised for the worker to log once, and serving goes on without lifespan). An
  app that answers ``lifespan.startup.failed`` does speak it, and has failed: ``LifespanFailed``.
- ``off``: the app is never called with a lifespan scope.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .app import ASGIApp, Message

MODES = ("auto", "on", "off")


class LifespanFailed(Exception):
    """The application's startup (or shutdown) failed; ``args[0]`` says how."""


class LifespanUnsupported(Exception):
    """(``auto``) The application does not speak the lifespan protocol; serve without it."""


class Lifespan:
    """One worker's lifespan exchange with the application."""

    def __init__(self, app: ASGIApp, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"asgi_lifespan must be auto, on or off, not {mode!r}")
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = False  # the app answered lifespan.startup
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._answers: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def startup(self) -> None:
        """Run the app's startup; returns once it completed. ``LifespanFailed`` / ``LifespanUnsupported``."""
        if self.mode == "off":
            return
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self._task = asyncio.ensure_future(self._run(scope))
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._answer()
        kind = answer.get("type")
        if kind == "lifespan.startup.complete":
            self.supported = True
            return
        if kind == "lifespan.startup.failed":
            self.supported = True
            raise LifespanFailed(f"application startup failed: {answer.get('message') or '(no message)'}")
        self._unanswered("startup", answer)

    async def shutdown(self) -> None:
        """Run the app's shutdown (if its startup ran) and wait for its lifespan call to return."""
        if self._task is None or not self.supported or self._task.done():
            return  # (an app may return once its startup is done: it has nothing to shut down)
        await self._inbox.put({"type": "lifespan.shutdown"})
        answer = await self._answer()
        kind = answer.get("type")
        await asyncio.wait([self._task])
        if kind == "lifespan.shutdown.complete":
            return
        if kind == "lifespan.shutdown.failed":
            raise LifespanFailed(f"application shutdown failed: {answer.get('message') or '(no message)'}")
        self._unanswered("shutdown", answer)

    def request_state(self) -> dict[str, Any]:
        """The ``state`` of a request scope: a shallow copy, so a request's changes stay its own."""
        return dict(self.state)

    # -- the app's side ---------------------------------------------------------------------------

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:  # the app's error ends its lifespan; `_answer` reports it
            self._error = exc
        finally:
            await self._answers.put({"type": "monoceros.lifespan.returned"})

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        expected = (
            ("lifespan.startup.complete", "lifespan.startup.failed")
            if not self.supported
            else (
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
            )
        )
        if kind not in expected:
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}; expected one of {expected}")
        await self._answers.put(message)

    async def _answer(self) -> Message:
        return await self._answers.get()

    def _unanswered(self, phase: str, answer: Message) -> None:
        """The app's call returned (or raised) without answering ``phase``."""
        error = self._error
        if phase == "shutdown" and error is None:
            return  # it returned after its startup: there was nothing to shut down
        how = f"raised {type(error).__name__}: {error}" if error is not None else "returned without answering"
        if phase == "startup" and self.mode == "auto":
            raise LifespanUnsupported(f"the application does not support ASGI lifespan ({how})") from error
        raise LifespanFailed(f"application {phase} failed: its lifespan call {how}") from error
