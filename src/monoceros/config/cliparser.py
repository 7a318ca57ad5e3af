"""The argparse command line, generated from the settings table: one option per setting that has flags,
grouped by section in `--help`.

Every option defaults to "not given" (`SUPPRESS`), so the parsed namespace holds only what the user wrote:
that is what lets a config file value survive when the flag is absent. Each value is validated while
parsing, so a bad one is reported with the flag's name; argparse's own errors become `UsageError`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from monoceros import __version__
from monoceros.config.core import COMMAND_LINE, describe
from monoceros.config.errors import ConfigError, InvalidType, InvalidValue, UsageError
from monoceros.config.setting import Registry, Setting

USAGE = "%(prog)s [OPTIONS] [APP_MODULE]"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser(
    registry: Registry, prog: str = "monoceros", source: str = COMMAND_LINE
) -> argparse.ArgumentParser:
    """The parser for the real command line, or for `MONOCEROS_CMD_ARGS` when `source` names that."""
    file_only = ", ".join(s.name for s in registry if not s.cli)
    epilog = f"Settings without a flag are set in a config file (config file only: {file_only})."
    parser = _Parser(prog=prog, usage=USAGE, epilog=epilog)
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"%(prog)s (version {__version__})",
        help="show the version and exit",
    )
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    for section in registry.sections:
        group = parser.add_argument_group(section.title)
        for setting in section.declared:
            if setting.cli:
                _add_option(group, setting, source)
    return parser


def _add_option(group: argparse._ArgumentGroup, setting: Setting[Any], source: str) -> None:
    summary = setting.summary if setting.implemented else f"(Not implemented yet.) {setting.summary}"
    help_text = f"{summary} [{default_text(setting)}]".replace("%", "%%")
    common: dict[str, Any] = {"dest": setting.name, "default": argparse.SUPPRESS, "help": help_text}
    if setting.action == "flag":
        group.add_argument(*setting.cli, action="store_const", const=True, **common)
    elif setting.action == "const":
        group.add_argument(*setting.cli, action="store_const", const=setting.const, **common)
    else:
        kwargs: dict[str, Any] = {
            "metavar": setting.meta or setting.name.upper(),
            "type": _checker(setting, source),
        }
        if setting.action == "append":
            kwargs["action"] = "append"
        elif setting.action == "optional":
            kwargs.update(nargs="?", const=setting.const)
        group.add_argument(*setting.cli, **kwargs, **common)


def _checker(setting: Setting[Any], source: str) -> Callable[[str], str]:
    """Validate one command line value now, so the error names the flag; the raw text is kept for `set()`."""

    def check(text: str) -> str:
        try:
            setting.validator([text] if setting.action == "append" else text)
        except InvalidValue as exc:
            message = describe(setting, text, source, str(exc))
            # Not a ValueError: argparse would swallow it into its own "invalid value" message.
            usage = source == COMMAND_LINE and isinstance(exc, InvalidType)
            raise (UsageError(message) if usage else ConfigError(message)) from None
        return text

    return check


def default_text(setting: Setting[Any]) -> str:
    """The default as documentation shows it (never read from this machine's environment)."""
    if setting.default_doc is not None:
        return setting.default_doc
    value = setting.default
    if isinstance(value, list):
        return ",".join(value) if value else "[]"
    return repr(value) if isinstance(value, str) and value == "" else str(value)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, Any]:
    """The settings given in `argv` (name -> raw value) plus `args`, the positional arguments."""
    return dict(vars(parser.parse_args(list(argv))))
