"""`--print-config`: every setting, sorted by name as Gunicorn prints them, with its value and its source."""

from __future__ import annotations

from monoceros.config.core import Config


def format_config(cfg: Config) -> str:
    names = sorted(cfg.registry.names())
    width = max(len(name) for name in names)
    lines = [f"{name:{width}} = {_show(cfg.get(name))}  # {cfg.source(name)}" for name in names]
    return "\n".join(lines)


def _show(value: object) -> str:
    # Callables as Gunicorn prints them; the rest as str() so the output keeps Gunicorn's shape.
    if callable(value) and not isinstance(value, type):
        return f"<{getattr(value, '__qualname__', repr(value))}()>"
    return str(value)
