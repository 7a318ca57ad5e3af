"""Applications the serving tests run in a real worker (importable from the server's PYTHONPATH)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

BIG = b"x" * (4 << 20)


def _text(start_response: StartResponse, body: bytes, status: str = "200 OK") -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    # read(n) with an argument: wsgiref's validator allows no other form
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 1 << 30))
    return _text(start_response, body)


def _digest(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """The length and SHA-256 of the body, read in 64 KiB pieces, and the worker's pid."""
    stream, digest, size = environ["wsgi.input"], hashlib.sha256(), 0
    while chunk := stream.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return _text(start_response, b"%d %s pid=%d" % (size, digest.hexdigest().encode(), os.getpid()))


def _hints(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """Two 103 Early Hints, as an app on Gunicorn 25+ sends them, then the response."""
    hints = environ["wsgi.early_hints"]
    hints([("Link", "</style.css>; rel=preload; as=style")])
    hints([(b"Link", b"</app.js>; rel=preload; as=script"), ("X-Hint", "2")])
    refused = "nothing"  # (to an HTTP/1.0 client nothing is sent, nor checked)
    try:
        hints([("Bad\r\nName", "x")])
    except Exception as exc:  # refused: a name with CRLF would split the response
        refused = type(exc).__name__
    return _text(start_response, f"hinted, refused {refused}".encode())


def _lines(environ: Environ, start_response: StartResponse) -> list[bytes]:
    stream = environ["wsgi.input"]
    lines = [stream.readline()]
    lines += list(stream)
    return _text(start_response, b"|".join(lines))


def _stream(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(5):
        yield b"part%d;" % i


def _write(environ: Environ, start_response: StartResponse) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written;")
    return [b"returned"]


def _file(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the file wrapper's close() closes it
    handle.write(b"0123456789" * 10000)
    handle.seek(0)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", "100000")])
    wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](handle, 8192)
    return wrapper


def _bigfile(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the file wrapper's close() closes it
    handle.write(BIG)
    handle.seek(0)
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))]
    start_response("200 OK", headers)
    wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](handle)
    return wrapper


_barriers: dict[int, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def _barrier(start_response: StartResponse, parties: int) -> list[bytes]:
    """Answers once `parties` requests are in the application at the same time; 503 if they never are
    (after 10 s): what a test of concurrent requests checks, with no clock in the assertion."""
    with _barriers_lock:
        barrier = _barriers.setdefault(parties, threading.Barrier(parties, timeout=10))
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return _text(start_response, b"not all at once", "503 Service Unavailable")
    return _text(start_response, b"all at once")


def _environ(environ: Environ, start_response: StartResponse) -> list[bytes]:
    keys = (
        "REQUEST_METHOD",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_PROTOCOL",
        "HTTP_X_TEST",
        "wsgi.url_scheme",
        "REMOTE_ADDR",
        "HTTP_X_FORWARDED_FOR",
    )
    body = "\n".join(f"{key}={environ.get(key)}" for key in keys).encode()
    return _text(start_response, body)


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/echo":
        return _echo(environ, start_response)
    if path == "/hints":
        return _hints(environ, start_response)
    if path == "/digest":
        return _digest(environ, start_response)
    if path == "/lines":
        return _lines(environ, start_response)
    if path == "/stream":
        return _stream(environ, start_response)
    if path == "/write":
        return _write(environ, start_response)
    if path == "/file":
        return _file(environ, start_response)
    if path == "/bigfile":
        return _bigfile(environ, start_response)
    if path == "/environ":
        return _environ(environ, start_response)
    if path == "/big":
        return _text(start_response, BIG)
    if path == "/barrier":
        return _barrier(start_response, int(query))
    if path == "/sleep":
        # the server's log shows when the application has the request: tests wait for this line
        print(f"app: /sleep?{query} started", file=sys.stderr, flush=True)
        time.sleep(float(query or "1"))
    if path == "/error":
        raise RuntimeError("the application failed on purpose")
    if path == "/noread":
        return _text(start_response, b"ignored the body")
    return _text(start_response, b"pid=%d" % os.getpid())


validated = validator(app)
