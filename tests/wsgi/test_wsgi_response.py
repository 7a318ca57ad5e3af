"""run_app: start_response / exc_info rules, write(), output framing and writes, close(), failures."""

from __future__ import annotations

import sys

from wsgi_helpers import Log, RecordingTransport, request, writer_for

from monoceros.http import LocalProtocolError
from monoceros.wsgi import run_app

OK = "200 OK"
TEXT = ("Content-Type", "text/plain")


def split(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        assert name.lower() not in headers, f"duplicate {name}"
        headers[name.lower()] = value
    return lines[0], headers, body


def run(app, req=None, transport=None, log=None):
    req = req or request()
    transport = transport or RecordingTransport()
    log = log or Log()
    info = run_app(app, {}, req, writer_for(req), transport, log)
    return info, transport, log


class Closing:
    """An app iterable that records close()."""

    def __init__(self, items, fail_at=None):
        self.items = items
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise ValueError("boom in iteration")
            yield item

    def close(self):
        self.closed += 1


# -- the one-write cases ---------------------------------------------------------------------


def test_hello_with_content_length_is_one_write():
    def app(environ, start_response):
        start_response(OK, [TEXT, ("Content-Length", "5")])
        return [b"hello"]

    info, transport, log = run(app)
    assert len(transport.writes) == 1
    status, headers, body = split(transport.writes[0])
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == "5"
    assert headers["connection"] == "keep-alive"
    assert body == b"hello"
    assert (info.status, info.status_code, info.bytes_sent) == (OK, 200, 5)
    assert info.keep_alive is True
    assert info.headers_sent is True
    assert info.client_gone is False
    assert info.headers == [TEXT, ("Content-Length", "5")]
    assert log.exceptions == []


def test_hello_without_content_length_gets_one_and_is_not_chunked():
    def app(environ, start_response):
        start_response(OK, [TEXT])
        return [b"hello"]

    info, transport, _ = run(app)
    assert len(transport.writes) == 1
    _, headers, body = split(transport.data)
    assert headers["content-length"] == "5"
    assert "transfer-encoding" not in headers
    assert body == b"hello"
    assert info.keep_alive is True
    assert ("Content-Length", "5") in info.headers


def test_list_of_several_items_is_sized_and_coalesced():
    def app(environ, start_response):
        start_response(OK, [TEXT])
        return (b"a", b"", b"bc", b"def")

    info, transport, _ = run(app)
    assert len(transport.writes) == 1
    _, headers, body = split(transport.data)
    assert headers["content-length"] == "6"
    assert body == b"abcdef"
    assert info.bytes_sent == 6


def test_empty_list_gets_content_length_zero():
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    info, transport, _ = run(app)
    status, headers, body = split(transport.data)
    assert status == "HTTP/1.1 204 No Content"
    assert "content-length" not in headers  # never on a 204
    assert body == b""

    def app2(environ, start_response):
        start_response(OK, [])
        return []

    info, transport, _ = run(app2)
    _, headers, body = split(transport.data)
    assert headers["content-length"] == "0"
    assert info.keep_alive is True


def test_big_items_are_not_copied_into_one_write():
    big = b"x" * 100_000

    def app(environ, start_response):
        start_response(OK, [])
        return [b"small", big, b"tail"]

    info, transport, _ = run(app)
    assert transport.writes[1] == big
    assert len(transport.writes) == 3
    _, headers, body = split(transport.data)
    assert body == b"small" + big + b"tail"
    assert headers["content-length"] == str(100_009)


def test_many_small_items_flush_in_bounded_writes():
    def app(environ, start_response):
        start_response(OK, [])
        return [b"y" * 1000] * 200

    info, transport, _ = run(app)
    assert 2 <= len(transport.writes) <= 5
    assert split(transport.data)[2] == b"y" * 200_000


def test_single_large_item_is_sent_apart_from_the_head():
    big = b"z" * 70_000

    def app(environ, start_response):
        start_response(OK, [("Content-Length", "70000")])
        return [big]

    _, transport, _ = run(app)
    assert len(transport.writes) == 2
    assert transport.writes[1] == big


def test_http10_without_length_is_close_delimited():
    def app(environ, start_response):
        start_response(OK, [])
        return [b"old"]

    req = request(version=(1, 0), keep_alive=False)
    info, transport, _ = run(app, req)
    status, headers, body = split(transport.data)
    assert status == "HTTP/1.0 200 OK"
    assert body == b"old"
    assert info.keep_alive is False


# -- streaming ---------------------------------------------------------------------------------


def test_generator_is_streamed_chunked_with_head_on_first_item():
    def app(environ, start_response):
        start_response(OK, [TEXT])
        yield b""
        yield b"ab"
        yield b""
        yield b"cde"

    info, transport, _ = run(app)
    assert transport.writes[0].endswith(b"\r\n\r\n2\r\nab\r\n")
    assert transport.writes[1:] == [b"3\r\ncde\r\n", b"0\r\n\r\n"]
    _, headers, _ = split(transport.data)
    assert headers["transfer-encoding"] == "chunked"
    assert info.bytes_sent == 5
    assert info.keep_alive is True


def test_start_response_called_inside_the_generator():
    def app(environ, start_response):
        yield b""  # PEP 3333 allows empty strings before start_response
        start_response(OK, [("Content-Length", "2")])
        yield b"hi"

    info, transport, _ = run(app)
    assert split(transport.data)[2] == b"hi"
    assert info.status_code == 200


def test_empty_generator_sends_head_and_last_chunk():
    def app(environ, start_response):
        start_response(OK, [])
        return iter(())

    info, transport, _ = run(app)
    assert len(transport.writes) == 1
    assert transport.data.endswith(b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_head_request_sends_no_body():
    def app(environ, start_response):
        start_response(OK, [("Content-Length", "5")])
        return [b"hello"]

    info, transport, _ = run(app, request("HEAD"))
    _, headers, body = split(transport.data)
    assert headers["content-length"] == "5"
    assert body == b""
    assert info.keep_alive is True


def test_head_request_with_unsized_body_gets_no_invented_length():
    def app(environ, start_response):
        start_response(OK, [])
        return [b"hello"]

    info, transport, _ = run(app, request("HEAD"))
    _, headers, body = split(transport.data)
    assert "content-length" not in headers
    assert body == b""


# -- write() ---------------------------------------------------------------------------------


def test_write_sends_head_with_first_bytes_then_result():
    def app(environ, start_response):
        write = start_response(OK, [("Content-Length", "6")])
        write(b"")
        write(b"ab")
        write(b"cd")
        return [b"ef"]

    info, transport, _ = run(app)
    assert len(transport.writes) == 3
    assert transport.writes[0].endswith(b"\r\n\r\nab")
    assert transport.writes[1:] == [b"cd", b"ef"]
    assert info.bytes_sent == 6
    assert info.keep_alive is True


def test_write_then_generator_chunked():
    def app(environ, start_response):
        write = start_response(OK, [])
        write(b"abc")
        return iter([b"de"])

    _, transport, _ = run(app)
    assert transport.data.endswith(b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")


def test_write_before_start_response_is_an_error():
    seen = []

    def app(environ, start_response):
        # write() is only handed out by start_response; reach it early the way a confused framework could.
        try:
            start_response.__self__.write(b"x")
        except AssertionError as exc:
            seen.append(exc)
        start_response(OK, [])
        return []

    info, transport, _ = run(app)
    assert len(seen) == 1
    assert info.status_code == 200


# -- start_response rules ---------------------------------------------------------------------------------


def test_second_start_response_without_exc_info_raises():
    seen = []

    def app(environ, start_response):
        start_response(OK, [])
        try:
            start_response("404 Not Found", [])
        except AssertionError as exc:
            seen.append(exc)
        return [b"x"]

    info, transport, _ = run(app)
    assert seen
    assert split(transport.data)[0] == "HTTP/1.1 200 OK"


def test_exc_info_before_head_replaces_the_response():
    def app(environ, start_response):
        start_response(OK, [("X-Old", "1")])
        try:
            raise KeyError("db")
        except KeyError:
            start_response("503 Service Unavailable", [("X-New", "1")], sys.exc_info())
        return [b"sorry"]

    info, transport, log = run(app)
    status, headers, body = split(transport.data)
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert "x-old" not in headers
    assert headers["x-new"] == "1"
    assert body == b"sorry"
    assert info.status_code == 503
    assert info.status == "503 Service Unavailable"
    assert log.exceptions == []


def test_exc_info_as_first_call_is_accepted():
    def app(environ, start_response):
        try:
            raise KeyError("x")
        except KeyError:
            start_response("500 Oops", [], sys.exc_info())
        return [b"e"]

    info, transport, _ = run(app)
    assert info.status_code == 500


def test_exc_info_after_head_reraises_and_closes():
    original = KeyError("late")
    seen = []

    def app(environ, start_response):
        write = start_response(OK, [])
        write(b"partial")
        try:
            raise original
        except KeyError:
            try:
                start_response("500 Error", [], sys.exc_info())
            except KeyError as exc:
                seen.append(exc)
                raise
        return []

    info, transport, log = run(app)
    assert seen == [original]
    assert len(log.exceptions) == 1
    assert info.keep_alive is False
    assert info.headers_sent is True
    assert b"500" not in transport.data  # nothing is appended to a started response


def test_invalid_header_from_app_is_a_logged_500():
    def app(environ, start_response):
        start_response(OK, [("X-Bad", "a\r\nSet-Cookie: evil=1")])
        return [b"x"]

    info, transport, log = run(app)
    status, headers, body = split(transport.data)
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert "set-cookie" not in headers
    assert headers["connection"] == "close"
    assert len(log.exceptions) == 1
    assert info.status_code == 500
    assert info.keep_alive is False


def test_invalid_status_raises_inside_the_app():
    seen = []

    def app(environ, start_response):
        try:
            start_response("OK", [])
        except LocalProtocolError as exc:
            seen.append(exc)
        start_response(OK, [])
        return [b"fine"]

    info, transport, _ = run(app)
    assert seen
    assert split(transport.data)[2] == b"fine"


def test_non_bytes_body_is_a_500_before_anything_was_sent():
    def app(environ, start_response):
        start_response(OK, [])
        return ["text, not bytes"]

    info, transport, log = run(app)
    assert split(transport.data)[0] == "HTTP/1.1 500 Internal Server Error"
    assert len(transport.writes) == 1
    assert len(log.exceptions) == 1


def test_missing_start_response_is_a_500():
    info, transport, log = run(lambda environ, start_response: [b"body"])
    assert split(transport.data)[0] == "HTTP/1.1 500 Internal Server Error"
    assert len(log.exceptions) == 1
    info, transport, log = run(lambda environ, start_response: iter([]))
    assert split(transport.data)[0] == "HTTP/1.1 500 Internal Server Error"


# -- failures and close() ---------------------------------------------------------------------------------


def test_exception_in_app_is_a_500_page():
    def app(environ, start_response):
        raise RuntimeError("kaboom")

    info, transport, log = run(app, request(target="/fail?x"))
    status, headers, body = split(transport.data)
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body) == info.bytes_sent
    assert b"kaboom" not in body  # tracebacks go to the log, never to the client
    assert log.exceptions == ["Error handling request /fail?x"]
    assert info.keep_alive is False
    assert info.status == "500 Internal Server Error"
    assert info.headers_sent is True


def test_exception_before_first_item_closes_iterable_and_sends_500():
    result = Closing([b"a"], fail_at=0)

    def app(environ, start_response):
        start_response(OK, [])
        return result

    info, transport, log = run(app)
    assert result.closed == 1
    assert split(transport.data)[0] == "HTTP/1.1 500 Internal Server Error"
    assert info.keep_alive is False


def test_exception_after_head_truncates_and_closes():
    result = Closing([b"a", b"b", b"c"], fail_at=2)

    def app(environ, start_response):
        start_response(OK, [])
        return result

    info, transport, log = run(app)
    assert result.closed == 1
    assert transport.writes[-1] == b"1\r\nb\r\n"  # no last chunk, no error page
    assert len(log.exceptions) == 1
    assert info.keep_alive is False
    assert info.headers_sent is True


def test_close_called_on_success_for_any_iterable():
    result = Closing([b"a", b"b"])

    def app(environ, start_response):
        start_response(OK, [])
        return result

    info, _, _ = run(app)
    assert result.closed == 1
    assert info.keep_alive is True


def test_close_called_on_list_subclass():
    class ClosingList(list):
        closed = 0

        def close(self):
            ClosingList.closed += 1

    def app(environ, start_response):
        start_response(OK, [])
        return ClosingList([b"x"])

    run(app)
    assert ClosingList.closed == 1


def test_close_called_when_the_client_is_gone():
    result = Closing([b"a", b"b", b"c"])

    def app(environ, start_response):
        start_response(OK, [])
        return result

    info, transport, log = run(app, transport=RecordingTransport(fail_after=1))
    assert result.closed == 1
    assert info.client_gone is True
    assert info.keep_alive is False
    assert log.exceptions == []  # not the app's fault
    assert len(log.debugs) == 1
    assert len(transport.writes) == 1


def test_client_gone_on_the_first_write():
    def app(environ, start_response):
        start_response(OK, [])
        return [b"hello"]

    info, transport, log = run(app, transport=RecordingTransport(fail_after=0))
    assert info.client_gone is True
    assert info.keep_alive is False
    assert info.headers_sent is True
    assert log.exceptions == []


def test_client_gone_while_sending_the_500_page():
    def app(environ, start_response):
        raise ValueError("x")

    info, transport, log = run(app, transport=RecordingTransport(fail_after=0))
    assert info.client_gone is True
    assert len(log.exceptions) == 1


def test_app_catching_broken_pipe_still_closes():
    def app(environ, start_response):
        write = start_response(OK, [])
        try:
            write(b"x")
        except BrokenPipeError:
            pass
        return []

    info, _, _ = run(app, transport=RecordingTransport(fail_after=0))
    assert info.client_gone is True
    assert info.keep_alive is False


def test_app_oserror_is_a_500_not_a_gone_client():
    def app(environ, start_response):
        raise FileNotFoundError("/missing")

    info, transport, log = run(app)
    assert info.client_gone is False
    assert split(transport.data)[0] == "HTTP/1.1 500 Internal Server Error"


def test_close_raising_is_logged_and_closes_the_connection():
    class BadClose(Closing):
        def close(self):
            raise RuntimeError("close failed")

    def app(environ, start_response):
        start_response(OK, [])
        return BadClose([b"a"])

    info, transport, log = run(app)
    assert len(log.exceptions) == 1
    assert info.keep_alive is False


def test_body_shorter_than_content_length_closes_the_connection():
    def app(environ, start_response):
        start_response(OK, [("Content-Length", "10")])
        return iter([b"short"])

    info, transport, _ = run(app)
    assert split(transport.data)[2] == b"short"
    assert info.keep_alive is False
    assert info.bytes_sent == 5


def test_short_list_body_closes_the_connection_too():
    def app(environ, start_response):
        start_response(OK, [("Content-Length", "10")])
        return [b"short"]

    info, _, _ = run(app)
    assert info.keep_alive is False


def test_body_longer_than_content_length_is_cut():
    def app(environ, start_response):
        start_response(OK, [("Content-Length", "3")])
        return iter([b"ab", b"cdef"])

    info, transport, _ = run(app)
    assert split(transport.data)[2] == b"abc"
    assert info.keep_alive is True
    assert info.bytes_sent == 3


def test_request_without_keep_alive_is_closed():
    def app(environ, start_response):
        start_response(OK, [("Content-Length", "1")])
        return [b"x"]

    info, transport, _ = run(app, request(keep_alive=False))
    assert split(transport.data)[1]["connection"] == "close"
    assert info.keep_alive is False
