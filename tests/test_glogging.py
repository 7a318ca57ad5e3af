"""The error log: Gunicorn's line format and levels, files, stderr, the gunicorn.error alias, USR1 reopen."""

import fcntl
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from monoceros.config.sections.logs import DEFAULT_ACCESS_LOG_FORMAT
from monoceros.observability.logger import ACCESS_LOGGER, ERROR_LOGGER, Logger, LogSetupError

LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[([A-Z]+)\] (.*)$")


@dataclass
class LogCfg:
    """The settings the logger reads, at their defaults (tests/test_access_log.py reuses it)."""

    errorlog: str = "-"
    loglevel: str = "info"
    uid: int = field(default_factory=os.geteuid)
    gid: int = field(default_factory=os.getegid)
    proc_name: str = "app:app"
    accesslog: str | None = None
    access_log_format: str = DEFAULT_ACCESS_LOG_FORMAT
    disable_redirect_access_to_syslog: bool = False
    capture_output: bool = False
    logconfig: str | None = None
    logconfig_dict: dict[str, Any] = field(default_factory=dict)
    logconfig_json: str | None = None
    syslog: bool = False
    syslog_addr: str = "udp://localhost:514"
    syslog_prefix: str | None = None
    syslog_facility: str = "user"
    statsd_host: str | None = None
    statsd_prefix: str = ""
    dogstatsd_tags: str = ""


@pytest.fixture(autouse=True)
def _drop_handlers() -> Iterator[None]:
    """Loggers are process-wide: remove what a test installed so files close and tests stay apart."""
    yield
    for name in (ERROR_LOGGER, ACCESS_LOGGER):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def lines(path: Path) -> list[tuple[str, str, str]]:
    parsed = []
    for raw in path.read_text().splitlines():
        match = LINE.match(raw)
        assert match, f"not in Gunicorn's format: {raw!r}"
        pid, level, message = match.groups()
        parsed.append((pid, level, message))
    return parsed


def test_line_format_matches_gunicorn(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(LogCfg(errorlog=str(path)))
    log.info("Booting worker with pid: %s", 7310)
    assert lines(path) == [(str(os.getpid()), "INFO", "Booting worker with pid: 7310")]


def test_levels_filter_and_unknown_level_means_info(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(LogCfg(errorlog=str(path), loglevel="WARNING"))
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.log("error", "by name")
    log.log(logging.INFO, "by number, filtered")
    assert [(lvl, msg) for _, lvl, msg in lines(path)] == [
        ("WARNING", "w"),
        ("ERROR", "e"),
        ("CRITICAL", "c"),
        ("ERROR", "by name"),
    ]
    assert Logger(LogCfg(errorlog=str(path), loglevel="chatty")).loglevel == logging.INFO


def test_exception_logs_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(LogCfg(errorlog=str(path)))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("Error handling request %s", "/x")
    text = path.read_text()
    assert "[ERROR] Error handling request /x\nTraceback (most recent call last):" in text
    assert text.rstrip().endswith("RuntimeError: boom")


def test_gunicorn_error_logger_shares_the_handlers(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    Logger(LogCfg(errorlog=str(path), loglevel="debug"))
    logging.getLogger("gunicorn.error").debug("from an app written for gunicorn")
    assert lines(path) == [(str(os.getpid()), "DEBUG", "from an app written for gunicorn")]


def test_records_point_at_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(LogCfg(errorlog=str(path)))
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    log.error_log.addHandler(handler)
    log.warning("where", extra={"metric": "gunicorn.workers"})
    assert seen[0].funcName == "test_records_point_at_the_caller"
    assert seen[0].__dict__["metric"] == "gunicorn.workers"


def test_setup_again_replaces_its_own_handler_only(tmp_path: Path) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    foreign = logging.NullHandler()
    logging.getLogger(ERROR_LOGGER).addHandler(foreign)
    log = Logger(LogCfg(errorlog=str(first)))
    log.setup(LogCfg(errorlog=str(second)))
    log.info("once")
    assert first.read_text() == ""
    assert len(lines(second)) == 1
    assert foreign in logging.getLogger(ERROR_LOGGER).handlers


def test_reopen_files_follows_logrotate(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    log = Logger(LogCfg(errorlog=str(path)))
    log.info("before rotation")
    path.rename(tmp_path / "error.log.1")
    log.info("still the old file")
    log.reopen_files()
    log.info("after rotation")
    assert [m for _, _, m in lines(tmp_path / "error.log.1")] == ["before rotation", "still the old file"]
    assert [m for _, _, m in lines(path)] == ["after rotation"]


def test_close_on_exec_marks_log_files(tmp_path: Path) -> None:
    log = Logger(LogCfg(errorlog=str(tmp_path / "error.log")))
    (handler,) = [h for h in log.error_log.handlers if isinstance(h, logging.FileHandler)]
    fd = handler.stream.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFD, 0)
    log.close_on_exec()
    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_unwritable_errorlog_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "error.log"
    with pytest.raises(LogSetupError, match=r"^'.*missing-dir/error.log' isn't writable \[No such file"):
        Logger(LogCfg(errorlog=str(path)))


def test_gunicorn_names_are_the_same_logger_objects() -> None:
    log = Logger(LogCfg())
    assert logging.getLogger("gunicorn.error") is log.error_log is logging.getLogger(ERROR_LOGGER)
    assert logging.getLogger("gunicorn.access") is log.access_log is logging.getLogger(ACCESS_LOGGER)


def test_stderr_lines_appear_at_once() -> None:
    # The child logs, then blocks until we answer: we can only answer if the line was flushed to us.
    code = (
        "import sys\n"
        "from monoceros.config import Config\n"
        "from monoceros.observability.logger import Logger\n"
        "log = Logger(Config({}))\n"
        "log.info('Listening at: %s (%s)', 'http://127.0.0.1:8000', 1)\n"
        "sys.stdin.readline()\n"
        "log.error('bye')\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stderr is not None and child.stdin is not None
        first = child.stderr.readline()
        child.stdin.write("go\n")
        child.stdin.close()
        rest = child.stderr.read()
        assert child.wait(timeout=10) == 0
    match = LINE.match(first.rstrip("\n"))
    assert match
    assert match.groups() == (str(child.pid), "INFO", "Listening at: http://127.0.0.1:8000 (1)")
    assert rest.rstrip("\n").endswith("[ERROR] bye")
