"""`--print-config`: every setting, sorted by name as Gunicorn prints them, with its value and its source."""

from __future__ import annotations

from monoceros.config.core import Config


def format_config(cfg: Config) -> str:
    names = sorted(cfg.registry.names())
    width = max(len(name) for name in names)
    return "\n".join(_line(cfg, name, width) for name in names)


def _line(cfg: Config, name: str, width: int) -> str:
    if cfg.registry[name].implemented:
        return f"{name:{width}} = {_show(cfg.get(name))}  # {cfg.source(name)}"
    # No value for what does not exist here (a control socket path that is never created): only what the
    # user set, said to be ignored.
    if cfg.is_default(name):
        return f"{name:{width}} =  # not implemented in Monoceros"
    source = f"{cfg.source(name)}; not implemented in Monoceros: ignored"
    return f"{name:{width}} = {_show(cfg.get(name))}  # {source}"


def _show(value: object) -> str:
    # Callables as Gunicorn prints them; the rest as str() so the output keeps Gunicorn's shape.
    if callable(value) and not isinstance(value, type):
        return f"<{getattr(value, '__qualname__', repr(value))}()>"
    return str(value)
