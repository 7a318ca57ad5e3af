"""The `monoceros` command: build the configuration, then print it, check it, or run the server.

Exit statuses follow Gunicorn: 2 for a command line argparse rejects, 1 for a bad config file, a bad
value from the environment, a config file that raises, or an application that fails to load under
`--check-config`. The master is imported only when needed, so this module stays at the config layer.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from monoceros.config.core import Config
from monoceros.config.errors import ConfigError, ConfigFileError, UsageError
from monoceros.config.loader import LoadedConfig, load_config
from monoceros.config.printer import format_config

PROG = "monoceros"


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["ctl"]:  # the control socket's client, and the live view on it
        from monoceros import ctl

        ctl.main(args[1:])
        return
    if args[:1] == ["top"]:
        from monoceros import top

        top.main(args[1:])
        return
    loaded = _load(args)
    for warning in loaded.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    cfg, app_uri = loaded.cfg, loaded.app_uri
    if app_uri is None:
        _fail("No application module specified.")
    if cfg.print_config:
        print(format_config(cfg), flush=True)
    if cfg.print_config or cfg.check_config:
        sys.exit(check(cfg, app_uri))
    serve(cfg, app_uri)


def _load(argv: Sequence[str]) -> LoadedConfig:
    try:
        return load_config(argv, os.environ, prog=PROG)
    except UsageError as exc:
        print(f"usage: {PROG} [OPTIONS] [APP_MODULE]", file=sys.stderr)
        _fail(str(exc), status=exc.exit_status)
    except ConfigFileError as exc:
        print(str(exc), file=sys.stderr)
        print(exc.traceback, end="", file=sys.stderr)
        sys.exit(exc.exit_status)
    except ConfigError as exc:
        _fail(str(exc), status=exc.exit_status)


def check(cfg: Config, app_uri: str) -> int:
    """`--check-config`: load the application as a worker would; 0 when it loads, 1 otherwise."""
    for name in cfg.unimplemented_in_use():
        print(f"Warning: `{name}` is accepted but not implemented yet", file=sys.stderr)
    try:
        from monoceros.app.loader import WSGIApplication
    except ImportError:
        print("Error: the application loader is not available in this build", file=sys.stderr)
        return 1
    try:
        WSGIApplication(cfg, app_uri).load()
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        print("\nError while loading the application:\n", file=sys.stderr)
        traceback.print_exc()
        return 1
    return 0


def serve(cfg: Config, app_uri: str) -> None:
    from monoceros.app.loader import WSGIApplication
    from monoceros.arbiter import Arbiter

    if cfg.spew:
        from monoceros.app.spew import spew

        spew()

    try:
        Arbiter(WSGIApplication(cfg, app_uri)).run()
    except ConfigError as exc:
        _fail(str(exc), status=exc.exit_status)
    except RuntimeError as exc:
        _fail(str(exc))


def _fail(message: str, status: int = 1) -> NoReturn:
    for line in message.splitlines():
        print(f"Error: {line}", file=sys.stderr)
    sys.exit(status)
