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
}
WORKER_BASE = "monoceros.workers.base.Worker"
# Gunicorn worker names Monoceros does not provide (yet): a clear error rather than an ImportError.
UNAVAILABLE_WORKERS = ("gevent", "gevent_wsgi", "gevent_pywsgi", "eventlet", "tornado", "asgi")

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
