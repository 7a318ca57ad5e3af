"""Section "Config File": where the configuration and the application come from."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting


class ConfigFileSettings(Section, title="Config File"):
    config = Setting[str | None](
        cli=["-c", "--config"],
        meta="CONFIG",
        validator=v.to_opt_str,
        default=None,
        default_doc="./monoceros.conf.py, else ./gunicorn.conf.py, if present",
        implemented=True,
        doc="""The configuration file to read: a path (`PATH` or `file:PATH`), executed as Python, or
        `python:MODULE` to import a module from the Python path. Without it Monoceros reads
        `./monoceros.conf.py`, or else `./gunicorn.conf.py`, when one of them exists. Only meaningful on
        the command line or in `MONOCEROS_CMD_ARGS`.""",
    )
    wsgi_app = Setting[str | None](
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The application to serve, as `MODULE:VARIABLE` or `MODULE:factory(args)`, used when no
        APP_MODULE is given on the command line. Lets a config file name the app it belongs to.""",
    )
