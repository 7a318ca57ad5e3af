"""Real nginx in front, as in most deployments: `proxy_pass` to Monoceros over a Unix socket, with
upstream keep-alive, forwarded headers from a trusted peer, request bodies and a streamed response."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import Server, tcp_listener, wait_for

Factory = Callable[..., Server]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)")

CONFIG = """
daemon off;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    {http}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {location}
        }}
    }}
}}
"""
PROXY = """
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto https;
            proxy_buffering off;
"""


@contextmanager
def running_nginx(workdir: Path, location: str, http: str = "") -> Iterator[int]:
    """A private nginx serving ``location`` for `/`; yields its port.

    The listening socket is made here and handed over as nginx hands its sockets to a new binary on
    an upgrade (the fd in the NGINX variable, a `listen` for the same address): the port is taken
    from the start, and connections wait in its backlog until nginx accepts them.
    """
    assert NGINX is not None
    listener = tcp_listener()
    port = listener.getsockname()[1]
    conf = workdir / "nginx.conf"
    conf.write_text(
        # As root, nginx's workers would run as nobody, who may not reach the test's socket directory.
        CONFIG.format(
            user="user root;" if os.geteuid() == 0 else "",
            dir=workdir,
            http=http,
            port=port,
            location=location,
        )
    )
    errors, stderr_path = workdir / "nginx-error.log", workdir / "nginx-stderr.log"
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(workdir)],
                stderr=stderr,
                pass_fds=[listener.fileno()],
                env={**os.environ, "NGINX": f"{listener.fileno()};"},
            )
    finally:
        listener.close()
    try:

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"nginx exited with {proc.returncode}: {stderr_path.read_text()}")
            return errors.exists() and "start worker process" in errors.read_text()

        wait_for(started, what=lambda: f"nginx to start\n{stderr_path.read_text()}")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def nginx_front(server_factory: Factory, tmp_path: Path) -> Iterator[tuple[Server, int]]:
    server = server_factory(["--workers", "1", "--keep-alive", "30"], app="servingapp:app")
    upstream = f"upstream app {{ server unix:{server.address[5:]}; keepalive 4; }}"
    with running_nginx(tmp_path, PROXY, upstream) as port:
        yield server, port


def test_requests_through_nginx_over_a_unix_socket(nginx_front: tuple[Server, int]) -> None:
    server, port = nginx_front
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    pids = set()
    for _ in range(5):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        pids.add(response.read())
    assert len(pids) == 1

    conn.request("GET", "/environ?a=1", headers={"X-Test": "through"})
    environ = dict(line.split("=", 1) for line in conn.getresponse().read().decode().splitlines())
    # A Unix-socket peer is trusted (as in Gunicorn): nginx's scheme header counts.
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    assert environ["HTTP_X_TEST"] == "through"
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/environ", "a=1")

    body = b"0123456789" * 100_000
    conn.request("POST", "/echo", body=body)
    response = conn.getresponse()
    assert response.status == 200 and response.read() == body

    conn.request("GET", "/stream")
    assert conn.getresponse().read() == b"part0;part1;part2;part3;part4;"
    conn.close()


def test_nginx_reuses_its_upstream_connections(nginx_front: tuple[Server, int], tmp_path: Path) -> None:
    server, port = nginx_front
    for _ in range(10):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
    errors = (tmp_path / "nginx-error.log").read_text()
    assert "upstream prematurely closed" not in errors
    assert "[error]" not in errors, errors[-2000:]
