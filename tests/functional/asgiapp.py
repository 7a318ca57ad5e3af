"""A raw ASGI 3 application for the ASGI worker's tests: the routes of ``servingapp`` (so the framing,
keep-alive and slow-client tests run against ``-k asgi`` unchanged) and the ASGI-only ones.

The lifespan startup puts ``{"started": pid}`` into the state; ``ASGIAPP_STARTUP=fail`` makes it answer
``lifespan.startup.failed``, ``=raise`` raise. ``ASGIAPP_EVENTS`` names a file where lifespan and
disconnect events are appended (what tests wait on).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from typing import Any

BIG = b"x" * (4 << 20)
Scope = dict[str, Any]


def _event(text: str) -> None:
    path = os.environ.get("ASGIAPP_EVENTS")
    if path:
        with open(path, "a") as file:
            file.write(text + "\n")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            mode = os.environ.get("ASGIAPP_STARTUP", "")
            if mode == "raise":
                raise RuntimeError("startup raised on purpose")
            if mode == "fail":
                await send({"type": "lifespan.startup.failed", "message": "the database is down"})
                return
            _event(f"startup {os.getpid()}")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            _event(f"shutdown {os.getpid()}")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("client gone")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _text(send: Any, body: bytes, status: int = 200, headers: list[Any] | None = None) -> None:
    head = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _scope_json(scope: Scope) -> bytes:
    shown = {
        key: value
        for key, value in scope.items()
        if key not in ("headers", "state", "raw_path", "query_string", "extensions")
    }
    shown["headers"] = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]]
    shown["raw_path"] = scope["raw_path"].decode("latin-1")
    shown["query_string"] = scope["query_string"].decode("latin-1")
    shown["state"] = dict(scope.get("state", {}))
    return json.dumps(shown).encode()


def _route(scope: Scope) -> str:
    """The path under the app's mount point (the scope's path includes root_path)."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _http(scope: Scope, receive: Any, send: Any) -> None:
    path = _route(scope)
    if path.startswith("/scope"):
        path = "/scope"
    query = scope["query_string"].decode()
    if path == "/echo":
        await _text(send, await _body(receive))
    elif path == "/digest":
        digest, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            if not message.get("more_body"):
                break
        await _text(send, b"%d %s pid=%d" % (size, digest.hexdigest().encode(), os.getpid()))
    elif path == "/slowread":
        # Reads its body a piece at a time with pauses: the worker must not buffer it all meanwhile.
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            await asyncio.sleep(0.001)
            if not message.get("more_body"):
                break
        await _text(send, b"%d" % size)
    elif path == "/stream":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        await _text(send, BIG)
    elif path in ("/file", "/bigfile"):
        data = b"0123456789" * 10000 if path == "/file" else BIG
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            await send({"type": "http.response.pathsend", "path": handle.name})
        finally:
            os.unlink(handle.name)
    elif path == "/sleep":
        print(f"app: /sleep?{query} started", file=sys.stderr, flush=True)
        await asyncio.sleep(float(query or "1"))
        await _text(send, b"pid=%d" % os.getpid())
    elif path == "/block":
        print(f"app: /block?{query} started", file=sys.stderr, flush=True)
        time.sleep(float(query or "1"))  # blocks the event loop, on purpose
        await _text(send, b"pid=%d" % os.getpid())
    elif path == "/error":
        raise RuntimeError("the application failed on purpose")
    elif path == "/error-after":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        raise RuntimeError("the application failed after starting on purpose")
    elif path == "/nothing":
        return  # returns without a response
    elif path == "/noread":
        await _text(send, b"ignored the body")
    elif path == "/environ":
        # servingapp's /environ, read off the scope
        headers = {name.decode(): value.decode("latin-1") for name, value in scope["headers"]}
        client = scope["client"]
        keys = {
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
            "HTTP_X_TEST": headers.get("x-test"),
            "wsgi.url_scheme": scope["scheme"],
            "REMOTE_ADDR": client[0] if client else "",
            "HTTP_X_FORWARDED_FOR": headers.get("x-forwarded-for"),
        }
        await _text(send, "\n".join(f"{key}={value}" for key, value in keys.items()).encode())
    elif path == "/scope":
        await _text(send, _scope_json(scope))
    elif path == "/hints":
        # servingapp's /hints: two 103s, then one with a header that would split the response (refused)
        hints = [
            [(b"Link", b"</style.css>; rel=preload; as=style")],
            [(b"Link", b"</app.js>; rel=preload; as=script"), (b"X-Hint", b"2")],
        ]
        for headers in hints:
            await send({"type": "http.response.informational", "status": 103, "headers": headers})
        refused = "nothing"
        if scope["http_version"] != "1.0":  # (to an HTTP/1.0 client nothing is sent, nor checked)
            try:
                bad = [(b"Bad\r\nName", b"x")]
                await send({"type": "http.response.informational", "status": 103, "headers": bad})
            except Exception as exc:
                refused = type(exc).__name__
        await _text(send, f"hinted, refused {refused}".encode())
    elif path == "/lines":
        await _text(send, b"|".join((await _body(receive)).splitlines(keepends=True)))
    elif path == "/write":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"written;", "more_body": True})
        await send({"type": "http.response.body", "body": b"returned"})
    elif path == "/trailers":
        head = [(b"content-type", b"text/plain"), (b"trailer", b"x-checksum")]
        await send({"type": "http.response.start", "status": 200, "headers": head, "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc123")]})
    elif path == "/disconnect":
        # Streams until the client goes away; the disconnect is recorded.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        message = await receive()
        while message["type"] != "http.disconnect":
            message = await receive()
        _event("disconnect")
    elif path == "/endless":
        # An event stream that never listens for the client leaving: cancelled after the grace period.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            _event("endless cancelled")
            raise
    elif path == "/background":
        # The response completes, then the app goes on (as Starlette's BackgroundTasks do).
        await _text(send, b"done")
        await asyncio.sleep(float(query or "0.5"))
        _event("background finished")
    elif path == "/badheader":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-bad", b"a\r\nInjected: 1")]}
        )
        await send({"type": "http.response.body", "body": b"never"})
    else:
        await _text(send, b"pid=%d" % os.getpid())


async def _websocket(scope: Scope, receive: Any, send: Any) -> None:
    path = _route(scope)
    message = await receive()
    assert message["type"] == "websocket.connect"
    if path == "/ws/refuse":
        await send({"type": "websocket.close", "code": 1008})
        return
    if path == "/ws/deny":
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"6")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"denied"})
        return
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol, "headers": [(b"x-accepted", b"yes")]})
    if path == "/ws/close":
        await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        return
    if path == "/ws/scope":
        await send({"type": "websocket.send", "text": _scope_json(scope).decode()})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _event(f"ws disconnect {message['code']}")
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "websocket":
        await _websocket(scope, receive, send)


async def no_lifespan(scope: Scope, receive: Any, send: Any) -> None:
    """An app without lifespan (it raises on the lifespan scope, as many minimal apps do)."""
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    await _text(send, b"no lifespan here")


class Asgi2App:
    """The ASGI 2 double callable."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        if self.scope["type"] == "http":
            await _text(send, b"asgi2 " + self.scope["path"].encode())
        elif self.scope["type"] == "lifespan":
            await _lifespan(receive, send)
