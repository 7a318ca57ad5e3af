"""The settings table itself: every Gunicorn setting declared once, with the right flags, kinds and flags."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys

import pytest

from monoceros.config import Config
from monoceros.config.setting import Registry

IMPLEMENTED = {
    "max_worker_memory",
    "shutdown_delay",
    "reload_batch",
    "request_timeout",
    "metrics_bind",
    "control_socket",
    "control_socket_mode",
    # the ASGI worker
    "asgi_loop",
    "asgi_lifespan",
    "asgi_disconnect_grace_period",
    "websocket_max_message_size",
    "root_path",
    "request_body_memory",
    "request_body_read_ahead",
    "worker_body_memory",
    "worker_body_disk",
    "tmp_upload_dir",
    "control_socket_disable",
    "enable_backlog_metric",
    "spew",
    "http_parser",
    "reload",
    "reload_engine",
    "reload_extra_files",
    "paste",
    "raw_paste_global_conf",
    "protocol",
    "uwsgi_allow_ips",
    "config",
    "wsgi_app",
    "bind",
    "backlog",
    "workers",
    "worker_class",
    "threads",
    "worker_connections",
    "max_requests",
    "max_requests_jitter",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "limit_request_line",
    "limit_request_fields",
    "limit_request_field_size",
    "chdir",
    "pythonpath",
    "preload_app",
    "daemon",
    "raw_env",
    "pidfile",
    "worker_tmp_dir",
    "user",
    "group",
    "umask",
    "initgroups",
    "proc_name",
    "default_proc_name",
    "sendfile",
    "reuse_port",
    "forwarded_allow_ips",
    "secure_scheme_headers",
    "forwarder_headers",
    "proxy_protocol",
    "proxy_allow_ips",
    "header_map",
    "strip_header_spaces",
    "permit_obsolete_folding",
    "permit_unconventional_http_method",
    "permit_unconventional_http_version",
    "casefold_http_method",
    "errorlog",
    "loglevel",
    "check_config",
    "print_config",
    "logger_class",
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_int",
    "worker_abort",
    "pre_exec",
    "pre_request",
    "post_request",
    "child_exit",
    "worker_exit",
    "nworkers_changed",
    "on_exit",
    "ssl_context",
    "keyfile",
    "certfile",
    "ssl_version",
    "cert_reqs",
    "ca_certs",
    "suppress_ragged_eofs",
    "do_handshake_on_connect",
    "ciphers",
    "ssl_reload_interval",
    # logging, access log, syslog, statsd
    "accesslog",
    "access_log_format",
    "disable_redirect_access_to_syslog",
    "capture_output",
    "logconfig",
    "logconfig_dict",
    "logconfig_json",
    "syslog",
    "syslog_addr",
    "syslog_prefix",
    "syslog_facility",
    "enable_stdio_inheritance",
    "statsd_host",
    "statsd_prefix",
    "dogstatsd_tags",
}
# Settings of our own, which Gunicorn does not have.
MONOCEROS_ONLY = {
    "max_worker_memory",
    "shutdown_delay",
    "reload_batch",
    "request_timeout",
    "metrics_bind",
    "ssl_reload_interval",
    "request_body_memory",
    "request_body_read_ahead",
    "worker_body_memory",
    "worker_body_disk",
}

HOOK_ARITY = {
    "on_starting": 1,
    "on_reload": 1,
    "when_ready": 1,
    "pre_fork": 2,
    "post_fork": 2,
    "post_worker_init": 1,
    "worker_int": 1,
    "worker_abort": 1,
    "pre_exec": 1,
    "pre_request": 2,
    "post_request": 4,
    "child_exit": 2,
    "worker_exit": 2,
    "nworkers_changed": 3,
    "on_exit": 1,
    "ssl_context": 2,
    "on_dirty_starting": 1,
    "dirty_post_fork": 2,
    "dirty_worker_init": 1,
    "dirty_worker_exit": 2,
}

gunicorn_installed = pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None, reason="Gunicorn is not installed to compare with"
)


def test_120_settings_in_14_sections() -> None:
    assert len(Config.registry) == 120 + len(MONOCEROS_ONLY)
    assert len(Config.registry.sections) == 14


def test_implemented_flags_are_exactly_this_sessions_list() -> None:
    assert {s.name for s in Config.registry if s.implemented} == IMPLEMENTED


def test_hooks_have_gunicorn_arity() -> None:
    hooks = {s.name: len(s.hook.params) for s in Config.registry if s.hook is not None}
    assert hooks == HOOK_ARITY
    for name in hooks:
        assert len(inspect.signature(Config.registry[name].default).parameters) == HOOK_ARITY[name]


def test_every_setting_has_a_doc_paragraph_and_a_section() -> None:
    for setting in Config.registry:
        assert setting.section and len(setting.doc) > 20, setting.name


def test_a_setting_declared_twice_is_refused_when_the_registry_is_built() -> None:
    with pytest.raises(TypeError, match="declared twice"):
        Registry([*Config.registry.sections, Config.registry.sections[0]])


@gunicorn_installed
def test_same_names_and_flags_as_gunicorn() -> None:
    from gunicorn.config import make_settings

    theirs = {name: tuple(s.cli or ()) for name, s in make_settings().items()}
    ours = {s.name: s.cli for s in Config.registry if s.name not in MONOCEROS_ONLY}
    assert ours == theirs


@gunicorn_installed
def test_same_list_settings_and_flags_as_gunicorn() -> None:
    from gunicorn.config import make_settings

    for name, theirs in make_settings().items():
        ours = Config.registry[name]
        assert (theirs.action == "append") == (ours.action == "append"), name
        is_flag = theirs.action in ("store_true", "store_const")
        assert is_flag == (ours.action in ("flag", "const")), name


@gunicorn_installed
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_none_is_accepted_exactly_where_gunicorn_accepts_it() -> None:
    """``user = None`` or ``os.getenv("X", None)`` in a real config file: Gunicorn's validator decides."""
    from gunicorn.config import make_settings

    from monoceros.config.core import validate
    from monoceros.config.errors import ConfigError

    accepted, refused = [], []
    for name, theirs in make_settings().items():
        try:
            theirs.validator(None)
        except Exception:
            refused.append(name)
        else:
            accepted.append(name)
    for name in accepted:
        ours = Config.registry[name]
        assert validate(ours, None, "config file") == validate(ours, ours.default, "config file"), name
    for name in refused:
        with pytest.raises(ConfigError, match=f"^{name}: None "):
            validate(Config.registry[name], None, "config file")
    assert {"user", "group", "bind", "loglevel", "preload_app"} <= set(accepted)
    assert {"workers", "timeout", "post_fork", "secure_scheme_headers"} <= set(refused)


def test_environment_is_read_when_building_not_at_import() -> None:
    code = (
        "import os; from monoceros.config import Config; os.environ['PORT'] = '9999';"
        "print(Config().bind, Config({}).bind)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['0.0.0.0:9999'] ['127.0.0.1:8000']"


def test_typed_attribute_access_and_no_direct_assignment() -> None:
    cfg = Config({})
    assert isinstance(cfg.workers, int)
    assert isinstance(cfg.bind, list)
    with pytest.raises(AttributeError, match="cfg.set"):
        cfg.workers = 3


def test_config_inherits_every_section_in_the_documented_order() -> None:
    # Config names its sections as bases (mypy needs them spelled out); SECTIONS orders the docs.
    from monoceros.config.sections import SECTIONS

    assert tuple(base for base in Config.__bases__ if base in SECTIONS) == SECTIONS
