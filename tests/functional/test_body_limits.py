"""Request bodies on a real server with a tiny spool filesystem: what a worker holds is bounded, and a write
that fails costs one request, never the worker.

The spool directory (``tmp_upload_dir``) is a 2 MiB tmpfs when the test may mount one; otherwise a plain
directory, with the workers' file-size limit (RLIMIT_FSIZE, set in ``post_fork``) at 2 MiB, so a spool file
cannot grow past 2 MiB either way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Server, parse_response, read_response, recv_until_closed

Factory = Callable[..., Server]
SPOOL_SIZE = 2 << 20
KINDS = [
    ["--worker-class", "sync"],
    ["--worker-class", "gthread", "--threads", "2"],
    ["--worker-class", "gevent"],
]


@pytest.fixture(params=KINDS, ids=["sync", "gthread", "gevent"])
def kind(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """(the spool directory, extra server arguments that make it 2 MiB at most)."""
    where = tmp_path / "spool"
    where.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SPOOL_SIZE}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )
    args = ["--config", str(_limit_config(tmp_path, mounted))]
    try:
        yield where, args
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def _limit_config(tmp_path: Path, mounted: bool) -> Path:
    config = tmp_path / "spool.conf.py"
    lines = [f"tmp_upload_dir = {str(tmp_path / 'spool')!r}"]
    if not mounted:
        lines += [
            "import resource",
            "def post_fork(server, worker):",
            f"    resource.setrlimit(resource.RLIMIT_FSIZE, ({SPOOL_SIZE}, {SPOOL_SIZE}))",
        ]
    config.write_text("\n".join(lines) + "\n")
    return config


def _host_port(server: Server) -> tuple[str, int]:
    host, port = server.address.rsplit(":", 1)
    return host, int(port)


def _upload(server: Server, body: bytes, chunked: bool) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*_host_port(server), timeout=60)
    if chunked:
        pieces = (body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024))
        conn.request("POST", "/digest", body=pieces, encode_chunked=True)
    else:
        conn.request("POST", "/digest", body=body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_past_the_read_ahead_streams_to_the_app(
    server_factory: Factory, kind: list[str], spool: tuple[Path, list[str]], chunked: bool
) -> None:
    """24 MiB through a 2 MiB spool: only the 1 MiB read ahead may touch the disk, the rest streams."""
    _, args = spool
    server = server_factory(
        [
            *args,
            "--workers",
            "1",
            *kind,
            "--request-body-memory",
            "65536",
            "--request-body-read-ahead",
            "1048576",
        ],
        app="servingapp:app",
        tcp=True,
    )
    body = os.urandom(1 << 20) * 24
    status, answer = _upload(server, body, chunked)
    assert status == 200, answer[:300]
    assert answer.split()[:2] == [b"%d" % len(body), hashlib.sha256(body).hexdigest().encode()]
    assert "Could not spool" not in server.log


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_full_disk_costs_one_request_not_the_worker(
    server_factory: Factory, kind: list[str], spool: tuple[Path, list[str]], chunked: bool
) -> None:
    _, args = spool
    server = server_factory(
        [*args, "--workers", "1", "--keep-alive", "30", *kind, "--request-body-memory", "65536"],
        app="servingapp:app",
        tcp=True,
    )
    (worker,) = server.wait_workers(1)
    # A kept-alive connection on the same worker: it must survive the failure of the other request.
    with server.connect(timeout=30) as bystander:
        bystander.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert parse_response(read_response(bystander)).body == b"pid=%d" % worker

        body = b"z" * (4 << 20)  # under the read-ahead (16 MiB): spooled, and the 2 MiB spool is full
        with socket.create_connection(_host_port(server), timeout=30) as sock:
            head = b"POST /digest HTTP/1.1\r\nHost: a\r\n"
            if chunked:
                head += b"Transfer-Encoding: chunked\r\n\r\n"
                payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            else:
                head += b"Content-Length: %d\r\n\r\n" % len(body)
                payload = body
            try:
                sock.sendall(head + payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the answer came before all of it was sent; it is still there to read
            response = parse_response(recv_until_closed(sock, timeout=30))
        assert response.status == 503
        assert response.headers["connection"] == "close"
        server.wait_log("Could not spool the request body of POST /digest")

        bystander.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert parse_response(read_response(bystander)).body == b"pid=%d" % worker
    assert server.workers() == [worker]
    # The space is given back: a body that fits is spooled and served by the same worker.
    small = os.urandom(1 << 20)
    status, answer = _upload(server, small, chunked)
    assert status == 200
    assert answer.split() == [
        b"%d" % len(small),
        hashlib.sha256(small).hexdigest().encode(),
        b"pid=%d" % worker,
    ]


def test_a_client_still_sending_a_refused_body_gets_the_answer(server_factory: Factory) -> None:
    """The answer to a refused request is not reset away while the client keeps sending its body: the
    closing side drains for as long as data keeps coming (2 s without any, 30 s in all)."""
    server = server_factory(["--workers", "1"], app="servingapp:app", tcp=True)
    with socket.create_connection(_host_port(server), timeout=30) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: nothing\r\nContent-Length: 700000\r\n\r\n")
        for _ in range(7):  # 3.5 s of body in all, more than the 2 s a silent client gets
            sock.sendall(b"x" * 100_000)
            time.sleep(0.5)  # (the client's pace is the stimulus)
        response = parse_response(recv_until_closed(sock, timeout=10))
    assert response.status == 417
