"""The master process: listeners, the worker table, the signal-driven main loop, stop and halt.

The main loop sleeps at most one second on the signal queue (`arbiter_signals`), dispatches
the queued signals to `handle_<name>()`, kills workers whose heartbeat is late, and forks or
retires workers to match `num_workers`. Nothing here raises to stop the loop: handlers record
a `_Shutdown` request and the loop leaves, then `halt()` runs. What a forked worker does lives
in `arbiter_child`, the USR2 upgrade in `arbiter_reexec`.

The attribute names (`cfg log pid WORKERS LISTENERS num_workers app reexec_pid master_pid`) are
Gunicorn's: server hooks receive this object and use them.
"""

from __future__ import annotations

import gc
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from monoceros import SERVER_SOFTWARE, __version__
from monoceros.arbiter import reexec as arbiter_reexec
from monoceros.arbiter import reload as arbiter_reload
from monoceros.arbiter import systemd
from monoceros.arbiter.child import FORK_BLOCKED, log_worker_exit, run_worker
from monoceros.arbiter.commands import Commands
from monoceros.arbiter.control import ControlServer, control_socket_path
from monoceros.arbiter.memory import MemoryWatch
from monoceros.arbiter.observe import Observer
from monoceros.arbiter.pidfile import Pidfile
from monoceros.arbiter.role import MasterRole
from monoceros.arbiter.rollout import Rollout, batch_size
from monoceros.arbiter.signals import HANDLED_SIGNALS, SignalQueue, signal_name
from monoceros.arbiter.sockets import close_sockets, create_sockets
from monoceros.config import Config
from monoceros.errors import APP_LOAD_ERROR, WORKER_BOOT_ERROR, AppImportError, HaltServer
from monoceros.observability.endpoint import Endpoint
from monoceros.observability.metrics import StatsSlot
from monoceros.process import daemonize, set_proctitle

if TYPE_CHECKING:
    from monoceros.app.loader import WSGIApplication
    from monoceros.arbiter.sockets import Listener
    from monoceros.workers.base import SharedState, Worker

Clock = Callable[[], float]

# How long a worker that has not sent its first heartbeat yet (still importing the app) gets on
# top of `timeout`. Gunicorn never times such a worker out; see docs/differences.md, Master.
BOOT_GRACE = 30.0


class _Shutdown(NamedTuple):
    graceful: bool
    reason: str | None = None
    exit_status: int = 0


class Arbiter:
    """Keeps `num_workers` workers alive, and reacts to signals."""

    WORKER_BOOT_ERROR = WORKER_BOOT_ERROR
    APP_LOAD_ERROR = APP_LOAD_ERROR

    def __init__(self, app: WSGIApplication, clock: Clock = time.monotonic) -> None:
        # No process-wide side effects here: they happen in run().
        self.app = app
        self.cfg = _config_of(app)
        self.log = self.cfg.logger_class(self.cfg)
        self._clock = clock
        self.boot_grace = BOOT_GRACE
        self.pid = os.getpid()
        self.WORKERS: dict[int, Worker] = {}
        self.LISTENERS: list[Listener] = []
        self._num_workers: int | None = None
        self._retiring: dict[int, float] = {}  # pid -> deadline for a worker asked to stop
        self._memory_watch: MemoryWatch | None = None  # max_worker_memory, once it is set
        # Readiness: a worker is ready once its heartbeat moved from the stamp it was forked with (its first
        # notify(), sent when the app is loaded and it listens).
        self._born: dict[int, float] = {}  # pid -> the heartbeat stamp at fork, until it is ready
        self._ready: set[int] = set()
        self._steady = False  # past the first start: its workers all were ready once, or a HUP came
        self._rollout: Rollout | None = None  # a HUP's rolling replacement of the workers, while it runs
        self._spawn_after = 0.0  # after a boot failure that did not halt: no fork before this time
        self._spawn_backoff = 0.0
        self._exit_reasons: dict[int, str] = {}  # pid -> why the master ended it (the metrics' reason)
        self.observer = Observer()  # what /metrics counts beyond the live workers
        self.endpoint: Endpoint | None = None  # --metrics-bind
        self.control: ControlServer | None = None  # the control socket
        self.reloads = 0
        self._slots: dict[int, int] = {}  # pid -> its slot (1..workers): what `ctl show workers` numbers
        self._released: dict[int, int] = {}  # pid -> the slot a stopping worker gave up
        self._vacated: dict[int, float] = {}  # slot -> when it was last given up
        self.slot_exits: dict[int, dict[str, Any]] = {}  # slot -> how the last worker in it ended
        self._stopping = False  # stop() began: /readyz says so
        self._stop_at: float | None = None  # TERM with shutdown_delay: when the graceful stop begins
        self._last_logged_count: int | None = None
        self._shutdown: _Shutdown | None = None
        self.SIG_QUEUE = SignalQueue()
        self.pidfile: Pidfile | None = None
        self.systemd = False
        self.worker_age = 0
        self.reexec_pid = 0
        self.shared: SharedState | None = None  # the worker class's `shared_state`, handed to each worker
        self.role = MasterRole()  # the only master, or the new one of a USR2 upgrade (`.2` names)
        self.timeout: float = self.cfg.timeout
        self.worker_class = self.cfg.worker_class
        self.address = self.cfg.address
        self.argv = sys.argv[1:]  # read again, with the config file, on HUP
        self.env_orig = dict(os.environ)  # what a re-exec or a raw_env undo goes back to
        # Gunicorn's shape ({"args": argv, "cwd": dir, 0: executable}); hooks may edit it
        self.START_CTX: dict[str | int, Any] = arbiter_reexec.start_context()

    # -- the worker count (assigning it fires the nworkers_changed hook) ----------------------

    @property
    def num_workers(self) -> int:
        return self._num_workers or 0

    @num_workers.setter
    def num_workers(self, value: int) -> None:
        old, self._num_workers = self._num_workers, value
        self.cfg.nworkers_changed(self, value, old)

    # -- start-up -------------------------------------------------------------------------------

    def run(self) -> NoReturn:
        """Start the server and run the main loop until it halts (this never returns)."""
        try:
            self._prepare()
            self.start()
        except RuntimeError as exc:
            # e.g. "Already running on PID ...", as Gunicorn's Application.run() reports it
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)
        set_proctitle(f"master [{self.proc_name}]")
        try:
            self.manage_workers()
            self._loop()
        except KeyboardInterrupt:
            self._shutdown = _Shutdown(graceful=False)
        except HaltServer as halt:  # raised by a hook or a worker class, as Gunicorn allows
            self._shutdown = _Shutdown(graceful=True, reason=halt.reason, exit_status=halt.exit_status)
        except SystemExit:
            raise  # also the way out of a forked worker
        except Exception:
            self.log.error("Unhandled exception in main loop", exc_info=True)
            self.stop(graceful=False)
            if self.pidfile is not None:
                self.pidfile.unlink()
            sys.exit(-1)
        self.halt(self._shutdown)

    def _prepare(self) -> None:
        """The process-wide changes Gunicorn makes before binding: daemon, environment, preload."""
        if self.cfg.daemon and not arbiter_reexec.parent_master_pid(os.environ):
            daemonize(self.cfg.enable_stdio_inheritance)
            self.pid = os.getpid()
        os.environ["SERVER_SOFTWARE"] = SERVER_SOFTWARE
        self.setup()

    # Gunicorn's names for what the role says (hooks read them).
    @property
    def master_pid(self) -> int:
        """The old master's pid while this one is the new master of an upgrade, else 0."""
        return self.role.old_master_pid

    @property
    def master_name(self) -> str:
        return self.role.name

    @property
    def proc_name(self) -> str:
        return self.role.proc_name(self.cfg.proc_name)

    def setup(self) -> None:
        """(Re)read what the master keeps from the configuration; preload the app if asked."""
        self.cfg = _config_of(self.app)
        self.worker_class = self.cfg.worker_class
        self.address = self.cfg.address
        self.timeout = self.cfg.timeout
        self.num_workers = self.cfg.workers
        arbiter_reload.apply_environ(self.cfg)
        if self.cfg.preload_app:
            self._preload()

    def _preload(self) -> None:
        try:
            self.app.wsgi()
        except AppImportError:
            traceback.print_exc()
            sys.exit(APP_LOAD_ERROR)
        except Exception:
            traceback.print_exc()
            sys.exit(WORKER_BOOT_ERROR)
        # Copy-on-write: what the preload built is shared with every worker until a page is written.
        # The collector writes to every object it looks at, so the loaded app is collected once here and
        # then moved out of its reach (gc.freeze): the workers keep those pages shared (Gunicorn #1640).
        gc.collect()
        gc.freeze()

    def start(self) -> None:
        """Pidfile, `on_starting`, signals, listeners, `when_ready` (Gunicorn's order)."""
        self.log.info("Starting monoceros %s", __version__)
        for name in self.cfg.unimplemented_in_use():
            self.log.warning("Setting %r is not implemented yet: its value is ignored.", name)
        self.role = MasterRole(arbiter_reexec.parent_master_pid(os.environ))
        self.pid = os.getpid()
        if self.cfg.pidfile is not None:
            self.pidfile = Pidfile(self.role.pidfile(self.cfg.pidfile))
            self.pidfile.create(self.pid)
        self.cfg.on_starting(self)
        self.init_signals()
        if not self.LISTENERS:
            self.LISTENERS = self._open_listeners()
        self._open_endpoint()
        self._open_control()
        self.prepare_shared()
        self.log.debug("Arbiter booted")
        self.log.info("Listening at: %s (%s)", ",".join(str(lnr) for lnr in self.LISTENERS), self.pid)
        self.log.info("Using worker: %s", self.cfg.worker_class_str)
        if self.cfg.get("workers") == "auto":
            count, how = self.cfg.auto_workers()
            self.log.info("Workers: %d (auto: %s)", count, how)
        systemd.sd_notify("READY=1\nSTATUS=Monoceros arbiter booted", self.log)
        check_config = getattr(self.worker_class, "check_config", None)
        if callable(check_config):
            check_config(self.cfg, self.log)
        self.cfg.when_ready(self)

    def _open_endpoint(self, reloading: bool = False) -> None:
        """--metrics-bind: /metrics, /healthz and /readyz, served by this loop (re-bound on HUP if changed;
        an address that cannot be bound stops the start, and is logged on a HUP)."""
        address = self.cfg.metrics_bind
        current = self.endpoint
        if current is not None and current.configured == address:
            return
        if current is not None:
            current.close()
            self.endpoint = None
        if not address:
            return
        try:
            self.endpoint = Endpoint(address, lambda path: self.observer.handle(self, path))
        except (OSError, ValueError) as exc:
            if reloading:
                self.log.error("metrics_bind: cannot listen at %s: %s; no metrics endpoint", address, exc)
                return
            raise RuntimeError(f"metrics_bind: cannot listen at {address}: {exc}") from None
        self.log.info("Metrics at: http://%s/metrics (and /healthz, /readyz)", self.endpoint.address)

    def _open_control(self) -> None:
        """The control socket (unless `control_socket_disable`); a path another live server answers on is
        left to it (two instances never fight over one socket), and tried again once this master is the
        only one (after a USR2 upgrade)."""
        if self.control is not None or self.cfg.control_socket_disable:
            return
        path = control_socket_path(self.cfg, self.LISTENERS)
        try:
            self.control = ControlServer(path, self.cfg.control_socket_mode, Commands(self))
        except OSError as exc:
            self.log.warning("Control socket not started at %s: %s", path, exc)
            return
        self.log.info("Control socket listening at %s", path)

    def _open_listeners(self) -> list[Listener]:
        inherited = arbiter_reexec.pop_inherited_fds(os.environ)
        count = systemd.listen_fds()
        if count:
            self.systemd = True
            first = systemd.SD_LISTEN_FDS_START
            fds: list[int] | None = list(range(first, first + count))
        else:
            fds = inherited
        return create_sockets(self.cfg, self.log, fds)

    def init_signals(self) -> None:
        self.log.close_on_exec()
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self.signal)
        signal.signal(signal.SIGCHLD, self.signal)

    def signal(self, sig: int, frame: object) -> None:
        """The signal handler: queue and wake the loop, nothing else (no logging here)."""
        self.SIG_QUEUE.put(sig)

    def forget_after_fork(self) -> None:
        """In a forked worker: drop what only the master uses."""
        self.SIG_QUEUE.close()
        if self.endpoint is not None:
            self.endpoint.forget()
            self.endpoint = None
        if self.control is not None:
            self.control.forget()
            self.control = None

    # -- the main loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while self._shutdown is None:
            self.maybe_promote_master()
            stop_at = self._stop_at
            wait = 0.1 if self._rollout is not None else 1.0  # a rollout steps as soon as workers are ready
            if stop_at is not None:
                wait = max(0.0, min(wait, stop_at - self._clock()))
            for sig in self._wait(wait):
                self.dispatch(sig)
                if self._shutdown is not None:
                    return
            if self._stop_at is not None and self._clock() >= self._stop_at:
                self.log.info("shutdown_delay over: stopping")
                self._shutdown = _Shutdown(graceful=True)
                return
            self.murder_workers()
            self.recycle_workers()
            self.manage_workers()

    def _wait(self, timeout: float) -> list[int]:
        """Sleep on the signal queue, serving the metrics endpoint and the control socket meanwhile."""
        served = [s for s in (self.endpoint, self.control) if s is not None]
        if not served:
            return self.SIG_QUEUE.wait(timeout=timeout)
        readers: dict[int, Callable[[], None]] = {}
        writers: dict[int, Callable[[], None]] = {}
        now = time.monotonic()
        for server in served:
            server.sweep(now)
            readers.update(server.readers())
            writers.update(server.writers())
        return self.SIG_QUEUE.wait(timeout, readers, writers)

    @property
    def control_path(self) -> str:
        """Where the control socket listens ("" when it does not)."""
        return self.control.path if self.control is not None else ""

    @property
    def stats_enabled(self) -> bool:
        """Whether workers get shared stats slots: for the metrics endpoint or the control socket."""
        return self.endpoint is not None or self.control is not None

    @property
    def counting(self) -> bool:
        """Whether the workers count requests (only for --metrics-bind: it costs a little per request)."""
        return self.endpoint is not None

    def slot_of(self, pid: int) -> int | None:
        return self._slots.get(pid)

    def worker_state(self, pid: int) -> str:
        if pid in self._retiring:
            return "stopping"
        if pid in self._ready:
            return "ready"
        return "booting"

    @property
    def draining(self) -> bool:
        """TERM (or another stop) has been received: the server is going (what /readyz reports)."""
        return self._stop_at is not None or self._shutdown is not None or self._stopping

    def dispatch(self, sig: int) -> None:
        """Run the handler of one queued signal."""
        name = signal_name(sig)
        handler = getattr(self, f"handle_{name}", None)
        if handler is None:
            self.log.error("Unhandled signal: %s", name)
            return
        if sig == signal.SIGCHLD:
            self.log.debug("Handling signal: %s", name)
        else:
            self.log.info("Handling signal: %s", name)
        handler()

    def handle_chld(self) -> None:
        self.reap_workers()

    def handle_hup(self) -> None:
        self.log.info("Hang up: %s", self.master_name)
        self.reloads += 1
        self.reload()

    def handle_term(self) -> None:
        delay = self.cfg.shutdown_delay
        if delay > 0 and self._stop_at is None:
            # A load balancer (a Kubernetes endpoints update) may go on sending new connections for a while
            # after the signal: they are still accepted and served until the delay is over. A second TERM
            # (or INT, QUIT) does not wait.
            self._stop_at = self._clock() + delay
            self.log.info("Stopping in %d s (shutdown_delay): still accepting and serving until then", delay)
            return
        self._shutdown = _Shutdown(graceful=True)

    def handle_int(self) -> None:
        self._shutdown = _Shutdown(graceful=False)

    def handle_quit(self) -> None:
        self._shutdown = _Shutdown(graceful=False)

    def handle_ttin(self) -> None:
        self.num_workers += 1
        self.manage_workers()

    def handle_ttou(self) -> None:
        if self.num_workers <= 1:
            return
        self.num_workers -= 1
        self.manage_workers()

    def handle_usr1(self) -> None:
        self.log.reopen_files()
        self.kill_workers(signal.SIGUSR1)

    def handle_usr2(self) -> None:
        self.reexec()

    def handle_winch(self) -> None:
        if not self.cfg.daemon:
            self.log.debug("SIGWINCH ignored. Not daemonized")
            return
        self.log.info("graceful stop of workers")
        self._rollout = None
        self.num_workers = 0
        self.kill_workers(signal.SIGTERM)

    # -- workers ---------------------------------------------------------------------------------

    def manage_workers(self) -> None:
        """Fork or retire workers so that exactly `num_workers` are active (not retiring)."""
        if self._shutdown is not None:
            return
        self._note_ready()
        active = sorted((w for pid, w in self.WORKERS.items() if pid not in self._retiring), key=_age)
        if self._rollout is not None:
            # (every worker in the table has its forked pid, an int: the isinstance only tells mypy)
            self._step_rollout(self._rollout, [w.pid for w in active if isinstance(w.pid, int)])
        elif self._clock() >= self._spawn_after:
            for _ in range(self.num_workers - len(active)):
                self.spawn_worker()
                time.sleep(0.1 * random.random())
            for worker in active[: max(len(active) - self.num_workers, 0)]:
                self.retire_worker(worker.pid, "scaled_down")
        count = len(self.WORKERS) - len(self._retiring)
        if count != self._last_logged_count:
            self._last_logged_count = count
            self.log.debug(
                f"{count} workers", extra={"metric": "monoceros.workers", "value": count, "mtype": "gauge"}
            )
        if self.cfg.enable_backlog_metric:
            # As Gunicorn: the connections waiting to be accepted, on every pass of the loop.
            backlog = sum(max(0, lst.backlog()) for lst in self.LISTENERS)
            extra = {"metric": "monoceros.backlog", "value": backlog, "mtype": "histogram"}
            self.log.debug(f"socket backlog: {backlog}", extra=extra)

    def _note_ready(self) -> None:
        """Move the workers whose first heartbeat arrived from `_born` to `_ready`."""
        for pid, stamp in list(self._born.items()):
            worker = self.WORKERS.get(pid)
            try:
                moved = worker is not None and worker.tmp.last_update() != stamp
            except (OSError, ValueError):
                moved = False
            if moved:
                del self._born[pid]
                self._ready.add(pid)
                self._spawn_backoff = 0.0
        if not self._steady and self.num_workers and len(self._ready) >= self.num_workers:
            self._steady = True

    def is_ready(self, pid: int) -> bool:
        """Whether worker `pid` has loaded the app and sent its first heartbeat."""
        return pid in self._ready

    # -- the rolling reload (the plan is in arbiter_rollout) --------------------------------------

    def begin_rollout(self) -> None:
        """Replace every worker alive now, a batch at a time (HUP)."""
        old = [pid for pid in self.WORKERS if pid not in self._retiring]
        batch = batch_size(self.cfg.reload_batch, self.num_workers)
        self._rollout = Rollout(old, batch)
        self._steady = True
        self._spawn_after = 0.0
        self.log.info("Rolling reload: replacing %d workers, %d at a time", len(old), batch)

    def _step_rollout(self, rollout: Rollout, active: list[int]) -> None:
        step = rollout.plan(active, self._ready, self.num_workers)
        for pid in step.retire:
            self.retire_worker(pid, "reload")
        for _ in range(step.spawn):
            rollout.new.add(self.spawn_worker())
        if step.done:
            self._rollout = None
            self.log.info("Rolling reload done: %d workers replaced", rollout.replaced)

    def _rollout_failed(self, pid: int, code: int | None) -> None:
        rollout, self._rollout = self._rollout, None
        assert rollout is not None
        how = "was killed" if code is None else f"exited with code {code}"
        kept = len(rollout.old & set(self.WORKERS))
        self.log.error(
            "Rolling reload stopped: the new worker (pid:%s) %s before it was ready; the %d workers of the"
            " previous generation go on serving (fix the error and send HUP again)",
            pid,
            how,
            kept,
        )
        for other in rollout.new - {
            pid
        }:  # the rest of its batch would fail alike: not kept in place of old ones
            if other in self.WORKERS and other not in self._ready:
                self.retire_worker(other, "boot_failed")

    def prepare_shared(self) -> None:
        """Ask the worker class what its workers share (``Worker.shared_state``), before any is forked; what
        it no longer returns is closed here (workers forked with it keep their copies)."""
        hook = getattr(self.worker_class, "shared_state", None)
        shared = hook(self.cfg, self.shared) if callable(hook) else None
        if self.shared is not None and shared is not self.shared:
            self.shared.close()
        self.shared = shared

    def spawn_worker(self) -> int:
        self.worker_age += 1
        worker = self.worker_class(
            self.worker_age, self.pid, self.LISTENERS, self.app, self.timeout / 2.0, self.cfg, self.log
        )
        worker.tmp.grant_boot_grace(self.boot_grace)
        born = worker.tmp.last_update()
        worker.shared = self.shared
        if self.stats_enabled:
            worker.stats = StatsSlot()
        self.cfg.pre_fork(self, worker)
        # Signals wait (blocked) across the fork: one sent to the new pid before the child has dropped the
        # master's handlers would run a copy of them and be lost; the child unblocks once it has its own.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        pid = os.fork()
        if pid == 0:
            run_worker(self, worker, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        worker.pid = pid
        self.WORKERS[pid] = worker
        self._born[pid] = born
        self._slots[pid] = self._free_slot()
        return pid

    def retire_worker(self, pid: object, reason: str = "scaled_down") -> None:
        """Ask a worker to finish its work and exit; SIGKILL it after `graceful_timeout`. ``reason`` is what
        the restart counter of the metrics says of it."""
        if not isinstance(pid, int) or pid in self._retiring:
            return
        self._exit_reasons.setdefault(pid, reason)
        self._release_slot(pid)
        self._retiring[pid] = self._clock() + self.cfg.graceful_timeout
        self.kill_worker(pid, signal.SIGTERM)

    def recycle_workers(self) -> None:
        """``max_worker_memory``: retire (gracefully) a worker that stays over the limit; ``manage_workers``
        forks its replacement at once, so capacity holds while the old one finishes its requests."""
        watch = self._memory_watch
        limit = self.cfg.max_worker_memory
        if limit <= 0:
            return
        if watch is None or watch.limit != limit * 1024 * 1024:
            watch = self._memory_watch = MemoryWatch(limit)
        active = [pid for pid in self.WORKERS if pid not in self._retiring]
        for pid, used in watch.check(active, self._clock()):
            self.log.info(
                "Worker (pid:%s) over max_worker_memory: %.1f MiB PSS > %d MiB; recycling it",
                pid,
                used / (1024 * 1024),
                limit,
                extra={"metric": "monoceros.workers.recycled.memory", "value": 1, "mtype": "counter"},
            )
            self.retire_worker(pid, "memory")

    def murder_workers(self) -> None:
        """SIGABRT a worker whose heartbeat is late, SIGKILL it if it is still there next time."""
        now = self._clock()
        for pid, worker in list(self.WORKERS.items()):
            if self._retiring.get(pid, now) < now:
                self.kill_worker(pid, signal.SIGKILL)
            elif self.timeout and self._heartbeat_late(worker, now):
                if worker.aborted:
                    self.kill_worker(pid, signal.SIGKILL)
                else:
                    self.log.critical("WORKER TIMEOUT (pid:%s)", pid)
                    self._exit_reasons[pid] = "timeout"
                    worker.aborted = True
                    self.kill_worker(pid, signal.SIGABRT)

    def _heartbeat_late(self, worker: Worker, now: float) -> bool:
        try:
            return now - worker.tmp.last_update() > self.timeout
        except (OSError, ValueError):
            return False

    def reap_workers(self) -> None:
        """Collect every exited child; a worker's boot failure halts the server."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            if pid == self.reexec_pid:
                self.reexec_pid = 0
                continue
            worker = self.WORKERS.pop(pid, None)
            self._retiring.pop(pid, None)
            self._born.pop(pid, None)
            if worker is None:
                # not ours (we may be PID 1 in a container): reap quietly, never halt for it
                self.log.debug("Reaped unknown child process (pid:%s, status:%s)", pid, status)
                continue
            self._worker_exited(worker, pid, status)

    def _worker_exited(self, worker: Worker, pid: int, status: int) -> None:
        code = log_worker_exit(self.log, pid, status)
        reason = self._exit_reason(pid, code)
        self._note_exit(pid, worker, reason, status)
        # (getattr: a worker class written for Gunicorn's API has no stats slot)
        self.observer.worker_gone(getattr(worker, "stats", None), reason)
        worker.stats = None
        was_ready = pid in self._ready
        self._ready.discard(pid)
        rollout = self._rollout
        if rollout is not None and pid in rollout.new and not was_ready and self._shutdown is None:
            self._rollout_failed(pid, code)
        if code in (WORKER_BOOT_ERROR, APP_LOAD_ERROR) and self._shutdown is None:
            self._boot_failed(code)
        worker.tmp.close()
        self.cfg.child_exit(self, worker)

    def _free_slot(self) -> int:
        # The slot vacated last, so that a replacement sits where the worker it replaces was (and `ctl show
        # workers` says why that one ended); else the lowest slot never used.
        taken = set(self._slots.values())
        free = [slot for slot in self._vacated if slot not in taken]
        if free:
            return max(free, key=lambda slot: self._vacated[slot])
        return next(
            n
            for n in range(1, len(taken) + len(self._vacated) + 2)
            if n not in taken and n not in self._vacated
        )

    def _release_slot(self, pid: int) -> None:
        """A worker told to stop gives its slot up at once: its replacement (forked now) takes it."""
        slot = self._slots.pop(pid, None)
        if slot is not None:
            self._released[pid] = slot
            self._vacated[slot] = time.monotonic()

    def _note_exit(self, pid: int, worker: Worker, reason: str, status: int | None) -> None:
        slot = self._released.pop(pid, None)
        if slot is None:
            slot = self._slots.pop(pid, None)
            if slot is None:
                return
            self._vacated[slot] = time.monotonic()
        exit_info: dict[str, Any] = {
            "pid": pid,
            "age": worker.age,
            "reason": reason,
            "at": round(time.time(), 3),
        }
        if status is not None:
            if os.WIFSIGNALED(status):
                exit_info["signal"] = signal.Signals(os.WTERMSIG(status)).name
            else:
                exit_info["code"] = os.waitstatus_to_exitcode(status)
        self.slot_exits[slot] = exit_info

    def _exit_reason(self, pid: int, code: int | None) -> str:
        told = self._exit_reasons.pop(pid, None)
        if told is not None:
            return told
        if code is None:
            return "signal"
        if code in (WORKER_BOOT_ERROR, APP_LOAD_ERROR):
            return "boot_failed"
        return "crash" if code else "max_requests"  # (a worker that ends by itself with 0: its request limit)

    def _boot_failed(self, code: int) -> None:
        # Gunicorn halts the server on any boot failure. So does this master until its first generation has
        # booted; after that (a HUP's new code, a replacement after max_requests), while booted workers go on
        # serving, it keeps them and tries again later (1 s, doubling up to a minute), instead of refusing
        # every request from then on.
        serving = sum(1 for pid in self.WORKERS if pid in self._ready and pid not in self._retiring)
        if self._steady and serving:
            self._spawn_backoff = min(60.0, max(1.0, self._spawn_backoff * 2))
            self._spawn_after = self._clock() + self._spawn_backoff
            self.log.error(
                "A new worker failed to boot; %d booted workers go on serving; the next try in %.0f s",
                serving,
                self._spawn_backoff,
            )
            return
        reason = "Worker failed to boot." if code == WORKER_BOOT_ERROR else "App failed to load."
        self._shutdown = _Shutdown(graceful=True, reason=reason, exit_status=code)

    def kill_workers(self, sig: int) -> None:
        for pid in list(self.WORKERS):
            self.kill_worker(pid, sig)

    def kill_worker(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            # gone without us reaping it (someone else waited for it)
            worker = self.WORKERS.pop(pid, None)
            self._retiring.pop(pid, None)
            self._born.pop(pid, None)
            self._ready.discard(pid)
            if worker is not None:
                reason = self._exit_reasons.pop(pid, "crash")
                self._note_exit(pid, worker, reason, None)
                self.observer.worker_gone(getattr(worker, "stats", None), reason)
                worker.stats = None
                worker.tmp.close()
                self.cfg.worker_exit(self, worker)

    # -- reload, upgrade (the work is done in arbiter_reload / arbiter_reexec) --------------------

    def reload(self) -> None:
        """HUP: new configuration, new workers; the old ones finish their requests and exit."""
        arbiter_reload.reload(self)

    def reexec(self) -> None:
        """USR2: start a new master (new code, same sockets) beside this one."""
        arbiter_reexec.reexec(self)

    def maybe_promote_master(self) -> None:
        """A re-exec'd master becomes the master once the old one is gone."""
        arbiter_reexec.maybe_promote(self)

    # -- stopping ------------------------------------------------------------------------------------

    def halt(self, shutdown: _Shutdown | None = None) -> NoReturn:
        """Stop everything, run `on_exit` and exit with the shutdown's status."""
        shutdown = shutdown or _Shutdown(graceful=True)
        self.stop(shutdown.graceful)
        log = self.log.info if shutdown.exit_status == 0 else self.log.error
        log("Shutting down: %s", self.master_name)
        if shutdown.reason is not None:
            log("Reason: %s", shutdown.reason)
        if self.pidfile is not None:
            self.pidfile.unlink()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.control is not None:
            self.control.close()
        self.cfg.on_exit(self)
        sys.exit(shutdown.exit_status)

    def stop(self, graceful: bool = True) -> None:
        """Close the listeners, ask every worker to stop, SIGKILL what is left at the deadline."""
        self._stopping = True
        unlink = self.reexec_pid == self.master_pid == 0 and not self.systemd and not self.cfg.reuse_port
        close_sockets(self.LISTENERS, unlink)
        self.LISTENERS = []
        self.kill_workers(signal.SIGTERM if graceful else signal.SIGQUIT)
        deadline = self._clock() + self.cfg.graceful_timeout
        while self.WORKERS and self._clock() < deadline:
            # CHLD wakes us early; INT/QUIT during a graceful stop turn it into a quick one
            for sig in self._wait(0.1):
                if graceful and sig in (signal.SIGINT, signal.SIGQUIT):
                    self.log.info("Quick shutdown requested")
                    graceful = False
                    self.kill_workers(signal.SIGQUIT)
                    deadline = min(deadline, self._clock() + 2.0)
            self.reap_workers()
        self.kill_workers(signal.SIGKILL)
        self._reap_killed()

    def _reap_killed(self) -> None:
        # a SIGKILLed process goes away at once, unless it is stuck in the kernel: then give up
        deadline = self._clock() + 1.0
        while self.WORKERS and self._clock() < deadline:
            self.reap_workers()
            if self.WORKERS:
                self.SIG_QUEUE.wait(timeout=0.05)
        self._retiring.clear()


def _config_of(app: WSGIApplication) -> Config:
    # the loader only types the few settings it reads; the master needs the whole Config
    if not isinstance(app.cfg, Config):
        raise TypeError(f"the application's cfg must be a monoceros Config, not {type(app.cfg)!r}")
    return app.cfg


def _age(worker: Worker) -> int:
    return worker.age
