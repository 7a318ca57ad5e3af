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
# Gunicorn worker names Monoceros does not provide (yet): a clear error rather than an ImportError.
UNAVAILABLE_WORKERS = ("gevent", "gevent_wsgi", "gevent_pywsgi", "eventlet", "tornado", "asgi")

DEFAULT_LOGGER = "monoceros.glogging.Logger"
STATSD_LOGGER = "monoceros.instrument.statsd.Statsd"
LOGGERS = {
    "simple": DEFAULT_LOGGER,
    "gunicorn.glogging.Logger": DEFAULT_LOGGER,
    "gunicorn.instrument.statsd.Statsd": STATSD_LOGGER,
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
    return load_class(uri, "worker_class")


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
