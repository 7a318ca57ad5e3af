"""The ASGI worker in a real master: scopes, lifespan, errors, streaming, disconnects, WebSockets, the uvicorn
worker names, graceful stops, the heartbeat and the limits. The framing, smuggling, garbage and slow-client
suites run against it as well (test_serving, test_smuggling, test_garbage, test_slow_clients)."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from harness import Server, parse_response, read_response, recv_until_closed, server_queues, wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus

Factory = Callable[..., Server]


def start(factory: Factory, args: list[str] | None = None, app: str = "asgiapp:app", **kwargs: Any) -> Server:
    kwargs.setdefault("tcp", True)
    kwargs.setdefault("worker_class", "asgi")
    return factory(["--workers", "1", "--keep-alive", "5", *(args or [])], app=app, **kwargs)


def events(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def get(
    server: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def ws_url(server: Server, path: str) -> str:
    return f"ws://{server.address}{path}"


async def closed_by_server(ws: Any) -> tuple[int | None, str | None]:
    """Wait for the server's close frame: (code, reason); (None, None) if the connection just ended."""
    try:
        await ws.recv()
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
    return None, None


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    return tmp_path / "events.txt"


@pytest.fixture
def server(server_factory: Factory, event_file: Path) -> Server:
    return start(server_factory, env={"ASGIAPP_EVENTS": str(event_file)})


# -- the scope ----------------------------------------------------------------------------------------


def test_http_scope(server: Server) -> None:
    status, _, body = get(server, "/scope/caf%C3%A9%20x?a=1&b=%20", {"X-Test": "yes", "User-Agent": "t"})
    assert status == 200
    scope = json.loads(body)
    host, port = server.address.rsplit(":", 1)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope/café x"
    assert scope["raw_path"] == "/scope/caf%C3%A9%20x"
    assert scope["query_string"] == "a=1&b=%20"
    assert scope["root_path"] == ""
    assert ["x-test", "yes"] in scope["headers"] and ["user-agent", "t"] in scope["headers"]
    assert all(name == name.lower() for name, _ in scope["headers"])
    assert scope["server"] == [host, int(port)]
    assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
    # The lifespan's state, copied into every request
    assert scope["state"] == {}


def test_root_path_is_part_of_path(server_factory: Factory) -> None:
    server = start(server_factory, ["--root-path", "/api"])
    scope = json.loads(get(server, "/scope/x")[2])
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == ("/api", "/api/scope/x", "/api/scope/x")


def test_secure_scheme_headers_from_a_trusted_peer(server: Server) -> None:
    scope = json.loads(get(server, "/scope", {"X-Forwarded-Proto": "https"})[2])
    assert scope["scheme"] == "https"
    # No X-Forwarded-For handling for -k asgi (Gunicorn's worker has none): the client stays the peer.
    scope = json.loads(get(server, "/scope", {"X-Forwarded-For": "203.0.113.9"})[2])
    assert scope["client"][0] == "127.0.0.1"
    with server.connect() as sock:
        sock.sendall(
            b"GET /scope HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n"
        )
        assert parse_response(recv_until_closed(sock)).status == 400


def test_secure_scheme_headers_from_an_untrusted_peer_are_ignored(server_factory: Factory) -> None:
    server = start(server_factory, ["--forwarded-allow-ips", "10.9.9.9"])
    scope = json.loads(get(server, "/scope", {"X-Forwarded-Proto": "https"})[2])
    assert scope["scheme"] == "http"


def test_unix_socket_scope(server_factory: Factory) -> None:
    server = start(server_factory, tcp=False)
    scope = json.loads(server.request("/scope").body)
    assert scope["client"] is None and scope["server"] is None


def test_proxy_protocol_names_the_client(server_factory: Factory) -> None:
    server = start(server_factory, ["--proxy-protocol", "v1", "--proxy-allow-from", "127.0.0.1"])
    with server.connect() as sock:
        sock.sendall(
            b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 80\r\n"
            b"GET /scope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        scope = json.loads(parse_response(recv_until_closed(sock)).body)
    assert scope["client"] == ["198.51.100.22", 35646]


def test_header_map_applies_as_for_wsgi(server: Server) -> None:
    scope = json.loads(get(server, "/scope", {"X_Secret": "1", "X-Fine": "2"})[2])
    names = [name for name, _ in scope["headers"]]
    assert "x-fine" in names and "x_secret" not in names


# -- lifespan -----------------------------------------------------------------------------------------


def test_lifespan_runs_around_serving(server: Server, event_file: Path) -> None:
    (worker,) = server.wait_workers(1)
    assert events(event_file) == [f"startup {worker}"]
    assert server.stop() == 0
    assert events(event_file) == [f"startup {worker}", f"shutdown {worker}"]


def test_lifespan_state_reaches_each_request(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "stateapp.py").write_text(
        "from asgiapp import app as inner\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] == 'lifespan':\n"
        "        async def receive_and_fill():\n"
        "            message = await receive()\n"
        "            if message['type'] == 'lifespan.startup':\n"
        "                scope['state']['db'] = 'connected'\n"
        "            return message\n"
        "        return await inner(scope, receive_and_fill, send)\n"
        "    if scope['path'] == '/scope':\n"
        "        scope['state']['mutated'] = True  # a request's changes stay its own\n"
        "    return await inner(scope, receive, send)\n"
    )
    server = start(server_factory, app="stateapp:app")
    for _ in range(2):
        assert json.loads(get(server, "/scope")[2])["state"] == {"db": "connected", "mutated": True}


def test_failed_startup_stops_the_server_with_the_boot_error(server_factory: Factory) -> None:
    server = start(server_factory, ready=False, env={"ASGIAPP_STARTUP": "fail"})
    assert server.wait(20) == 3
    assert "the database is down" in server.log
    assert server.log.count("Booting worker") == 1  # no crash loop


def test_startup_that_raises_with_lifespan_on(server_factory: Factory) -> None:
    server = start(server_factory, ["--asgi-lifespan", "on"], ready=False, env={"ASGIAPP_STARTUP": "raise"})
    assert server.wait(20) == 3
    assert "startup raised on purpose" in server.log


def test_an_app_without_lifespan_is_served_in_auto_mode(server_factory: Factory) -> None:
    server = start(server_factory, app="asgiapp:no_lifespan")
    assert get(server, "/")[2] == b"no lifespan here"
    assert "lifespan' protocol appears unsupported" in server.log
    server2 = start(server_factory, ["--asgi-lifespan", "on"], app="asgiapp:no_lifespan", ready=False)
    assert server2.wait(20) == 3


def test_lifespan_off_never_calls_it(server_factory: Factory, event_file: Path) -> None:
    server = start(server_factory, ["--asgi-lifespan", "off"], env={"ASGIAPP_EVENTS": str(event_file)})
    assert get(server, "/")[0] == 200
    assert server.stop() == 0
    assert events(event_file) == []


def test_asgi2_application(server_factory: Factory) -> None:
    server = start(server_factory, app="asgiapp:Asgi2App")
    assert get(server, "/two")[2] == b"asgi2 /two"


# -- responses and failures ---------------------------------------------------------------------------


def test_single_body_is_sized_and_streams_are_chunked(server: Server) -> None:
    status, headers, body = get(server, "/write")
    assert (status, headers.get("transfer-encoding"), body) == (200, "chunked", b"written;returned")
    with server.connect() as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        response = parse_response(recv_until_closed(sock))
    assert response.headers["content-length"] == "2"


def test_an_exception_after_the_response_started_closes_the_connection(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /error-after HTTP/1.1\r\nHost: a\r\n\r\n")
        data = recv_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"half" in data and not data.endswith(b"0\r\n\r\n")  # cut off: the client can tell
    wait_for(lambda: "failed after starting on purpose" in server.log, 5, "the traceback in the log")
    assert "Traceback" in server.log
    assert get(server, "/")[0] == 200


@pytest.mark.parametrize("path", ["/nothing", "/badheader"])
def test_no_response_or_an_invalid_one_is_a_500(server: Server, path: str) -> None:
    status, _, body = get(server, path)
    assert status == 500
    assert b"Injected" not in body
    assert get(server, "/")[0] == 200


def test_trailers(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /trailers HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        data = recv_until_closed(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"4\r\ndata\r\n0\r\nx-checksum: abc123\r\n\r\n"


def test_pathsend_serves_a_file(server: Server) -> None:
    status, headers, body = get(server, "/file")
    assert status == 200 and body == b"0123456789" * 10000 and headers["content-length"] == "100000"


def test_the_app_learns_that_the_client_went_away(server: Server, event_file: Path) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /disconnect HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"waiting" in sock.recv(65536)
    wait_for(lambda: "disconnect" in events(event_file), 10, "the app to see http.disconnect")


def test_an_app_deaf_to_disconnects_is_cancelled_after_the_grace_period(
    server_factory: Factory, event_file: Path
) -> None:
    server = start(
        server_factory, ["--asgi-disconnect-grace-period", "1"], env={"ASGIAPP_EVENTS": str(event_file)}
    )
    with server.connect() as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"tick" in sock.recv(65536)
    wait_for(lambda: "endless cancelled" in events(event_file), 10, "the app's task to be cancelled")
    assert get(server, "/")[0] == 200


def test_background_work_does_not_hold_the_next_request(server: Server, event_file: Path) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /background?3 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            data += sock.recv(65536)
    assert "background finished" not in events(event_file)  # both answered while it still ran
    wait_for(lambda: "background finished" in events(event_file), 10, "the background work")


def test_an_unread_body_is_held_back_not_buffered(server: Server) -> None:
    """The app sleeps without reading: the worker stops reading the upload (its receive queue fills)."""
    with server.connect() as sock:
        sock.sendall(b"POST /sleep?3 HTTP/1.1\r\nHost: a\r\nContent-Length: 67108864\r\n\r\n")
        sock.setblocking(False)
        sent = 0
        chunk = b"x" * 65536
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                queues = server_queues(sock)
                if queues is not None and queues[1] > 0:
                    break  # bytes wait in the server's kernel buffer: the worker is not reading
                time.sleep(0.01)
        queues = server_queues(sock)
    assert queues is not None and queues[1] > 0
    assert sent < 32 << 20  # far from the whole 64 MiB
    assert get(server, "/")[0] == 200  # and the worker serves others meanwhile


def test_slow_reader_app_gets_the_whole_upload(server: Server) -> None:
    data = b"y" * (3 << 20)
    with server.connect(timeout=30) as sock:
        sock.sendall(
            b"POST /slowread HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            % len(data)
        )
        sock.sendall(data)
        response = parse_response(recv_until_closed(sock, timeout=30))
    assert response.body == b"%d" % len(data)


def test_a_body_that_stops_coming_is_given_up(server_factory: Factory, event_file: Path) -> None:
    """The app waits in receive(); the client sends part of its body and stalls: after the stall bound
    (0.8 x timeout) the connection is dropped, and the worker goes on."""
    server = start(server_factory, ["--timeout", "2"], env={"ASGIAPP_EVENTS": str(event_file)})
    with server.connect(timeout=15) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
        started = time.monotonic()
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        assert data == b"" and time.monotonic() - started < 10
    assert get(server, "/")[0] == 200


def test_expect_continue(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        data = b""
        while b"hello" not in data:
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK")


def test_access_log_uses_gunicorns_atoms(server_factory: Factory) -> None:
    fmt = '%(h)s "%(r)s" %(s)s %(b)s "%(a)s" %(m)s %(U)s %(q)s %({x-test}i)s'
    server = start(server_factory, ["--access-logfile", "-", "--access-logformat", fmt])
    get(server, "/echo?q=1", {"User-Agent": "agent/1", "X-Test": "hdr"})
    line = '127.0.0.1 "GET /echo?q=1 HTTP/1.1" 200 0 "agent/1" GET /echo q=1 hdr'
    wait_for(lambda: line in server.log, 5, lambda: f"the access line in\n{server.log}")


def test_statsd_counts_asgi_requests(server_factory: Factory) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        host, port = udp.getsockname()
        server = start(server_factory, ["--statsd-host", f"{host}:{port}"])
        get(server, "/")
        get(server, "/nothing")  # a 500
        udp.settimeout(0.5)
        seen: list[str] = []

        def counted() -> bool:
            try:
                while True:
                    seen.extend(udp.recv(4096).decode().split("\n"))
            except TimeoutError:
                pass
            return "gunicorn.request.status.500:1|c|@1.0" in seen

        wait_for(counted, 10, lambda: f"the StatsD datagrams, got {seen}")
    assert "gunicorn.request.status.200:1|c|@1.0" in seen
    assert seen.count("gunicorn.requests:1|c|@1.0") >= 3  # (the start-up probe is one more)
    assert any(line.startswith("gunicorn.request.duration:") for line in seen)


# -- WebSockets ---------------------------------------------------------------------------------------


def test_websocket_echo_text_binary_and_fragments(server: Server) -> None:
    async def talk() -> list[Any]:
        async with websockets.connect(ws_url(server, "/ws")) as ws:
            answers = []
            await ws.send("hello")
            answers.append(await ws.recv())
            await ws.send(b"\x00\x01\x02")
            answers.append(await ws.recv())
            await ws.send(["frag", "mented"])  # one message in two frames
            answers.append(await ws.recv())
            await ws.send(b"z" * 300_000)
            answers.append(len(await ws.recv()))
            pong = await ws.ping(b"p")
            await asyncio.wait_for(pong, 5)
            answers.append(ws.response.headers.get("x-accepted"))
            return answers

    assert run(talk()) == ["hello", b"\x00\x01\x02", "fragmented", 300_000, "yes"]


def test_websocket_scope_subprotocol_and_compression(server: Server) -> None:
    async def talk() -> tuple[dict[str, Any], str | None, str | None]:
        async with websockets.connect(ws_url(server, "/ws/scope?x=1"), subprotocols=["chat", "v2"]) as ws:
            scope = json.loads(await ws.recv())
            return scope, ws.subprotocol, ws.response.headers.get("sec-websocket-extensions")

    scope, subprotocol, extensions = run(talk())
    assert scope["type"] == "websocket" and scope["scheme"] == "ws"
    assert scope["subprotocols"] == ["chat", "v2"] and scope["query_string"] == "x=1"
    assert subprotocol == "chat"
    assert extensions is not None and extensions.startswith("permessage-deflate")


def test_websocket_close_code_from_the_app(server: Server) -> None:
    async def talk() -> tuple[int | None, str | None]:
        async with websockets.connect(ws_url(server, "/ws/close")) as ws:
            return await closed_by_server(ws)

    assert run(talk()) == (4001, "bye")


def test_websocket_refused_and_denied(server: Server) -> None:
    async def refused(path: str) -> tuple[int, bytes]:
        try:
            async with websockets.connect(ws_url(server, path)):
                pass
        except InvalidStatus as exc:
            return exc.response.status_code, exc.response.body or b""
        return 0, b""

    assert run(refused("/ws/refuse"))[0] == 403
    assert run(refused("/ws/deny")) == (401, b"denied")
    assert get(server, "/")[0] == 200


def test_websocket_message_over_the_limit_closes_1009(server_factory: Factory, event_file: Path) -> None:
    server = start(
        server_factory, ["--websocket-max-message-size", "1024"], env={"ASGIAPP_EVENTS": str(event_file)}
    )

    async def talk() -> int | None:
        async with websockets.connect(ws_url(server, "/ws")) as ws:
            await ws.send("a" * 1000)
            assert await ws.recv() == "a" * 1000
            await ws.send("b" * 2000)
            return (await closed_by_server(ws))[0]

    assert run(talk()) == 1009
    wait_for(lambda: "ws disconnect 1009" in events(event_file), 5, "the app to be told")


def test_client_close_reaches_the_app(server: Server, event_file: Path) -> None:
    async def talk() -> None:
        async with websockets.connect(ws_url(server, "/ws")) as ws:
            await ws.send("x")
            await ws.recv()
            await ws.close(code=4321)

    run(talk())
    wait_for(lambda: "ws disconnect 4321" in events(event_file), 5, "the app to see the close code")


def test_invalid_websocket_handshakes(server: Server) -> None:
    base = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    for request, status in [
        (base + b"Sec-WebSocket-Version: 13\r\n\r\n", 400),  # no key
        (base + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426),
    ]:
        with server.connect() as sock:
            sock.sendall(request)
            assert parse_response(recv_until_closed(sock)).status == status


# -- stopping, the heartbeat, limits ------------------------------------------------------------------


def test_term_finishes_in_flight_requests_and_closes_websockets(server: Server, event_file: Path) -> None:
    (worker,) = server.wait_workers(1)
    busy = server.connect(timeout=15)
    busy.sendall(b"GET /sleep?1.5 HTTP/1.1\r\nHost: a\r\n\r\n")
    idle = server.connect()
    idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert b"200 OK" in idle.recv(65536)
    server.wait_log("app: /sleep?1.5 started")

    async def websocket_until_closed() -> int | None:
        async with websockets.connect(ws_url(server, "/ws")) as ws:
            await ws.send("x")
            await ws.recv()
            server.send(signal.SIGTERM)
            return (await closed_by_server(ws))[0]

    assert run(websocket_until_closed()) == 1001
    response = parse_response(recv_until_closed(busy, timeout=15))
    assert response.status == 200 and response.headers["connection"] == "close"
    assert recv_until_closed(idle) == b""  # the idle keep-alive connection was closed
    assert server.wait(15) == 0
    assert events(event_file)[-1] == f"shutdown {worker}"
    busy.close()
    idle.close()


def test_a_blocked_event_loop_is_replaced_by_the_master(server_factory: Factory) -> None:
    server = start(server_factory, ["--timeout", "2"])
    (worker,) = server.wait_workers(1)
    # (closed however the test ends: a socket left to the collector warns in a later test)
    with server.connect(timeout=30) as waiting:
        waiting.sendall(b"GET /sleep?30 HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: "app: /sleep?30 started" in server.log, 10, "the waiting request to start")
        with server.connect(timeout=30) as sock:
            sock.sendall(b"GET /block?30 HTTP/1.1\r\nHost: a\r\n\r\n")
            wait_for(lambda: server.workers() and server.workers() != [worker], 20, "a new worker")
        assert "WORKER TIMEOUT" in server.log
        # Where the loop was stuck, and the request that stuck it
        wait_for(lambda: "Worker stuck past the timeout" in server.log, 10, "the stuck worker's stack")
        report = server.log.split("Worker stuck past the timeout", 1)[1]
        in_flight = report.split("in flight: ", 1)[1].split("; stacks:", 1)[0]
        assert "GET /block?30 from" in in_flight and "GET /sleep?30 from" in in_flight
        assert "time.sleep(float(query or" in report and "in _http" in report
        # and where the other request's task waits
        assert "\nTask " in report and "await asyncio.sleep(float(query or" in report
    wait_for(lambda: server.try_request("/") is not None, 10, "the new worker to serve")


def test_max_requests_replaces_the_worker_without_failures(server_factory: Factory) -> None:
    server = start(server_factory, ["--max-requests", "5"])
    pids = set()
    for _ in range(16):
        status, _, body = get(server, "/")
        assert status == 200
        pids.add(body)
    assert len(pids) >= 3


def test_worker_connections_caps_open_connections(server_factory: Factory) -> None:
    server = start(server_factory, ["--worker-connections", "2"])
    holders = [server.connect() for _ in range(2)]
    for sock in holders:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
    third = server.connect()
    third.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    third.settimeout(1.0)
    with pytest.raises(TimeoutError):
        third.recv(65536)  # not accepted while two are open
    holders[0].close()
    third.settimeout(10)
    assert b"200 OK" in recv_until_closed(third)
    for sock in (*holders, third):
        sock.close()


def test_tls(server_factory: Factory, tmp_path: Path) -> None:
    from test_tls_certs import make_set

    (tmp_path / "certs").mkdir()
    certs = make_set(tmp_path / "certs")
    server = start(
        server_factory,
        ["--certfile", str(certs.server.cert), "--keyfile", str(certs.server.key)],
        ready=False,
    )
    ctx = ssl.create_default_context(cafile=str(certs.ca.cert))
    host, port = server.address.rsplit(":", 1)

    def fetch() -> bytes | None:
        if server.proc.poll() is not None:
            raise AssertionError(server.log)
        try:
            with (
                socket.create_connection((host, int(port)), timeout=3) as raw,
                ctx.wrap_socket(raw, server_hostname="localhost") as sock,
            ):
                sock.sendall(b"GET /scope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return recv_until_closed(sock)
        except OSError:
            return None

    data = wait_for(fetch, 15, lambda: f"the TLS server\n{server.log}")
    assert json.loads(parse_response(data).body)["scheme"] == "https"  # type: ignore[arg-type]


def test_hup_replaces_workers_and_runs_their_lifespans(server: Server, event_file: Path) -> None:
    (old,) = server.wait_workers(1)
    server.send(signal.SIGHUP)
    wait_for(lambda: server.workers() and old not in server.workers(), 15, "the new worker")
    (new,) = server.wait_workers(1)
    wait_for(lambda: f"shutdown {old}" in events(event_file), 10, "the old worker's lifespan shutdown")
    assert f"startup {new}" in events(event_file)
    assert get(server, "/")[2] == f"pid={new}".encode()


def test_quit_stops_at_once(server: Server) -> None:
    busy = server.connect(timeout=15)
    busy.sendall(b"GET /sleep?30 HTTP/1.1\r\nHost: a\r\n\r\n")
    server.wait_log("app: /sleep?30 started")
    started = time.monotonic()
    server.send(signal.SIGQUIT)
    assert server.wait(10) == 0
    assert time.monotonic() - started < 8
    busy.close()


# -- the uvicorn worker names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "uvicorn.workers.UvicornWorker",
        "uvicorn.workers.UvicornH11Worker",
        "uvicorn_worker.UvicornWorker",
        "uvicorn_worker.UvicornH11Worker",
    ],
)
def test_uvicorn_worker_names_from_a_config_file(server_factory: Factory, tmp_path: Path, name: str) -> None:
    (tmp_path / "conf.py").write_text(f"worker_class = {name!r}\nworkers = 1\n")
    server = start(server_factory, ["-c", "conf.py"], worker_class=None)
    assert f"Using worker: {name}" in server.log
    scope = json.loads(get(server, "/scope", {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})[2])
    # uvicorn's proxy_headers (on by default): the client named by a trusted peer's X-Forwarded-For
    assert scope["client"] == ["203.0.113.9", 0]


def test_a_users_subclass_of_the_uvicorn_worker(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "myworkers.py").write_text(
        "from uvicorn_worker import UvicornWorker\n"
        "class MyWorker(UvicornWorker):\n"
        "    CONFIG_KWARGS = {'loop': 'asyncio', 'root_path': '/mounted', 'proxy_headers': False,\n"
        "                     'limit_concurrency': 10}\n"
    )
    server = start(server_factory, worker_class="myworkers.MyWorker")
    scope = json.loads(get(server, "/scope", {"X-Forwarded-For": "203.0.113.9"})[2])
    assert scope["root_path"] == "/mounted"
    assert scope["client"][0] == "127.0.0.1"  # proxy_headers off
    assert "CONFIG_KWARGS limit_concurrency have no meaning in Monoceros and are ignored" in server.log


def test_websockets_off_serves_upgrades_as_http(server_factory: Factory, tmp_path: Path) -> None:
    (tmp_path / "nows.py").write_text(
        "from uvicorn_worker import UvicornWorker\n"
        "class NoWS(UvicornWorker):\n"
        "    CONFIG_KWARGS = {'ws': 'none'}\n"
    )
    server = start(server_factory, worker_class="nows.NoWS")
    with server.connect() as sock:
        sock.sendall(
            b"GET /scope HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        response = parse_response(read_response(sock))
    assert response.status == 200 and json.loads(response.body)["type"] == "http"
