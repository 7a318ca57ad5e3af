"""Per-request CPU cost of the server's Python hot path, without any system call.

Drives the same steps a worker runs for one keep-alive request — parse, environ, app, response
framing — with an in-memory transport, and prints microseconds per request (best of several rounds,
process time). Use it before and after a change to the hot path; `bench/run.py` measures the real
server against Gunicorn.

    python bench/hotpath_bench.py
"""

from __future__ import annotations

import time
from typing import Any

from monoceros.http import NATIVE_AVAILABLE, Caches, NativeResponseWriter, RequestParser, ResponseWriter
from monoceros.wsgi import EnvironBuilder, input_for, run_app

WRK = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
BROWSER = (
    b"GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nCookie: session=abc123; theme=dark\r\n"
    b"Cache-Control: no-cache\r\n\r\n"
)
BODY = b"Hello, World!"


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [BODY]


class Sink:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def sendfile(self, file: Any, offset: int, count: int | None) -> int | None:
        return None

    def read_body(self, size: int) -> bytes:
        return b""


class Log:
    def exception(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(args)

    def debug(self, *args: Any, **kwargs: Any) -> None:
        pass


def per_request(raw: bytes, rounds: int = 7, count: int = 20000, native: bool = False) -> float:
    caches = Caches()  # one per worker, as the worker's ConnectionFactory holds it
    parser = RequestParser(native=native, caches=caches)
    builder = EnvironBuilder("monoceros/bench", multithread=False, multiprocess=False)
    conn_env = builder.connection(("127.0.0.1", 40000), ("127.0.0.1", 8000), "http", True)
    sink, log = Sink(), Log()
    writer_type = NativeResponseWriter if native else ResponseWriter  # as a connection picks it
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            parser.receive_data(raw)
            request = parser.next_event()
            parser.next_event()
            environ = conn_env.build(request, input_for(request, sink), None, None)  # type: ignore[arg-type]
            writer = writer_type(request.method, request.version, True, caches=caches)  # type: ignore[union-attr]
            run_app(hello, environ, request, writer, sink, log)  # type: ignore[arg-type]
            parser.start_next_cycle()
            parser.next_event()
            sink.out.clear()
        best = min(best, (time.process_time() - started) / count)
    return best * 1e6


def main() -> None:
    for native in (False, True) if NATIVE_AVAILABLE else (False,):
        for name, raw in (("wrk GET (1 header)", WRK), ("browser GET (8 headers)", BROWSER)):
            path = "native" if native else "python"
            print(f"{name:26s} {path:6s} {per_request(raw, native=native):6.2f} us/request")


if __name__ == "__main__":
    main()
