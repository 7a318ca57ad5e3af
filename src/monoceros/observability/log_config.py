"""User logging configurations: `logconfig_dict`, `--log-config-json FILE`, `--log-config FILE` (ini).

As in Gunicorn, the dict and JSON forms are applied over Gunicorn's `CONFIG_DEFAULTS` (a shallow merge: a
top-level key given by the user replaces the default one), `logconfig_dict` wins over the JSON
file, which wins over the ini file, and existing loggers are never disabled. The loggers are named
`gunicorn.error` and `gunicorn.access` there, so Gunicorn users' files work unchanged; Monoceros
makes those names aliases of `monoceros.error` and `monoceros.access` (see `glogging`).
"""

from __future__ import annotations

import json
import logging.config
import os
from collections.abc import Mapping
from typing import Any


def config_defaults(error_fmt: str, datefmt: str) -> dict[str, Any]:
    """Gunicorn's `CONFIG_DEFAULTS`, with the logger's own line format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": True},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "stream": "ext://sys.stdout",
            },
            "error_console": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "stream": "ext://sys.stderr",
            },
        },
        "formatters": {"generic": {"format": error_fmt, "datefmt": datefmt, "class": "logging.Formatter"}},
    }


class LogConfigError(ValueError):
    """The user's logging configuration cannot be applied; one line for `Error: ...`."""


def apply_user_config(
    defaults: Mapping[str, Any],
    logconfig_dict: Mapping[str, Any],
    logconfig_json: str | None,
    logconfig: str | None,
) -> bool:
    """Apply whichever user configuration is set (by Gunicorn's priority); True if one was."""
    if logconfig_dict:
        _dict_config({**defaults, **logconfig_dict}, "logconfig_dict")
    elif logconfig_json:
        _dict_config({**defaults, **_read_json(logconfig_json)}, logconfig_json)
    elif logconfig:
        _file_config(logconfig)
    else:
        return False
    return True


def _dict_config(config: dict[str, Any], origin: str) -> None:
    try:
        logging.config.dictConfig(config)
    except (AttributeError, ImportError, ValueError, TypeError) as exc:
        raise LogConfigError(f"log config {origin}: {exc}") from exc


def _read_json(path: str) -> Mapping[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            loaded = json.load(file)
    except OSError as exc:
        raise LogConfigError(f"log config {path!r} cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise LogConfigError(f"log config {path!r} is not valid JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise LogConfigError(f"log config {path!r} must hold a JSON object")
    return loaded


def _file_config(path: str) -> None:
    if not os.path.exists(path):
        raise LogConfigError(f"log config {path!r} not found")
    # The ini file may use %(here)s and %(__file__)s, as with Gunicorn and Paste.
    defaults = {"__file__": path, "here": os.path.dirname(path)}
    try:
        logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False)
    except (KeyError, ValueError, TypeError, ImportError, AttributeError, RuntimeError) as exc:
        raise LogConfigError(f"log config {path!r}: {exc!r}") from exc
