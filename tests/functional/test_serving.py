"""HTTP served by a real master and sync worker: keep-alive, pipelining, bodies, errors, WSGI details."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from harness import Server, parse_response, recv_until_closed

Factory = Callable[..., Server]


KINDS = [
    ["--worker-class", "sync"],
    ["--worker-class", "gthread", "--threads", "2"],
    ["--worker-class", "asgi"],
    ["--worker-class", "gevent"],
]


def app_for(kind: list[str]) -> str:
    """The serving app for a worker kind: the WSGI one, or its ASGI twin (the same routes and answers)."""
    return "asgiapp:app" if "asgi" in kind else "servingapp:app"


@pytest.fixture(params=KINDS, ids=["sync", "gthread", "asgi", "gevent"])
def kind(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
def server(server_factory: Factory, kind: list[str]) -> Server:
    return server_factory(["--workers", "1", "--keep-alive", "5", *kind], app=app_for(kind), tcp=True)


def host_port(server: Server) -> tuple[str, int]:
    host, port = server.address.rsplit(":", 1)
    return host, int(port)


def _complete_responses(data: bytes) -> int:
    """How many whole Content-Length responses `data` starts with."""
    count = 0
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(parse_response(head + b"\r\n\r\n").headers.get("content-length", "0"))
        if len(rest) < length:
            break
        count, data = count + 1, rest[length:]
    return count


def read_responses(sock: socket.socket, count: int, timeout: float = 10.0) -> bytes:
    """What the server sends until `count` whole responses are in (or it closes), on a connection that
    stays open."""
    sock.settimeout(timeout)
    data = b""
    while _complete_responses(data) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def split_responses(data: bytes) -> list[tuple[int, bytes]]:
    """Parse back-to-back Content-Length responses."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        response = parse_response(head + b"\r\n\r\n")
        length = int(response.headers.get("content-length", "0"))
        out.append((response.status, rest[:length]))
        data = rest[length:]
    return out


def test_keep_alive_serves_many_requests_on_one_connection(server: Server) -> None:
    conn = http.client.HTTPConnection(*host_port(server), timeout=5)
    pids = set()
    for _ in range(20):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") == "keep-alive"
        assert response.getheader("Server") == "monoceros"
        assert response.getheader("Date")
        pids.add(response.read())
    sock = conn.sock
    assert sock is not None
    conn.close()
    assert len(pids) == 1


def test_connection_close_is_honoured(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(sock)
    response = parse_response(data)
    assert response.status == 200
    assert response.headers["connection"] == "close"


def test_bytes_after_a_closing_request_do_not_reset_its_response(server: Server) -> None:
    """Pipelined input after `Connection: close` is unread when the answer goes: the close lingers
    (half-close, drain), so the kernel does not reset the answer away before the client read it."""
    closing = b"GET /environ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with server.connect() as sock:
        sock.sendall(closing + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 50)
        response = parse_response(recv_until_closed(sock))
    assert response.status == 200 and b"REQUEST_METHOD=GET" in response.body


def test_http10_keeps_alive_only_when_asked(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.0 200 ")
    assert parse_response(data).headers["connection"] == "close"
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
        data = read_responses(sock, 2)
        assert data.count(b"HTTP/1.0 200 ") == 2
        assert b"Connection: keep-alive" in data


@pytest.mark.parametrize("mode", ["one-write", "byte-by-byte"])
def test_pipelined_requests_are_all_answered_in_order(server: Server, mode: str) -> None:
    requests = b"".join(b"GET /environ?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(10))
    requests += b"GET /environ?n=last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    with server.connect() as sock:
        if mode == "one-write":
            sock.sendall(requests)
        else:
            for i in range(len(requests)):
                sock.send(requests[i : i + 1])
        data = recv_until_closed(sock)
    answers = split_responses(data)
    assert [status for status, _ in answers] == [200] * 11
    queries = [body.split(b"QUERY_STRING=")[1].split(b"\n")[0] for _, body in answers]
    assert queries == [b"n=%d" % i for i in range(10)] + [b"n=last"]


def test_post_bodies_content_length_and_chunked(server: Server) -> None:
    conn = http.client.HTTPConnection(*host_port(server), timeout=10)
    conn.request("POST", "/echo", body=b"hello world", headers={"Content-Type": "text/plain"})
    assert conn.getresponse().read() == b"hello world"
    conn.request("POST", "/echo", body=iter([b"chunk-one;", b"chunk-two"]), encode_chunked=True)
    assert conn.getresponse().read() == b"chunk-one;chunk-two"
    big = bytes(range(256)) * 8192  # 2 MiB: goes through the spooled body
    conn.request("POST", "/echo", body=big)
    assert conn.getresponse().read() == big
    conn.request("POST", "/lines", body=b"a\nbb\nccc")
    assert conn.getresponse().read() == b"a\n|bb\n|ccc"
    conn.close()


def test_streamed_write_and_file_responses(server: Server) -> None:
    conn = http.client.HTTPConnection(*host_port(server), timeout=10)
    conn.request("GET", "/stream")
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"part0;part1;part2;part3;part4;"
    conn.request("GET", "/write")
    assert conn.getresponse().read() == b"written;returned"
    conn.request("GET", "/file")
    assert conn.getresponse().read() == b"0123456789" * 10000
    conn.request("HEAD", "/file")
    response = conn.getresponse()
    assert response.getheader("Content-Length") == "100000"
    assert response.read() == b""
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()


def test_expect_100_continue_is_sent_when_the_app_reads(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        sock.settimeout(5)
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        response = parse_response(sock.recv(65536))
        assert response.status == 200
        assert response.body == b"hello"
    with server.connect() as sock:
        sock.sendall(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        data = recv_until_closed(sock)
        assert b"100 Continue" not in data
        assert parse_response(data).body == b"ignored the body"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ],
)
def test_malformed_requests_get_their_status_and_a_close(server: Server, raw: bytes, status: int) -> None:
    with server.connect() as sock:
        sock.sendall(raw)
        data = recv_until_closed(sock)
    response = parse_response(data)
    assert response.status == status
    assert response.headers["connection"] == "close"
    assert response.headers["date"]


def test_an_app_exception_gives_500_and_the_worker_goes_on(server: Server) -> None:
    conn = http.client.HTTPConnection(*host_port(server), timeout=5)
    conn.request("GET", "/error")
    response = conn.getresponse()
    assert response.status == 500
    response.read()
    conn.close()
    assert server.request("/").status == 200
    server.wait_log("the application failed on purpose")


def test_idle_keep_alive_connection_is_closed_after_the_timeout(
    server_factory: Factory, kind: list[str]
) -> None:
    server = server_factory(["--workers", "1", "--keep-alive", "1", *kind], app=app_for(kind), tcp=True)
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        started = time.monotonic()
        data = recv_until_closed(sock, timeout=10)
        elapsed = time.monotonic() - started
    assert parse_response(data).status == 200
    # closed once idle for the 1 s asked, neither at once nor never (the margin is for a busy machine)
    assert 0.5 < elapsed < 6


def test_keep_alive_zero_closes_every_connection(server_factory: Factory, kind: list[str]) -> None:
    server = server_factory(["--workers", "1", "--keep-alive", "0", *kind], app=app_for(kind), tcp=True)
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = recv_until_closed(sock)
    assert parse_response(data).headers["connection"] == "close"


def test_wsgiref_validator_runs_clean(server_factory: Factory, kind: list[str]) -> None:
    if "asgi" in kind:
        pytest.skip("a WSGI validator: the ASGI worker's scope is checked in tests/functional/test_asgi.py")
    server = server_factory(["--workers", "1", *kind], app="servingapp:validated", tcp=True)
    conn = http.client.HTTPConnection(*host_port(server), timeout=10)
    checks: list[tuple[str, str, Any, bytes]] = [
        ("GET", "/environ?x=1", None, b"QUERY_STRING=x=1"),
        ("POST", "/echo", b"posted", b"posted"),
        ("GET", "/write", None, b"written;returned"),
        ("GET", "/file", None, b"0123456789"),
        ("GET", "/stream", None, b"part4;"),
    ]
    for method, path, body, expected in checks:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        assert response.status == 200, (path, response.read())
        assert expected in response.read()
    conn.request("POST", "/echo", body=iter([b"a", b"b"]), encode_chunked=True)
    assert conn.getresponse().read() == b"ab"
    conn.request("HEAD", "/")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()
    assert "Traceback" not in server.log, server.log


def test_environ_over_tcp_and_unix(server_factory: Factory) -> None:
    for tcp in (True, False):
        server = server_factory(["--workers", "1"], app="servingapp:app", tcp=tcp)
        with server.connect() as sock:
            sock.sendall(b"GET /environ?q=1 HTTP/1.1\r\nHost: a\r\nX-Test: yes\r\nConnection: close\r\n\r\n")
            body = parse_response(recv_until_closed(sock)).body
        assert b"PATH_INFO=/environ\n" in body
        assert b"QUERY_STRING=q=1\n" in body
        assert b"HTTP_X_TEST=yes" in body
        assert b"wsgi.url_scheme=http" in body
        server.kill()


def test_ipv6_when_available(server_factory: Factory, tmp_path: Any) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))  # only whether ::1 is configured; the server picks its own port
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    server = server_factory(["--workers", "1", "--bind", "[::1]:0"], app="servingapp:app")
    host, port = server.address.rsplit(":", 1)  # as the master reported it: "Listening at: http://[::1]:PORT"
    assert host == "[::1]" and int(port) > 0
    with socket.create_connection(("::1", int(port)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert parse_response(recv_until_closed(sock)).status == 200


def test_early_hints_go_out_before_the_response(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(sock)
    first, second, final = data.split(b"\r\n\r\n", 2)
    assert first == b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style"
    assert second == b"HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload; as=script\r\nX-Hint: 2"
    response = parse_response(final)
    assert response.status == 200
    assert response.body == b"hinted, refused LocalProtocolError"


def test_early_hints_are_not_sent_to_an_http_10_client(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /hints HTTP/1.0\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.0 200 ")  # (answered in the client's version, as Gunicorn does)
    assert b"103 Early Hints" not in data
    assert parse_response(data).body == b"hinted, refused nothing"
