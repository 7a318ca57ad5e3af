"""Section "Server Hooks": the functions a config file can define to run code at points of the server's life.

The default of each hook is the function below with the hook's name; its parameters are the signature
every user hook must have (checked when the configuration is loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monoceros.config.hooks import hook_setting
from monoceros.config.setting import Section


def on_starting(server: Any) -> None:
    pass


def on_reload(server: Any) -> None:
    pass


def when_ready(server: Any) -> None:
    pass


def pre_fork(server: Any, worker: Any) -> None:
    pass


def post_fork(server: Any, worker: Any) -> None:
    pass


def post_worker_init(worker: Any) -> None:
    pass


def worker_int(worker: Any) -> None:
    pass


def worker_abort(worker: Any) -> None:
    pass


def pre_exec(server: Any) -> None:
    pass


def pre_request(worker: Any, req: Any) -> None:
    worker.log.debug("%s %s", req.method, req.path)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    pass


def child_exit(server: Any, worker: Any) -> None:
    pass


def worker_exit(server: Any, worker: Any) -> None:
    pass


def nworkers_changed(server: Any, new_value: Any, old_value: Any) -> None:
    pass


def on_exit(server: Any) -> None:
    pass


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], Any]) -> Any:
    return default_ssl_context_factory()


class ServerHookSettings(Section, title="Server Hooks"):
    on_starting = hook_setting(
        on_starting, """Called in the master just before it initialises (before the sockets are bound)."""
    )
    on_reload = hook_setting(
        on_reload, """Called in the master on a reload (HUP), before the workers are replaced."""
    )
    when_ready = hook_setting(
        when_ready,
        """Called in the master once the sockets are bound, just before the first workers start.""",
    )
    pre_fork = hook_setting(pre_fork, """Called in the master just before each worker is forked.""")
    post_fork = hook_setting(
        post_fork,
        """Called in a new worker right after the fork, before it drops privileges and loads the app.""",
    )
    post_worker_init = hook_setting(
        post_worker_init, """Called in a worker once it has loaded the application, before it serves."""
    )
    worker_int = hook_setting(
        worker_int, """Called in a worker that received SIGINT or SIGQUIT, just before it exits."""
    )
    worker_abort = hook_setting(
        worker_abort,
        """Called in a worker that received SIGABRT, which the master sends to a worker that timed out.""",
    )
    pre_exec = hook_setting(
        pre_exec, """Called in the forked process just before it executes a new master (USR2 upgrade)."""
    )
    pre_request = hook_setting(
        pre_request,
        """Called in a worker before it runs the application for a request. The default logs the method
        and path at debug level.""",
    )
    post_request = hook_setting(
        post_request,
        """Called in a worker after each request, even when the application failed. Hooks taking only
        `(worker, req)` or `(worker, req, environ)` are accepted too.""",
        also_accepts=(2, 3),
    )
    child_exit = hook_setting(
        child_exit, """Called in the master after a worker has exited and been reaped."""
    )
    worker_exit = hook_setting(worker_exit, """Called in a worker just before it exits.""")
    nworkers_changed = hook_setting(
        nworkers_changed,
        """Called in the master whenever the number of workers changes (`old_value` is None at
        start-up).""",
    )
    on_exit = hook_setting(on_exit, """Called in the master just before the server exits.""")
    ssl_context = hook_setting(
        ssl_context,
        """Called to build the TLS context; it gets the config and a factory of the default context and
        returns an `ssl.SSLContext`.""",
    )
