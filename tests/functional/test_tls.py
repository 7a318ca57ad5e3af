"""HTTPS served by a real master and real TLS clients: Python's ssl, curl and openssl s_client.

Certificates come from `test_tls_certs` (the `openssl` command). Tests needing `curl` or `openssl`
skip cleanly without them (Debian packages `curl` and `openssl`).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Server, parse_response, server_has_read, wait_for
from test_tls_certs import OPENSSL, CertSet, Pair, make_set

Factory = Callable[..., Server]
CURL = shutil.which("curl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (Debian: openssl)")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (Debian: curl)")
pytestmark = needs_openssl

# The app: servingapp's routes, plus /tls which shows the TLS environ keys.
TLS_APP = """
from servingapp import app as serving

KEYS = ("wsgi.url_scheme", "HTTPS", "SSL_PROTOCOL", "SSL_CLIENT_VERIFY", "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN")

def app(environ, start_response):
    if environ["PATH_INFO"] != "/tls":
        return serving(environ, start_response)
    lines = ["%s=%s" % (key, environ.get(key)) for key in KEYS]
    lines.append("cert=%s" % environ.get("SSL_CLIENT_CERT", "").startswith("-----BEGIN CERTIFICATE-----"))
    peer = environ["gunicorn.socket"].getpeercert()
    lines.append("peercert=%s" % bool(peer))
    body = "\\n".join(lines).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
KINDS = {
    "sync": ["--worker-class", "sync"],
    "gthread": ["--worker-class", "gthread", "--threads", "2"],
    "gevent": ["--worker-class", "gevent"],
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_set(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> list[str]:
    return KINDS[request.param]


def client_context(certs: CertSet, client: Pair | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca.cert))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


def host_port(server: Server) -> tuple[str, int]:
    host, port = server.address.rsplit(":", 1)
    return host, int(port)


def tls_connect(server: Server, ctx: ssl.SSLContext, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = server.connect(timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def tls_get(
    server: Server, ctx: ssl.SSLContext, path: str = "/", timeout: float = 5.0
) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection("localhost", host_port(server)[1], context=ctx, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def start_tls(
    factory: Factory,
    certs: CertSet,
    args: list[str],
    *,
    pair: Pair | None = None,
    cert_dir: Path | None = None,
) -> Server:
    """A TLS server with `pair` (default: the first server certificate), ready for a TLS client."""
    pair = pair or certs.server
    server = factory(
        ["--certfile", str(pair.cert), "--keyfile", str(pair.key), "--keep-alive", "5", *args],
        app="tlsapp:app",
        tcp=True,
        ready=False,
        files={"tlsapp.py": TLS_APP},  # written before the workers import it
    )
    ctx = client_context(certs, certs.client)

    def answers() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(f"the master exited with {server.proc.returncode}:\n{server.log}")
        try:
            return tls_get(server, ctx, timeout=2).status == 200
        except (OSError, http.client.HTTPException):
            return False

    wait_for(answers, 15, lambda: f"the TLS server to answer\n{server.log}")
    return server


@pytest.fixture
def server(server_factory: Factory, certs: CertSet, kind: list[str]) -> Iterator[Server]:
    yield start_tls(server_factory, certs, ["--workers", "1", *kind])


# -- serving over TLS --------------------------------------------------------------------------


def test_keep_alive_over_tls_with_https_scheme_and_alpn(server: Server, certs: CertSet) -> None:
    ctx = client_context(certs)
    ctx.set_alpn_protocols(["http/1.1"])
    conn = http.client.HTTPSConnection("localhost", host_port(server)[1], context=ctx, timeout=5)
    bodies = []
    for _ in range(5):
        conn.request("GET", "/tls")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") == "keep-alive"
        bodies.append(response.read().decode())
    sock = conn.sock
    assert isinstance(sock, ssl.SSLSocket)
    assert sock.selected_alpn_protocol() == "http/1.1"
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    conn.close()
    assert "wsgi.url_scheme=https" in bodies[0]
    assert "HTTPS=on" in bodies[0]
    assert "SSL_CLIENT_VERIFY=NONE" in bodies[0]
    assert len(set(bodies)) == 1


def test_pipelined_requests_over_tls_are_answered_in_order(server: Server, certs: CertSet) -> None:
    with tls_connect(server, client_context(certs)) as sock:
        sock.sendall(
            b"GET /echo?1 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /environ?x=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    heads = data.count(b"HTTP/1.1 200 OK")
    assert heads == 3, data
    assert data.index(b"hello") < data.index(b"QUERY_STRING=x=3")


def test_file_wrapper_falls_back_to_plain_writes_under_tls(server: Server, certs: CertSet) -> None:
    response = tls_get(server, client_context(certs), "/file")
    assert response.status == 200
    conn = http.client.HTTPSConnection("localhost", host_port(server)[1], context=client_context(certs))
    conn.request("GET", "/file")
    body = conn.getresponse().read()
    conn.close()
    assert body == b"0123456789" * 10000


def test_large_bodies_both_ways_and_expect_continue(server: Server, certs: CertSet) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: many TLS records, partial writes on both sides
    with tls_connect(server, client_context(certs)) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(payload)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(payload)
        data = b""
        while len(data) < len(payload) or b"\r\n\r\n" not in data:
            chunk = sock.recv(1 << 16)
            assert chunk, "connection closed early"
            data += chunk
            head = data.partition(b"\r\n\r\n")[0]
            if len(data) - len(head) - 4 >= len(payload):
                break
    assert data.partition(b"\r\n\r\n")[2] == payload


@needs_curl
def test_curl_over_tls_reuses_its_connection(server: Server, certs: CertSet) -> None:
    assert CURL is not None
    url = f"https://localhost:{host_port(server)[1]}"
    out = subprocess.run(
        [CURL, "-sS", "--http1.1", "--cacert", str(certs.ca.cert), f"{url}/tls", f"{url}/echo?again",
         "-w", "\n%{http_code} %{num_connects}\n"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "wsgi.url_scheme=https" in out.stdout
    assert out.stdout.rstrip().endswith("200 0")  # the second URL went over the first connection


# -- protocol versions ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_1_0_and_1_1_are_refused(server: Server, certs: CertSet, version: ssl.TLSVersion) -> None:
    ctx = client_context(certs)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer the old versions at all
    with pytest.raises(ssl.SSLError, match="(?i)alert protocol version"):
        tls_connect(server, ctx).close()
    ctx12 = client_context(certs)
    ctx12.minimum_version = ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(server, ctx12) as sock:
        assert sock.version() == "TLSv1.2"


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
def test_openssl_s_client_tls_1_1_is_refused_and_1_2_accepted(server: Server, certs: CertSet) -> None:
    assert OPENSSL is not None
    connect = f"127.0.0.1:{host_port(server)[1]}"

    def s_client(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPENSSL, "s_client", "-connect", connect, "-CAfile", str(certs.ca.cert), *flags],
            input="", capture_output=True, text=True, timeout=20,
        )  # fmt: skip

    old = s_client("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert old.returncode != 0
    assert "alert protocol version" in old.stderr, old.stderr  # the server's refusal
    assert "Cipher is (NONE)" in old.stdout
    new = s_client("-tls1_2")
    assert new.returncode == 0, new.stdout + new.stderr
    assert "Protocol  : TLSv1.2" in new.stdout
    assert "Verify return code: 0 (ok)" in new.stdout


def test_ssl_version_tlsv1_3_sets_the_floor(server_factory: Factory, certs: CertSet) -> None:
    server = start_tls(server_factory, certs, ["--workers", "1", "--ssl-version", "TLSv1_3"])
    ctx12 = client_context(certs)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        tls_connect(server, ctx12).close()
    assert tls_get(server, client_context(certs)).status == 200


# -- client certificates (mTLS) ----------------------------------------------------------------


@pytest.fixture
def mtls(server_factory: Factory, certs: CertSet, kind: list[str]) -> Server:
    args = ["--workers", "1", "--cert-reqs", "2", "--ca-certs", str(certs.ca.cert), *kind]
    return start_tls(server_factory, certs, args)


def test_mtls_client_certificate_reaches_the_app(mtls: Server, certs: CertSet) -> None:
    response = tls_get(mtls, client_context(certs, certs.client), "/tls")
    assert response.status == 200
    conn = http.client.HTTPSConnection(
        "localhost", host_port(mtls)[1], context=client_context(certs, certs.client)
    )
    conn.request("GET", "/tls")
    body = conn.getresponse().read().decode()
    conn.close()
    assert "SSL_CLIENT_VERIFY=SUCCESS" in body
    assert "SSL_CLIENT_S_DN=O=Clients,CN=alice" in body
    assert "SSL_CLIENT_I_DN=CN=ca" in body
    assert "cert=True" in body
    assert "peercert=True" in body


@pytest.mark.parametrize("who", ["nobody", "stranger"])
def test_mtls_rejects_missing_and_untrusted_certificates(mtls: Server, certs: CertSet, who: str) -> None:
    ctx = client_context(certs, certs.stranger if who == "stranger" else None)
    # With TLS 1.3 the client learns of the refusal at its first read, not in its handshake.
    with pytest.raises((ssl.SSLError, ConnectionError)), tls_connect(mtls, ctx) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        if not sock.recv(65536):
            raise ConnectionError("closed without a response")
    assert tls_get(mtls, client_context(certs, certs.client)).status == 200
    if who == "stranger":  # a certificate the server's CA does not vouch for: said at warning level
        mtls.wait_log("TLS client certificate from ")
        assert "[WARNING] TLS client certificate from ('127.0.0.1'" in mtls.log


@needs_curl
def test_curl_with_and_without_a_client_certificate(mtls: Server, certs: CertSet) -> None:
    assert CURL is not None
    url = f"https://localhost:{host_port(mtls)[1]}/tls"
    base = [CURL, "-sS", "--http1.1", "--cacert", str(certs.ca.cert)]
    ok = subprocess.run(
        [*base, "--cert", str(certs.client.cert), "--key", str(certs.client.key), url],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "SSL_CLIENT_S_DN=O=Clients,CN=alice" in ok.stdout
    refused = subprocess.run([*base, url], capture_output=True, text=True, timeout=20)
    assert refused.returncode != 0
    assert "SSL_CLIENT" not in refused.stdout


# -- bad clients -------------------------------------------------------------------------------


def test_plain_http_to_a_tls_port_is_closed_and_logged_at_debug(
    server_factory: Factory, certs: CertSet
) -> None:
    server = start_tls(server_factory, certs, ["--workers", "1", "--log-level", "debug"])
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.settimeout(5)
        try:
            assert sock.recv(65536) == b""
        except ConnectionResetError:
            pytest.fail("the connection was reset instead of closed")
    server.wait_log("TLS handshake with")
    assert "[DEBUG] TLS handshake with" in server.log
    assert tls_get(server, client_context(certs)).status == 200


def test_stalled_handshakes_do_not_block_another_client(server: Server, certs: CertSet) -> None:
    ctx = client_context(certs)
    stalled = [server.connect() for _ in range(3)]
    try:
        stalled[0].sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then silence
        wait_for(lambda: server_has_read(stalled[0]), what="the partial ClientHello read")
        for _ in range(3):
            started = time.monotonic()
            assert tls_get(server, ctx).status == 200
            assert time.monotonic() - started < 1.0
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_handshake_is_dropped_after_the_timeout(server_factory: Factory, certs: CertSet) -> None:
    server = start_tls(server_factory, certs, ["--workers", "1", "--timeout", "1"])
    with server.connect() as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 4


# -- certificate reload --------------------------------------------------------------------------


def served_cert(server: Server, certs: CertSet) -> bytes:
    with tls_connect(server, client_context(certs)) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def install(pair: Pair, into: Pair) -> None:
    shutil.copyfile(pair.cert, into.cert)
    shutil.copyfile(pair.key, into.key)


def pem_der(pair: Pair) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pair.cert.read_text())


def test_hup_serves_new_certificate_files(server_factory: Factory, certs: CertSet, tmp_path: Path) -> None:
    live = Pair(tmp_path / "live.pem", tmp_path / "live.key")
    install(certs.server, live)
    server = start_tls(server_factory, certs, ["--workers", "2", "--graceful-timeout", "5"], pair=live)
    old_workers = server.wait_workers(2)
    assert served_cert(server, certs) == pem_der(certs.server)
    # A request running across the reload completes on the old worker.
    slow = tls_connect(server, client_context(certs))
    slow.sendall(b"GET /sleep?1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    server.wait_log("app: /sleep?1 started")
    install(certs.server2, live)
    server.send(signal.SIGHUP)
    wait_for(
        lambda: not set(server.workers()) & set(old_workers) and len(server.workers()) == 2, 15, "new workers"
    )
    slow.settimeout(5)
    data = b""
    while chunk := slow.recv(65536):
        data += chunk
    slow.close()
    assert parse_response(data).status == 200
    assert served_cert(server, certs) == pem_der(certs.server2)


def test_hup_with_a_broken_certificate_keeps_serving(
    server_factory: Factory, certs: CertSet, tmp_path: Path
) -> None:
    live = Pair(tmp_path / "live.pem", tmp_path / "live.key")
    install(certs.server, live)
    server = start_tls(server_factory, certs, ["--workers", "1"], pair=live)
    (worker,) = server.wait_workers(1)
    live.cert.write_text("not a certificate\n")
    server.send(signal.SIGHUP)
    server.wait_log("Reloading the configuration failed, keeping the current one")
    assert server.workers() == [worker]
    assert served_cert(server, certs) == pem_der(certs.server)
    assert server.proc.poll() is None


def test_ssl_reload_interval_picks_up_changed_files(
    server_factory: Factory, certs: CertSet, tmp_path: Path
) -> None:
    live = Pair(tmp_path / "live.pem", tmp_path / "live.key")
    install(certs.server, live)
    server = start_tls(server_factory, certs, ["--workers", "1", "--ssl-reload-interval", "1"], pair=live)
    (worker,) = server.wait_workers(1)
    kept = tls_connect(server, client_context(certs))  # an open connection keeps working across it
    install(certs.server2, live)
    wait_for(lambda: served_cert(server, certs) == pem_der(certs.server2), 10, "the new certificate")
    kept.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    kept.settimeout(5)
    assert kept.recv(65536).startswith(b"HTTP/1.1 200 OK")
    kept.close()
    assert server.workers() == [worker]
    live.key.write_text("not a key\n")  # a broken pair is logged and the current one stays
    server.wait_log("cannot be loaded, keeping the old ones", timeout=10)
    assert served_cert(server, certs) == pem_der(certs.server2)


# -- bad settings: one line, exit 1, before any worker starts ---------------------------------------


def run_master(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "tlsapp.py").write_text("def app(environ, start_response):\n    return []\n")
    # port 0: the start is to fail before serving, and no port another process holds can get in the way
    argv = [sys.executable, "-m", "monoceros", "-b", "127.0.0.1:0", *args, "tlsapp:app"]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=20)


def encrypted_key(pair: Pair, directory: Path) -> Path:
    assert OPENSSL is not None
    out = directory / "encrypted.key"
    subprocess.run(
        [OPENSSL, "pkey", "-in", str(pair.key), "-aes256", "-passout", "pass:secret", "-out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", 'Error: certfile "{missing}" does not exist'),
        ("unreadable", "is not readable"),
        ("mismatch", "the private key does not match the certificate"),
        ("encrypted", "is encrypted: give its pass phrase in the ssl_context hook"),
        ("wrong-password", "wrong pass phrase for the private key"),
        ("hook", "the ssl_context hook returned NoneType, not an ssl.SSLContext"),
    ],
)
def test_bad_tls_files_stop_the_start_with_one_line(
    certs: CertSet, tmp_path: Path, case: str, expected: str
) -> None:
    cert, key = str(certs.server.cert), str(certs.server.key)
    args = ["--certfile", cert, "--keyfile", key]
    if case == "missing":
        args[1] = str(tmp_path / "missing.pem")
    elif case == "unreadable":
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        ca.chmod(0)
        if os.access(ca, os.R_OK):
            pytest.skip("running as root: every file is readable")
        args += ["--ca-certs", str(ca)]
    elif case == "mismatch":
        args[3] = str(certs.server2.key)
    elif case in ("encrypted", "wrong-password"):
        args[3] = str(encrypted_key(certs.server, tmp_path))
    if case in ("wrong-password", "hook"):
        value = 'f(password="wrong")' if case == "wrong-password" else "None"
        (tmp_path / "conf.py").write_text(f"def ssl_context(config, f):\n    return {value}\n")
        args += ["-c", str(tmp_path / "conf.py")]
    out = run_master(args, tmp_path)
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out.stderr
    assert expected.format(missing=tmp_path / "missing.pem") in errors[0]
    assert "Traceback" not in out.stderr
    assert "Booting worker" not in out.stderr


def test_a_pass_phrase_from_the_hook_is_used(server_factory: Factory, certs: CertSet, tmp_path: Path) -> None:
    key = encrypted_key(certs.server, tmp_path)
    conf = tmp_path / "conf.py"
    conf.write_text("def ssl_context(config, factory):\n    return factory(password='secret')\n")
    server = start_tls(server_factory, certs, ["-c", str(conf)], pair=Pair(certs.server.cert, key))
    assert served_cert(server, certs) == pem_der(certs.server)
