"""The environ: every PEP 3333 / Gunicorn key, trust rules, SCRIPT_NAME, PROXY protocol keys."""

from __future__ import annotations

import io
import sys

import pytest
from wsgi_helpers import builder, request

from monoceros.http import ProtocolError, ProxyInfo, RemoteProtocolError
from monoceros.wsgi import (
    EMPTY_INPUT,
    ConfigurationProblem,
    EnvironBuilder,
    FileWrapper,
    InvalidSchemeHeaders,
)

PEER = ("10.1.2.3", 40000)
LISTENER = ("0.0.0.0", 8000)


def build(req, peer=PEER, sockname=LISTENER, trusted=False, scheme="http", **kwargs):
    conn = builder(**kwargs).connection(peer, sockname, url_scheme=scheme, peer_trusted=trusted)
    return conn.build(req, EMPTY_INPUT)


def test_get_has_every_key_with_gunicorn_values():
    errors = io.StringIO()
    req = request(
        "GET",
        "/a/b?x=1&y=%20",
        headers=[("HOST", "example.com:8000"), ("USER-AGENT", "curl"), ("ACCEPT", "*/*")],
    )
    env = build(req, errors_stream=errors)
    assert env == {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": EMPTY_INPUT,
        "wsgi.errors": errors,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": "monoceros/test",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/a/b",
        "QUERY_STRING": "x=1&y=%20",
        "RAW_URI": "/a/b?x=1&y=%20",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "0.0.0.0",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "10.1.2.3",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "example.com:8000",
        "HTTP_USER_AGENT": "curl",
        "HTTP_ACCEPT": "*/*",
    }
    assert all(type(key) is str for key in env)


def test_post_content_headers_have_no_http_prefix():
    req = request(
        "POST",
        "/submit",
        headers=[("HOST", "h"), ("CONTENT-TYPE", "application/json"), ("CONTENT-LENGTH", "12")],
        content_length=12,
    )
    env = build(req)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "12"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_content_keys_absent_when_headers_absent():
    env = build(request("HEAD", "/", version=(1, 0)))
    assert env["REQUEST_METHOD"] == "HEAD"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "CONTENT_TYPE" not in env
    assert "CONTENT_LENGTH" not in env
    assert env["QUERY_STRING"] == ""


def test_unusual_version_is_spelled_out():
    assert build(request(version=(1, 2)))["SERVER_PROTOCOL"] == "HTTP/1.2"


def test_duplicate_headers_joined_with_comma_no_space():
    req = request(headers=[("X-A", "1"), ("ACCEPT", "a"), ("X-A", "2"), ("X-A", "3")])
    env = build(req)
    assert env["HTTP_X_A"] == "1,2,3"
    assert env["HTTP_ACCEPT"] == "a"


def test_dash_becomes_underscore_and_keys_are_cached():
    b = builder()
    conn = b.connection(PEER, LISTENER)
    env = conn.build(request(headers=[("X-FORWARDED-FOR", "1.2.3.4")]), EMPTY_INPUT)
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert b.keys["X-FORWARDED-FOR"] == "HTTP_X_FORWARDED_FOR"


def test_key_cache_is_bounded():
    b = builder()
    conn = b.connection(PEER, LISTENER)
    for i in range(3000):
        env = conn.build(request(headers=[(f"X-{i}", "v")]), EMPTY_INPUT)
        assert env[f"HTTP_X_{i}"] == "v"
    assert len(b.keys) <= 1024


def test_requests_do_not_share_state():
    conn = builder().connection(PEER, LISTENER)
    first = conn.build(request(headers=[("X-A", "1")]), EMPTY_INPUT)
    second = conn.build(request(headers=[("X-A", "2")]), EMPTY_INPUT)
    assert first["HTTP_X_A"] == "1"
    assert second["HTTP_X_A"] == "2"


def test_path_info_is_percent_decoded_latin1():
    env = build(request(target="/caf%C3%A9/a%2Fb%20c?q=%41"))
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a/b c"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/a/b c"
    assert env["QUERY_STRING"] == "q=%41"
    assert env["RAW_URI"] == "/caf%C3%A9/a%2Fb%20c?q=%41"


def test_raw_non_ascii_path_is_kept_as_latin1():
    env = build(request(target="/\xc3\xa9"))
    assert env["PATH_INFO"] == "/\xc3\xa9"


# -- SCRIPT_NAME ------------------------------------------------------------------------------------


def test_script_name_from_the_process_environment():
    env = build(request(target="/app/x/y"), script_name_env="/app")
    assert env["SCRIPT_NAME"] == "/app"
    assert env["PATH_INFO"] == "/x/y"


def test_script_name_is_removed_before_decoding():
    env = build(request(target="/app/%2Fz"), script_name_env="/app")
    assert env["PATH_INFO"] == "//z"


def test_path_outside_script_name_is_a_500_configuration_problem():
    with pytest.raises(ConfigurationProblem) as info:
        build(request(target="/other"), script_name_env="/app")
    assert isinstance(info.value, ProtocolError)
    assert info.value.status == 500
    assert "/other" in info.value.reason


def test_trusted_script_name_header_wins():
    req = request(target="/mount/x", headers=[("HOST", "h"), ("SCRIPT_NAME", "/mount")])
    env = build(req, trusted=True, script_name_env="/app")
    assert env["SCRIPT_NAME"] == "/mount"
    assert env["PATH_INFO"] == "/x"
    assert env["HTTP_SCRIPT_NAME"] == "/mount"  # as in Gunicorn, it stays visible too


def test_untrusted_script_name_header_is_ignored():
    # Reaches us only with header_map="dangerous"; still not allowed to move the mount point.
    req = request(target="/app/x", headers=[("SCRIPT_NAME", "/evil")])
    env = build(req, trusted=False, script_name_env="/app")
    assert env["SCRIPT_NAME"] == "/app"
    assert env["PATH_INFO"] == "/x"


def test_script_name_header_ignored_when_not_a_forwarder_header():
    req = request(target="/x", headers=[("SCRIPT_NAME", "/mount")])
    env = build(req, trusted=True, forwarder_headers=["PATH_INFO"])
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/x"


def test_forwarder_headers_accept_a_comma_string_and_star():
    req = request(target="/m/x", headers=[("SCRIPT_NAME", "/m")])
    assert build(req, trusted=True, forwarder_headers="script_name, path_info")["PATH_INFO"] == "/x"
    assert build(req, trusted=True, forwarder_headers=["*"])["PATH_INFO"] == "/x"


def test_trusted_script_name_header_can_mismatch_the_path():
    req = request(target="/x", headers=[("SCRIPT_NAME", "/mount")])
    with pytest.raises(ConfigurationProblem):
        build(req, trusted=True)


def test_path_info_header_never_becomes_path_info():
    req = request(target="/real", headers=[("PATH_INFO", "/fake")])
    env = build(req, trusted=True)
    assert env["PATH_INFO"] == "/real"
    assert env["HTTP_PATH_INFO"] == "/fake"


# -- wsgi.url_scheme ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [
        ([("X-FORWARDED-PROTO", "https")], "https"),
        ([("X-FORWARDED-PROTOCOL", "ssl")], "https"),
        ([("X-FORWARDED-SSL", "on")], "https"),
        ([("X-FORWARDED-PROTO", "http")], "http"),
        ([("X-FORWARDED-PROTO", "HTTPS")], "http"),  # exact, case-sensitive comparison
        ([("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-SSL", "on")], "https"),
        ([("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-PROTO", "https")], "https"),
        ([("X-OTHER", "https")], "http"),
    ],
)
def test_trusted_secure_scheme_headers(headers, scheme):
    assert build(request(headers=headers), trusted=True)["wsgi.url_scheme"] == scheme


def test_untrusted_secure_scheme_headers_are_ignored():
    env = build(request(headers=[("X-FORWARDED-PROTO", "https")]), trusted=False)
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"


def test_trusted_proxy_can_say_http_on_a_tls_listener():
    env = build(request(headers=[("X-FORWARDED-PROTO", "http")]), trusted=True, scheme="https")
    assert env["wsgi.url_scheme"] == "http"


def test_tls_listener_is_https_without_headers():
    assert build(request(), scheme="https")["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize(
    "headers",
    [
        [("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-SSL", "off")],
        [("X-FORWARDED-PROTO", "http"), ("X-FORWARDED-PROTO", "https")],
    ],
)
def test_contradictory_scheme_headers_are_a_400(headers):
    with pytest.raises(InvalidSchemeHeaders) as info:
        build(request(headers=headers), trusted=True)
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.status == 400


def test_contradiction_from_an_untrusted_peer_is_not_an_error():
    headers = [("X-FORWARDED-PROTO", "https"), ("X-FORWARDED-SSL", "off")]
    assert build(request(headers=headers), trusted=False)["wsgi.url_scheme"] == "http"


def test_custom_secure_scheme_headers_any_case():
    env = build(
        request(headers=[("X-SCHEME", "secure")]),
        trusted=True,
        secure_scheme_headers={"x-scheme": "secure"},
    )
    assert env["wsgi.url_scheme"] == "https"


# -- addresses ------------------------------------------------------------------------------------------


def test_ipv6_peer_and_listener():
    env = build(request(), peer=("::1", 5000, 0, 0), sockname=("::", 8080, 0, 0))
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("::1", "5000")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("::", "8080")


@pytest.mark.parametrize(
    ("host", "scheme", "name", "port"),
    [
        ("example.com:8080", "http", "example.com", "8080"),
        ("example.com", "http", "example.com", "80"),
        ("example.com", "https", "example.com", "443"),
        ("[::1]:9000", "http", "::1", "9000"),
        ("[::1]", "https", "::1", "443"),
    ],
)
def test_unix_listener_server_name_from_host(host, scheme, name, port):
    env = build(request(headers=[("HOST", host)]), peer="", sockname="/run/app.sock", scheme=scheme)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (name, port)
    assert env["REMOTE_ADDR"] == ""
    assert "REMOTE_PORT" not in env


def test_unix_listener_without_host_uses_the_socket_path():
    env = build(request(headers=[], version=(1, 0)), peer=b"", sockname="/run/app.sock")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("/run/app.sock", "")
    env = build(request(headers=[], version=(1, 0)), peer=b"", sockname=b"\0abstract")
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["REMOTE_ADDR"]) == ("\0abstract", "", "")


def test_unix_scheme_default_port_follows_trusted_scheme_header():
    req = request(headers=[("HOST", "example.com"), ("X-FORWARDED-PROTO", "https")])
    env = build(req, peer="", sockname="/s", trusted=True)
    assert env["SERVER_PORT"] == "443"


# -- PROXY protocol and gunicorn.socket ------------------------------------------------------------


def test_proxy_protocol_keys_replace_remote_address():
    info = ProxyInfo("TCP4", "192.0.2.7", 51000, "198.51.100.1", 443)
    conn = builder().connection(PEER, LISTENER)
    env = conn.build(request(), EMPTY_INPUT, proxy_info=info)
    assert env["PROXY_PROTOCOL"] == "TCP4"
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("192.0.2.7", "51000")
    assert (env["PROXY_ADDR"], env["PROXY_PORT"]) == ("198.51.100.1", "443")
    again = conn.build(request(), EMPTY_INPUT, proxy_info=info)
    assert again["REMOTE_ADDR"] == "192.0.2.7"
    plain = conn.build(request(), EMPTY_INPUT)
    assert plain["REMOTE_ADDR"] == "10.1.2.3"
    assert "PROXY_PROTOCOL" not in plain


def test_proxy_protocol_local_keeps_the_real_peer():
    info = ProxyInfo("LOCAL", None, None, None, None)
    env = builder().connection(PEER, LISTENER).build(request(), EMPTY_INPUT, proxy_info=info)
    assert env["PROXY_PROTOCOL"] == "LOCAL"
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("10.1.2.3", "40000")
    assert "PROXY_ADDR" not in env


def test_gunicorn_socket_is_the_given_object():
    sentinel = object()
    conn = builder().connection(PEER, LISTENER)
    assert conn.build(request(), EMPTY_INPUT, sock=sentinel)["gunicorn.socket"] is sentinel
    assert "gunicorn.socket" not in conn.build(request(), EMPTY_INPUT)


def test_wsgi_input_is_the_given_stream():
    stream = io.BytesIO(b"x")
    env = builder().connection(PEER, LISTENER).build(request(), stream)
    assert env["wsgi.input"] is stream


def test_multithread_and_file_wrapper_come_from_the_builder():
    class Wrapper(FileWrapper):
        pass

    b = EnvironBuilder("s", multithread=True, multiprocess=False, file_wrapper=Wrapper)
    env = b.connection(PEER, LISTENER).build(request(), EMPTY_INPUT)
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.file_wrapper"] is Wrapper
    assert env["wsgi.errors"] is sys.stderr
