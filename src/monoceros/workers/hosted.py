"""Worker classes written for Gunicorn's worker API, forked and supervised by the Monoceros master.

aiohttp's ``GunicornWebWorker``, gevent-websocket's ``GeventWebSocketWorker``, Gunicorn's own ``tornado``
worker and users' subclasses of Gunicorn's workers serve HTTP their own way; the master only has to treat
them as Gunicorn's arbiter does. ``hosted(cls)`` makes the subclass it forks: the same constructor
``(age, ppid, sockets, app, timeout, cfg, log)``, given what such a class reads there:

- ``cfg``: a real ``gunicorn.config.Config`` holding this server's values (``cfg.settings[name].value``,
  ``worker_class_str``, ``ssl_options``, ``is_ssl``, the hooks as callables ...), built once per resolution;
- ``sockets``: Gunicorn-shaped listeners (``.sock``, ``.FAMILY``, ``.cfg_addr``, attribute access falling
  through to the socket, Gunicorn's ``str()``);
- ``log``: the server's logger, whose ``access(resp, req, environ, request_time)`` also takes Gunicorn's
  response and request objects (``resp.sent``, a bare header list for a request, as gevent's pywsgi handler
  passes it);
- ``tmp``: the master's heartbeat file (the class's ``notify()`` writes it through ``self.tmp.notify()``).

``check_config(cfg, log)`` and ``setup()`` of the class are called as Gunicorn calls them; a boot failure
exits 3, an application that cannot be imported 4 (``arbiter.child``). Such a worker has no stats slot: the
master's metrics and ``ctl show workers`` count its process, not its requests.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from monoceros.workers.workertmp import WorkerTmp

if TYPE_CHECKING:
    from monoceros.arbiter.sockets import Listener
    from monoceros.config import Config
    from monoceros.observability.logger import Logger

# Monoceros settings whose values Gunicorn stores another way (derived here) or does not have.
_DERIVED = {"workers"}


def gunicorn_base() -> type[Any] | None:
    """``gunicorn.workers.base.Worker``, or None when Gunicorn is not installed."""
    try:
        from gunicorn.workers.base import Worker
    except ImportError:
        return None
    return Worker  # type: ignore[no-any-return]


def gunicorn_config(cfg: Config) -> Any:
    """A ``gunicorn.config.Config`` with this server's values: every setting Gunicorn has, set from ours."""
    from gunicorn.config import Config as GunicornConfig

    theirs = GunicornConfig()
    for name in theirs.settings:
        if name in _DERIVED or name not in cfg.registry:
            continue
        try:
            theirs.set(name, cfg.get(name))
        except Exception:  # (a value of ours Gunicorn's validator does not take: its default stands)
            continue
    theirs.set("workers", cfg.workers)
    return theirs


class GunicornListener:
    """One listening socket, shaped as Gunicorn's ``sock.BaseSocket`` subclasses are."""

    def __init__(self, listener: Listener, is_ssl: bool) -> None:
        self.listener = listener
        self.sock: socket.socket = listener.sock
        self.FAMILY = self.sock.family
        self.is_ssl = is_ssl
        address = self.sock.getsockname()
        self.cfg_addr = address if self.FAMILY != socket.AF_UNIX else listener.unix_path or address

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def __str__(self) -> str:
        if self.FAMILY == socket.AF_UNIX:
            return f"unix:{self.cfg_addr}"
        host, port = self.sock.getsockname()[:2]
        if self.FAMILY == socket.AF_INET6:
            return f"http://[{host}]:{port}"
        return f"{'https' if self.is_ssl else 'http'}://{host}:{port}"

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


class GunicornResponse:
    """What the access-log atoms read, from a Gunicorn-API worker's response object."""

    __slots__ = ("status", "status_code", "headers", "bytes_sent")

    def __init__(self, resp: Any) -> None:
        status = getattr(resp, "status", None)
        if isinstance(status, bytes):
            status = status.decode("latin-1")
        self.status = str(status) if status else ""
        code = getattr(resp, "status_code", None)
        if not isinstance(code, int):
            head = self.status.split(None, 1)[0] if self.status else ""
            code = int(head) if head.isdigit() else 0
        self.status_code = code
        headers = getattr(resp, "headers", None) or []
        self.headers = list(headers.items()) if hasattr(headers, "items") else list(headers)
        sent = getattr(resp, "sent", None)
        if sent is None:
            sent = getattr(resp, "response_length", None)
        self.bytes_sent = int(sent or 0)


class GunicornRequest:
    """The request's header pairs, from a Gunicorn request object or a bare list of pairs."""

    __slots__ = ("headers",)

    def __init__(self, req: Any) -> None:
        headers: Iterable[tuple[str, str]] = getattr(req, "headers", req) or []
        self.headers = [(str(name).upper(), str(value)) for name, value in headers]


class GunicornLog:
    """The server's logger, taking Gunicorn's objects in ``access()``; everything else is the logger's own."""

    def __init__(self, log: Logger) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        self._log.access(GunicornResponse(resp), GunicornRequest(req), environ or {}, request_time)


def hosted(cls: type[Any]) -> type[Any]:
    """The subclass of the Gunicorn-API worker class ``cls`` that the Monoceros master forks."""
    gunicorn_check = getattr(cls, "check_config", None)

    def __init__(
        self: Any,
        age: int,
        ppid: int,
        sockets: Sequence[Listener],
        app: Any,
        timeout: float,
        cfg: Config,
        log: Logger,
    ) -> None:
        self.monoceros_cfg = cfg
        theirs = gunicorn_config(cfg)
        listeners = [GunicornListener(sock, cfg.is_ssl) for sock in sockets]
        cls.__init__(self, age, ppid, listeners, app, timeout, theirs, GunicornLog(log))
        # The heartbeat file the master reads (boot grace, readiness): the class notifies through self.tmp.
        own = getattr(self, "tmp", None)
        if own is not None and hasattr(own, "close"):
            own.close()
        self.tmp = WorkerTmp(cfg)
        self.shared = None
        self.engine = None

    def check_config(klass: type[Any], cfg: Config, log: Logger) -> None:
        if callable(gunicorn_check):
            gunicorn_check(gunicorn_config(cfg), GunicornLog(log))

    def after_fork(self: Any) -> None:
        """(Gunicorn's workers do their post-fork work in ``init_process``.)"""

    def no_stats(self: Any) -> None:
        return None

    def ignore(self: Any, value: object) -> None:
        """No stats slot: the class would not answer the master's request to publish one."""

    attrs = {
        "__init__": __init__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "check_config": classmethod(check_config),
        "after_fork": after_fork,
        "stats": property(no_stats, ignore),
        "HOSTED": True,
    }
    return type(cls.__name__, (cls,), attrs)
