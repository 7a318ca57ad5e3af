"""The uwsgi packet parser: the same events whole and byte by byte, and its refusals."""

from __future__ import annotations

import pytest

from monoceros.http import (
    NEED_DATA,
    PAUSED,
    Data,
    EndOfMessage,
    InvalidUwsgiHeader,
    Request,
    UnsupportedModifier,
    UwsgiParser,
)


def packet(variables: dict[str, str], modifier1: int = 0) -> bytes:
    block = b"".join(
        len(k).to_bytes(2, "little") + k.encode() + len(v).to_bytes(2, "little") + v.encode()
        for k, v in variables.items()
    )
    return bytes([modifier1]) + len(block).to_bytes(2, "little") + b"\x00" + block


VARS = {
    "REQUEST_METHOD": "POST",
    "REQUEST_URI": "/a%20b?x=1",
    "PATH_INFO": "/a b",
    "QUERY_STRING": "x=1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "CONTENT_LENGTH": "5",
    "CONTENT_TYPE": "text/plain",
    "HTTP_CONTENT_LENGTH": "5",
    "HTTP_X_FORWARDED_FOR": "10.0.0.1",
    "HTTP_HOST": "example.com",
}


def _events(pieces: list[bytes]) -> list[object]:
    parser = UwsgiParser()
    out: list[object] = []
    for piece in [*pieces, b""]:
        parser.receive_data(piece)
        while (event := parser.next_event()) is not NEED_DATA:
            out.append(event)
            if event is PAUSED or not isinstance(event, (Request, Data, EndOfMessage)):
                return out
    return out


def test_whole_and_byte_by_byte_give_the_same_request() -> None:
    data = packet(VARS) + b"hello"
    whole = _events([data])
    bytewise = _events([data[i : i + 1] for i in range(len(data))])
    request = whole[0]
    assert isinstance(request, Request)
    assert (request.method, request.target, request.path, request.query) == (
        "POST",
        "/a%20b?x=1",
        "/a b",
        "x=1",
    )
    assert request.content_length == 5
    assert ("X-FORWARDED-FOR", "10.0.0.1") in request.headers
    assert [h for h in request.headers if h[0] == "CONTENT-LENGTH"] == [("CONTENT-LENGTH", "5")]
    body = b"".join(e.data for e in whole if isinstance(e, Data))
    assert body == b"hello" == b"".join(e.data for e in bytewise if isinstance(e, Data))
    assert [type(e) for e in whole if not isinstance(e, Data)] == [
        type(e) for e in bytewise if not isinstance(e, Data)
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\x10\x00\x00\x03\x00abc", InvalidUwsgiHeader),  # the block is shorter than announced
        (packet({"A": "b"})[:-1], InvalidUwsgiHeader),
        (packet(VARS, modifier1=5), UnsupportedModifier),
        (packet({**VARS, "CONTENT_LENGTH": "-1"}), InvalidUwsgiHeader),
        (b"\x00\x04\x00\x00\x05\x00ab", InvalidUwsgiHeader),  # a key longer than its block
    ],
)
def test_bad_packets_are_refused(data: bytes, error: type[Exception]) -> None:
    parser = UwsgiParser()
    parser.receive_data(data)
    parser.receive_data(b"")
    with pytest.raises(error):
        parser.next_event()
