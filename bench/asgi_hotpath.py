"""The ASGI worker's per-request Python cost, without sockets: one ``HTTPProtocol`` on a real event loop, a
transport that only counts bytes, keep-alive requests fed one at a time (hello, or a 4 KiB echo).

    .venv/bin/python bench/asgi_hotpath.py [hello|echo] [COUNT] [CONNECTIONS]
    valgrind --tool=callgrind .venv/bin/python bench/asgi_hotpath.py hello 20000   # instructions: steady

Prints microseconds per request (best of 5 rounds). The loop is asyncio's, or uvloop's with ``UVLOOP=1``
(the transports are fakes either way); what is measured is the parser, the scope, the cycle, the writer and
the protocol glue. With CONNECTIONS > 1, each round gives every connection one request before waiting for
all the responses, as a loop does when that many clients are ready at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from monoceros.config import Config
from monoceros.workers.asgi_server import AsgiServer

BODY = b'{"message":"hello"}'
HEAD = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
HELLO = b"GET / HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
ECHO = b"POST /echo HTTP/1.1\r\nHost: localhost:8000\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/echo":
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEAD})
    await send({"type": "http.response.body", "body": BODY})


class Worker:
    def __init__(self) -> None:
        self.cfg = Config({})
        self.cfg.set("keepalive", 30)
        self.log = self.cfg.logger_class(self.cfg)  # no access log configured: as a bare `monoceros` run
        self.nr = 0
        self.max_requests = sys.maxsize
        self.alive = True
        self.stats = None  # no shared counters: neither the control socket's nor --metrics-bind's

    def reached_max_requests(self) -> None:
        self.alive = False


class Transport:
    def __init__(self, done: asyncio.Event, pending: list[int]) -> None:
        self.sent = 0
        self.done = done
        self.pending = pending  # responses the round still waits for (shared by the connections)

    def write(self, data: bytes) -> None:
        self.sent += 1
        self.pending[0] -= 1
        if not self.pending[0]:
            self.done.set()

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def main(kind: str, count: int, connections: int = 1) -> float:
    server = AsgiServer(Worker(), app, {})  # type: ignore[arg-type]
    done = asyncio.Event()
    pending = [0]
    protos = []
    for _ in range(connections):
        proto = server.protocol()
        proto.connection_made(Transport(done, pending))  # type: ignore[arg-type]
        protos.append(proto)
    request = ECHO if kind == "echo" else HELLO
    rounds = max(1, count // connections)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            done.clear()
            pending[0] = connections
            for proto in protos:
                proto.data_received(request)
            if not done.is_set():
                await done.wait()
        best = min(best, (time.perf_counter() - started) / (rounds * connections))
    return best * 1e6


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "hello"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if os.environ.get("UVLOOP"):
        import uvloop

        result = uvloop.run(main(kind, count, connections))
    else:
        result = asyncio.run(main(kind, count, connections))
    print(f"{kind}, {connections} connection(s): {result:.2f} us/request")
