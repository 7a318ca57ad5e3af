"""Sections "Dirty Arbiters" and "Dirty Arbiter Hooks": Gunicorn's side pool for long tasks (accepted,
not implemented yet)."""

from __future__ import annotations

from typing import Any

from monoceros.config import validators as v
from monoceros.config.hooks import hook_setting
from monoceros.config.setting import Section, Setting


def on_dirty_starting(arbiter: Any) -> None:
    pass


def dirty_post_fork(arbiter: Any, worker: Any) -> None:
    pass


def dirty_worker_init(worker: Any) -> None:
    pass


def dirty_worker_exit(arbiter: Any, worker: Any) -> None:
    pass


class DirtyArbiterSettings(Section, title="Dirty Arbiters"):
    dirty_apps = Setting[list[str]](
        cli=["--dirty-app"],
        meta="STRING",
        action="append",
        validator=v.to_str_list,
        default=[],
        doc="""Applications to load in the dirty worker pool, as `module:Class` or `module:Class:N`;
        repeat the flag for several.""",
    )
    dirty_workers = Setting[int](
        cli=["--dirty-workers"],
        meta="INT",
        validator=v.to_int,
        default=0,
        doc="""The number of dirty worker processes; 0 runs no dirty pool.""",
    )
    dirty_timeout = Setting[int](
        cli=["--dirty-timeout"],
        meta="INT",
        validator=v.to_int,
        default=300,
        doc="""Seconds a dirty task may run; 0 means no limit.""",
    )
    dirty_threads = Setting[int](
        cli=["--dirty-threads"],
        meta="INT",
        validator=v.to_int,
        default=1,
        doc="""The number of threads in each dirty worker.""",
    )
    dirty_graceful_timeout = Setting[int](
        cli=["--dirty-graceful-timeout"],
        meta="INT",
        validator=v.to_int,
        default=30,
        doc="""Seconds dirty workers get to finish their tasks when stopping.""",
    )


class DirtyHookSettings(Section, title="Dirty Arbiter Hooks"):
    on_dirty_starting = hook_setting(
        on_dirty_starting, """Called just before the dirty arbiter starts.""", implemented=False
    )
    dirty_post_fork = hook_setting(
        dirty_post_fork, """Called just after a dirty worker is forked.""", implemented=False
    )
    dirty_worker_init = hook_setting(
        dirty_worker_init, """Called once a dirty worker has loaded its applications.""", implemented=False
    )
    dirty_worker_exit = hook_setting(
        dirty_worker_exit,
        """Called in the dirty arbiter when a dirty worker has exited.""",
        implemented=False,
    )
