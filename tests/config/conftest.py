"""Helpers for the settings tests: run the real `monoceros` command, or load a configuration in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from monoceros.config.loader import LoadedConfig, load_config

# Variables that change the configuration; tests start from an environment without them.
CONFIG_ENV = (
    "MONOCEROS_CMD_ARGS",
    "GUNICORN_CMD_ARGS",
    "PORT",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "SENDFILE",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_ENV}
    env.update(extra or {})
    return env


RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """`run_cli("-w", "2", "app:x", env={...})` runs `python -m monoceros` in `tmp_path`."""

    def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monoceros", *args],
            cwd=tmp_path,
            env=clean_env(env),
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


Load = Callable[..., LoadedConfig]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Load:
    """`load("-w", "2", env={...})` builds a configuration in-process with `tmp_path` as the cwd."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str, env: Mapping[str, str] | None = None) -> LoadedConfig:
        return load_config(list(args), clean_env(env))

    return run
