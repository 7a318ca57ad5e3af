"""Section "Process Naming": the names shown by ps and top."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class ProcessNamingSettings(Section, title="Process Naming"):
    _proc_name = Setting[str | None](
        name="proc_name",
        cli=["-n", "--name"],
        meta="STRING",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""A name for the server's processes, shown by ps and top when the `setproctitle` package
        is installed. It defaults to `default_proc_name`.""",
    )
    default_proc_name = Setting[str](
        validator=v.to_str,
        default="monoceros",
        implemented=True,
        doc="""The process name used when `proc_name` is not set: the APP_MODULE given on the command
        line, else `monoceros`.""",
    )
