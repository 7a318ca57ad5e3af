"""The ASGI floor: the least an asyncio server must do per request to run an ASGI app, nothing else.

Two modes, both on uvloop when it is installed (as every server in ``asgi_bench.py`` runs):

* ``app`` (the default): each complete request (a head, and a body when it has a Content-Length; no
  validation, no limits) gets a minimal ``http`` scope and a task running the app; its ``send`` holds the
  status line and the app's headers as given and writes them with the body (one write a response, as
  Monoceros does), its ``receive`` returns the body in one message. What a request costs here is the event
  loop, the transport and one task per request.
* ``step``: the same, without the task: the app's coroutine is run to its end from ``data_received`` (the
  apps of ``asgi_bench.py`` never wait; one that does is an error here). Not a valid ASGI server (no
  current task, no context of its own, no cancellation): it shows what the task costs.
* ``bare``: no app, no task; each head is answered with a canned response from ``data_received``. The
  cost of the event loop and the transport alone.

    python bench/asgi_floor.py PORT MODULE:APP [app|step|bare]
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

CANNED = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 19\r\n\r\n{"message":"hello"}'
_EMPTY = {"type": "http.request", "body": b"", "more_body": False}


async def _receive_empty() -> dict[str, Any]:
    return _EMPTY


def _step(coro: Any) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("asgi_floor step: the app waited (only apps that never wait can be stepped)")


def protocol(app: Any, mode: str) -> type[asyncio.Protocol]:
    bare = mode == "bare"
    run = _step if mode == "step" else asyncio.get_event_loop().create_task

    class Floor(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""
            self.head = b""

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data
            write = self.transport.write
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buffer[:end]
                length = 0
                at = head.lower().find(b"\r\ncontent-length:")
                if at >= 0:
                    stop = head.find(b"\r", at + 2)  # -1: the last line of the head
                    length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                if len(buffer) < end + 4 + length:
                    break
                body, buffer = buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]
                if bare:
                    write(CANNED)
                    continue
                line = head[: head.find(b"\r\n")].split(b" ")
                path, _, query = line[1].partition(b"?")
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": line[0].decode(),
                    "path": path.decode(),
                    "raw_path": path,
                    "query_string": query,
                    "headers": [],
                }
                receive = self.receive(body) if body else _receive_empty
                run(app(scope, receive, self.send))
            self.buffer = buffer

        def receive(self, body: bytes) -> Any:
            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            return receive

        async def send(self, message: dict[str, Any]) -> None:
            # The head is held until the body: one write (one send(2)) a response, as Monoceros does.
            if message["type"] == "http.response.start":
                head = [b"HTTP/1.1 %d OK\r\n" % message["status"]]
                head += [b"%s: %s\r\n" % pair for pair in message["headers"]]
                head.append(b"\r\n")
                self.head = b"".join(head)
            else:
                self.transport.write(self.head + message.get("body", b""))
                self.head = b""

    return Floor


def main() -> None:
    port = int(sys.argv[1])
    module, _, name = sys.argv[2].partition(":")
    mode = sys.argv[3] if len(sys.argv) > 3 else "app"
    if mode not in ("app", "step", "bare"):
        sys.exit(f"asgi_floor: mode {mode!r}: one of app, step, bare")
    sys.path.insert(0, ".")
    app = getattr(importlib.import_module(module), name or "app")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(protocol(app, mode), "127.0.0.1", port, backlog=2048))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
