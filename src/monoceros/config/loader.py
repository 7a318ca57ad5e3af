"""Assembling a configuration from its sources, with Gunicorn's precedence:

    defaults (some from the environment) < config file < MONOCEROS_CMD_ARGS or GUNICORN_CMD_ARGS < CLI

The config file is the one given by `-c` on the command line, else by `-c` in the environment arguments,
else `./monoceros.conf.py` or `./gunicorn.conf.py` if present. A list setting given on the command line
replaces the file's list. Run again on a reload (HUP) to pick up a changed file.
"""

from __future__ import annotations

import configparser
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monoceros.config import filesource
from monoceros.config.cliparser import build_parser, parse
from monoceros.config.core import COMMAND_LINE, DEFAULT, Config
from monoceros.config.errors import ConfigError, UsageError

ENV_ARGS = ("MONOCEROS_CMD_ARGS", "GUNICORN_CMD_ARGS")
APP_MODULE = "APP_MODULE"
PASTE = "paste file"


@dataclass
class LoadedConfig:
    cfg: Config
    app_uri: str | None  # the positional APP_MODULE, else the file's `wsgi_app`, else None
    warnings: list[str] = field(default_factory=list)


def load_config(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, prog: str = "monoceros"
) -> LoadedConfig:
    """Raises `UsageError` (exit 2) for a bad command line, `ConfigError` (exit 1) for the rest."""
    env = dict(os.environ if environ is None else environ)
    cfg = Config(env)
    given = parse(build_parser(cfg.registry, prog), argv)
    env_source, env_given = _env_args(cfg, env, prog)
    app_uri = _app_module(given.pop("args"))
    if app_uri is not None:
        cfg.set("default_proc_name", app_uri, APP_MODULE)
    warnings = _apply_config_file(cfg, given, env_given, env_source)
    _apply(cfg, env_given, env_source)
    _apply(cfg, given, COMMAND_LINE)
    if cfg.paste is not None:
        app_uri = _paste_app(cfg)
    return LoadedConfig(cfg, app_uri if app_uri is not None else cfg.wsgi_app, warnings)


def _paste_app(cfg: Config) -> str:
    """`paste`: the PasteDeploy file is the application (an APP_MODULE is then ignored, as in Gunicorn),
    its process name, and its logging configuration when it has one and none was given."""
    uri = os.path.abspath(cfg.paste or "")
    path = uri.split("#", 1)[0]  # FILE[#name]
    if not os.path.exists(path):
        raise ConfigError(f"paste: {path!r} not found")
    cfg.set("default_proc_name", path, PASTE)
    if cfg.is_default("logconfig") and has_logging_config(path):
        cfg.set("logconfig", path, PASTE)
    return uri


def has_logging_config(path: str) -> bool:
    """The PasteDeploy (ini) file has a ``[loggers]`` section."""
    parser = configparser.ConfigParser()
    try:
        parser.read([path])
    except configparser.Error:
        return False
    return parser.has_section("loggers")


def _env_args(cfg: Config, env: Mapping[str, str], prog: str) -> tuple[str, dict[str, Any]]:
    """The settings given in MONOCEROS_CMD_ARGS (or, when it is not set, GUNICORN_CMD_ARGS)."""
    name = next((n for n in ENV_ARGS if n in env), ENV_ARGS[0])
    try:
        given = parse(build_parser(cfg.registry, prog, source=name), shlex.split(env.get(name, "")))
    except UsageError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except ValueError as exc:  # shlex: unbalanced quotes
        raise ConfigError(f"{name}: {exc}") from None
    given.pop("args")  # positional arguments there are ignored, as in Gunicorn
    return name, given


def _app_module(positional: list[str]) -> str | None:
    if len(positional) > 1:
        raise UsageError("only one APP_MODULE may be given, got: " + " ".join(positional))
    return positional[0] if positional else None


def _apply_config_file(
    cfg: Config, given: dict[str, Any], env_given: dict[str, Any], env_source: str
) -> list[str]:
    location = given.get("config") or env_given.get("config")
    if location is None:
        location = filesource.find_default_file(os.getcwd())
        if location is None:
            return []
        cfg.set("config", location, DEFAULT)
    namespace, source, warnings = filesource.read(location)
    return warnings + filesource.apply(cfg, namespace, source)


def _apply(cfg: Config, given: dict[str, Any], source: str) -> None:
    for name, value in given.items():
        cfg.set(name, value, source)
