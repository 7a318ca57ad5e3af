"""``monoceros.http.Connection``: every scenario fed whole, byte by byte, and followed by the next request.

The connection is driven as a worker drives it: feed bytes until it answers ``NEED_DATA`` or ``PAUSED``,
answer through the writer ``respond`` gives, then ``end_response``. What goes out is read back with
``http.client`` where a client's reading is the point.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable, Iterator

import pytest

from monoceros.http import (
    CLOSED,
    CONTINUE,
    DONE,
    ERROR,
    IDLE,
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
    Connection,
    ConnectionClosed,
    ConnectionFactory,
    Data,
    EndOfMessage,
    InvalidHeader,
    LocalProtocolError,
    Request,
)
from monoceros.http._state import CLIENT_TRANSITIONS

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"


SEEN: dict[int, Request] = {}  # id(connection) -> the last request read from it, for `answer`


def ev(conn: Connection) -> object:
    """``conn.next_event()``, remembering a request for ``answer``."""
    event = conn.next_event()
    if isinstance(event, Request):
        SEEN[id(conn)] = event
    return event


def pieces(data: bytes, split: str) -> Iterator[bytes]:
    if split == "whole":
        yield data
    else:
        yield from (data[i : i + 1] for i in range(len(data)))


@pytest.fixture(params=["whole", "bytes"])
def feed(request: pytest.FixtureRequest) -> Callable[[Connection, bytes], list[object]]:
    """Feed bytes as a worker would (whole or one at a time), collecting events until the connection needs
    more or pauses."""
    split = request.param

    def run(conn: Connection, data: bytes) -> list[object]:
        out: list[object] = []
        for piece in pieces(data, split):
            conn.receive_data(piece)
            while True:
                before = conn.their_state
                event = ev(conn)
                if event is NEED_DATA or event is PAUSED:
                    assert conn.their_state == before
                    break
                # the parser keeps the client's state: every move it makes is one of the table's
                assert CLIENT_TRANSITIONS[(before, type(event))] == conn.their_state, (before, event)
                out.append(event)
                if type(event) is ConnectionClosed:
                    return out
        return merge(out)

    return run


def merge(events: list[object]) -> list[object]:
    """Body pieces joined: how the bytes were split must not show."""
    out: list[object] = []
    for event in events:
        if type(event) is Data and out and type(out[-1]) is Data:
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def answer(
    conn: Connection,
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"hi",
) -> bytes:
    writer = conn.respond(SEEN[id(conn)])
    if headers is None:
        headers = [("Content-Length", str(len(body)))]
    writer.start(status, headers)
    return writer.head() + writer.body(body) + writer.end()


def read_response(raw: bytes, method: str = "GET") -> http.client.HTTPResponse:
    class Sock:
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(raw)

    resp = http.client.HTTPResponse(Sock(), method=method)  # type: ignore[arg-type]
    resp.begin()
    return resp


def test_keep_alive_cycle_and_pipelining(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    assert (conn.their_state, conn.our_state) == (IDLE, IDLE)
    events = feed(conn, GET + NEXT)  # the second request waits in the buffer: the parser pauses
    assert [type(e) for e in events] == [Request, EndOfMessage]
    assert (conn.their_state, conn.our_state) == (DONE, SEND_RESPONSE)
    assert ev(conn) is PAUSED
    resp = read_response(answer(conn))
    assert resp.getheader("Connection") == "keep-alive" and resp.read() == b"hi"
    assert conn.end_response() is True and conn.keep_alive
    assert (conn.their_state, conn.our_state) == (IDLE, IDLE)
    nxt = ev(conn)
    assert isinstance(nxt, Request) and nxt.path == "/next"
    assert type(ev(conn)) is EndOfMessage
    answer(conn)
    assert conn.end_response() is True


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 without keep-alive"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "Connection: close"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", "close among the options"),
    ],
)
def test_the_request_can_refuse_keep_alive(
    feed: Callable[[Connection, bytes], list[object]], head: bytes, why: str
) -> None:
    conn = ConnectionFactory()()
    feed(conn, head + NEXT)
    assert read_response(answer(conn)).getheader("Connection") == "close", why
    assert conn.end_response() is False and conn.our_state == MUST_CLOSE and not conn.keep_alive
    assert ev(conn) is PAUSED  # the pipelined request is never read


def test_http10_keep_alive_is_honoured(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    feed(conn, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert read_response(answer(conn)).getheader("Connection") == "keep-alive"
    assert conn.end_response() is True


def test_keep_alive_off_in_the_server() -> None:
    conn = ConnectionFactory(keep_alive=False)()
    conn.receive_data(GET)
    ev(conn), ev(conn)
    assert read_response(answer(conn)).getheader("Connection") == "close"
    assert conn.end_response() is False


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        ([], b"", "an HTTP/1.0-style body of unknown length"),
        ([("Content-Length", "10")], b"short", "a body short of its Content-Length"),
    ],
)
def test_the_response_can_refuse_keep_alive(headers: list[tuple[str, str]], body: bytes, why: str) -> None:
    conn = ConnectionFactory()()
    conn.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    ev(conn), ev(conn)
    answer(conn, headers=headers, body=body)
    assert conn.end_response() is False, why


def test_a_failed_response_closes() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(GET)
    ev(conn), ev(conn)
    writer = conn.respond(SEEN[id(conn)])
    writer.start("200 OK", [])
    writer.head()  # ... and the app raised while producing the body
    assert conn.end_response(ok=False) is False and conn.our_state == MUST_CLOSE


def test_body_and_trailers(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    post = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"
    )
    events = feed(conn, post + NEXT)
    assert [type(e) for e in events] == [Request, Data, EndOfMessage]
    assert events[1] == Data(b"abcde") and events[2] == EndOfMessage([("X-SUM", "5")])
    answer(conn)
    assert conn.end_response() is True
    assert isinstance(ev(conn), Request)


def test_a_body_the_app_did_not_read_closes(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    events = feed(conn, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    assert [type(e) for e in events] == [Request, Data]
    assert conn.their_state == SEND_BODY
    answer(conn)  # without reading the rest of the body
    assert conn.end_response() is False
    assert conn.our_state == MUST_CLOSE


def test_100_continue_is_a_state(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    assert [type(e) for e in feed(conn, head)] == [Request]
    assert ev(conn) is NEED_DATA
    assert (
        conn.continue_bytes(SEEN[id(conn)]) == CONTINUE
    )  # the app wants the body: tell the client to send it
    assert conn.continue_bytes(SEEN[id(conn)]) == b""  # once
    assert feed(conn, b"abc" + NEXT) == [Data(b"abc"), EndOfMessage([])]
    answer(conn)
    assert conn.end_response() is True
    assert isinstance(ev(conn), Request)


def test_no_100_continue_after_the_response_started() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    ev(conn)
    answer(conn, "417 Expectation Failed", body=b"")  # answered without wanting the body
    assert conn.continue_bytes(SEEN[id(conn)]) == b""
    assert conn.end_response() is False  # the client may send the body anyway: it cannot be told apart


def test_no_100_continue_without_the_expectation() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")
    ev(conn)
    assert conn.continue_bytes(SEEN[id(conn)]) == b""


def test_draining_closes_the_next_response_only() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(GET + NEXT)
    ev(conn), ev(conn)
    raw = answer(conn)
    conn.drain()  # after the head said keep-alive: that answer stands, the client may be sending already
    assert read_response(raw).getheader("Connection") == "keep-alive"
    assert conn.end_response() is True
    ev(conn), ev(conn)
    assert read_response(answer(conn)).getheader("Connection") == "close"
    assert conn.end_response() is False and conn.draining


def test_draining_while_the_response_is_being_produced() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(GET)
    ev(conn), ev(conn)
    writer = conn.respond(SEEN[id(conn)])
    writer.start("200 OK", [("Content-Length", "2")])
    conn.drain()  # (from the loop thread while the app's thread runs): its head is not out yet
    assert read_response(writer.head() + writer.body(b"hi") + writer.end()).getheader("Connection") == "close"
    assert conn.end_response() is False


def test_protocol_switch_hands_over_the_rest(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    head = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    feed(conn, head + b"\x81\x05hello")
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    raw = answer(conn, "101 Switching Protocols", headers, b"")
    assert b"Connection: upgrade\r\n" in raw and raw.startswith(b"HTTP/1.1 101 ")
    assert conn.end_response() is False
    assert conn.switched and (conn.their_state, conn.our_state) == (SWITCHED_PROTOCOL, SWITCHED_PROTOCOL)
    assert conn.trailing_data == (b"\x81\x05hello", False)


def test_an_invalid_request_is_refused_once(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    with pytest.raises(InvalidHeader):
        feed(conn, b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
    assert conn.their_state == ERROR
    page = conn.refuse(400, "more than one Host header")
    assert read_response(page).status == 400
    assert conn.our_state == MUST_CLOSE and not conn.keep_alive
    with pytest.raises(InvalidHeader):  # the parser stays dead
        ev(conn)


def test_an_error_in_place_of_the_response() -> None:
    # e.g. the environ could not be built: the request arrived, an error page answers it
    conn = ConnectionFactory()()
    conn.receive_data(GET)
    ev(conn), ev(conn)
    assert read_response(conn.refuse(400, "bad")).getheader("Connection") == "close"
    assert conn.end_response() is False


def test_clean_close_between_requests(feed: Callable[[Connection, bytes], list[object]]) -> None:
    conn = ConnectionFactory()()
    feed(conn, GET)
    answer(conn)
    assert conn.end_response() is True
    conn.receive_data(b"")
    assert type(ev(conn)) is ConnectionClosed and conn.their_state == CLOSED


def test_misuse_is_a_local_error() -> None:
    conn = ConnectionFactory()()
    with pytest.raises(LocalProtocolError):
        conn.end_response()  # no request
    conn.receive_data(GET + NEXT)
    request = ev(conn)
    assert isinstance(request, Request)
    ev(conn)
    conn.respond(request)
    with pytest.raises(LocalProtocolError):
        conn.respond(request)  # answered already
    assert conn.end_response(ok=False) is False
    assert conn.end_response() is False  # closing already: the same answer again


def test_uwsgi_responses_are_framed_as_http10() -> None:
    packet_vars = {b"REQUEST_METHOD": b"GET", b"PATH_INFO": b"/", b"SERVER_PROTOCOL": b"HTTP/1.1"}
    body = b"".join(
        len(k).to_bytes(2, "little") + k + len(v).to_bytes(2, "little") + v for k, v in packet_vars.items()
    )
    conn = ConnectionFactory(uwsgi=True)()
    conn.receive_data(b"\x00" + len(body).to_bytes(2, "little") + b"\x00" + body)
    assert isinstance(ev(conn), Request)
    ev(conn)
    raw = answer(conn, headers=[], body=b"streamed")
    assert raw.startswith(b"HTTP/1.0 200 OK") and b"chunked" not in raw.lower()
    assert conn.end_response() is False  # no length: the end of the connection frames it


def test_connections_of_one_factory_share_its_caches_only() -> None:
    one, two = ConnectionFactory(), ConnectionFactory()
    for factory, host in ((one, b"one.example"), (one, b"one.example"), (two, b"two.example")):
        conn = factory()
        conn.receive_data(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert isinstance(ev(conn), Request)
    assert one.caches.hosts == {"one.example"} and two.caches.hosts == {"two.example"}


def test_states_are_reported_while_a_response_is_produced() -> None:
    conn = ConnectionFactory()()
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
    ev(conn)
    assert (conn.their_state, conn.our_state) == (SEND_BODY, SEND_RESPONSE)
    assert not conn.idle
    assert ev(conn) is NEED_DATA
    conn.receive_data(b"ok")
    assert merge([ev(conn), ev(conn)]) == [Data(b"ok"), EndOfMessage([])]
    answer(conn)
    assert conn.end_response() and conn.idle


def test_a_uwsgi_body_the_app_did_not_read_closes_too() -> None:
    # The uwsgi parser refuses a new cycle while its body is unread, as the HTTP one does: the rest of the
    # body must never be read as the next packet.
    packet_vars = {b"REQUEST_METHOD": b"POST", b"PATH_INFO": b"/", b"CONTENT_LENGTH": b"10"}
    block = b"".join(
        len(k).to_bytes(2, "little") + k + len(v).to_bytes(2, "little") + v for k, v in packet_vars.items()
    )
    conn = ConnectionFactory(uwsgi=True)()
    conn.receive_data(b"\x00" + len(block).to_bytes(2, "little") + b"\x00" + block + b"abc")
    assert isinstance(ev(conn), Request)
    answer(conn, headers=[("Content-Length", "2")], body=b"ok")
    assert conn.end_response() is False and conn.must_close
