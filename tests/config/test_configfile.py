"""Config files as Gunicorn users write them load unchanged; hooks are callables or "module.func" strings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from monoceros.config.loader import LoadedConfig

Load = Callable[..., LoadedConfig]

GUNICORN_STYLE_CONFIG = '''\
"""A production config, as found in the wild for Gunicorn."""
import multiprocessing
import os

wsgi_app = "mysite.wsgi:application"
bind = ["0.0.0.0:8000", "unix:/tmp/mysite.sock"]
backlog = 512
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gthread"
threads = 4
worker_connections = 500
max_requests = 1000
max_requests_jitter = 50
timeout = 60
graceful_timeout = 20
keepalive = 5
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 4096
preload_app = True
reuse_port = True
chdir = os.path.dirname(os.path.abspath(__file__))
raw_env = ["DJANGO_SETTINGS_MODULE=mysite.settings", "MODE=prod"]
pidfile = "/tmp/mysite.pid"
umask = 0o022
proc_name = "mysite"
forwarded_allow_ips = "10.0.0.0/8,127.0.0.1"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
proxy_protocol = True
errorlog = "-"
loglevel = "warning"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(D)s'
sendfile = False

calls = []

def on_starting(server):
    calls.append(("on_starting", server))

def when_ready(server):
    server.log.info("ready")

def pre_fork(server, worker):
    pass

def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)

def worker_int(worker):
    worker.log.info("worker received INT or QUIT signal")

def worker_abort(worker):
    worker.log.info("worker received SIGABRT signal")

def pre_request(worker, req):
    worker.log.debug("%s %s", req.method, req.path)

def post_request(worker, req, environ):
    calls.append(("post_request", environ))

def child_exit(server, worker):
    pass

def nworkers_changed(server, new_value, old_value):
    calls.append(("nworkers", new_value, old_value))

def on_exit(server):
    pass
'''


def test_real_gunicorn_config_loads_unchanged(load: Load, tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text(GUNICORN_STYLE_CONFIG)
    loaded = load()
    cfg = loaded.cfg
    # Imports, functions, CONSTANT-style names and helper values stay quiet.
    assert loaded.warnings == []
    assert loaded.app_uri == "mysite.wsgi:application"
    assert cfg.bind == ["0.0.0.0:8000", "unix:/tmp/mysite.sock"]
    assert cfg.address == [("0.0.0.0", 8000), "/tmp/mysite.sock"]
    assert (cfg.workers > 1, cfg.threads, cfg.worker_class_str) == (True, 4, "gthread")
    assert (cfg.max_requests, cfg.max_requests_jitter, cfg.timeout, cfg.keepalive) == (1000, 50, 60, 5)
    assert cfg.env == {"DJANGO_SETTINGS_MODULE": "mysite.settings", "MODE": "prod"}
    assert (cfg.umask, cfg.proc_name, cfg.proxy_protocol, cfg.loglevel) == (0o22, "mysite", "auto", "warning")
    assert cfg.sendfile is False
    assert cfg.chdir == str(tmp_path)
    assert [str(n) for n in cfg.forwarded_allow_networks()] == ["10.0.0.0/8", "127.0.0.1/32"]
    module = sys.modules["__config__"]
    server = SimpleNamespace(log=SimpleNamespace(info=lambda *a: None))
    cfg.on_starting(server)
    cfg.post_request(
        "worker", "req", {"PATH_INFO": "/"}, "resp"
    )  # a 3-argument hook gets the 4-argument call
    cfg.nworkers_changed(server, 3, None)
    assert module.calls == [
        ("on_starting", server),
        ("post_request", {"PATH_INFO": "/"}),
        ("nworkers", 3, None),
    ]


def test_only_likely_typos_of_a_setting_are_warned(load: Load, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text(
        "import multiprocessing\n"
        'host = "0.0.0.0"\n'
        "port = 8000\n"
        "cores = multiprocessing.cpu_count()\n"
        "workers_per_core = 2\n"
        "workers = cores * workers_per_core\n"
        'bind = f"{host}:{port}"\n'
        "my_counter = 0\n"
        "timeuot = 10\n"
        "workes = 3\n"
        'loglevl = "debug"\n'
        "max_request = 10\n"
        "max_requests = max_request * 100\n"
    )
    loaded = load("app:x")
    source = f"config file {tmp_path / 'monoceros.conf.py'}"
    assert loaded.warnings == [
        f"{source}: `timeuot` is not a setting; did you mean `timeout`?",
        f"{source}: `workes` is not a setting; did you mean `workers`?",
        f"{source}: `loglevl` is not a setting; did you mean `loglevel`?",
    ]  # `max_request` is read by the file: a helper, not a typo
    assert loaded.cfg.bind == ["0.0.0.0:8000"]
    assert loaded.cfg.max_requests == 1000


def test_hooks_as_module_function_strings(load: Load, tmp_path: Path) -> None:
    (tmp_path / "myhooks_mod.py").write_text("def ready(server):\n    server.append('ready')\n")
    (tmp_path / "monoceros.conf.py").write_text("when_ready = 'myhooks_mod.ready'\n")
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = load("app:x").cfg
    finally:
        sys.path.remove(str(tmp_path))
    seen: list[str] = []
    cfg.when_ready(seen)
    assert seen == ["ready"]


def test_cli_list_replaces_file_list(load: Load, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text("raw_env = ['A=1', 'B=2']\n")
    assert load("-e", "C=3", "app:x").cfg.env == {"C": "3"}


def test_single_string_is_a_one_element_list(load: Load, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text("bind = '127.0.0.1:9000'\n")
    assert load("app:x").cfg.bind == ["127.0.0.1:9000"]


def test_file_without_py_extension_is_read_with_a_warning(load: Load, tmp_path: Path) -> None:
    (tmp_path / "site.conf").write_text("workers = 3\n")
    loaded = load("-c", "site.conf", "app:x")
    assert loaded.cfg.workers == 3
    assert loaded.warnings == ["config file 'site.conf' has no .py extension; it is read as Python anyway"]


@pytest.mark.parametrize("arity", [2, 3, 4])
def test_post_request_accepts_gunicorns_three_arities(arity: int, load: Load, tmp_path: Path) -> None:
    params = ", ".join(["worker", "req", "environ", "resp"][:arity])
    (tmp_path / "monoceros.conf.py").write_text(
        f"seen = []\ndef post_request({params}):\n    seen.append(req)\n"
    )
    cfg = load("app:x").cfg
    cfg.post_request("w", "r", {}, "resp")
    assert sys.modules["__config__"].seen == ["r"]
