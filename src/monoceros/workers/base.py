"""The worker base class: the life of one worker process, minus the serving loop.

Contract (the same as Gunicorn's, which user hooks rely on):
- `__init__` runs in the master before the fork and has no process-wide side effects: it only
  creates the heartbeat file and draws this worker's `max_requests` (with jitter).
- `init_process()` runs in the child after the fork: environment, uid/gid, random seed, the wake-up
  pipe, close-on-exec, signals, application load, `post_worker_init`, then `run()`.
- `run()` is the subclass's serving loop. It must call `notify()` at least every `timeout`
  seconds, watch `PIPE[0]` so that signals wake it at once, return soon after `alive` turns
  False, and call `count_request()` / `parent_alive()` as it goes.
"""

from __future__ import annotations

import gc
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from monoceros.app.reloader import Reloader, ReloaderUnavailable, engine_name
from monoceros.config.errors import ConfigError
from monoceros.http import NATIVE_AVAILABLE, native_chosen
from monoceros.observability.metrics import PUBLISH_SIGNAL
from monoceros.workers import tls
from monoceros.workers.workertmp import WorkerTmp

STOP_KEEPALIVE_LINGER = 2.0  # how long a stopping worker keeps kept-alive connections (see the engine)

if TYPE_CHECKING:
    from monoceros.app.loader import WSGIApplication
    from monoceros.arbiter.sockets import Listener
    from monoceros.config import Config
    from monoceros.observability.logger import Logger
    from monoceros.observability.metrics import StatsSlot


class SharedState(Protocol):
    """Something all the workers of one kind share, made by the master before it forks them."""

    def close(self) -> None: ...


class Worker:
    """Base class of every worker kind; subclasses implement `run()`."""

    # Every signal a worker resets to the default action before installing its own handlers:
    # the master's handlers must not survive the fork. HUP and USR2 stay at SIG_DFL (they kill
    # a worker), as in Gunicorn.
    SIGNALS: tuple[signal.Signals, ...] = (
        signal.SIGABRT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGCHLD,
    )

    def __init__(
        self,
        age: int,
        ppid: int,
        sockets: Sequence[Listener],
        app: WSGIApplication,
        timeout: float,
        cfg: Config,
        log: Logger,
    ) -> None:
        self.age = age
        # Gunicorn shows "[booting]" until the fork; pre_fork hooks may log it.
        self.pid: int | str = "[booting]"
        self.ppid = ppid
        self.sockets = list(sockets)
        self.app = app
        self.timeout = timeout
        self.cfg = cfg
        self.log = log
        self.wsgi: Any = None
        self.booted = False
        self.aborted = False
        self.alive = True
        self.nr = 0
        self.max_requests = _request_limit(cfg.max_requests, cfg.max_requests_jitter)
        # (read end, write end) of the wake-up pipe, created post-fork in init_process()
        self.PIPE: tuple[int, int] = (-1, -1)
        # What the workers of this kind share, from the master (`shared_state`); None for most kinds.
        self.shared: SharedState | None = None
        self.tmp = WorkerTmp(cfg)
        self.reloader: Reloader | None = None  # with `reload`, post-fork
        # How long kept-alive connections stay open once the worker is stopping (see the engine).
        self.stop_linger = STOP_KEEPALIVE_LINGER
        self.engine: Any = None  # the serving loop, once `run()` made it (it knows what is in flight)
        # --metrics-bind: this worker's counters, in memory shared with the master (which sets it pre-fork)
        self.stats: StatsSlot | None = None

    def __str__(self) -> str:
        return f"<Worker {self.pid}>"

    # -- the serving loop's helpers -------------------------------------------------------------

    def notify(self) -> None:
        """Heartbeat: call at least every `self.timeout` seconds or the master kills this worker."""
        self.tmp.notify()

    def count_request(self) -> None:
        """Account one handled request; stop after this one when `max_requests` is reached."""
        self.nr += 1
        if self.nr >= self.max_requests:
            self.reached_max_requests()

    def reached_max_requests(self) -> None:
        """`nr` reached `max_requests`: this worker stops after the current request."""
        if self.alive:
            self.log.info("Autorestarting worker after current request.")
        self.alive = False

    def parent_alive(self) -> bool:
        """False (and logs it) once the master that forked us has gone away."""
        if os.getppid() == self.ppid:
            return True
        self.log.info("Parent changed, shutting down: %s", self)
        return False

    def run(self) -> None:
        """The serving loop; see the module docstring for what it must do."""
        raise NotImplementedError

    @classmethod
    def shared_state(cls, cfg: Config, current: SharedState | None) -> SharedState | None:
        """What every worker of this kind shares (the sync worker's hand-off channel), made by the master
        before it forks them, again after each reload (``current`` is what it holds: return it to keep it).
        The master hands it to each new worker as ``worker.shared`` and closes what is no longer returned;
        it never looks inside. None: nothing to share."""
        return None

    @classmethod
    def check_installed(cls) -> None:
        """Raise ``ConfigError`` when a package this kind needs is missing; called when the class is chosen,
        before anything is bound."""

    @classmethod
    def check_config(cls, cfg: Config, log: Logger) -> None:
        """Called in the master before any worker is forked: refuse settings no worker could serve."""
        tls.check(cfg, log)
        if cfg.reload:
            try:
                engine_name(cfg.reload_engine)
            except ReloaderUnavailable as exc:
                raise ConfigError(str(exc)) from None
            if cfg.preload_app:
                log.warning(
                    "reload: the application is preloaded in the master, so a worker restarted"
                    " for a change runs the code loaded at start; drop preload_app to reload it"
                )
        if cfg.http_parser == "fast" and not NATIVE_AVAILABLE:
            raise ConfigError(
                "http_parser = 'fast': the native parser (monoceros.http._speedups) is not built in this "
                "install (it needs a C compiler and the Python headers at install time); "
                "use 'auto' or 'python'"
            )
        native = native_chosen(cfg.http_parser)
        log.info("HTTP parser: %s", "native (monoceros.http._speedups)" if native else "Python")

    # -- post-fork start-up --------------------------------------------------------------------

    def after_fork(self) -> None:
        """The first thing the new child does, before the ``post_fork`` hook (gevent patches the world here,
        so that the hook and the application see it patched)."""

    def init_process(self) -> None:
        """Turn the forked child into a worker, then enter `run()`.

        A subclass overriding this must call `super().init_process()` last.
        """
        for key, value in self.cfg.env.items():
            os.environ[key] = value
        # Seeded before the privileges are dropped: on Python 3.13 seeding imports a hash module lazily,
        # which a worker running as `nobody` may not be able to read (an interpreter under /root).
        random.seed(os.urandom(64))
        _drop_privileges(self.cfg)
        self.PIPE = _wakeup_pipe()
        for listener in self.sockets:
            os.set_inheritable(listener.fileno(), False)
        os.set_inheritable(self.tmp.fileno(), False)
        self.log.close_on_exec()
        self.init_signals()
        if self.cfg.reload:
            self.reloader = Reloader(self._source_changed, self.cfg.reload_extra_files, self.reload_engine())
        self.load_wsgi()
        if self.reloader is not None:
            self.reloader.start()
        self.cfg.post_worker_init(self)
        # What the worker built before serving (the app and its modules, mostly) is collected once and moved
        # out of the collector's reach: a full collection then walks only what serving allocated, instead of
        # the whole app every few thousand requests.
        gc.collect()
        gc.freeze()
        self.booted = True
        self.run()

    def reload_engine(self) -> str:
        """How ``--reload`` watches the files in this kind of worker: ``inotify`` or ``poll``."""
        return engine_name(self.cfg.reload_engine)

    def load_wsgi(self) -> None:
        """Load the application (raises on failure; the caller maps that to an exit code).

        With ``reload``, an application that fails to import (a syntax error in an edit) is logged and
        replaced by one that answers 500 with the traceback, and the files in the traceback are watched:
        fixing them brings the application back, without a crash loop.
        """
        try:
            self.wsgi = self.app.wsgi()
        except Exception as exc:
            files = _files_of(exc)
            if self.reloader is None or not files:
                raise  # (no file of the application's own in it, such as a misspelt module: a boot error)
            self.log.exception("Error loading the application; serving the error until a file changes")
            for path in files:
                self.reloader.add_file(path)
            self.wsgi = self.failed_app("".join(traceback.format_exception(exc)))

    def failed_app(self, text: str) -> Any:
        """The application served in place of one that failed to load (with ``reload``): 500 and ``text``."""
        return _failed_wsgi_app(text)

    def _source_changed(self, path: str) -> None:
        """The reloader saw ``path`` change: stop this worker (the master forks a fresh one)."""
        self.log.info("Worker reloading: %s modified", path)
        # No client waits on the old code in development: idle keep-alive connections need no grace.
        self.stop_linger = 0.0
        self.alive = False
        try:
            os.write(self.PIPE[1], b"r")  # wake the loop now
        except OSError:
            pass
        self.cfg.worker_int(self)

    def init_signals(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, self.handle_quit)
        signal.signal(signal.SIGTERM, self.handle_exit)
        signal.signal(signal.SIGINT, self.handle_quit)
        signal.signal(signal.SIGWINCH, self.handle_winch)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.signal(signal.SIGABRT, self.handle_abort)
        if self.stats is not None:
            signal.signal(PUBLISH_SIGNAL, self.handle_publish)
            signal.siginterrupt(PUBLISH_SIGNAL, False)
        # a graceful stop or a log reopen must not make a blocking call in the app fail
        signal.siginterrupt(signal.SIGTERM, False)
        signal.siginterrupt(signal.SIGUSR1, False)
        # the C-level handler writes to the pipe, so the serving loop's selector wakes at once
        signal.set_wakeup_fd(self.PIPE[1])

    # -- signal handlers -----------------------------------------------------------------------

    def handle_usr1(self, sig: int, frame: FrameType | None) -> None:
        self.log.reopen_files()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # graceful: the loop finishes in-flight work, then returns from run()
        self.alive = False

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        # quick: exit from wherever we are, even inside the application
        self.alive = False
        self.cfg.worker_int(self)
        time.sleep(0.1)
        sys.exit(0)

    def handle_abort(self, sig: int, frame: FrameType | None) -> None:
        # sent by the master on a heartbeat timeout: say where the worker is stuck, then unwind out of it
        self.alive = False
        try:
            self.log.error(
                "Worker stuck past the timeout (pid %s); in flight: %s; stacks:\n%s",
                self.pid,
                ", ".join(self.in_flight()) or "nothing",
                self.stacks(frame),
            )
        except Exception:  # (the kill must go on whatever the log does; the master SIGKILLs in a second)
            pass
        self.cfg.worker_abort(self)
        sys.exit(1)

    def stacks(self, frame: FrameType | None) -> str:
        """Where this worker's code is now, for the stuck-worker report: every thread's stack."""
        return stacks(frame)

    def in_flight(self) -> list[str]:
        """The requests being served now ("GET /path from peer (3.2s)"), for the stuck-worker report."""
        engine = self.engine
        return engine.in_flight() if engine is not None else []

    def handle_publish(self, sig: int, frame: FrameType | None) -> None:
        """The master asks which request this worker is serving (`ctl show workers`): write it to the slot."""
        stats = self.stats
        if stats is not None:
            stats.write_current(self.current_request())

    def current_request(self) -> tuple[str, str, float] | None:
        """The oldest request being served now, as (method, target, since); None when idle."""
        engine = self.engine
        return engine.current() if engine is not None else None

    def handle_winch(self, sig: int, frame: FrameType | None) -> None:
        self.log.debug("worker: SIGWINCH ignored.")


def stacks(frame: FrameType | None) -> str:
    """Every thread's stack; the signalled thread's from ``frame`` (where it was interrupted)."""
    me = threading.get_ident()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, current in sys._current_frames().items():
        where = frame if ident == me else current
        text = "".join(traceback.format_stack(where)) if where is not None else "  (no frame)\n"
        parts.append(f"Thread {names.get(ident, ident)}:\n{text}")
    return "".join(parts).rstrip()


def _request_limit(max_requests: int, jitter: int) -> int:
    if max_requests <= 0:
        return sys.maxsize
    return max_requests + random.randint(0, max(jitter, 0))


def _wakeup_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    return read_end, write_end


def _drop_privileges(cfg: Config) -> None:
    # imported late: the process helpers are only needed post-fork
    from monoceros.process import set_owner_process

    set_owner_process(cfg.uid, cfg.gid, initgroups=cfg.initgroups)


def _files_of(exc: BaseException) -> list[str]:
    """The application's source files a failed import went through (the one with a syntax error, the
    frames' files), leaving out the server's and the import system's own."""
    files = []
    if isinstance(exc, SyntaxError) and exc.filename:
        files.append(exc.filename)
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        files.append(frame.f_code.co_filename)
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the monoceros package
    return [
        path
        for path in files
        if os.path.isfile(path)
        and not os.path.abspath(path).startswith(ours + os.sep)
        and "importlib" not in path
    ]


def _failed_wsgi_app(text: str) -> Any:
    body = text.encode("utf-8", "replace")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        start_response("500 Internal Server Error", headers)
        return [body]

    return app
