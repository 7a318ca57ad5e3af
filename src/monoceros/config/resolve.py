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
HOSTING = "monoceros.workers.hosted"  # Gunicorn-API worker classes, forked and supervised by the master
# Gunicorn's short names whose classes are not native here: hosted as Gunicorn-API workers.
HOSTED_NAMES = {"tornado": "gunicorn.workers.gtornado.TornadoWorker"}
# Gunicorn worker names that no longer exist anywhere: a clear error rather than an ImportError.
UNAVAILABLE_WORKERS = {"eventlet": "Gunicorn 23 removed its eventlet worker; gevent is the cooperative one"}
ENTRY_POINT_GROUP = "gunicorn.workers"  # `egg:dist#name`, as Gunicorn reads it

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
    """The class the master forks for ``worker_class``: a native worker (the names and classes of Gunicorn's
    that have one map to it), or a class written for Gunicorn's worker API, hosted (``workers.hosted``)."""
    if isinstance(uri, str):
        if uri in UNAVAILABLE_WORKERS:
            raise ConfigError(f"worker_class: {uri!r} is not available: {UNAVAILABLE_WORKERS[uri]}")
        if uri.startswith("egg:"):
            uri = _entry_point(uri)
    if isinstance(uri, str):
        if uri in ("sync", WORKERS["sync"], "gunicorn.workers.sync.SyncWorker") and threads > 1:
            uri = "gthread"
        uri = WORKERS.get(uri, HOSTED_NAMES.get(uri, uri))
    cls = load_class(uri, "worker_class")
    base = load_class(WORKER_BASE, "worker_class")
    native = _native_for(cls)
    if native is not None:
        return native
    if issubclass(cls, base):
        check_installed = getattr(cls, "check_installed", None)
        if callable(check_installed):
            check_installed()
        return cls
    hosting = importlib.import_module(HOSTING)
    gunicorn_base = hosting.gunicorn_base()
    if gunicorn_base is not None and issubclass(cls, gunicorn_base):
        if threads > 1 and _same_class(cls, "gunicorn.workers.sync.SyncWorker"):
            return load_class(WORKERS["gthread"], "worker_class")  # (Gunicorn's class object, given itself)
        return hosting.hosted(cls)  # type: ignore[no-any-return]
    name = f"{cls.__module__}.{cls.__qualname__}"
    parents = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__[1:-1]) or "object"
    raise ConfigError(
        f"worker_class: {name} (a subclass of {parents}) is not a worker class: use sync, gthread, gevent,"
        f" asgi, a subclass of {WORKER_BASE}, or of Gunicorn's gunicorn.workers.base.Worker"
    )


def _same_class(cls: type[Any], dotted: str) -> bool:
    return f"{cls.__module__}.{cls.__qualname__}" == dotted


def _entry_point(uri: str) -> str | type[Any]:
    """``egg:dist#name`` (``egg:dist`` means ``#sync``): Gunicorn's own names map to ours; another
    distribution's entry point in the ``gunicorn.workers`` group is loaded."""
    spec = uri[len("egg:") :]
    dist, _, name = spec.rpartition("#") if "#" in spec else (spec, "", "sync")
    if dist.lower() in ("gunicorn", "monoceros"):
        if name in WORKERS or name in HOSTED_NAMES:
            return name
        raise ConfigError(f"worker_class: {uri!r}: Gunicorn has no worker named {name!r}")
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        found = distribution(dist).entry_points
    except PackageNotFoundError:
        raise ConfigError(f"worker_class: {uri!r}: no installed distribution named {dist!r}") from None
    for entry in found:
        if entry.group == ENTRY_POINT_GROUP and entry.name == name:
            try:
                loaded = entry.load()
            except Exception as exc:
                raise ConfigError(f"worker_class: {uri!r} cannot be loaded: {exc}") from exc
            if not isinstance(loaded, type):
                raise ConfigError(f"worker_class: {uri!r} is not a class")
            return loaded
    raise ConfigError(
        f"worker_class: {uri!r}: {dist} has no {ENTRY_POINT_GROUP!r} entry point named {name!r}"
    )


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
    except ImportError as exc:
        if setting == "worker_class" and (exc.name or "").split(".")[0] == "gunicorn":
            # (a class written for Gunicorn's worker API, which it imports)
            raise ConfigError(
                f"worker_class: {uri!r} is written for Gunicorn's worker API; hosting it needs Gunicorn"
                " installed: pip install gunicorn"
            ) from None
        raise ConfigError(f"{setting}: {uri!r} cannot be imported: {exc}") from exc
    except AttributeError as exc:
        raise ConfigError(f"{setting}: {uri!r} cannot be imported: {exc}") from exc
    if not isinstance(cls, type):
        raise ConfigError(f"{setting}: {uri!r} is not a class")
    return cls
