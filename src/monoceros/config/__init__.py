"""Monoceros settings: one declarative table (the `sections` package) and everything generated from it.

Public surface: `Config` (typed values, sources, derived properties), `load_config()` (defaults < config file
< MONOCEROS_CMD_ARGS < command line, as Gunicorn), and the errors with their exit statuses.
"""

from __future__ import annotations

from monoceros.config.core import Config
from monoceros.config.errors import ConfigError, ConfigFileError, UsageError

__all__ = ["Config", "ConfigError", "ConfigFileError", "UsageError"]
