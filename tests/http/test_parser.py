"""Unit tests for RequestParser beyond the corpus: framing, limits, semantics, PROXY, the event protocol."""

from __future__ import annotations

import pytest

from monoceros import http
from monoceros.http import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    ProtocolError,
    Request,
    RequestParser,
)

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
G = b"GET / HTTP/1.1\r\nHost: a\r\n"
P = b"POST / HTTP/1.1\r\nHost: a\r\n"


def events(parser: RequestParser, data: bytes = b"", eof: bool = False) -> list[object]:
    """Feed ``data`` (and EOF) and collect events until the parser waits or pauses."""
    if data:
        parser.receive_data(data)
    if eof:
        parser.receive_data(b"")
    out: list[object] = []
    while True:
        event = parser.next_event()
        out.append(event)
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return out


def request(data: bytes, **kwargs: object) -> Request:
    parser = RequestParser(**kwargs)  # type: ignore[arg-type]
    parser.receive_data(data)
    first = parser.next_event()
    assert isinstance(first, Request)
    return first


def error(data: bytes, eof: bool = False, **kwargs: object) -> ProtocolError:
    parser = RequestParser(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError) as info:
        events(parser, data, eof)
        events(parser, b"", eof=True)
    return info.value


def test_get_yields_request_then_end_of_message_then_paused() -> None:
    parser = RequestParser()
    out = events(parser, GET)
    assert [type(e) for e in out[:2]] == [Request, EndOfMessage]
    assert out[2] is PAUSED
    assert parser.next_event() is PAUSED
    parser.start_next_cycle()
    assert parser.next_event() is NEED_DATA
    assert events(parser, eof=True) == [ConnectionClosed()]


def test_pipelined_requests_and_body() -> None:
    parser = RequestParser()
    data = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + GET + b"GET /c HTTP/1.1\r\nHo"
    out = events(parser, data)
    assert out[1:] == [Data(b"abc"), EndOfMessage([]), PAUSED]
    parser.start_next_cycle()
    second = events(parser)
    assert isinstance(second[0], Request) and second[0].target == "/"
    parser.start_next_cycle()
    assert events(parser) == [NEED_DATA]
    assert parser.trailing_data == (b"GET /c HTTP/1.1\r\nHo", False)


def test_garbage_after_a_message_fails_only_the_next_one() -> None:
    parser = RequestParser()
    out = events(parser, GET + b"\x00\x01garbage\r\n\r\n")
    assert isinstance(out[0], Request)
    parser.start_next_cycle()
    with pytest.raises(http.InvalidRequestLine):
        parser.next_event()
    with pytest.raises(http.InvalidRequestLine):  # the error sticks
        parser.next_event()


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\nHost: a\r\n", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab"],
)
def test_eof_mid_message(data: bytes) -> None:
    assert isinstance(error(data, eof=True), http.NoMoreData)


def test_eof_between_messages_and_leading_crlf() -> None:
    assert events(RequestParser(), b"\r\n\r\n", eof=True) == [ConnectionClosed()]
    out = events(RequestParser(), b"\r\n" + GET)
    assert isinstance(out[0], Request)


def test_long_request_line_fails_before_its_crlf() -> None:
    parser = RequestParser(limit_request_line=20)
    parser.receive_data(b"GET /" + b"a" * 20)
    with pytest.raises(http.LimitRequestLine) as info:
        parser.next_event()
    assert info.value.status == 414


def test_request_line_limit_cap_and_exact_boundary() -> None:
    line = b"GET /" + b"a" * (8190 - 14) + b" HTTP/1.1"
    assert len(line) == 8190
    assert request(line + b"\r\nHost: a\r\n\r\n", limit_request_line=100000).target.startswith("/a")
    assert isinstance(error(line + b"a\r\n\r\n", limit_request_line=100000), http.LimitRequestLine)


def test_too_many_fields_fail_before_the_end_of_the_head() -> None:
    parser = RequestParser(limit_request_fields=3)
    parser.receive_data(b"GET / HTTP/1.1\r\n" + b"A: 1\r\n" * 4)
    with pytest.raises(http.LimitRequestHeaders) as info:
        parser.next_event()
    assert info.value.status == 431


def test_long_field_fails_before_its_crlf() -> None:
    parser = RequestParser(limit_request_field_size=50)
    parser.receive_data(b"GET / HTTP/1.1\r\nX: " + b"a" * 60)
    with pytest.raises(http.LimitRequestHeaders):
        parser.next_event()


@pytest.mark.parametrize(
    ("head", "cls", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", http.InvalidHeader, 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", http.InvalidHeader, 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", http.InvalidHeader, 400),
        (
            G + b"Content-Length: 1234567890123456789\r\n\r\n",
            http.InvalidHeader,
            400,
        ),
        (G + b"Content-Length: \xb2\r\n\r\n", http.InvalidHeader, 400),  # a digit to str.isdigit, not to HTTP
        (G + b"Content-Length: +1\r\n\r\n", http.InvalidHeader, 400),
        (G + b"Content-Length: 1 1\r\n\r\n", http.InvalidHeader, 400),
        (
            G + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n",
            http.InvalidHeader,
            400,
        ),
        (
            P + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
            http.UnsupportedTransferCoding,
            501,
        ),
        (P + b"Transfer-Encoding: \xa0chunked\r\n\r\n", http.InvalidHeader, 400),  # not a token
        (P + b"Transfer-Encoding: identity\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: IDENTITY\r\nContent-Length: 3\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: gzip\r\n\r\n", http.InvalidHeader, 400),  # no length: 400 before 501
        (P + b"Transfer-Encoding: chunked, gzip\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: chunked, chunked\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding:\r\n\r\n", http.InvalidHeader, 400),  # an empty list is no coding
        (P + b"Transfer-Encoding: ,\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: chu nked\r\n\r\n", http.InvalidHeader, 400),
        (P + b"Transfer-Encoding: foo, chunked\r\n\r\n", http.UnsupportedTransferCoding, 501),
        (b"GET /\xc3\xa0 HTTP/1.1\r\nHost: a\r\n\r\n", http.InvalidRequestLine, 400),
        (b"GET /a?q=\xff HTTP/1.1\r\nHost: a\r\n\r\n", http.InvalidRequestLine, 400),
        (b"GET http://a/\x80 HTTP/1.1\r\nHost: a\r\n\r\n", http.InvalidRequestLine, 400),
        (
            P + b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            http.InvalidHeader,
            400,
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n", http.InvalidHeader, 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", http.ExpectationFailed, 417),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", http.InvalidHTTPVersion, 505),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", http.InvalidHeader, 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n", http.InvalidHeaderName, 400),
        (b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", http.InvalidRequestLine, 400),
    ],
)
def test_rejections(head: bytes, cls: type[ProtocolError], status: int) -> None:
    exc = error(head, header_map="refuse")
    assert type(exc) is cls
    assert exc.status == status


def test_require_host_off_and_http10_without_host() -> None:
    assert request(b"GET / HTTP/1.1\r\n\r\n", require_host=False).headers == []
    assert request(b"GET / HTTP/1.0\r\n\r\n").version == (1, 0)


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", False),
    ],
)
def test_keep_alive(head: bytes, keep_alive: bool) -> None:
    assert request(head).keep_alive is keep_alive


def test_expect_continue() -> None:
    assert request(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expect_continue
    assert not request(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue


def test_chunked_body_with_trailers_and_raw_headers() -> None:
    data = P + b'transfer-encoding: Chunked\r\n\r\n3;x="y"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n'
    out = events(RequestParser(), data)
    first = out[0]
    assert isinstance(first, Request) and first.chunked and first.content_length is None
    assert first.raw_headers == [("Host", "a"), ("transfer-encoding", "Chunked")]
    assert out[1:] == [Data(b"abc"), EndOfMessage([("X-T", "1")]), PAUSED]


def test_chunks_read_together_come_out_as_one_data_event() -> None:
    chunks = [b"ab", b"c" * 20, b"\r\n", b"d"]
    body = b"".join(b"%x;e=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    parser = RequestParser()
    out = events(parser, P + b"Transfer-Encoding: chunked\r\n\r\n" + body + b"5\r\nxy")
    assert out[1:] == [Data(b"".join(chunks) + b"xy"), NEED_DATA]
    assert events(parser, b"z") == [Data(b"z"), NEED_DATA]
    assert events(parser, b"uv\r") == [Data(b"uv"), NEED_DATA]  # the CR alone: wait for its LF
    assert events(parser, b"\n0\r\n\r\n") == [EndOfMessage([]), PAUSED]


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (b"12345678901234567\r\n", http.InvalidChunkSize),  # 17 hex digits
        (b"3\r\nabc\rX", http.ChunkMissingTerminator),
        (b"3\r\nabc\r\nZ\r\n", http.InvalidChunkSize),
        (b"3\r\nabcX", http.ChunkMissingTerminator),
        (b"3;a\nb\r\n", http.InvalidChunkExtension),
        (b"0x3\r\n", http.InvalidChunkSize),
        (b"0\r\nContent-Length: 1\r\n\r\n", http.InvalidHeaderName),
    ],
)
def test_chunk_errors_are_raised_at_once(body: bytes, cls: type[ProtocolError]) -> None:
    parser = RequestParser()
    parser.receive_data(P + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    with pytest.raises(cls):
        events(parser)


def test_header_map_and_trusted_forwarders() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nSCRIPT_NAME: /x\r\nX_Y: 1\r\n\r\n"
    assert request(head).headers == [("HOST", "a")]
    assert request(head, peer_trusted=True).headers == [("HOST", "a"), ("SCRIPT_NAME", "/x")]
    assert len(request(head, header_map="dangerous").headers) == 3


def test_proxy_v1_only_at_the_start_and_only_trusted() -> None:
    proxy = b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\n"
    parser = RequestParser(proxy_protocol="v1", proxy_trusted=True)
    assert isinstance(events(parser, proxy + GET)[0], Request)
    assert parser.proxy_info == ("TCP4", "10.0.0.1", 1234, "10.0.0.2", 80)
    parser.start_next_cycle()
    with pytest.raises(http.InvalidHTTPVersion):  # a second PROXY line is just a bad request line
        events(parser, proxy + GET)
    assert error(proxy + GET, proxy_protocol="auto").status == 403
    assert isinstance(error(proxy + GET), http.InvalidHTTPVersion)  # proxy_protocol off


def test_proxy_v2_local_and_unknown_v1() -> None:
    v2_local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    parser = RequestParser(proxy_protocol="v2", proxy_trusted=True)
    assert isinstance(events(parser, v2_local + GET)[0], Request)
    assert parser.proxy_info is not None and parser.proxy_info.proxy_protocol == "LOCAL"
    parser = RequestParser(proxy_protocol="v1", proxy_trusted=True)
    assert isinstance(events(parser, b"PROXY UNKNOWN\r\n" + GET)[0], Request)


def proxied(prefix: bytes) -> object:
    parser = RequestParser(proxy_protocol="auto", proxy_trusted=True)
    try:
        events(parser, prefix + GET)
    except ProtocolError as exc:
        return exc.status
    return parser.proxy_info


@pytest.mark.parametrize(
    ("prefix", "info"),
    [
        # v1 addresses are kept as sent, once the system's address parser accepts them (as Gunicorn does).
        (b"PROXY TCP6 2001:DB8::1 ::1 1 2\r\n", ("TCP6", "2001:DB8::1", 1, "::1", 2)),
        (b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", ("TCP6", "::ffff:1.2.3.4", 1, "::1", 2)),
        (b"PROXY TCP6 1:2:3 ::1 1 2\r\n", 400),
        (b"PROXY TCP6 10.0.0.1 ::1 1 2\r\n", 400),
        (b"PROXY TCP4 10.0.0.01 10.0.0.2 1 2\r\n", 400),
        (b"PROXY TCP4 10.0.0.256 10.0.0.2 1 2\r\n", 400),
        (b"PROXY TCP4 ::1 10.0.0.2 1 2\r\n", 400),
        (b"PROXY TCP4 10.0.0.1 10.0.0.2 1 65536\r\n", 400),
        # v2 addresses are written as the system writes them (inet_ntop, like Gunicorn).
        (
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24"
            + bytes(10)
            + b"\xff\xff\x01\x02\x03\x04"
            + bytes(15)
            + b"\x01"
            + b"\x00\x50\x01\xbb",
            ("TCP6", "::ffff:1.2.3.4", 80, "::1", 443),
        ),
        (
            b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x0a\x00\x00\x01\xc0\xa8\x00\x01\x00\x50\x01\xbb",
            ("TCP4", "10.0.0.1", 80, "192.168.0.1", 443),
        ),
    ],
)
def test_proxy_addresses(prefix: bytes, info: object) -> None:
    assert proxied(prefix) == info


def test_start_next_cycle_only_after_end_of_message() -> None:
    parser = RequestParser()
    with pytest.raises(http.LocalProtocolError):
        parser.start_next_cycle()


def test_bad_arguments_and_data_after_eof() -> None:
    with pytest.raises(ValueError, match="header_map"):
        RequestParser(header_map="keep")
    parser = RequestParser()
    parser.receive_data(b"")
    with pytest.raises(RuntimeError):
        parser.receive_data(b"x")


def test_factory_makes_independent_parsers_with_its_settings() -> None:
    make = RequestParser.factory(limit_request_line=20, proxy_protocol="v1", proxy_trusted=True)
    first, second = make(), make()
    assert isinstance(events(first, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n" + GET)[0], Request)
    assert first.proxy_info is not None and second.proxy_info is None
    with pytest.raises(http.LimitRequestLine):
        events(second, b"PROXY UNKNOWN\r\nGET /" + b"a" * 30 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(ValueError):
        RequestParser.factory(header_map="sometimes")


def test_the_caches_of_client_input_stay_bounded_and_keep_learning() -> None:
    # Header names and Host values are remembered across requests; both come from clients, so a flood of
    # distinct ones must neither grow memory nor stop the caches from learning the names that follow it.
    from monoceros.http import _caches

    caches = http.Caches()  # one worker's: every parser the factory makes shares it
    make = RequestParser.factory(caches=caches)
    flood = 3 * max(_caches.NAMES_SIZE, _caches.HOSTS_SIZE)
    for n in range(flood):
        got = events(make(), f"GET / HTTP/1.1\r\nHost: h{n}.example\r\nX-Flood-{n}: v\r\n\r\n".encode())[0]
        assert isinstance(got, Request)
        assert got.headers == [("HOST", f"h{n}.example"), (f"X-FLOOD-{n}", "v")]
        assert len(caches.names) <= _caches.NAMES_SIZE
        assert len(caches.hosts) <= _caches.HOSTS_SIZE
    events(make(), b"GET / HTTP/1.1\r\nHost: after.example\r\nX-After: v\r\n\r\n")
    assert "after.example" in caches.hosts
    assert "X-After" in caches.names


def test_two_factories_share_no_cache() -> None:
    # Two configurations in one process (two workers' factories, tests) never see each other's caches.
    one, two = http.Caches(), http.Caches()
    events(RequestParser.factory(caches=one)(), b"GET / HTTP/1.1\r\nHost: one.example\r\nX-One: 1\r\n\r\n")
    assert "one.example" in one.hosts and "X-One" in one.names
    assert not two.hosts and not two.names


def _status(data: bytes, pieces: list[bytes], **kwargs: object) -> int | None:
    """The status a parser refuses ``data`` with when fed ``pieces`` then EOF, or None when it accepts it."""
    assert b"".join(pieces) == data
    parser = RequestParser(**kwargs)  # type: ignore[arg-type]
    try:
        for piece in [*pieces, b""]:
            parser.receive_data(piece)
            while (event := parser.next_event()) is not NEED_DATA:
                if event is PAUSED:
                    parser.start_next_cycle()
                elif isinstance(event, ConnectionClosed):
                    return None
    except ProtocolError as exc:
        return exc.status
    return None


LONG_EXT = b";" + b"e" * 100
ONE_OUTCOME = [
    # a chunk line longer than limit_request_field_size: refused however it arrives (it was accepted whole)
    (
        P + b"Transfer-Encoding: chunked\r\n\r\n5" + LONG_EXT + b"\r\nhello\r\n0\r\n\r\n",
        400,
        {"limit_request_field_size": 64},
    ),
    # a bare LF early in a request line longer than the limit: the LF is met first (was 414 whole, 400 split)
    (b"GET /\nx" + b"a" * 60 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 400, {"limit_request_line": 40}),
    (b"GET /" + b"a" * 60 + b"\nx HTTP/1.1\r\nHost: a\r\n\r\n", 414, {"limit_request_line": 40}),
    # a bad field line before an over-long one: the first error met wins (was 431 whole, 400 split)
    (G + b"Bad Name: x\r\nX: " + b"v" * 80 + b"\r\n\r\n", 400, {"limit_request_field_size": 40}),
    (G + b"X: " + b"v" * 80 + b"\r\nBad Name: x\r\n\r\n", 431, {"limit_request_field_size": 40}),
    (G + b"X: v\nw" + b"v" * 80 + b"\r\n\r\n", 400, {"limit_request_field_size": 40}),
    (G + b"X: " + b"v" * 80 + b"\nw\r\n\r\n", 431, {"limit_request_field_size": 40}),
    # a field that makes the head invalid, before a line over the limits
    (G + b"Expect: nothing\r\nX: " + b"v" * 80 + b"\r\n\r\n", 417, {"limit_request_field_size": 40}),
    (G + b"Host: b\r\nX: " + b"v" * 80 + b"\r\n\r\n", 400, {"limit_request_field_size": 40}),
    (G + b"X: " + b"v" * 80 + b"\r\nExpect: nothing\r\n\r\n", 431, {"limit_request_field_size": 40}),
    # a folded field that grows past the limit
    (
        G + b"X: " + b"v" * 20 + b"\r\n " + b"w" * 30 + b"\r\n\r\n",
        431,
        {"limit_request_field_size": 40, "permit_obsolete_folding": True},
    ),
    # trailers: a bad line before an over-long one
    (
        P + b"Transfer-Encoding: chunked\r\n\r\n0\r\nBad Name: x\r\nX: " + b"v" * 80 + b"\r\n\r\n",
        400,
        {"limit_request_field_size": 40},
    ),
]


@pytest.mark.parametrize(("data", "status", "kwargs"), ONE_OUTCOME)
def test_one_input_has_one_outcome_however_it_is_split(
    data: bytes, status: int, kwargs: dict[str, object]
) -> None:
    assert _status(data, [data], **kwargs) == status
    assert _status(data, [data[i : i + 1] for i in range(len(data))], **kwargs) == status
    for cut in range(1, len(data)):
        assert _status(data, [data[:cut], data[cut:]], **kwargs) == status, cut


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (P + b"Content-Length: 1\r\nContent-Length: 1\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n", 400),
        (G + b"Host: b\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400),
        (P + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", 400),
        (P + b"Transfer-Encoding: chunked, gzip\r\n", 400),
        (P + b"Content-Length: x\r\n", 400),
        (G + b"Expect: nothing\r\n", 417),
    ],
)
def test_a_head_that_is_already_invalid_is_refused_at_its_line(head: bytes, status: int) -> None:
    """No blank line yet: the offending line is complete, so nothing that follows can make the head valid."""
    parser = RequestParser()
    parser.receive_data(head + b"X-More: is coming")
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == status


def test_a_valid_incomplete_head_waits() -> None:
    parser = RequestParser()
    parser.receive_data(P + b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n")
    with pytest.raises(ProtocolError):  # CL after TE: certain already
        parser.next_event()
    parser = RequestParser()
    parser.receive_data(P + b"Transfer-Encoding: identity\r\n")  # a later "chunked" line could still fix it
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert isinstance(parser.next_event(), Request)
