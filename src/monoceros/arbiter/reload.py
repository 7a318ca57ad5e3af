"""HUP: reload the configuration, start a new generation of workers, retire the old one.

The order is Gunicorn's: undo `raw_env`, reload the settings, re-run the master's setup, reopen the
logs, re-bind only if `bind` changed, `on_reload(server)`, rewrite the pidfile. Then, unlike Gunicorn
(which forks all new workers and stops the old ones at once), the workers are replaced by a rolling
reload (`arbiter_rollout`): an old worker is told to stop only once a new one has booted in its place,
and a new generation that fails to boot leaves the old one serving. Also unlike Gunicorn, a
configuration that fails to load leaves the master running with the one it has (Gunicorn's master
exits).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from monoceros.arbiter.pidfile import Pidfile
from monoceros.arbiter.sockets import create_sockets
from monoceros.config.loader import load_config
from monoceros.process import set_proctitle

if TYPE_CHECKING:
    from monoceros.arbiter.master import Arbiter
    from monoceros.config import Config


def reload(server: Arbiter) -> None:
    old_address = server.cfg.address
    restore_environ(server.cfg, server.env_orig)
    try:
        loaded = load_config(server.argv, os.environ)
        # e.g. TLS files replaced by broken ones: refuse before any worker is replaced
        check_config = getattr(loaded.cfg.worker_class, "check_config", None)
        if callable(check_config):
            check_config(loaded.cfg, server.log)
    except Exception:
        server.log.exception("Reloading the configuration failed, keeping the current one")
        apply_environ(server.cfg)
        return
    for warning in loaded.warnings:
        server.log.warning("%s", warning)
    _reload_app(server, loaded.cfg)
    server.setup()
    server.prepare_shared()  # the new worker class (or settings) may share something else
    try:
        server.log.setup(server.cfg)  # new log destinations and levels (as Gunicorn 26)
    except Exception:
        server.log.exception("The new logging configuration failed, keeping the current one")
    server.log.reopen_files()
    if old_address != server.cfg.address:
        _rebind(server)
    server._open_endpoint(reloading=True)
    server.cfg.on_reload(server)
    _rewrite_pidfile(server)
    set_proctitle(f"master [{server.proc_name}]")
    server.begin_rollout()
    server.manage_workers()


def _reload_app(server: Arbiter, cfg: Config) -> None:
    # A preloaded application lives in the master: like Gunicorn, HUP does not re-import it.
    # Otherwise each new worker imports the application afresh.
    preloaded = server.app.callable if server.cfg.preload_app else None
    server.app.reload(cfg)
    if preloaded is not None:
        server.app.callable = preloaded


def _rebind(server: Arbiter) -> None:
    for listener in server.LISTENERS:
        listener.close()
    server.LISTENERS = create_sockets(server.cfg, server.log)
    server.log.info("Listening at: %s", ",".join(str(lnr) for lnr in server.LISTENERS))


def _rewrite_pidfile(server: Arbiter) -> None:
    if server.pidfile is not None:
        server.pidfile.unlink()
        server.pidfile = None
    if server.cfg.pidfile is not None:
        server.pidfile = Pidfile(server.role.pidfile(server.cfg.pidfile))
        server.pidfile.create(server.pid)


def apply_environ(cfg: Config) -> None:
    """Put the `raw_env` settings into this process's environment."""
    for key, value in cfg.env.items():
        os.environ[key] = value


def restore_environ(cfg: Config, env_orig: Mapping[str, str]) -> None:
    """Undo `apply_environ`, so that a variable removed from the config really goes away."""
    for key in cfg.env:
        if key in env_orig:
            os.environ[key] = env_orig[key]
        else:
            os.environ.pop(key, None)
