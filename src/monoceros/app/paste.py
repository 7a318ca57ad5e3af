"""`--paste FILE[#name]`: the application (with its filters and pipelines) from a PasteDeploy file.

As in Gunicorn: the file's path (with `#name` for another section than `main`) is the application's URI and
its process name, its `[loggers]` configuration becomes `logconfig` unless one was given, and
`--paste-global KEY=VALUE` supplies PasteDeploy's global configuration. PasteDeploy is an optional extra,
`monoceros[paste]`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from monoceros.config.errors import ConfigError

EXTRA = "monoceros[paste]"


def global_conf(raw: list[str]) -> dict[str, str] | None:
    """`--paste-global` entries (`KEY=VALUE`, `\\=` for a literal `=` in the key) as a dict."""
    if not raw:
        return None
    conf = {}
    for entry in raw:
        parts = re.split(r"(?<!\\)=", entry, maxsplit=1)
        if len(parts) != 2:
            raise ConfigError(f"paste_global_conf: {entry!r} is not KEY=VALUE")
        key, value = (part.replace("\\=", "=") for part in parts)
        conf[key] = value
    return conf


def load(uri: str, raw_global_conf: list[str]) -> Callable[..., Iterable[bytes]]:
    """The WSGI application PasteDeploy builds from `uri` (an absolute `FILE[#name]`)."""
    try:
        from paste.deploy import loadapp  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(f"paste: loading {uri!r} needs PasteDeploy: pip install '{EXTRA}'") from None
    app: Callable[..., Iterable[bytes]] = loadapp(
        "config:" + uri, relative_to=os.getcwd(), global_conf=global_conf(raw_global_conf)
    )
    return app
