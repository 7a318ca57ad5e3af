"""Every validator's message: one line naming the setting (or flag), the value received, what is allowed."""

from __future__ import annotations

import pytest

from monoceros.config import Config, ConfigError

FILE = "config file conf.py"

BAD_VALUES = [
    ("workers", "abc", "workers: 'abc' is not an integer"),
    ("workers", -1, "workers: -1 is negative: must be 0 or more"),
    ("workers", True, "workers: True is a boolean, not an integer"),
    ("timeout", 2.5, "timeout: 2.5 is not an integer"),
    ("umask", "0o9", "umask: '0o9' is not an integer"),
    ("cert_reqs", 3, "cert_reqs: 3 is out of range: must be from 0 to 2"),
    (
        "http2_max_frame_size",
        100,
        "http2_max_frame_size: 100 is out of range: must be from 16384 to 16777215",
    ),
    ("preload_app", "yes", "preload_app: 'yes' is not a boolean: use True or False"),
    ("pidfile", 12, "pidfile: 12 is not a string"),
    ("bind", 8000, "bind: 8000 is not a list of strings"),
    (
        "bind",
        "localhost:http",
        "bind: 'localhost:http' is not a valid address: port 'http' is not a number from 0 to 65535",
    ),
    ("bind", "[::1:80", "bind: '[::1:80' is not a valid address: use [IPv6]:PORT"),
    ("bind", "unix:", "bind: 'unix:' is not a valid address: the unix socket path is empty"),
    (
        "bind",
        ["127.0.0.1:80", "fd://x"],
        "bind: ['127.0.0.1:80', 'fd://x'] contains 'fd://x', which is not a valid address: "
        "'x' is not a file descriptor number",
    ),
    ("raw_env", ["A=1", "B"], "raw_env: ['A=1', 'B'] contains 'B', which is not of the form KEY=VALUE"),
    (
        "forwarded_allow_ips",
        "10.0.0.1/8",
        "forwarded_allow_ips: '10.0.0.1/8' is not a list of IP addresses, networks or '*': "
        "10.0.0.1/8 has host bits set",
    ),
    ("proxy_protocol", "v3", "proxy_protocol: 'v3' is not one of: off, v1, v2, auto"),
    ("header_map", "keep", "header_map: 'keep' is not one of: drop, refuse, dangerous"),
    ("loglevel", "verbose", "loglevel: 'verbose' is not one of: debug, info, warning, error, critical"),
    ("secure_scheme_headers", ["X-A"], "secure_scheme_headers: ['X-A'] is not a dictionary"),
    ("user", "no-such-user-here", "user: 'no-such-user-here' is not a known user name or a numeric id"),
    ("group", "no-such-group-here", "group: 'no-such-group-here' is not a known group name or a numeric id"),
    ("chdir", "/no/such/dir", "chdir: '/no/such/dir' is not an existing directory"),
    ("worker_class", 3, "worker_class: 3 is not a class or a dotted path to one"),
    ("statsd_host", "host:port", "statsd_host: 'host:port' is not an address: use HOST:PORT or unix://PATH"),
    (
        "reload_extra_files",
        ["/no/such/file"],
        "reload_extra_files: ['/no/such/file'] does not exist (and is not a glob pattern)",
    ),
    (
        "http_protocols",
        "h1,h9",
        "http_protocols: 'h1,h9' is not a comma-separated list of distinct protocols among h1, h2, h3",
    ),
    ("pre_fork", 42, "pre_fork: 42 is not callable"),
    ("pre_fork", "nomodule", "pre_fork: 'nomodule' is not a callable nor a 'module.function' path"),
    (
        "pre_fork",
        "no_such_mod_x.hook",
        "pre_fork: 'no_such_mod_x.hook' cannot be imported: No module named 'no_such_mod_x'",
    ),
    (
        "when_ready",
        "os.no_such_function",
        "when_ready: 'os.no_such_function' cannot be imported: 'os' has no attribute 'no_such_function'",
    ),
    (
        "post_request",
        lambda worker: None,
        "post_request: <lambda>(worker) takes 1 positional argument: "
        "expected post_request(worker, req, environ, resp)",
    ),
    (
        "nworkers_changed",
        lambda server, new, old, extra=None: None,
        "nworkers_changed: <lambda>(server, new, old, extra=None) takes 4 positional arguments: "
        "expected nworkers_changed(server, new_value, old_value)",
    ),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES]
)
def test_bad_value_message(name: str, value: object, message: str) -> None:
    cfg = Config({})
    with pytest.raises(ConfigError) as caught:
        cfg.set(name, value, FILE)
    assert str(caught.value) == f"{message} (from {FILE})"
    assert "\n" not in str(caught.value)


def test_command_line_message_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--keep-alive: 'x' is not an integer$"):
        Config({}).set("keepalive", "x", "command line")


def test_bad_env_derived_default_names_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=r"^workers: 'lots' is not an integer \(from env WEB_CONCURRENCY\)$"
    ):
        Config({"WEB_CONCURRENCY": "lots"})
    with pytest.raises(ConfigError, match=r"from env PORT\)$"):
        Config({"PORT": "http"})


GOOD_VALUES = [
    ("workers", "0x10", 16),
    ("umask", "022", 0o22),
    ("umask", "0o027", 0o27),
    ("control_socket_mode", "0600", 0o600),
    ("preload_app", "True", True),
    ("preload_app", "false", False),
    ("bind", "unix:/run/a.sock", ["unix:/run/a.sock"]),
    ("raw_env", "A=1=2", ["A=1=2"]),
    ("forwarded_allow_ips", "*", ["*"]),
    ("forwarded_allow_ips", ["10.0.0.0/8", "::1"], ["10.0.0.0/8", "::1"]),
    ("forwarder_headers", "SCRIPT_NAME, PATH_INFO,", ["SCRIPT_NAME", "PATH_INFO"]),
    ("proxy_protocol", True, "auto"),
    ("proxy_protocol", "V2", "v2"),
    ("loglevel", "WARN", "warning"),
    ("user", "0", 0),
    ("group", 0, 0),
    ("http2_cleartext", True, "prior-knowledge"),
    ("http_protocols", "h2, h1", ["h2", "h1"]),
]


@pytest.mark.parametrize(
    ("name", "value", "expected"), GOOD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in GOOD_VALUES]
)
def test_accepted_forms(name: str, value: object, expected: object) -> None:
    cfg = Config({})
    cfg.set(name, value, FILE)
    assert cfg.get(name) == expected


def test_unknown_setting_name() -> None:
    with pytest.raises(ConfigError, match="no setting named 'wokers'"):
        Config({}).set("wokers", 1)
