"""Section "Debugging": reloading, tracing and checking the configuration."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class DebuggingSettings(Section, title="Debugging"):
    reload = Setting[bool](
        cli=["--reload"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Restart the workers when the application's source files change: each worker watches the
        files of the modules it imported and ends when one changes, and the master forks a fresh one. An
        application that fails to import (a syntax error in an edit) is logged and answered with 500 and
        its traceback until a file in that traceback changes, without a restart loop. Meant for
        development only.""",
    )
    reload_engine = Setting[str](
        cli=["--reload-engine"],
        meta="STRING",
        validator=v.choice("auto", "poll", "inotify"),
        none_ok=False,
        default="auto",
        implemented=True,
        doc="""How `reload` watches files: `poll` (modification times, twice a second), `inotify` (the
        kernel's notifications, through the `watchfiles` package: `pip install 'monoceros[reload]'`), or
        `auto`: `inotify` when `watchfiles` is installed, else `poll`.""",
    )
    reload_extra_files = Setting[list[str]](
        cli=["--reload-extra-file"],
        meta="FILES",
        action="append",
        validator=v.files_or_patterns,
        default=[],
        implemented=True,
        doc="""More files (or glob patterns, `**` included, expanded again as files appear) whose change
        triggers a `reload`, such as templates or configuration files. Repeat the flag for several.""",
    )
    spew = Setting[bool](
        cli=["--spew"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Print every line of Python the server executes (module, line number, source) to stdout,
        in the master and in the workers it forks. Extremely verbose; for debugging the server itself.""",
    )
    check_config = Setting[bool](
        cli=["--check-config"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Load the configuration and import the application, then exit: status 0 when both
        succeed, 1 otherwise. Useful in deployment scripts before a restart.""",
    )
    print_config = Setting[bool](
        cli=["--print-config"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Print every setting with its final value and where that value came from (default,
        environment, config file, MONOCEROS_CMD_ARGS or the command line), then check the configuration
        like `check_config`.""",
    )
