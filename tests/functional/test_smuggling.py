"""Request smuggling, tried on a real server: a ``GET /CANARY`` sent after a message must never be answered.

Each message below is one a front proxy could frame differently from us (RFC 9112 §6.3). The server must
answer it with its 4xx/5xx and close, so the canary behind it is never read as a second request. Every
variant is sent whole and split into small pieces with pauses, so the server sees it over several reads.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from harness import Server, parse_response, recv_until_closed

Factory = Callable[..., Server]

CANARY = b"GET /CANARY HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST /echo HTTP/1.1\r\nHost: a\r\n"

# (the message before the canary, the status it must get)
VARIANTS = {
    "te-identity": (POST + b"Transfer-Encoding: identity\r\n\r\n", 400),
    "te-identity-upper": (POST + b"Transfer-Encoding: IDENTITY\r\n\r\n", 400),
    "te-identity-mixed-cl": (POST + b"Transfer-Encoding: Identity\r\nContent-Length: 5\r\n\r\nhello", 400),
    "cl-then-te-identity": (POST + b"Content-Length: 5\r\nTransfer-Encoding: identity\r\n\r\nhello", 400),
    "te-gzip-alone": (POST + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    "te-chunked-then-identity": (POST + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    "te-two-fields": (POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    "te-empty": (POST + b"Transfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello", 400),
    "te-comma-only": (POST + b"Transfer-Encoding: ,\r\n\r\n", 400),
    "te-not-a-token": (POST + b"Transfer-Encoding: \xa0chunked\r\n\r\n0\r\n\r\n", 400),
    "te-chunked-twice": (POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n0\r\n\r\n", 400),
    "te-and-cl": (POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    "te-in-http10": (b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "te-gzip-chunked": (POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    "cl-twice": (POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    "cl-list": (POST + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    "cl-plus": (POST + b"Content-Length: +5\r\n\r\nhello", 400),
    "target-obs-text": (b"GET /\xc3\xa0 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
}
# Lists with empty elements are parsed as RFC 9110 §5.6.1 says (the empty ones ignored): plain chunked.
ACCEPTED = {
    "te-leading-comma": POST + b"Transfer-Encoding: , chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te-trailing-comma": POST + b"Transfer-Encoding: chunked ,\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te-identity-chunked": POST + b"Transfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te-upper-chunked": POST + b"Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
}


@pytest.fixture(scope="module", params=["default", "asgi", "gevent"])
def server(
    tmp_path_factory: pytest.TempPathFactory, worker_class: str, request: pytest.FixtureRequest
) -> object:
    from harness import start_server

    asgi = request.param == "asgi"
    started = start_server(
        ["--workers", "1", "--keep-alive", "5"],
        tmp_path_factory.mktemp("smuggling"),
        app="asgiapp:app" if asgi else "servingapp:app",
        tcp=True,
        worker_class=request.param if request.param != "default" else worker_class,
    )
    yield started
    started.kill()


def _send(sock: socket.socket, data: bytes, split: bool) -> None:
    if not split:
        sock.sendall(data)
        return
    # Small pieces with a pause between them, so that the server gets them in separate reads; the pause is
    # the stimulus, not a wait for a result.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    step = max(1, len(data) // 7)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        time.sleep(0.01)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_refused_message_hides_no_second_request(server: Server, name: str, split: bool) -> None:
    message, status = VARIANTS[name]
    with server.connect() as sock:
        _send(sock, message + CANARY, split)
        data = recv_until_closed(sock, timeout=10)
    response = parse_response(data)
    assert response.status == status, data[:300]
    assert response.headers["connection"] == "close"
    assert data.count(b"HTTP/1.1 ") == 1, data  # one response: the canary was never served


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("name", list(ACCEPTED))
def test_valid_lists_frame_as_chunked(server: Server, name: str, split: bool) -> None:
    with server.connect() as sock:
        _send(sock, ACCEPTED[name] + b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", split)
        data = recv_until_closed(sock, timeout=10)
    first, _, rest = data.partition(b"HTTP/1.1 200")[2].partition(b"HTTP/1.1 ")
    assert b"\r\n\r\nhello" in first, data  # the chunked body, decoded
    assert rest.startswith(b"200"), data  # and the request after it, framed where the body ended
