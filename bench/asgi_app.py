"""The one raw ASGI 3 app every server in ``asgi_bench.py`` runs (``asgi_app:app``, from this folder).

    GET  /       JSON ``{"message":"hello"}``, application/json, with a content-length
    POST /echo   reads the whole request body and answers it (application/octet-stream)
    anything else 404

No framework: the lifespan scope is answered minimally (startup and shutdown complete), so every
server runs the app the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO = b'{"message":"hello"}'
NOT_FOUND = b"not found"

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(HELLO)).encode())],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO}
_NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(NOT_FOUND)).encode())],
}
_NOT_FOUND_BODY = {"type": "http.response.body", "body": NOT_FOUND}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _echo(receive: Receive, send: Send) -> None:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        path, method = scope["path"], scope["method"]
        if path == "/" and method in ("GET", "HEAD"):
            await send(_HELLO_START)
            await send(_HELLO_BODY)
        elif path == "/echo" and method == "POST":
            await _echo(receive, send)
        else:
            await send(_NOT_FOUND_START)
            await send(_NOT_FOUND_BODY)
    elif kind == "lifespan":
        await _lifespan(receive, send)
