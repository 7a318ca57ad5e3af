"""Micro-benchmark of the WSGI layer's per-request cost: environ build + run_app for hello world.

The transport appends to a list, so only Python work is measured (no system calls). Run:
    python bench/wsgi_bench.py [-n REQUESTS]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from monoceros.http import Request, ResponseWriter
from monoceros.wsgi import EMPTY_INPUT, EnvironBuilder, run_app

BODY = b"Hello, World!"

HEADERS = [
    ("HOST", "localhost:8000"),
    ("USER-AGENT", "wrk/4.2"),
    ("ACCEPT", "*/*"),
    ("ACCEPT-ENCODING", "gzip, deflate"),
    ("ACCEPT-LANGUAGE", "en-US,en;q=0.5"),
    ("CONNECTION", "keep-alive"),
]
REQUEST = Request(
    method="GET",
    target="/hello?x=1",
    path="/hello",
    query="x=1",
    fragment="",
    version=(1, 1),
    headers=HEADERS,
    raw_headers=[],
    content_length=None,
    chunked=False,
    keep_alive=True,
    expect_continue=False,
)


class ListTransport:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def sendfile(self, file: IO[bytes], offset: int, count: int | None) -> int | None:
        return None


class NullLog:
    def exception(self, msg: str, *args: object) -> None:
        raise AssertionError(msg % args)

    def debug(self, msg: str, *args: object) -> None:
        pass


def hello_sized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def hello_unsized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [BODY]


def bench(label: str, fn: Callable[[], object], n: int) -> None:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<44} {best / n * 1e6:7.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50000)
    n = parser.parse_args().n
    builder = EnvironBuilder("monoceros", multithread=False, multiprocess=True, errors_stream=io.StringIO())
    conn = builder.connection(("127.0.0.1", 54321), ("127.0.0.1", 8000), peer_trusted=True)
    transport = ListTransport()
    log = NullLog()

    def environ_only() -> object:
        return conn.build(REQUEST, EMPTY_INPUT)

    def full(app: Callable[..., Iterable[bytes]]) -> Callable[[], object]:
        def one() -> object:
            environ = conn.build(REQUEST, EMPTY_INPUT)
            writer = ResponseWriter("GET", (1, 1), True)
            info = run_app(app, environ, REQUEST, writer, transport, log)
            transport.out.clear()
            return info

        return one

    def writer_only() -> object:
        writer = ResponseWriter("GET", (1, 1), True)
        writer.start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return writer.head() + writer.body(BODY) + writer.end()

    bench("environ build (6 headers)", environ_only, n)
    bench("ResponseWriter alone (sized hello)", writer_only, n)
    bench("environ + run_app, hello with Content-Length", full(hello_sized), n)
    bench("environ + run_app, hello without Content-Length", full(hello_unsized), n)
    for app in (hello_sized, hello_unsized):
        writer = ResponseWriter("GET", (1, 1), True)
        run_app(app, conn.build(REQUEST, EMPTY_INPUT), REQUEST, writer, transport, log)
        assert len(transport.out) == 1, transport.out  # head and body in ONE transport.write
        assert transport.out[0].endswith(b"Content-Length: 13\r\n\r\nHello, World!")
        transport.out.clear()
    print("transport writes per hello-world response: 1")


if __name__ == "__main__":
    main()
