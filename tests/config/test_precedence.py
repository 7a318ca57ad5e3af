"""Sources and precedence: defaults < config file < MONOCEROS_CMD_ARGS (or GUNICORN_CMD_ARGS) < CLI."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from monoceros.config.loader import LoadedConfig

Load = Callable[..., LoadedConfig]

SOURCES = ("file", "env", "cli")


def _sources_given(combo: tuple[bool, bool, bool]) -> list[str]:
    return [name for name, given in zip(SOURCES, combo, strict=True) if given]


@pytest.mark.parametrize("combo", list(itertools.product([False, True], repeat=3)), ids=str)
def test_scalar_precedence_matrix(combo: tuple[bool, bool, bool], load: Load, tmp_path: Path) -> None:
    file_given, env_given, cli_given = combo
    if file_given:
        (tmp_path / "monoceros.conf.py").write_text("workers = 7\n")
    env = {"MONOCEROS_CMD_ARGS": "--workers 5"} if env_given else {}
    args = ["-w", "2"] if cli_given else []
    cfg = load(*args, "app:x", env=env).cfg
    expected = {"file": 7, "env": 5, "cli": 2}
    winner = (_sources_given(combo) or ["default"])[-1]
    assert cfg.workers == expected.get(winner, 1)
    assert (
        cfg.source("workers")
        == {
            "file": f"config file {tmp_path / 'monoceros.conf.py'}",
            "env": "MONOCEROS_CMD_ARGS",
            "cli": "command line",
            "default": "default",
        }[winner]
    )


@pytest.mark.parametrize("combo", list(itertools.product([False, True], repeat=3)), ids=str)
def test_list_precedence_matrix_replaces_not_appends(
    combo: tuple[bool, bool, bool], load: Load, tmp_path: Path
) -> None:
    file_given, env_given, cli_given = combo
    if file_given:
        (tmp_path / "monoceros.conf.py").write_text("bind = ['unix:/f1', 'unix:/f2']\n")
    env = {"MONOCEROS_CMD_ARGS": "-b unix:/e1 -b unix:/e2"} if env_given else {}
    args = ["-b", "unix:/c1", "--bind", "unix:/c2"] if cli_given else []
    cfg = load(*args, "app:x", env=env).cfg
    expected = {"file": "f", "env": "e", "cli": "c"}
    winner = (_sources_given(combo) or ["default"])[-1]
    if winner == "default":
        assert cfg.bind == ["127.0.0.1:8000"]
    else:
        assert cfg.bind == [f"unix:/{expected[winner]}1", f"unix:/{expected[winner]}2"]


def test_gunicorn_cmd_args_is_read_when_monoceros_cmd_args_is_not_set(load: Load) -> None:
    assert load("app:x", env={"GUNICORN_CMD_ARGS": "-w 3"}).cfg.workers == 3
    both = {"GUNICORN_CMD_ARGS": "-w 3", "MONOCEROS_CMD_ARGS": "-w 4"}
    cfg = load("app:x", env=both).cfg
    assert (cfg.workers, cfg.source("workers")) == (4, "MONOCEROS_CMD_ARGS")


def test_config_file_named_in_env_args_is_read(load: Load, tmp_path: Path) -> None:
    (tmp_path / "other.py").write_text("threads = 6\n")
    cfg = load("app:x", env={"MONOCEROS_CMD_ARGS": "-c other.py"}).cfg
    assert cfg.threads == 6


def test_config_file_on_command_line_wins_over_env_args_one(load: Load, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("threads = 6\n")
    (tmp_path / "b.py").write_text("threads = 9\n")
    assert load("-c", "b.py", "app:x", env={"MONOCEROS_CMD_ARGS": "-c a.py"}).cfg.threads == 9


def test_positional_args_in_env_args_are_ignored(load: Load) -> None:
    loaded = load("app:x", env={"MONOCEROS_CMD_ARGS": "other:app"})
    assert loaded.app_uri == "app:x"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"monoceros.conf.py": "workers = 2", "gunicorn.conf.py": "workers = 3"}, 2),
        ({"gunicorn.conf.py": "workers = 3"}, 3),
        ({}, 1),
    ],
)
def test_default_config_file_lookup(files: dict[str, str], expected: int, load: Load, tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    assert load("app:x").cfg.workers == expected


@pytest.mark.parametrize("prefix", ["", "file:"])
def test_explicit_file_forms(prefix: str, load: Load, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("workers = 4\n")
    assert load("-c", prefix + "conf.py", "app:x").cfg.workers == 4


def test_python_module_config(load: Load, tmp_path: Path) -> None:
    package = tmp_path / "mysite_conf_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "prod.py").write_text("workers = 11\nbind = 'unix:/run/app.sock'\n")
    cfg = load("-c", "python:mysite_conf_pkg.prod", "app:x").cfg
    assert (cfg.workers, cfg.bind) == (11, ["unix:/run/app.sock"])
    assert cfg.source("workers") == "config module mysite_conf_pkg.prod"


def test_wsgi_app_from_file_when_no_positional_app(load: Load, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text("wsgi_app = 'site.wsgi:application'\n")
    assert load().app_uri == "site.wsgi:application"
    assert load("cli:app").app_uri == "cli:app"


def test_app_module_is_the_default_proc_name(load: Load) -> None:
    cfg = load("site.wsgi:app").cfg
    assert (cfg.proc_name, cfg.source("default_proc_name")) == ("site.wsgi:app", "APP_MODULE")
    assert load("-n", "web", "site.wsgi:app").cfg.proc_name == "web"


@pytest.mark.parametrize(
    ("env", "name", "value", "source"),
    [
        ({"PORT": "5000"}, "bind", ["0.0.0.0:5000"], "env PORT"),
        ({"WEB_CONCURRENCY": "6"}, "workers", 6, "env WEB_CONCURRENCY"),
        (
            {"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 1.2.3.4"},
            "forwarded_allow_ips",
            ["10.0.0.0/8", "1.2.3.4"],
            "env FORWARDED_ALLOW_IPS",
        ),
        ({"SENDFILE": "no"}, "sendfile", False, "env SENDFILE"),
        ({"SENDFILE": "yes"}, "sendfile", True, "env SENDFILE"),
        ({}, "sendfile", True, "default"),
    ],
)
def test_env_derived_defaults(env: dict[str, str], name: str, value: object, source: str, load: Load) -> None:
    cfg = load("app:x", env=env).cfg
    assert getattr(cfg, name) == value
    assert cfg.source(name) == source


def test_env_derived_default_loses_to_file_and_cli(load: Load, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text("workers = 3\n")
    assert load("app:x", env={"WEB_CONCURRENCY": "6"}).cfg.workers == 3
    assert load("-b", ":1", "app:x", env={"PORT": "5000"}).cfg.bind == [":1"]


def test_no_sendfile_flag_beats_sendfile_env(load: Load) -> None:
    assert load("--no-sendfile", "app:x", env={"SENDFILE": "1"}).cfg.sendfile is False
