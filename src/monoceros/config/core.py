"""The `Config` object: one typed value per setting, where each came from, and Gunicorn's derived properties.

Values change only through `set()`, which validates and records the source; reading `cfg.workers` goes
through the `Setting` descriptor declared in the section classes this class inherits.
"""

from __future__ import annotations

import copy
import inspect
import ipaddress
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from monoceros.config import resolve
from monoceros.config.bindaddr import Address, parse_address
from monoceros.config.errors import ConfigError, InvalidValue
from monoceros.config.sections import (
    SECTIONS,
    ConfigFileSettings,
    ControlSettings,
    DebuggingSettings,
    DirtyArbiterSettings,
    DirtyHookSettings,
    Http2Settings,
    LoggingSettings,
    ProcessNamingSettings,
    SecuritySettings,
    ServerHookSettings,
    ServerMechanicsSettings,
    ServerSocketSettings,
    SSLSettings,
    WorkerProcessSettings,
)
from monoceros.config.setting import Registry, Setting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Source labels of values (shown by --print-config); env defaults use "env NAME", files "config file PATH".
DEFAULT = "default"
COMMAND_LINE = "command line"


class Config(
    ConfigFileSettings,
    ServerSocketSettings,
    WorkerProcessSettings,
    SecuritySettings,
    DebuggingSettings,
    ServerMechanicsSettings,
    LoggingSettings,
    ProcessNamingSettings,
    ServerHookSettings,
    SSLSettings,
    Http2Settings,
    DirtyArbiterSettings,
    DirtyHookSettings,
    ControlSettings,
):
    """Every setting at its default (env-derived defaults read from `environ`, default `os.environ`)."""

    registry: ClassVar[Registry] = Registry(SECTIONS)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ: dict[str, str] = dict(os.environ if environ is None else environ)
        self._values: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        self._sources: dict[str, str] = {}
        for setting in self.registry:
            self._init_default(setting)

    def _init_default(self, setting: Setting[Any]) -> None:
        value, source = copy.copy(setting.default), DEFAULT
        found = setting.default_factory(self.environ) if setting.default_factory else None
        if found is not None:
            raw, source = found
            value = validate(setting, raw, source)
        self._values[setting.name] = value
        self._defaults[setting.name] = value
        self._sources[setting.name] = source

    # -- generic access ---------------------------------------------------------------------------
    def set(self, name: str, value: object, source: str = "set by the application") -> None:
        """Validate `value` for the setting `name` and store it; `ConfigError` names all three."""
        if name not in self.registry:
            raise ConfigError(f"no setting named {name!r}")
        self._values[name] = validate(self.registry[name], value, source)
        self._sources[name] = source

    def get(self, name: str) -> Any:
        """The stored value, also for the settings a derived property shadows (`worker_class`)."""
        return self._values[name]

    def source(self, name: str) -> str:
        return self._sources[name]

    def is_default(self, name: str) -> bool:
        return bool(self._values[name] == self._defaults[name])

    def unimplemented_in_use(self) -> list[str]:
        """Settings Monoceros accepts but does not implement yet, set to something else than their default."""
        return [s.name for s in self.registry if not s.implemented and not self.is_default(s.name)]

    # -- Gunicorn's derived properties -----------------------------------------------------------
    @property
    def worker_class_str(self) -> str:
        uri = self.get("worker_class")
        if not isinstance(uri, str):
            return str(uri.__name__)
        if (uri == "sync" or uri.endswith("SyncWorker")) and self.threads > 1:
            return "gthread"
        return uri

    @property
    def workers(self) -> int:
        """The number of workers; ``auto`` resolved for this machine and worker kind (``auto_workers``)."""
        value = self.get("workers")
        return value if isinstance(value, int) else self.auto_workers()[0]

    @workers.setter
    def workers(self, value: object) -> None:
        raise AttributeError("use cfg.set('workers', value) to change a setting")

    def auto_workers(self) -> tuple[int, str]:
        """``workers = auto``: (the count, how it was found)."""
        from monoceros.process import available_cpus

        cpus, where = available_cpus()
        if self.worker_class_str in ("sync", "gunicorn.workers.sync.SyncWorker", resolve.WORKERS["sync"]):
            return 2 * cpus + 1, f"2 x {cpus} + 1 for the sync worker; {where}"
        return cpus, f"one per CPU for the {self.worker_class_str} worker; {where}"

    @property
    def worker_class(self) -> type[Any]:
        cls = resolve.worker_class(self.get("worker_class"), self.threads)
        if hasattr(cls, "setup"):
            cls.setup()
        return cls

    @property
    def logger_class(self) -> type[Any]:
        cls = resolve.logger_class(self.get("logger_class"), statsd=bool(self.statsd_host))
        if hasattr(cls, "install"):
            cls.install()
        return cls

    @property
    def address(self) -> list[Address]:
        return [parse_address(bind) for bind in self.bind]

    @property
    def uid(self) -> int:
        return self.user

    @property
    def gid(self) -> int:
        return self.group

    @property
    def proc_name(self) -> str:
        name: str | None = self.get("proc_name")
        return name if name is not None else self.default_proc_name

    @property
    def env(self) -> dict[str, str]:
        return dict(entry.split("=", 1) for entry in self.raw_env)

    @property
    def sendfile(self) -> bool:
        enabled: bool | None = self.get("sendfile")
        return True if enabled is None else enabled

    @property
    def is_ssl(self) -> bool:
        return bool(self.certfile or self.keyfile)

    @property
    def ssl_options(self) -> dict[str, Any]:
        return {s.name: self._values[s.name] for s in SSLSettings.declared}

    def forwarded_allow_networks(self) -> list[Network]:
        """The trusted front-end networks; `"*" in cfg.forwarded_allow_ips` means every peer is trusted."""
        return _networks(self.forwarded_allow_ips)

    def proxy_allow_networks(self) -> list[Network]:
        return _networks(self.proxy_allow_ips)

    def __repr__(self) -> str:
        changed = {n: v for n, v in self._values.items() if not self.is_default(n)}
        return f"<Config {changed!r}>"


def _networks(entries: list[str]) -> list[Network]:
    return [ipaddress.ip_network(entry) for entry in entries if entry != "*"]


def validate(setting: Setting[Any], value: object, source: str) -> Any:
    """Run the setting's validator; turn its complaint into one line naming setting, value and source.

    ``None`` (``user = None``, ``os.getenv("X", None)`` in a config file) means the default, for every
    setting whose Gunicorn validator accepts ``None``: all but numbers, hooks and mappings.
    """
    if value is None and setting.none_is_default:
        value = setting.default
    try:
        return setting.validator(value)
    except InvalidValue as exc:
        raise ConfigError(describe(setting, value, source, str(exc))) from None


def describe(setting: Setting[Any], value: object, source: str, problem: str) -> str:
    from_cli = source == COMMAND_LINE or source.endswith("_CMD_ARGS")
    label = setting.flag if from_cli and setting.flag else setting.name
    where = "" if source == COMMAND_LINE else f" (from {source})"
    return f"{label}: {show(value)} {problem}{where}"


def show(value: object) -> str:
    """A value as messages show it: callables by name and signature, the rest by repr."""
    if callable(value) and not isinstance(value, type):
        name = getattr(value, "__qualname__", None) or repr(value)
        try:
            return f"{name}{inspect.signature(value)}"
        except (TypeError, ValueError):
            return name
    return repr(value)
