"""Config files in the shapes real projects use load unchanged, with no warning and the values Gunicorn
would take from them (see projectconfigs/README.md)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from monoceros.config.loader import load_config

HERE = Path(__file__).parent / "projectconfigs"
# What the files read from the environment: unset unless a test sets it.
READ = ["PORT", "WEB_CONCURRENCY", "GUNICORN_HOST", "APP_DIR", "RUN_AS_USER", "RUN_AS_GROUP", "LOG_LEVEL"]
READ += ["GUNICORN_WORKER_CLASS", "PRELOAD", "STATSD_HOST", "WORKERS_PER_CORE", "GUNICORN_THREADS"]
READ += ["GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE"]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*READ, "MONOCEROS_CMD_ARGS", "GUNICORN_CMD_ARGS"]:
        monkeypatch.delenv(name, raising=False)


def _load(name: str, tmp_path: Path, env: dict[str, str] | None = None) -> object:
    """Load the file as `-c gunicorn.conf.py`; it reads os.environ itself, as a real one does."""
    path = tmp_path / "gunicorn.conf.py"
    shutil.copy(HERE / name, path)
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return load_config(["-c", str(path)], dict(os.environ))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_django_container_settings(tmp_path: Path) -> None:
    loaded = _load("django_container.py", tmp_path, {"PORT": "9000", "WEB_CONCURRENCY": "3"})
    cfg = loaded.cfg  # type: ignore[attr-defined]
    assert loaded.warnings == []  # type: ignore[attr-defined]
    assert loaded.app_uri == "mysite.wsgi:application"  # type: ignore[attr-defined]
    assert (cfg.bind, cfg.workers, cfg.threads, cfg.timeout) == (["0.0.0.0:9000"], 3, 1, 120)
    assert (cfg.user, cfg.group) == (os.geteuid(), os.getegid())  # os.getenv(..., None): unset
    assert cfg.env == {"DJANGO_SETTINGS_MODULE": "mysite.settings.production"}
    assert cfg.forwarded_allow_ips == ["*"]


def test_platform_settings_with_none_values(tmp_path: Path) -> None:
    loaded = _load("flask_platform.py", tmp_path, {"PORT": "5050"})
    cfg = loaded.cfg  # type: ignore[attr-defined]
    assert loaded.warnings == []  # type: ignore[attr-defined]
    assert (cfg.bind, cfg.workers, cfg.worker_class_str, cfg.threads) == (["0.0.0.0:5050"], 3, "gthread", 4)
    assert (cfg.proxy_protocol, cfg.statsd_host, cfg.preload_app) == ("off", None, False)


def test_hooks_and_logconfig_dict(tmp_path: Path) -> None:
    loaded = _load("hooks_production.py", tmp_path)
    cfg = loaded.cfg  # type: ignore[attr-defined]
    assert loaded.warnings == []  # type: ignore[attr-defined]
    assert (cfg.address, cfg.umask, cfg.proc_name) == (["/run/app/gunicorn.sock"], 0o007, "app-web")
    assert cfg.logconfig_dict["root"]["level"] == "INFO"
    assert cfg.post_fork.__name__ == "post_fork"


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("*.py")))
def test_every_project_config_passes_check_config_shape(name: str, tmp_path: Path) -> None:
    """Each file loads without an error whatever the environment leaves unset."""
    _load(name, tmp_path)
