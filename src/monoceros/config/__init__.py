"""Monoceros settings: one declarative table (the `sections` package) and everything generated from it.

Public surface: `Config` (typed values, sources, derived properties), `load_config()` (defaults < config file
< MONOCEROS_CMD_ARGS < command line, as Gunicorn), and the errors with their exit statuses.
"""

from __future__ import annotations

from monoceros.config.core import Config
from monoceros.config.errors import ConfigError, ConfigFileError, UsageError
from monoceros.config.loader import LoadedConfig, load_config

__all__ = ["Config", "ConfigError", "ConfigFileError", "LoadedConfig", "UsageError", "load_config"]
