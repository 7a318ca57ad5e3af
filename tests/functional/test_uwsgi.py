"""`--protocol uwsgi`: raw uwsgi packets on a real socket, and real nginx with `uwsgi_pass` in front."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, parse_response, recv_until_closed, wait_for
from test_nginx import NGINX, running_nginx

Factory = Callable[..., Server]


def packet(variables: dict[str, str], modifier1: int = 0) -> bytes:
    block = b"".join(
        len(k).to_bytes(2, "little")
        + k.encode("latin-1")
        + len(v).to_bytes(2, "little")
        + v.encode("latin-1")
        for k, v in variables.items()
    )
    return bytes([modifier1]) + len(block).to_bytes(2, "little") + b"\x00" + block


def request_vars(method: str, path: str, query: str = "", **extra: str) -> dict[str, str]:
    uri = f"{path}?{query}" if query else path
    base = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "PATH_INFO": path, "QUERY_STRING": query}
    return {**base, "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "example.com", **extra}


def _host_port(server: Server) -> tuple[str, int]:
    host, port = server.address.rsplit(":", 1)
    return host, int(port)


def _exchange(server: Server, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read until the server closes; b"" if it is not listening."""
    try:
        sock = socket.create_connection(_host_port(server), timeout=10)
    except OSError:
        return b""
    with sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return recv_until_closed(sock, timeout=10)


@pytest.fixture(params=["sync", "asgi"])
def uwsgi_server(server_factory: Factory, request: pytest.FixtureRequest) -> Server:
    app = "asgiapp:app" if request.param == "asgi" else "servingapp:app"
    return server_factory(
        ["--workers", "1", "--protocol", "uwsgi", "--worker-class", request.param],
        app=app,
        tcp=True,
        ready=False,
    )


def _ready(server: Server) -> None:
    wait_for(lambda: b"pid=" in _exchange(server, packet(request_vars("GET", "/"))), what="the uwsgi server")


def test_uwsgi_packets_are_served(uwsgi_server: Server) -> None:
    _ready(uwsgi_server)
    answer = parse_response(
        _exchange(uwsgi_server, packet(request_vars("GET", "/environ", "a=1", HTTP_X_TEST="v")))
    )
    assert answer.status == 200
    environ = dict(line.split("=", 1) for line in answer.body.decode().splitlines())
    assert (environ["PATH_INFO"], environ["QUERY_STRING"], environ["HTTP_X_TEST"]) == ("/environ", "a=1", "v")
    body = b"x" * 100_000
    vars_ = request_vars("POST", "/echo", CONTENT_LENGTH=str(len(body)), CONTENT_TYPE="text/plain")
    assert parse_response(_exchange(uwsgi_server, packet(vars_) + body)).body == body
    # A body of unknown length is not chunked: nginx frames it for its client.
    streamed = _exchange(uwsgi_server, packet(request_vars("GET", "/stream")))
    assert streamed.endswith(b"\r\n\r\npart0;part1;part2;part3;part4;")
    assert b"Transfer-Encoding" not in streamed


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"\x00\x10\x00\x00\x03\x00abc", 400), (packet(request_vars("GET", "/"), modifier1=5), 501)],
    ids=["truncated", "modifier"],
)
def test_bad_uwsgi_packets_get_their_status(uwsgi_server: Server, data: bytes, status: int) -> None:
    _ready(uwsgi_server)
    assert parse_response(_exchange(uwsgi_server, data)).status == status


@pytest.mark.parametrize("kind", ["sync", "asgi"])
def test_uwsgi_from_a_peer_not_allowed_is_403(server_factory: Factory, kind: str) -> None:
    server = server_factory(
        ["--workers", "1", "--protocol", "uwsgi", "--uwsgi-allow-from", "10.9.8.7", "--worker-class", kind],
        app="asgiapp:app" if kind == "asgi" else "servingapp:app",
        tcp=True,
        ready=False,
    )
    wait_for(
        lambda: _exchange(server, packet(request_vars("GET", "/"))).startswith(b"HTTP/1.1 403"), what="a 403"
    )


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)")
def test_nginx_uwsgi_pass(server_factory: Factory, tmp_path: Path) -> None:
    params = next(
        (p for p in ("/etc/nginx/uwsgi_params", "/usr/local/nginx/conf/uwsgi_params") if Path(p).exists()),
        None,
    )
    if params is None:
        pytest.skip("nginx's uwsgi_params file is not installed")
    server = server_factory(["--workers", "1", "--protocol", "uwsgi"], app="servingapp:app", ready=False)
    with running_nginx(tmp_path, f"include {params}; uwsgi_pass unix:{server.address[5:]};") as port:

        def answered() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                return False
            return ok

        wait_for(answered, what="nginx and the uwsgi backend")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/environ?b=2", headers={"X-Test": "via-uwsgi"})
        environ = dict(line.split("=", 1) for line in conn.getresponse().read().decode().splitlines())
        assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/environ", "b=2")
        assert environ["HTTP_X_TEST"] == "via-uwsgi"
        body = os.urandom(300_000)
        conn.request("POST", "/echo", body=body)
        assert conn.getresponse().read() == body
        conn.request("GET", "/stream")
        assert conn.getresponse().read() == b"part0;part1;part2;part3;part4;"
        conn.close()
