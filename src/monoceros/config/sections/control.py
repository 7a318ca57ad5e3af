"""Section "Control": the local control socket for live administration (accepted, not implemented yet)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


def _control_socket_path(env: Mapping[str, str]) -> tuple[object, str] | None:
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isdir(runtime_dir):
        return os.path.join(runtime_dir, "monoceros.ctl"), "env XDG_RUNTIME_DIR"
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".monoceros", "monoceros.ctl"), "default"


class ControlSettings(Section, title="Control"):
    control_socket = Setting[str](
        cli=["--control-socket"],
        meta="PATH",
        validator=v.to_str,
        default="~/.monoceros/monoceros.ctl",
        default_factory=_control_socket_path,
        default_doc="$XDG_RUNTIME_DIR/monoceros.ctl, else ~/.monoceros/monoceros.ctl",
        doc="""The Unix socket on which the server accepts control commands.""",
    )
    control_socket_mode = Setting[int](
        cli=["--control-socket-mode"],
        meta="INT",
        validator=v.octal_int,
        default=0o600,
        default_doc="0o600",
        doc="""The permissions of the control socket; a leading 0 means octal.""",
    )
    control_socket_disable = Setting[bool](
        cli=["--no-control-socket"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Do not create the control socket. Monoceros has no control socket yet, so this is always in
        effect; the flag is accepted (without a warning) because every Gunicorn 27 deployment that does not
        want the socket passes it.""",
    )
