"""The ASGI worker (`-k asgi`, and the uvicorn worker names): FastAPI, Starlette, Django's ASGI handler.

One asyncio event loop per process (uvloop when installed and `asgi_loop` allows it), the application's
lifespan around the serving, one task per request (`workers.asgi_server`). The HTTP/1.1 parsing, framing and
keep-alive decisions are the same `monoceros.http.Connection` the WSGI workers drive.

- Lifespan (`asgi_lifespan`): startup runs before the worker reports booted; an app that answers
  `lifespan.startup.failed` (or any failure with `on`) stops the server with the worker boot error (3), as
  Gunicorn 27 does; shutdown runs on every graceful stop.
- The heartbeat comes from the event loop, so a loop blocked by the app (`time.sleep` in a handler) is seen by
  the master's `timeout` and the worker replaced.
- Connections are accepted here, not by `loop.create_server`, so that `worker_connections` caps them: at the
  cap the listeners are left alone until a connection closes.
- TERM: stop accepting (what is already in the backlog is still served), finish in-flight requests with
  `Connection: close`, close idle keep-alive connections and WebSockets (1001) within `graceful_timeout`,
  then the lifespan shutdown. QUIT and INT exit at once.

`UvicornWorker` / `UvicornH11Worker` answer to the names of the `uvicorn.workers` and `uvicorn_worker`
modules (neither needs uvicorn installed); their `CONFIG_KWARGS`, and those of a user's subclass, are read as
uvicorn's settings where they mean something here (docs/differences.md).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from monoceros.asgi.app import as_asgi3
from monoceros.asgi.lifespan import Lifespan, LifespanFailed, LifespanUnsupported
from monoceros.errors import WORKER_BOOT_ERROR
from monoceros.workers.asgi_server import AsgiServer
from monoceros.workers.base import Worker
from monoceros.workers.deadline import task_stack
from monoceros.workers.tls import WorkerTLS

if TYPE_CHECKING:
    from types import FrameType

    from monoceros.arbiter.sockets import Listener
    from monoceros.config import Config
    from monoceros.observability.logger import Logger

ACCEPT_BATCH = 16

# uvicorn's settings (its Config's keyword arguments) that mean something here, with their uvicorn defaults;
# `http` is accepted and has nothing to choose (one parser). Any other key is logged as ignored.
UVICORN_HONOURED = {
    "loop": "auto",
    "http": "auto",
    "lifespan": "auto",
    "root_path": "",
    "proxy_headers": True,
    "forwarded_allow_ips": None,
    "ws": "auto",
    "ws_max_size": 16 * 1024 * 1024,
    "ws_per_message_deflate": True,
    "server_header": True,
}


def new_loop(choice: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """The event loop `asgi_loop` (or uvicorn's `loop`) asks for, and its name."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise RuntimeError(
                    "asgi_loop: uvloop is not installed (pip install 'monoceros[uvloop]')"
                ) from None
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


class AsgiWorker(Worker):
    """Serves an ASGI 3 (or 2) application on an asyncio event loop."""

    # Read by the uvicorn names (uvicorn's worker API): see UVICORN_HONOURED.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {}
    UVICORN: ClassVar[bool] = False

    def __init__(
        self,
        age: int,
        ppid: int,
        sockets: Sequence[Listener],
        app: Any,
        timeout: float,
        cfg: Config,
        log: Logger,
    ) -> None:
        super().__init__(age, ppid, sockets, app, timeout, cfg, log)
        self.options = self.asgi_options(cfg)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.asgi: Any = None
        self.lifespan: Lifespan | None = None
        self.state: dict[str, Any] = {}
        self.server: AsgiServer | None = None
        self._wake: asyncio.Event | None = None
        self._accepting = False
        self._adopting: set[asyncio.Task[None]] = set()  # accepted sockets becoming connections

    # -- settings -------------------------------------------------------------------------------

    @classmethod
    def asgi_options(cls, cfg: Config) -> dict[str, Any]:
        """The worker's options: Gunicorn's `asgi_*` settings, or uvicorn's under the uvicorn names."""
        if not cls.UVICORN:
            return {
                "loop": cfg.asgi_loop,
                "lifespan": cfg.asgi_lifespan,
                "root_path": cfg.root_path,
                "proxy_headers": False,
                "ws_max_size": cfg.websocket_max_message_size,
            }
        options = dict(UVICORN_HONOURED)
        options["root_path"] = cfg.root_path
        options.update({key: value for key, value in cls.CONFIG_KWARGS.items() if key in UVICORN_HONOURED})
        if options["forwarded_allow_ips"] is None:
            options["forwarded_allow_ips"] = cfg.forwarded_allow_ips
        return options

    @classmethod
    def check_config(cls, cfg: Config, log: Logger) -> None:
        super().check_config(cfg, log)
        if cls.UVICORN:
            ignored = sorted(key for key in cls.CONFIG_KWARGS if key not in UVICORN_HONOURED)
            if ignored:
                log.warning(
                    "%s: CONFIG_KWARGS %s have no meaning in Monoceros and are ignored",
                    cls.__name__,
                    ", ".join(ignored),
                )
        loop = cls.asgi_options(cfg)["loop"]
        if loop not in ("auto", "asyncio", "uvloop", "none"):
            from monoceros.config.errors import ConfigError

            raise ConfigError(f"asgi_loop: {loop!r} is not allowed: must be auto, asyncio or uvloop")
        if loop == "uvloop":
            try:
                import uvloop  # noqa: F401
            except ImportError:
                from monoceros.config.errors import ConfigError

                raise ConfigError(
                    "asgi_loop: 'uvloop' is not installed; pip install 'monoceros[uvloop]' or use auto"
                ) from None

    # -- start-up (post-fork) -------------------------------------------------------------------

    def init_signals(self) -> None:
        choice = self.options["loop"]
        self.loop, name = new_loop("asyncio" if choice == "none" else choice)
        asyncio.set_event_loop(self.loop)
        self.log.debug("ASGI worker %s: %s event loop", self.pid, name)
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self._on_term)
        loop.add_signal_handler(signal.SIGQUIT, self._on_quit)
        loop.add_signal_handler(signal.SIGINT, self._on_quit)
        loop.add_signal_handler(signal.SIGUSR1, self.log.reopen_files)
        loop.add_signal_handler(signal.SIGWINCH, lambda: self.log.debug("worker: SIGWINCH ignored."))
        # Not through the loop: the master sends ABRT when the loop is stuck, and a handler that waits for
        # the loop would never run. Python runs this one in the stuck code itself.
        signal.signal(signal.SIGABRT, self.handle_abort)

    def current_request(self) -> tuple[str, str, float] | None:
        return self.server.current() if self.server is not None else None

    def in_flight(self) -> list[str]:
        server = self.server
        if server is None:
            return []
        now = time.perf_counter()
        return [
            f"{proto.cycle.request.method} {proto.cycle.request.target} from {proto.peer}"
            f" ({now - proto.started:.1f}s)"
            for proto in list(server.open)
            if proto.cycle is not None
        ]

    def stacks(self, frame: FrameType | None) -> str:
        """Every thread's stack, then where each suspended task of the loop waits (the one running is the
        loop thread's stack)."""
        parts = [super().stacks(frame)]
        loop = self.loop
        if loop is not None:
            for task in asyncio.all_tasks(loop):
                where = task_stack(task)
                if where and not task.done():
                    parts.append(f"Task {task.get_name()}:\n{where.rstrip()}")
        return "\n".join(parts)

    def _on_term(self) -> None:
        self.alive = False
        self._wakeup()

    def _on_quit(self) -> None:
        self.alive = False
        self.cfg.worker_int(self)
        sys.exit(0)

    def _wakeup(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def reached_max_requests(self) -> None:
        super().reached_max_requests()
        self._wakeup()

    def load_wsgi(self) -> None:
        """Load the application, then run its lifespan startup (a failure stops the server, exit 3)."""
        super().load_wsgi()
        self.asgi = as_asgi3(self.wsgi)
        mode = str(self.options["lifespan"])
        if mode == "off":
            return
        assert self.loop is not None
        lifespan = Lifespan(self.asgi, mode)
        try:
            self.loop.run_until_complete(lifespan.startup())
        except LifespanUnsupported as exc:
            self.log.info("ASGI 'lifespan' protocol appears unsupported: %s", exc)
            return
        except LifespanFailed as exc:
            cause = exc.__cause__
            if cause is not None:
                self.log.error("ASGI lifespan startup failed: %s", exc, exc_info=cause)
            else:
                self.log.error("ASGI lifespan startup failed: %s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        self.lifespan = lifespan
        self.state = lifespan.state

    def failed_app(self, text: str) -> Any:
        body = text.encode("utf-8", "replace")

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                raise RuntimeError("no lifespan: the application failed to load")
            if scope["type"] != "http":
                return
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(body)),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app

    # -- serving --------------------------------------------------------------------------------

    def run(self) -> None:
        assert self.loop is not None
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self._cleanup()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # Each request's scope gets a copy of the lifespan state, when the app has a lifespan.
        state = self.state if self.lifespan is not None else None
        self.server = server = AsgiServer(self, self.asgi, state, self.options)
        server.stop_linger = self.stop_linger
        server.on_room = self._room
        self.ssl = WorkerTLS(self.cfg, self.log).context if self.cfg.is_ssl else None
        self.max_conns = max(1, int(self.cfg.worker_connections))
        for listener in self.sockets:
            listener.sock.setblocking(False)
        self._listen(True)
        timeout = float(self.cfg.timeout)
        tick = min(1.0, timeout / 2) if timeout > 0 else 1.0
        while self.alive:
            self.notify()
            if not self.parent_alive():
                break
            try:
                await asyncio.wait_for(self._wake.wait(), tick)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            server.sweep(loop.time())
            server.publish()
            if not self._accepting and len(server.open) < self.max_conns:
                self._listen(True)
        await self._stop(loop)

    async def _stop(self, loop: asyncio.AbstractEventLoop) -> None:
        server = self.server
        assert server is not None
        self._listen(False)
        for listener in self.sockets:
            self._accept(listener, limit=None)  # what waits in the backlog is still served
            # ...and nothing more may queue behind it: when the last copy of a listening socket closes, the
            # kernel resets what waits in its backlog, and this worker may be the last (its siblings stopped).
            listener.close()
        if self._adopting:  # (their protocols must exist before the stop is told to them)
            await asyncio.wait(list(self._adopting), timeout=max(1.0, server.request_timeout))
        server.stop()
        deadline = loop.time() + float(self.cfg.graceful_timeout)
        while server.open and loop.time() < deadline:
            self.notify()
            server.sweep(loop.time())
            try:
                await asyncio.wait_for(server.idle_event.wait(), min(1.0, max(0.01, deadline - loop.time())))
            except asyncio.TimeoutError:
                pass
        if server.open:
            self.log.warning("Graceful timeout: closing %d connections still open", len(server.open))
            for proto in list(server.open):
                proto.abort()
        pending = server.pending()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        if self.lifespan is not None:
            try:
                await asyncio.wait_for(self.lifespan.shutdown(), max(1.0, deadline - loop.time()))
            except (LifespanFailed, asyncio.TimeoutError) as exc:
                self.log.error("ASGI lifespan shutdown failed: %s", exc or "timed out")
        server.sink.flush()
        server.publish()  # the last requests' counts, before the master folds them in

    def _room(self) -> None:
        """A connection closed: below the `worker_connections` cap again, accept again."""
        server = self.server
        if server is None or self._accepting or not self.alive or server.stopping:
            return
        if len(server.open) < self.max_conns:
            self._listen(True)

    def _listen(self, on: bool) -> None:
        loop = self.loop
        assert loop is not None
        if on == self._accepting:
            return
        self._accepting = on
        for listener in self.sockets:
            if on:
                loop.add_reader(listener.fileno(), self._accept, listener)
            else:
                loop.remove_reader(listener.fileno())

    def _accept(self, listener: Listener, limit: int | None = ACCEPT_BATCH) -> None:
        server = self.server
        assert server is not None and self.loop is not None
        count = 0
        while limit is None or count < limit:
            if limit is not None and len(server.open) >= self.max_conns:
                self._listen(False)  # at the cap: the heartbeat loop listens again once one closes
                return
            try:
                sock, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self.log.warning("accept() failed: %s", exc)
                return
            count += 1
            task = self.loop.create_task(self._adopt(sock))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    async def _adopt(self, sock: socket.socket) -> None:
        assert self.loop is not None and self.server is not None
        try:
            await self.loop.connect_accepted_socket(
                self.server.protocol,
                sock,
                ssl=self.ssl,
                ssl_handshake_timeout=self.server.request_timeout if self.ssl is not None else None,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            self.log.debug("connection lost before it started: %s", exc)
            sock.close()

    def _cleanup(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception as exc:  # the loop is going away with the process: say it, do not fail the exit
            self.log.debug("ASGI worker cleanup: %s", exc)
        finally:
            loop.close()
        for listener in self.sockets:
            try:
                listener.close()
            except OSError:
                pass


class UvicornWorker(AsgiWorker):
    """`uvicorn.workers.UvicornWorker` / `uvicorn_worker.UvicornWorker`: uvicorn's defaults (uvloop and
    proxy headers on), its `CONFIG_KWARGS` read."""

    UVICORN = True
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto"}


class UvicornH11Worker(UvicornWorker):
    """`uvicorn.workers.UvicornH11Worker`: the pure-Python variant (the asyncio loop)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "asyncio", "http": "h11"}
