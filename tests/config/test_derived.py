"""Gunicorn's derived properties on Config, the default hooks, and `unimplemented_in_use()`."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

from monoceros.config import Config, ConfigError
from monoceros.config.bindaddr import parse_address
from monoceros.workers.base import Worker


def _cfg(**values: object) -> Config:
    cfg = Config({})
    for name, value in values.items():
        cfg.set(name, value)
    return cfg


@pytest.mark.parametrize(
    ("bind", "address"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("LOCALHOST", ("localhost", 8000)),
        ("", ("0.0.0.0", 8000)),
        (":9000", ("", 9000)),
        ("tcp://10.1.2.3:81", ("10.1.2.3", 81)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]", ("::", 8000)),
        ("unix:/run/app.sock", "/run/app.sock"),
        ("unix:///run/app.sock", "/run/app.sock"),
        ("fd://3", 3),
    ],
)
def test_address_forms(bind: str, address: object) -> None:
    assert parse_address(bind) == address
    assert _cfg(bind=[bind]).address == [address]


class FakeWorker(Worker):
    setup_calls = 0

    @classmethod
    def setup(cls) -> None:
        cls.setup_calls += 1


class NotAWorker:
    """Derives from neither Monoceros' worker base nor Gunicorn's."""


def test_a_class_that_is_no_worker_is_refused_by_name() -> None:
    name = f"{__name__}.NotAWorker"
    with pytest.raises(
        ConfigError, match=rf"worker_class: {name} \(a subclass of object\) is not a worker class"
    ):
        _ = _cfg(worker_class=name).worker_class


def test_worker_class_str() -> None:
    assert _cfg().worker_class_str == "sync"
    assert _cfg(threads=4).worker_class_str == "gthread"
    assert _cfg(worker_class="gthread").worker_class_str == "gthread"
    assert _cfg(worker_class=FakeWorker).worker_class_str == "FakeWorker"


def test_worker_class_dotted_path_is_imported_lazily_and_set_up() -> None:
    cfg = _cfg(worker_class=f"{__name__}.FakeWorker")
    before = FakeWorker.setup_calls
    assert cfg.worker_class is FakeWorker
    assert FakeWorker.setup_calls == before + 1


@pytest.mark.parametrize(
    "name",
    [
        "gevent",
        "gevent_wsgi",
        "gevent_pywsgi",
        "gunicorn.workers.ggevent.GeventWorker",
        "gunicorn.workers.ggevent.GeventPyWSGIWorker",
    ],
)
def test_gevent_names_are_the_native_worker(name: str) -> None:
    pytest.importorskip("gevent")
    cls = _cfg(worker_class=name).worker_class
    assert (cls.__module__, cls.__name__) == ("monoceros.workers.green", "GeventWorker")


def test_eventlet_is_gone_and_said_so() -> None:
    with pytest.raises(ConfigError, match="worker_class: 'eventlet' is not available: Gunicorn 23 removed"):
        _ = _cfg(worker_class="eventlet").worker_class


@pytest.mark.parametrize(
    ("uri", "module", "name"),
    [
        ("egg:gunicorn#sync", "monoceros.workers.sync", "SyncWorker"),
        ("egg:gunicorn", "monoceros.workers.sync", "SyncWorker"),
        ("egg:gunicorn#gevent", "monoceros.workers.green", "GeventWorker"),
        ("egg:monoceros#gthread", "monoceros.workers.gthread", "ThreadWorker"),
    ],
)
def test_egg_names_of_gunicorn_map_to_the_native_workers(uri: str, module: str, name: str) -> None:
    pytest.importorskip("gevent")
    cls = _cfg(worker_class=uri).worker_class
    assert (cls.__module__, cls.__name__) == (module, name)


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("egg:gunicorn#nope", "Gunicorn has no worker named 'nope'"),
        ("egg:no-such-dist#x", "no installed distribution named 'no-such-dist'"),
        ("egg:pytest#x", "pytest has no 'gunicorn.workers' entry point named 'x'"),
    ],
)
def test_bad_egg_names_say_what_is_wrong(uri: str, said: str) -> None:
    with pytest.raises(ConfigError, match=f"worker_class: '{uri}'.*{said}"):
        _ = _cfg(worker_class=uri).worker_class


def test_gunicorn_api_classes_are_hosted() -> None:
    pytest.importorskip("tornado")
    gtornado = pytest.importorskip("gunicorn.workers.gtornado")
    from gunicorn.workers.sync import SyncWorker

    class Mine(SyncWorker):  # type: ignore[misc]
        pass

    for given, parent in (("tornado", gtornado.TornadoWorker), (Mine, Mine)):
        cls = _cfg(worker_class=given).worker_class
        assert issubclass(cls, parent) and cls.HOSTED and cls.__name__ == parent.__name__
    # Gunicorn's own SyncWorker class, given as itself with threads: Gunicorn's rule, the native gthread
    assert _cfg(worker_class=SyncWorker, threads=4).worker_class.__module__ == "monoceros.workers.gthread"


@pytest.mark.parametrize(
    ("name", "native", "uvicorn"),
    [
        ("asgi", "AsgiWorker", False),
        ("gunicorn.workers.gasgi.ASGIWorker", "AsgiWorker", False),
        ("uvicorn.workers.UvicornWorker", "UvicornWorker", True),
        ("uvicorn.workers.UvicornH11Worker", "UvicornH11Worker", True),
        ("uvicorn_worker.UvicornWorker", "UvicornWorker", True),
        ("uvicorn_worker.UvicornH11Worker", "UvicornH11Worker", True),
    ],
)
def test_asgi_worker_names(name: str, native: str, uvicorn: bool) -> None:
    cls = _cfg(worker_class=name).worker_class
    assert cls.__name__ == native and cls.__module__ == "monoceros.workers.asgi"
    assert cls.UVICORN is uvicorn


def test_uvicorn_names_need_no_uvicorn() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.modules['uvicorn_worker'] = None\n"
        "from monoceros.config import Config\n"
        "cfg = Config(); cfg.set('worker_class', 'uvicorn.workers.UvicornWorker')\n"
        "print(cfg.worker_class.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "UvicornWorker", out.stderr


def test_a_uvicorn_worker_subclass_maps_to_the_native_one_with_its_kwargs() -> None:
    pytest.importorskip("uvicorn_worker")
    import uvicorn_worker

    class Mine(uvicorn_worker.UvicornWorker):  # type: ignore[misc]
        CONFIG_KWARGS = {"loop": "asyncio", "root_path": "/x"}

    cls = _cfg(worker_class=Mine).worker_class
    assert (
        cls.__name__ == "Mine" and cls.UVICORN and cls.CONFIG_KWARGS == {"loop": "asyncio", "root_path": "/x"}
    )


def test_worker_class_bad_dotted_path() -> None:
    with pytest.raises(ConfigError, match=r"worker_class: 'no_such_pkg\.Worker' cannot be imported"):
        _ = _cfg(worker_class="no_such_pkg.Worker").worker_class


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


@pytest.mark.skipif(not _have("monoceros.workers.sync"), reason="monoceros.workers.sync is not there yet")
def test_sync_resolves_to_monoceros_sync_worker() -> None:
    assert _cfg().worker_class.__module__ == "monoceros.workers.sync"
    assert _cfg(worker_class="gunicorn.workers.sync.SyncWorker").worker_class.__name__ == "SyncWorker"


@pytest.mark.skipif(
    not _have("monoceros.workers.gthread"), reason="monoceros.workers.gthread is not there yet"
)
def test_sync_with_threads_resolves_to_monoceros_thread_worker() -> None:
    assert _cfg(threads=2).worker_class.__module__ == "monoceros.workers.gthread"
    assert _cfg(worker_class="gthread").worker_class.__name__ == "ThreadWorker"


@pytest.mark.parametrize(
    "name",
    [
        "monoceros.observability.logger.Logger",
        "simple",
        "gunicorn.glogging.Logger",
        "monoceros.glogging.Logger",
    ],
)
def test_logger_class_defaults_to_monoceros_logger(name: str) -> None:
    cls = _cfg(logger_class=name).logger_class
    assert (cls.__module__, cls.__name__) == ("monoceros.observability.logger", "Logger")


def test_uid_gid_env_is_ssl_proc_name() -> None:
    cfg = _cfg(user="0", group=0, raw_env=["A=1", "B=x=y"], certfile="/c.pem", default_proc_name="app:x")
    assert (cfg.uid, cfg.gid) == (0, 0)
    assert cfg.env == {"A": "1", "B": "x=y"}
    assert cfg.is_ssl is True
    assert _cfg().is_ssl is False
    assert cfg.proc_name == "app:x"
    assert _cfg(proc_name="web").proc_name == "web"


def test_trusted_networks() -> None:
    cfg = _cfg(forwarded_allow_ips="10.0.0.0/8, 2001:db8::/32,*", proxy_allow_ips="192.168.0.1")
    assert [str(n) for n in cfg.forwarded_allow_networks()] == ["10.0.0.0/8", "2001:db8::/32"]
    assert "*" in cfg.forwarded_allow_ips
    assert [str(n) for n in cfg.proxy_allow_networks()] == ["192.168.0.1/32"]


def test_default_pre_request_logs_method_and_path_at_debug() -> None:
    logged: list[tuple[Any, ...]] = []
    worker = SimpleNamespace(log=SimpleNamespace(debug=lambda *args: logged.append(args)))
    Config({}).pre_request(worker, SimpleNamespace(method="GET", path="/x"))
    assert logged == [("%s %s", "GET", "/x")]


def test_other_default_hooks_do_nothing() -> None:
    cfg = Config({})
    assert cfg.worker_int(object()) is None
    assert cfg.worker_abort(object()) is None
    assert cfg.nworkers_changed(object(), 2, None) is None
    assert cfg.post_request(object(), object(), {}, object()) is None
    assert cfg.ssl_context(cfg, lambda: "ctx") == "ctx"


def test_unimplemented_in_use_lists_only_changed_unimplemented_settings() -> None:
    assert Config({}).unimplemented_in_use() == []
    cfg = _cfg(dirty_workers=2, workers=4, http2_cleartext="upgrade", accesslog="-")
    assert cfg.unimplemented_in_use() == ["http2_cleartext", "dirty_workers"]
    assert _cfg(dirty_workers=0).unimplemented_in_use() == []


def test_env_derived_control_socket_default_is_not_reported_as_in_use(tmp_path: object) -> None:
    assert Config({"XDG_RUNTIME_DIR": str(tmp_path), "HOME": "/home/x"}).unimplemented_in_use() == []


@pytest.mark.parametrize(
    ("worker_class", "threads", "per_cpu", "extra"),
    [("sync", 1, 2, 1), ("gthread", 4, 1, 0), ("sync", 4, 1, 0), ("asgi", 1, 1, 0)],
)
def test_workers_auto_by_kind(worker_class: str, threads: int, per_cpu: int, extra: int) -> None:
    from monoceros.process import available_cpus

    cpus = available_cpus()[0]
    cfg = _cfg(workers="auto", worker_class=worker_class, threads=threads)
    assert cfg.workers == per_cpu * cpus + extra
    assert cfg.get("workers") == "auto"  # (what --print-config shows)


def test_workers_rejects_other_words() -> None:
    with pytest.raises(ConfigError, match="workers"):
        _cfg(workers="many")
