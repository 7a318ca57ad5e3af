"""Section "Control": the local control socket for live administration (Gunicorn 27's protocol)."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class ControlSettings(Section, title="Control"):
    control_socket = Setting[str | None](
        cli=["--control-socket"],
        meta="PATH",
        validator=v.to_opt_str,
        default=None,
        default_doc="per instance: $XDG_RUNTIME_DIR/monoceros/BIND.ctl, else ~/.monoceros/BIND.ctl",
        implemented=True,
        doc="""The Unix socket on which the master takes control commands (`monoceros ctl`, `monoceros top`,
        and Gunicorn 27's `gunicornc -s PATH`, whose protocol it speaks). By default the path is per instance,
        named after the first listener (`127.0.0.1-8000.ctl`, `unix-run-app.sock.ctl`), so that two servers
        on one machine never share it (Gunicorn's single default path does: the second server takes it over).
        A path on which another live server answers is left alone (a warning is logged); a stale socket file
        is replaced. A relative path is taken from the working directory.""",
    )
    control_socket_mode = Setting[int](
        cli=["--control-socket-mode"],
        meta="INT",
        validator=v.octal_int,
        default=0o600,
        default_doc="0o600",
        implemented=True,
        doc="""The permissions of the control socket; a leading 0 means octal. The socket is created with no
        more than 0600 and then given this mode; its directory, when created, is 0700.""",
    )
    control_socket_disable = Setting[bool](
        cli=["--no-control-socket"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Do not create the control socket.""",
    )
