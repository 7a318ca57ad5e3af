"""End to end through the layer: RequestParser events -> environ -> app under wsgiref.validate -> bytes.

``wsgiref.validate.validator`` asserts on every PEP 3333 rule it knows (environ types and keys, the input
and errors streams, start_response arguments, iterator closing); pytest turns its warnings into errors.
"""

from __future__ import annotations

import io
from wsgiref.validate import validator

import pytest
from wsgi_helpers import Log, RecordingTransport, builder, parse, writer_for

from monoceros.wsgi import input_for, run_app

TEXT = ("Content-Type", "text/plain")


def serve(app, raw: bytes):
    req, body = parse(raw)
    conn = builder().connection(("127.0.0.1", 50000), ("127.0.0.1", 8000), peer_trusted=True)
    environ = conn.build(req, input_for(req, body))
    transport = RecordingTransport()
    log = Log()
    info = run_app(validator(app), environ, req, writer_for(req), transport, log)
    assert log.errors == []
    head, _, payload = transport.data.partition(b"\r\n\r\n")
    return info, head.decode("latin-1"), payload


def echo(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    rest = stream.read(1 << 20)  # PEP 3333 (and the validator) want a size
    lines = stream.readlines()
    body = b"|".join(
        [environ["REQUEST_METHOD"].encode(), environ["PATH_INFO"].encode("latin-1"), first, rest]
    )
    assert lines == []
    start_response("200 OK", [TEXT, ("Content-Length", str(len(body)))])
    return [body]


def test_get():
    info, head, body = serve(echo, b"GET /p%20q?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK")
    assert body == b"GET|/p q||"
    assert info.keep_alive is True


def test_post_with_content_length():
    raw = b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nline1\nrest!"
    info, head, body = serve(echo, raw)
    assert body == b"POST|/f|line1\n|rest!"


def test_chunked_upload():
    raw = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nab\nc\r\n3\r\ndef\r\n0\r\n\r\n"
    )
    info, head, body = serve(echo, raw)
    assert body == b"POST|/up|ab\n|cdef"


def test_iterating_the_input():
    def app(environ, start_response):
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [TEXT])
        return [b"%d" % len(lines)]

    raw = b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\na\nb\nc\n"
    assert serve(app, raw)[2] == b"1\r\n3\r\n0\r\n\r\n"  # the validator's wrapper is streamed: chunked


def test_write_callable():
    def app(environ, start_response):
        write = start_response("200 OK", [TEXT])
        write(b"via write, ")
        return [b"then iterable"]

    info, head, body = serve(app, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert "Transfer-Encoding: chunked" in head
    assert body == b"B\r\nvia write, \r\nD\r\nthen iterable\r\n0\r\n\r\n"


def test_file_wrapper():
    def app(environ, start_response):
        start_response("200 OK", [TEXT, ("Content-Length", "10")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789"), 4)

    info, head, body = serve(app, b"GET /f HTTP/1.1\r\nHost: h\r\n\r\n")
    assert body == b"0123456789"
    assert info.keep_alive is True


@pytest.mark.parametrize("version", [b"1.0", b"1.1"])
def test_head(version):
    def app(environ, start_response):
        start_response("200 OK", [TEXT, ("Content-Length", "5")])
        return [b"hello"]

    info, head, body = serve(app, b"HEAD / HTTP/" + version + b"\r\nHost: h\r\n\r\n")
    assert "Content-Length: 5" in head
    assert body == b""


def test_errors_stream_and_environ_types():
    def app(environ, start_response):
        environ["wsgi.errors"].write("a line for the error log\n")
        environ["wsgi.errors"].flush()
        start_response("200 OK", [TEXT])
        return [environ["SERVER_NAME"].encode(), b":", environ["SERVER_PORT"].encode()]

    assert serve(app, b"GET / HTTP/1.0\r\nHost: h\r\n\r\n")[2] == b"127.0.0.1:8000"
