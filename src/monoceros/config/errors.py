"""The exceptions raised while building a configuration, and the exit status each one maps to.

Gunicorn's exit statuses are kept: 2 for a command line argparse rejects (an unknown flag, a number that is
not a number), 1 for a value of the right type that is not allowed (`-w -1`: Gunicorn's validators run after
argparse) and for anything wrong in a config file, in the environment or in `MONOCEROS_CMD_ARGS`.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A value or a config source is unusable; `str()` is one line meant for `Error: ...` on stderr."""

    exit_status = 1


class UsageError(ConfigError):
    """The real command line is wrong (unknown flag, bad value): argparse's exit status."""

    exit_status = 2


class WorkerConfigError(ConfigError):
    """Settings the chosen worker kind cannot run with, found in the master before any worker is forked:
    Gunicorn finds them when its workers fail to boot, hence its status."""

    exit_status = 3


class ConfigFileError(ConfigError):
    """Executing the config file raised; `traceback` is the formatted exception to show the user."""

    def __init__(self, message: str, traceback: str) -> None:
        super().__init__(message)
        self.traceback = traceback


class InvalidValue(ValueError):
    """Raised by a validator: the text says what is wrong with the value, to follow its repr.

    For example `InvalidValue("is not an integer")` becomes `--workers: 'abc' is not an integer`.
    """


class InvalidType(InvalidValue):
    """The value is not of the setting's type at all (`'abc'` for a number): on the command line, argparse's
    own rejection in Gunicorn (exit 2), where a value out of range is its validator's (exit 1)."""
