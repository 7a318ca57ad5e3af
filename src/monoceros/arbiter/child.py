"""What a freshly forked worker process does before and after its worker object takes over.

This runs in the child of `Arbiter.spawn_worker()`. It sheds what belongs to the master (signal
handlers, the master's wake-up pipe, the siblings' heartbeat files), runs `post_fork`, boots the
worker and maps a failure to the exit code that tells the master to stop everything:
3 (`WORKER_BOOT_ERROR`) for any exception before the worker booted, 4 (`APP_LOAD_ERROR`) for an
`AppImportError`. `Worker exiting` and the `worker_exit` hook always run last.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

from monoceros.arbiter.signals import HANDLED_SIGNALS
from monoceros.errors import APP_LOAD_ERROR, WORKER_BOOT_ERROR, AppImportError
from monoceros.process import set_proctitle

if TYPE_CHECKING:
    from monoceros.arbiter.master import Arbiter
    from monoceros.observability.logger import Logger
    from monoceros.workers.base import Worker

_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
# What the master blocks across a fork (`Arbiter.spawn_worker`).
FORK_BLOCKED = frozenset({*HANDLED_SIGNALS, signal.SIGCHLD})


def run_worker(server: Arbiter, worker: Worker, mask: Iterable[int] = ()) -> NoReturn:
    """Boot and run `worker` in this (child) process, then exit; ``mask`` is the signal mask to restore
    once the master's handlers are gone (the master blocks signals across the fork)."""
    _forget_master(server, worker)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    log = server.log
    try:
        set_proctitle(f"worker [{server.proc_name}]")
        log.info("Booting worker with pid: %s", worker.pid)
        worker.after_fork()
        server.cfg.post_fork(server, worker)
        worker.init_process()
        sys.exit(0)
    except SystemExit:
        raise
    except AppImportError as exc:
        log.debug("Exception while loading the application", exc_info=True)
        print(str(exc), file=sys.stderr, flush=True)
        sys.exit(APP_LOAD_ERROR)
    except Exception:
        log.exception("Exception in worker process")
        sys.exit(-1 if worker.booted else WORKER_BOOT_ERROR)
    finally:
        _goodbye(server, worker)


def _forget_master(server: Arbiter, worker: Worker) -> None:
    # Until init_signals() installs the worker's handlers, a signal must not be queued into a
    # copy of the master's queue that nobody reads: a stop request stops a booting worker, the
    # rest (USR1 log reopen, HUP, TTIN ...) must not kill it.
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, signal.SIG_DFL if sig in _STOP_SIGNALS else signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server.forget_after_fork()
    for sibling in server.WORKERS.values():
        sibling.tmp.close()
    worker.pid = os.getpid()


def _goodbye(server: Arbiter, worker: Worker) -> None:
    server.log.info("Worker exiting (pid: %s)", worker.pid)
    try:
        worker.tmp.close()
        server.cfg.worker_exit(server, worker)
    except Exception:
        server.log.warning("Exception during worker exit:\n%s", traceback.format_exc())


def log_worker_exit(log: Logger, pid: int, status: int) -> int | None:
    """Log how a reaped worker ended (Gunicorn's lines); its exit code, or None if killed by a signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = _signal_name(sig)
        if sig == signal.SIGKILL:
            log.error("Worker (pid:%s) was sent %s! Perhaps out of memory?", pid, name)
        elif sig == signal.SIGTERM:
            log.info("Worker (pid:%s) was sent %s!", pid, name)
        else:
            log.warning("Worker (pid:%s) was sent %s!", pid, name)
        return None
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        log.error("Worker (pid:%s) exited with code %s.", pid, code)
    return code


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
