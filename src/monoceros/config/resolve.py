"""Lazy resolution of class settings (`worker_class`, `logger_class`) to class objects.

Nothing is imported before a class is asked for: the config layer must not import the workers or the
master (docs/internals.md, layer 5).
"""

from __future__ import annotations

import importlib
from typing import Any

from monoceros.config.errors import ConfigError

WORKERS = {
    "sync": "monoceros.workers.sync.SyncWorker",
    "gthread": "monoceros.workers.gthread.ThreadWorker",
    # Gunicorn's own paths, so a Gunicorn config naming them keeps working.
    "gunicorn.workers.sync.SyncWorker": "monoceros.workers.sync.SyncWorker",
    "gunicorn.workers.gthread.ThreadWorker": "monoceros.workers.gthread.ThreadWorker",
    "asgi": "monoceros.workers.asgi.AsgiWorker",
    "gunicorn.workers.gasgi.ASGIWorker": "monoceros.workers.asgi.AsgiWorker",
    # gevent: Gunicorn's three names and two classes, all one native worker
    "gevent": "monoceros.workers.green.GeventWorker",
    "gevent_wsgi": "monoceros.workers.green.GeventWorker",
    "gevent_pywsgi": "monoceros.workers.green.GeventWorker",
    "gunicorn.workers.ggevent.GeventWorker": "monoceros.workers.green.GeventWorker",
    "gunicorn.workers.ggevent.GeventPyWSGIWorker": "monoceros.workers.green.GeventWorker",
    # uvicorn's worker classes (the `uvicorn-worker` package, and the older module inside uvicorn): served
    # by the native ASGI worker, without uvicorn installed.
    "uvicorn.workers.UvicornWorker": "monoceros.workers.asgi.UvicornWorker",
    "uvicorn.workers.UvicornH11Worker": "monoceros.workers.asgi.UvicornH11Worker",
    "uvicorn_worker.UvicornWorker": "monoceros.workers.asgi.UvicornWorker",
    "uvicorn_worker.UvicornH11Worker": "monoceros.workers.asgi.UvicornH11Worker",
}
WORKER_BASE = "monoceros.workers.base.Worker"
# Gunicorn worker names Monoceros does not provide (yet): a clear error rather than an ImportError.
UNAVAILABLE_WORKERS = ("eventlet", "tornado")

DEFAULT_LOGGER = "monoceros.observability.logger.Logger"
STATSD_LOGGER = "monoceros.observability.statsd.Statsd"
LOGGERS = {
    "simple": DEFAULT_LOGGER,
    "gunicorn.glogging.Logger": DEFAULT_LOGGER,
    "gunicorn.instrument.statsd.Statsd": STATSD_LOGGER,
    # The Gunicorn-shaped paths Monoceros also answers to (monoceros/glogging.py, monoceros/instrument/).
    "monoceros.glogging.Logger": DEFAULT_LOGGER,
    "monoceros.instrument.statsd.Statsd": STATSD_LOGGER,
}


def worker_class(uri: str | type[Any], threads: int) -> type[Any]:
    if isinstance(uri, str):
        if uri in UNAVAILABLE_WORKERS or (uri.startswith("gunicorn.workers.") and uri not in WORKERS):
            raise ConfigError(
                f"worker_class: {uri!r} is not available in Monoceros yet; use sync, gthread or a dotted path"
            )
        if uri in ("sync", WORKERS["sync"], "gunicorn.workers.sync.SyncWorker") and threads > 1:
            uri = "gthread"
        uri = WORKERS.get(uri, uri)
    cls = load_class(uri, "worker_class")
    base = load_class(WORKER_BASE, "worker_class")
    native = _native_for(cls)
    if native is not None:
        return native
    check_installed = getattr(cls, "check_installed", None)
    if callable(check_installed) and issubclass(cls, base):
        check_installed()
    if not issubclass(cls, base):
        # A class written for Gunicorn's worker API (uvicorn's, aiohttp's, a user's): it would crash the
        # master's loop after binding. Refused here, before anything is bound.
        name = f"{cls.__module__}.{cls.__qualname__}"
        parents = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__[1:-1]) or "object"
        raise ConfigError(
            f"worker_class: {name} (a subclass of {parents}) is not a Monoceros worker: classes written for"
            " Gunicorn's worker API cannot be hosted yet; use sync, gthread, or a subclass of"
            f" {WORKER_BASE}"
        )
    return cls


def _native_for(cls: type[Any]) -> type[Any] | None:
    """A user's subclass of a uvicorn worker class: the native class it maps to, carrying the subclass's
    ``CONFIG_KWARGS`` (uvicorn's way of configuring its worker); None for any other class."""
    for parent in cls.__mro__:
        # (uvicorn-worker defines its classes in a private module and exports them from the package)
        module = "uvicorn_worker" if parent.__module__.startswith("uvicorn_worker.") else parent.__module__
        native = WORKERS.get(f"{module}.{parent.__qualname__}")
        if native is not None and module in ("uvicorn.workers", "uvicorn_worker"):
            target = load_class(native, "worker_class")
            attrs = {
                "CONFIG_KWARGS": dict(getattr(cls, "CONFIG_KWARGS", {}) or {}),
                "__module__": cls.__module__,
            }
            return type(cls.__name__, (target,), attrs)
    return None


def logger_class(uri: str | type[Any], statsd: bool = False) -> type[Any]:
    if isinstance(uri, str):
        uri = LOGGERS.get(uri, uri)
        # As in Gunicorn: with statsd_host set, the default logger becomes the StatsD one.
        if statsd and uri == DEFAULT_LOGGER:
            uri = STATSD_LOGGER
    return load_class(uri, "logger_class")


def load_class(uri: str | type[Any], setting: str) -> type[Any]:
    if not isinstance(uri, str):
        return uri
    module_name, _, class_name = uri.rpartition(".")
    if not module_name or uri.startswith("egg:"):
        raise ConfigError(f"{setting}: {uri!r} is not a known name nor a dotted path module.Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{setting}: {uri!r} cannot be imported: {exc}") from exc
    if not isinstance(cls, type):
        raise ConfigError(f"{setting}: {uri!r} is not a class")
    return cls
