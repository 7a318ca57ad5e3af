"""The real `monoceros` command: exit statuses and messages for bad input, --help, --version, --print-config,
--check-config. Each case runs `python -m monoceros` in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monoceros import __version__
from monoceros.config import Config

RunCli = Callable[..., subprocess.CompletedProcess[str]]

needs_apploader = pytest.mark.skipif(
    importlib.util.find_spec("monoceros.app.loader") is None,
    reason="monoceros.app.loader (the master's app loader) is not there yet",
)


def _error_lines(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("Error:")]


def test_version(run_cli: RunCli) -> None:
    out = run_cli("--version")
    assert (out.returncode, out.stdout.strip()) == (0, f"monoceros (version {__version__})")


def test_bad_cli_value_exits_2_with_one_line(run_cli: RunCli) -> None:
    out = run_cli("--workers", "abc", "app:x")
    assert out.returncode == 2
    assert _error_lines(out) == ["Error: --workers: 'abc' is not an integer"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["-w", "-1"], "Error: --workers: '-1' is negative: must be 0 or more"),
        (["--timeout", "-5"], "Error: --timeout: '-5' is negative: must be 0 or more"),
        (["--threads", "-1"], "Error: --threads: '-1' is negative: must be 0 or more"),
    ],
)
def test_a_number_out_of_range_exits_1_as_gunicorns_validators(
    run_cli: RunCli, args: list[str], line: str
) -> None:
    """Gunicorn: argparse takes the number, its validator refuses it: status 1, no usage line."""
    out = run_cli(*args, "app:x")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [line]


def test_gthread_with_no_threads_exits_3_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    """Gunicorn's gthread workers fail to boot with --threads 0 (status 3); refused before any fork here."""
    (tmp_path / "tinyapp.py").write_text("def app(environ, start_response):\n    return []\n")
    out = run_cli("-k", "gthread", "--threads", "0", "-b", "127.0.0.1:0", "tinyapp:app")
    assert out.returncode == 3
    assert _error_lines(out) == [
        "Error: threads: 0 is not allowed with the gthread worker: must be 1 or more"
    ]


def test_unknown_flag_exits_2(run_cli: RunCli) -> None:
    out = run_cli("--no-such-flag", "app:x")
    assert out.returncode == 2
    assert _error_lines(out) == ["Error: unrecognized arguments: --no-such-flag"]


def test_bad_env_args_value_exits_1(run_cli: RunCli) -> None:
    out = run_cli("app:x", env={"MONOCEROS_CMD_ARGS": "--threads many"})
    assert out.returncode == 1
    assert _error_lines(out) == ["Error: --threads: 'many' is not an integer (from MONOCEROS_CMD_ARGS)"]


def test_unknown_flag_in_env_args_exits_1(run_cli: RunCli) -> None:
    out = run_cli("app:x", env={"GUNICORN_CMD_ARGS": "--bogus"})
    assert out.returncode == 1
    assert _error_lines(out) == ["Error: GUNICORN_CMD_ARGS: unrecognized arguments: --bogus"]


def test_bad_file_values_exit_1_one_line_each(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("workers = 'abc'\npreload_app = 'yes'\n")
    out = run_cli("-c", "conf.py", "app:x")
    assert out.returncode == 1
    assert _error_lines(out) == [
        "Error: workers: 'abc' is not an integer (from config file conf.py)",
        "Error: preload_app: 'yes' is not a boolean: use True or False (from config file conf.py)",
    ]


def test_missing_config_file_exits_1(run_cli: RunCli) -> None:
    out = run_cli("-c", "x.py", "app:x")
    assert out.returncode == 1
    assert _error_lines(out) == ["Error: config file 'x.py' does not exist"]


def test_missing_config_module_exits_1(run_cli: RunCli) -> None:
    out = run_cli("-c", "python:no_such_conf_module", "app:x")
    assert out.returncode == 1
    assert _error_lines(out) == [
        "Error: config module 'no_such_conf_module' was not found on the Python path"
    ]


def test_exception_in_config_file_exits_1_with_traceback(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("workers = 2\nraise RuntimeError('boom from config')\n")
    out = run_cli("-c", "conf.py", "app:x")
    assert out.returncode == 1
    assert "Failed to read config file: conf.py" in out.stderr
    assert "Traceback (most recent call last):" in out.stderr
    assert 'conf.py", line 2' in out.stderr
    assert "RuntimeError: boom from config" in out.stderr


def test_hook_with_wrong_arity_is_rejected_with_expected_signature(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("def pre_fork(server):\n    pass\n")
    out = run_cli("-c", "conf.py", "app:x")
    assert out.returncode == 1
    assert _error_lines(out) == [
        "Error: pre_fork: pre_fork(server) takes 1 positional argument: "
        "expected pre_fork(server, worker) (from config file conf.py)"
    ]


def test_no_application_exits_1(run_cli: RunCli) -> None:
    out = run_cli("--check-config")
    assert out.returncode == 1
    assert _error_lines(out) == ["Error: No application module specified."]


def test_unknown_names_in_config_file_are_warned_with_a_suggestion(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text(
        "import os\nworkes = 3\nBASE_DIR = '/srv'\n_private = 1\n"
        "def helper():\n    pass\ndef prefork(server, worker):\n    pass\n"
    )
    out = run_cli("-c", "conf.py", "--print-config", "app:x")
    warnings = [line for line in out.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: config file conf.py: `workes` is not a setting; did you mean `workers`?",
        "Warning: config file conf.py: `prefork` is not a setting; did you mean `pre_fork`?",
    ]


def test_print_config_shows_every_setting_with_value_and_source(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "monoceros.conf.py").write_text("workers = 3\nthreads = 2\nbind = ['unix:/tmp/x.sock']\n")
    out = run_cli(
        "--print-config",
        "--threads",
        "4",
        "app:x",
        env={"MONOCEROS_CMD_ARGS": "-t 10", "WEB_CONCURRENCY": "9"},
    )
    lines = dict(_parse_print_config(out.stdout))
    assert set(lines) == set(Config.registry.names())
    conf = f"config file {tmp_path / 'monoceros.conf.py'}"
    assert lines["workers"] == ("3", conf)
    assert lines["threads"] == ("4", "command line")
    assert lines["timeout"] == ("10", "MONOCEROS_CMD_ARGS")
    assert lines["bind"] == ("['unix:/tmp/x.sock']", conf)
    assert lines["keepalive"] == ("2", "default")
    assert lines["pre_request"] == ("<pre_request()>", "default")
    assert lines["default_proc_name"] == ("app:x", "APP_MODULE")
    names = [name for name, _ in _parse_print_config(out.stdout)]
    assert names == sorted(names)
    # What does not exist here shows no value (there are no dirty workers)
    assert lines["dirty_workers"] == ("", "not implemented in Monoceros")
    assert lines["control_socket"] == ("None", "default")  # (one per instance, named when the server starts)


def test_print_config_says_a_set_unimplemented_setting_is_ignored(run_cli: RunCli) -> None:
    out = run_cli("--print-config", "--dirty-workers", "2", "--no-control-socket", "app:x")
    lines = dict(_parse_print_config(out.stdout))
    assert lines["dirty_workers"] == ("2", "command line; not implemented in Monoceros: ignored")
    assert lines["control_socket_disable"] == ("True", "command line")


def test_print_config_shows_env_default_source(run_cli: RunCli) -> None:
    out = run_cli("--print-config", "app:x", env={"WEB_CONCURRENCY": "9", "PORT": "8123"})
    lines = dict(_parse_print_config(out.stdout))
    assert lines["workers"] == ("9", "env WEB_CONCURRENCY")
    assert lines["bind"] == ("['0.0.0.0:8123']", "env PORT")


def _parse_print_config(text: str) -> list[tuple[str, tuple[str, str]]]:
    pairs = []
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+) +=(?: (.*?))?  # (.+)", line)
        assert match, line
        pairs.append((match[1], (match[2] or "", match[3])))
    return pairs


@needs_apploader
def test_check_config_exits_0_when_the_app_loads(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "site_app.py").write_text("def app(environ, start_response):\n    return [b'']\n")
    out = run_cli("--check-config", "site_app:app")
    assert (out.returncode, out.stderr) == (0, "")


@needs_apploader
def test_check_config_exits_1_with_traceback_when_the_app_fails(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("raise ImportError('missing dependency')\n")
    out = run_cli("--check-config", "broken_app:app")
    assert out.returncode == 1
    assert "Traceback" in out.stderr
    assert "missing dependency" in out.stderr


@needs_apploader
def test_print_config_then_checks(run_cli: RunCli) -> None:
    out = run_cli("--print-config", "no_such_module_here:app")
    assert out.returncode == 1
    assert "workers" in out.stdout
    assert "No module named 'no_such_module_here'" in out.stderr


@needs_apploader
def test_check_config_warns_about_unimplemented_settings_in_use(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "site_app.py").write_text("def app(environ, start_response):\n    return [b'']\n")
    out = run_cli("--check-config", "--dirty-workers", "2", "site_app:app")
    assert out.returncode == 0
    assert out.stderr.splitlines() == ["Warning: `dirty_workers` is accepted but not implemented yet"]


def _help_flags(help_text: str) -> set[str]:
    flags: set[str] = set()
    for line in help_text.splitlines():
        if line.strip().startswith("-"):
            options = re.split(r"\s{2,}", line.strip())[0]
            flags.update(re.findall(r"(?:^|[ ,])(--?[A-Za-z][\w-]*)", options))
    return flags


def test_help_lists_every_flag_of_every_setting_by_section(run_cli: RunCli) -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    expected = {flag for s in Config.registry for flag in s.cli}
    assert expected <= _help_flags(out.stdout)
    for section in Config.registry.sections:
        has_flags = any(s.cli for s in section.declared)
        assert (f"\n{section.title}:\n" in out.stdout) == has_flags, section.title
    assert "config file only: " in out.stdout
    # What does not work yet says so where users look first
    text = " ".join(out.stdout.split())
    assert "--dirty-workers INT (Not implemented yet.) " in text
    assert "--reload (Not implemented yet.)" not in text


def test_help_accepts_every_gunicorn_flag(run_cli: RunCli) -> None:
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    if not Path(gunicorn).exists():
        pytest.skip("Gunicorn is not installed to compare --help with")
    theirs = _help_flags(subprocess.run([gunicorn, "--help"], capture_output=True, text=True).stdout)
    ours = _help_flags(run_cli("--help").stdout)
    assert len(theirs) > 100
    assert theirs - ours == set()


def test_none_values_in_a_real_config_file_mean_the_default(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text(
        "import os\n"
        "user = None\n"
        "group = None\n"
        'bind = os.getenv("APP_BIND_UNSET", None)\n'
        'loglevel = os.environ.get("LOG_LEVEL_UNSET")\n'
        "preload_app = None\n"
    )
    out = run_cli("-c", "conf.py", "--print-config", "app:x")
    assert "None is not" not in out.stderr  # ("app:x" does not exist: that is reported after the list)
    lines = dict(_parse_print_config(out.stdout))
    assert lines["user"][0] == str(os.geteuid())
    assert lines["bind"][0] == "['127.0.0.1:8000']"
    assert lines["loglevel"][0] == "info"
    assert lines["preload_app"][0] == "False"


def test_none_for_a_number_is_refused_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("workers = None\n")
    out = run_cli("-c", "conf.py", "--print-config", "app:x")
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1].startswith("Error: workers: None ")
