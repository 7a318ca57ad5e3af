"""``HTTPCycle`` and the scope builder on their own: a real ``http.Connection`` fed bytes, a channel that
records what would go to the socket. Every message order the spec allows, and the ones it refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monoceros.asgi import HTTPCycle, ScopeBuilder, status_text
from monoceros.asgi.scope import decode_path
from monoceros.http import (
    ConnectionFactory,
    Data,
    EndOfMessage,
    InvalidSchemeHeaders,
    LocalProtocolError,
    Request,
)


class Channel:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False
        self.taken = 0
        self.stall = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    async def drain(self) -> None:
        pass

    def body_taken(self) -> None:
        self.taken += 1

    def pause(self) -> None:
        pass

    def close_soon(self) -> None:
        self.closed = True

    async def wait_body(self, arrived: asyncio.Future[None]) -> bool:
        if self.stall:
            return False
        await arrived
        return True

    @property
    def data(self) -> bytes:
        return b"".join(self.out)


def exchange(raw: bytes) -> tuple[Any, Request, list[Any]]:
    http = ConnectionFactory()()
    http.receive_data(raw)
    request = http.next_event()
    assert isinstance(request, Request)
    rest = []
    while True:
        event = http.next_event()
        if not isinstance(event, (Data, EndOfMessage)):
            break
        rest.append(event)
    return http, request, rest


def cycle_for(raw: bytes) -> tuple[HTTPCycle, Channel, list[HTTPCycle]]:
    http, request, events = exchange(raw)
    channel = Channel()
    done: list[HTTPCycle] = []
    cycle = HTTPCycle(http, request, channel, done.append)  # type: ignore[arg-type]
    for event in events:
        if isinstance(event, Data):
            cycle.feed(event.data)
        else:
            cycle.finish()
    return cycle, channel, done


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 5))


def test_whole_body_is_sized_and_completes() -> None:
    cycle, channel, done = cycle_for(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")

    async def app() -> dict[str, Any]:
        message = await cycle.receive()
        await cycle.send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await cycle.send({"type": "http.response.body", "body": message["body"][::-1]})
        return message

    assert run(app()) == {"type": "http.request", "body": b"hello", "more_body": False}
    head, _, body = channel.data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created\r\n") and b"Content-Length: 5" in head and b"x-a: 1" in head
    assert body == b"olleh"
    assert done == [cycle] and cycle.complete


def test_streamed_body_is_chunked_and_sends_after_the_end_are_refused() -> None:
    cycle, channel, done = cycle_for(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    async def app() -> None:
        await cycle.send({"type": "http.response.start", "status": 200})
        await cycle.send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b"cd"})
        with pytest.raises(RuntimeError, match="after the response was complete"):
            await cycle.send({"type": "http.response.body", "body": b"x"})
        assert await cycle.receive() == {"type": "http.disconnect"}  # the exchange is over

    run(app())
    assert channel.data.endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    assert done == [cycle]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "http.response.body", "body": b"x"}], "before http.response.start"),
        ([{"type": "http.response.start", "status": 200}] * 2, "sent twice"),
        ([{"type": "http.response.start", "status": 99}], "invalid ASGI response status"),
        ([{"type": "http.response.start", "status": "200"}], "invalid ASGI response status"),
        ([{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}], "bytes, bytes"),
        ([{"type": "http.response.start", "status": 200, "headers": [(b"a b", b"c")]}], "header name"),
        ([{"type": "http.response.start", "status": 200, "headers": [(b"a", b"c\r\nd: e")]}], "value"),
        ([{"type": "websocket.accept"}], "unexpected message"),
        ([{"type": "http.response.trailers", "headers": []}], "trailers=True"),
    ],
)
def test_invalid_messages_raise_and_nothing_is_written(messages: list[Any], error: str) -> None:
    cycle, channel, _ = cycle_for(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    async def app() -> None:
        for message in messages[:-1]:
            await cycle.send(message)
        with pytest.raises((RuntimeError, LocalProtocolError), match=error):
            await cycle.send(messages[-1])

    run(app())
    assert channel.data == b""


def test_body_in_pieces_and_back_pressure_release() -> None:
    http, request, _ = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    channel = Channel()
    cycle = HTTPCycle(http, request, channel, lambda c: None)  # type: ignore[arg-type]

    async def app() -> list[Any]:
        got = []
        cycle.feed(b"one")
        cycle.feed(b"two")
        got.append(await cycle.receive())

        async def later() -> None:
            await asyncio.sleep(0)
            cycle.feed(b"three")
            cycle.finish()

        task = asyncio.ensure_future(later())
        got.append(await cycle.receive())
        await task
        if got[-1]["more_body"]:
            got.append(await cycle.receive())
        return got

    got = run(app())
    assert b"".join(m["body"] for m in got) == b"onetwothree"
    assert got[0] == {"type": "http.request", "body": b"onetwo", "more_body": True}
    assert got[-1]["more_body"] is False
    assert channel.taken >= 2  # each take lets the channel read again


def test_expect_continue_is_sent_on_the_first_receive_only() -> None:
    http, request, _ = exchange(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    channel = Channel()
    cycle = HTTPCycle(http, request, channel, lambda c: None)  # type: ignore[arg-type]

    async def app() -> Any:
        asyncio.get_running_loop().call_later(0.01, lambda: (cycle.feed(b"ok"), cycle.finish()))
        return await cycle.receive()

    assert run(app())["body"] == b"ok"
    assert channel.data == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_a_stalled_body_ends_as_a_disconnect() -> None:
    http, request, _ = exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n")
    channel = Channel()
    channel.stall = True
    cycle = HTTPCycle(http, request, channel, lambda c: None)  # type: ignore[arg-type]
    assert run(cycle.receive()) == {"type": "http.disconnect"}
    assert cycle.disconnected


def test_sends_after_a_disconnect_are_dropped() -> None:
    cycle, channel, done = cycle_for(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    cycle.disconnect()

    async def app() -> None:
        await cycle.send({"type": "http.response.start", "status": 200})
        await cycle.send({"type": "http.response.body", "body": b"x"})

    run(app())
    assert channel.data == b"" and done == []


def test_trailers_informational_and_http10() -> None:
    cycle, channel, done = cycle_for(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    async def app() -> None:
        await cycle.send(
            {"type": "http.response.informational", "status": 103, "headers": [(b"link", b"</a>")]}
        )
        await cycle.send({"type": "http.response.start", "status": 200, "trailers": True})
        await cycle.send({"type": "http.response.body", "body": b"abc"})
        await cycle.send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})

    run(app())
    assert channel.data.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert channel.data.endswith(b"3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n")
    assert done == [cycle]

    old, channel10, _ = cycle_for(b"GET / HTTP/1.0\r\n\r\n")
    run(old.send({"type": "http.response.informational", "status": 103, "headers": []}))
    assert channel10.data == b""  # HTTP/1.0 has no interim responses


def test_trailers_a_sized_response_cannot_carry_are_dropped() -> None:
    cycle, channel, done = cycle_for(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    async def app() -> None:
        headers = [(b"content-length", b"3")]
        await cycle.send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})
        await cycle.send({"type": "http.response.body", "body": b"abc"})
        await cycle.send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})

    run(app())
    assert channel.data.endswith(b"\r\n\r\nabc") and b"x-sum" not in channel.data
    assert done == [cycle]


def test_status_text() -> None:
    assert status_text(200) == "200 OK"
    assert status_text(599) == "599"
    with pytest.raises(LocalProtocolError):
        status_text(True)


# -- scopes ---------------------------------------------------------------------------------------------


def request_of(raw: bytes) -> Request:
    return exchange(raw)[1]


def test_path_decoding() -> None:
    assert decode_path("/a%20b/%C3%A9") == "/a b/é"
    assert decode_path("/plain") == "/plain"


def test_scope_from_a_trusted_peer_with_proxy_headers() -> None:
    trusted = {"127.0.0.1", "10.0.0.1"}
    builder = ScopeBuilder(root_path="/r/", proxy_headers=True, is_trusted=trusted.__contains__)
    conn = builder.connection(("127.0.0.1", 5000), ("0.0.0.0", 80), tls=False, peer_trusted=True)
    raw = (
        b"GET /x?q=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n"
        b"X-Forwarded-Proto: https\r\n\r\n"
    )
    scope = conn.http(request_of(raw))
    assert scope["client"] == ("198.51.100.7", 0)
    assert scope["scheme"] == "https"
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == ("/r", "/r/x", b"/r/x")
    untrusted = builder.connection(("192.0.2.1", 5000), ("0.0.0.0", 80), tls=False, peer_trusted=False)
    scope = untrusted.http(request_of(raw))
    assert scope["client"] == ("192.0.2.1", 5000) and scope["scheme"] == "http"


def test_contradictory_secure_scheme_headers() -> None:
    builder = ScopeBuilder(secure_scheme_headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"})
    conn = builder.connection(("127.0.0.1", 1), None, tls=False, peer_trusted=True)
    with pytest.raises(InvalidSchemeHeaders):
        conn.http(
            request_of(
                b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n"
            )
        )


def test_websocket_scope_and_state_copies() -> None:
    state = {"db": 1}
    builder = ScopeBuilder(state=lambda: dict(state))
    conn = builder.connection("", "", tls=True, peer_trusted=False)
    scope = conn.websocket(request_of(b"GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: a, b\r\n\r\n"))
    assert scope["type"] == "websocket" and scope["scheme"] == "wss"
    assert scope["subprotocols"] == ["a", "b"] and scope["client"] is None and scope["server"] is None
    scope["state"]["db"] = 2
    assert state == {"db": 1}
