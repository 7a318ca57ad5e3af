"""The settings, one module per section (the sections and their order are Gunicorn's)."""

from __future__ import annotations

from monoceros.config.sections.configfile import ConfigFileSettings
from monoceros.config.sections.control import ControlSettings
from monoceros.config.sections.debugging import DebuggingSettings
from monoceros.config.sections.dirty import DirtyArbiterSettings, DirtyHookSettings
from monoceros.config.sections.http2 import Http2Settings
from monoceros.config.sections.logs import LoggingSettings
from monoceros.config.sections.mechanics import ServerMechanicsSettings
from monoceros.config.sections.naming import ProcessNamingSettings
from monoceros.config.sections.security import SecuritySettings
from monoceros.config.sections.server_hooks import ServerHookSettings
from monoceros.config.sections.server_socket import ServerSocketSettings
from monoceros.config.sections.tls import SSLSettings
from monoceros.config.sections.worker_processes import WorkerProcessSettings

# Order of the sections in --help and in docs/settings.md.
SECTIONS = (
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
)

__all__ = [
    "SECTIONS",
    "ConfigFileSettings",
    "ControlSettings",
    "DebuggingSettings",
    "DirtyArbiterSettings",
    "DirtyHookSettings",
    "Http2Settings",
    "LoggingSettings",
    "ProcessNamingSettings",
    "SSLSettings",
    "SecuritySettings",
    "ServerHookSettings",
    "ServerMechanicsSettings",
    "ServerSocketSettings",
    "WorkerProcessSettings",
]
