"""The access log: every Gunicorn atom against Gunicorn's own code, the JSON form, and where lines go."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monoceros.observability.access_atoms import ClfClock
from monoceros.observability.access_format import AccessFormat, format_keys
from monoceros.observability.logger import ACCESS_LOGGER, ERROR_LOGGER, Logger
from test_glogging import LogCfg

gunicorn_installed = pytest.mark.skipif(importlib.util.find_spec("gunicorn") is None, reason="needs gunicorn")

EVERY_ATOM = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(B)s "%(f)s" "%(a)s" %(m)s %(U)s %(q)s %(H)s '
    "%(T)s %(M)s %(D)s %(L)s %(p)s %({x-in}i)s %({X-In}i)s %({x-out}o)s %({remote_addr}e)s "
    "%({wsgi.url_scheme}e)s %({raw_uri}e)s %(zz)s %({nope}i)s %({bad}x)s %(D)d %%"
)


@dataclass
class Resp:
    status: str = "200 OK"
    status_code: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("X-Out", 'a"b'), ("X-Out", "last")])
    bytes_sent: int = 5

    @property
    def sent(self) -> int:  # Gunicorn's name for bytes_sent
        return self.bytes_sent


@dataclass
class Req:
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("X-IN", 'q"x'), ("HOST", "h")])


def environ(**extra: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REMOTE_ADDR": "10.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": '/p%20a/th?x=1&y="',
        "PATH_INFO": "/p a/th",
        "QUERY_STRING": 'x=1&y="',
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": 'http://r/"',
        "HTTP_USER_AGENT": "UA/1",
        "HTTP_AUTHORIZATION": "Basic Ym9iOnB3",  # bob:pw
        "wsgi.url_scheme": "http",
    }
    env.update(extra)
    return env


RT = timedelta(seconds=2, microseconds=345678)


class Tagged(str):
    """A str subclass, as frameworks make for marked-safe text."""


@pytest.fixture(autouse=True)
def _drop_handlers() -> Iterator[None]:
    yield
    for name in (ERROR_LOGGER, ACCESS_LOGGER, "gunicorn.error", "gunicorn.access"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def gunicorn_line(fmt: str, resp: Resp, req: Req, env: dict[str, Any], now: str) -> str:
    from gunicorn.glogging import Logger as GLogger
    from gunicorn.glogging import SafeAtoms

    glog = GLogger.__new__(GLogger)  # atoms() needs no set-up; skip Gunicorn's handlers
    glog.now = lambda: now  # type: ignore[method-assign]
    glog.error_log = logging.getLogger("gunicorn-under-test")  # it logs bad Basic credentials
    return fmt % SafeAtoms(glog.atoms(resp, req, env, RT))


@gunicorn_installed
@pytest.mark.parametrize(
    "fmt",
    [
        EVERY_ATOM,
        '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
        "%(s)s %(s)s %(B)d %(T)03d",
        "no atoms at all",
        "100%% {braces} %({user-agent}i)s %(nosuch)s %(r)s%%",
    ],
)
@pytest.mark.parametrize(
    ("resp", "env"),
    [
        (Resp(), environ()),
        (Resp(status="404 Not Found", status_code=404, headers=[], bytes_sent=0), environ()),
        (Resp(), environ(HTTP_AUTHORIZATION="Bearer x", REMOTE_ADDR='evil"')),
        (Resp(), environ(HTTP_AUTHORIZATION="Basic !!!notbase64")),
        # a str subclass (a framework's "safe" string) is escaped as a str is
        (Resp(), environ(HTTP_USER_AGENT=Tagged('UA "1"'), REMOTE_ADDR=Tagged('10.0.0."1'))),
    ],
)
def test_every_atom_renders_as_gunicorn(fmt: str, resp: Resp, env: dict[str, Any]) -> None:
    clock = ClfClock()
    ours = AccessFormat(fmt, clock).render(resp, Req(), env, RT)
    assert ours == gunicorn_line(fmt, resp, Req(), env, clock())


def test_format_keys_read_like_percent_formatting() -> None:
    assert format_keys("%(a)s %%(b)s %(c(d))s %(a)s %%") == ["a", "c(d)"]
    assert format_keys("%(open") == []


def test_time_is_apache_clf_local_time() -> None:
    text = ClfClock()()
    assert text.startswith("[") and text.endswith("]")
    assert len(text.split()) == 2 and text.split()[1][0] in "+-"


def test_access_line_goes_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path)))
    assert log.wants_access()
    log.access(Resp(), Req(), environ(), RT)
    line = path.read_text()
    assert line.startswith("10.0.0.1 - bob [") and line.endswith(
        ' "GET /p%20a/th?x=1&y=\\" HTTP/1.1" 200 5 "http://r/\\"" "UA/1"\n'
    )


def test_nothing_is_written_without_an_access_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = Logger(LogCfg(errorlog=str(tmp_path / "error.log")))
    assert not log.wants_access()
    log.access(Resp(), Req(), environ(), RT)
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "error.log").read_text() == ""


@pytest.mark.parametrize(
    ("settings", "wanted"),
    [
        ({"accesslog": "-"}, True),
        ({"logconfig_dict": {"root": {"level": "INFO"}}}, True),
        ({"syslog": True, "syslog_addr": "udp://127.0.0.1:9"}, True),
        (
            {"syslog": True, "syslog_addr": "udp://127.0.0.1:9", "disable_redirect_access_to_syslog": True},
            False,
        ),
        ({}, False),
    ],
)
def test_wants_access_as_gunicorn_decides(settings: dict[str, Any], wanted: bool) -> None:
    assert Logger(LogCfg(**settings)).wants_access() is wanted


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), access_log_format="json"))
    env = environ(HTTP_X_REQUEST_ID="req-1", HTTP_USER_AGENT='UA "quoted" \\ \x01')
    log.access(Resp(), Req(), env, RT)
    log.access(Resp(status="204 No Content", status_code=204, bytes_sent=0), Req(), environ(), RT)
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert list(first) == [
        "time", "remote", "method", "path", "query", "protocol", "status", "bytes", "duration_ms",
        "pid", "request_id", "user_agent", "referer",
    ]  # fmt: skip
    assert first["remote"] == "10.0.0.1" and first["method"] == "GET" and first["path"] == "/p%20a/th"
    assert first["query"] == 'x=1&y="' and first["status"] == 200 and first["bytes"] == 5
    assert first["duration_ms"] == 2345.678 and first["request_id"] == "req-1"
    assert first["user_agent"] == 'UA "quoted" \\ \x01' and first["referer"] == 'http://r/"'
    assert second["request_id"] is None and second["status"] == 204 and second["bytes"] == 0


def test_a_logconfig_formatter_gets_gunicorn_atoms_in_args(capsys: pytest.CaptureFixture[str]) -> None:
    config = {
        "formatters": {"f": {"format": "%(name)s|%(message)s"}},
        "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": "ext://sys.stdout"}},
        "loggers": {"gunicorn.access": {"handlers": ["h"], "level": "INFO", "propagate": False}},
        "root": {"level": "INFO", "handlers": []},  # the merge is shallow: the default root names "console"
    }
    seen: list[logging.LogRecord] = []
    log = Logger(LogCfg(logconfig_dict=config))
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    log.access_log.addHandler(catcher)
    log.access(Resp(), Req(), environ(), RT)
    assert capsys.readouterr().out.startswith("monoceros.access|10.0.0.1 - bob [")
    args = seen[0].args
    assert isinstance(args, dict) and args["s"] == "200" and args["{x-in}i"] == 'q\\"x'


class CustomAtoms(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> dict[str, object]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = "custom"
        return atoms


def test_a_subclass_overriding_atoms_is_used(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    CustomAtoms(LogCfg(accesslog=str(path), access_log_format="%(h)s %(s)s")).access(
        Resp(), Req(), environ(), RT
    )
    assert path.read_text() == "custom 200\n"


def test_a_handler_added_later_takes_the_logging_path(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), access_log_format="%(s)s"))
    seen: list[str] = []
    catcher = logging.Handler()
    catcher.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("gunicorn.access").addHandler(catcher)
    log.access(Resp(), Req(), environ(), RT)
    assert seen == ["200"] and path.read_text() == "200\n"


def test_a_broken_format_logs_an_error_not_raises(tmp_path: Path) -> None:
    log = Logger(LogCfg(accesslog="-", errorlog=str(tmp_path / "e.log"), access_log_format="%(s)d"))
    log.access(Resp(), Req(), environ(), RT)
    assert "TypeError" in (tmp_path / "e.log").read_text()


def test_reopen_after_rotation_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), access_log_format="%(s)s"))
    log.access(Resp(), Req(), environ(), RT)
    path.rename(tmp_path / "access.log.1")
    log.access(Resp(status="201 Created"), Req(), environ(), RT)
    log.reopen_files()
    log.access(Resp(status="202 Accepted"), Req(), environ(), RT)
    assert (tmp_path / "access.log.1").read_text() == "200\n201\n"
    assert path.read_text() == "202\n"


def test_deferred_lines_are_the_same_lines_written_at_the_flush(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), access_log_format='%(h)s "%(r)s" %(s)s %(D)s'))
    log.batch_access()
    assert log.wants_request_time()
    queue = log.access_queue()
    assert queue is not None
    queue((Resp(), Req(), environ(), 0.25))
    queue((Resp(), Req(), environ(), 0.5))
    assert path.read_text() == ""  # nothing before the loop's flush
    log.flush_access()
    expected = '10.0.0.1 "GET /p%20a/th?x=1&y=\\" HTTP/1.1" 200 {}\n'
    assert path.read_text() == expected.format(250000) + expected.format(500000)


def test_no_request_time_needed_without_duration_atoms(tmp_path: Path) -> None:
    log = Logger(LogCfg(accesslog=str(tmp_path / "a.log")))
    log.batch_access()
    assert not log.wants_request_time()
    assert Logger(LogCfg(accesslog=str(tmp_path / "b.log"), access_log_format="json")).wants_request_time()


BATCH_FORMATS = [
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
    "%(s)s %(t)s %(t)s %(D)s %(L)s %(T)s %(M)s %(p)s %(B)s %(m)s %(U)s %(q)s %(H)s",
    "100%% {braces} {{x}} %({user-agent}i)s %(nosuch)s %(r)s%% \\ ' \" é\t%({x-out}o)s %({remote_addr}e)s",
    "no atoms at all",
    "%(l)s",
]


@pytest.mark.parametrize("fmt", BATCH_FORMATS)
@pytest.mark.parametrize(
    "env",
    [
        environ(RAW_URI="/plain", QUERY_STRING="", HTTP_REFERER="-"),
        environ(),  # quotes in several values: the batch gives up, `render` escapes
        environ(HTTP_AUTHORIZATION="Basic Ym9iOnB3", REMOTE_ADDR='a"b'),
        {**environ(), "RAW_URI": 12345},  # not a str: printed as `%s` prints it
        environ(HTTP_USER_AGENT=Tagged('UA "1"')),
    ],
)
def test_a_batch_of_lines_is_the_lines_rendered_one_by_one(fmt: str, env: dict[str, Any]) -> None:
    clock = ClfClock()
    compiled = AccessFormat(fmt, clock)
    assert compiled.render_batch is not None
    now = clock()
    resps = [Resp(), Resp(status="404 Not Found", status_code=404, headers=[], bytes_sent=0)]
    items = [(resp, Req(), env, seconds) for resp in resps for seconds in (0.0, 2.345678)]
    expected = "\n".join(compiled.render(r, q, e, timedelta(seconds=s), now) for r, q, e, s in items)
    text = compiled.render_batch(items, now)
    assert text is None or text == expected
    if not any('"' in str(v) for v in env.values()):
        assert text == expected  # nothing to escape: the batch is used


def test_only_plain_fields_get_a_batch_renderer() -> None:
    assert AccessFormat("%(s)s %(B)d", ClfClock()).render_batch is None
    assert AccessFormat("%(s)5s", ClfClock()).render_batch is None


@gunicorn_installed
def test_a_request_line_of_other_types_prints_as_gunicorn_prints_it() -> None:
    env = {**environ(), "RAW_URI": 12345, "SERVER_PROTOCOL": None}
    fmt = '%(h)s "%(r)s"'
    clock = ClfClock()
    assert AccessFormat(fmt, clock).render(Resp(), Req(), env, RT) == gunicorn_line(
        fmt, Resp(), Req(), env, clock()
    )


def test_flushed_batches_match_gunicorn_escaping(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path)))
    log.batch_access()
    queue = log.access_queue()
    assert queue is not None
    plain = environ(RAW_URI="/x", QUERY_STRING="", HTTP_REFERER="-", HTTP_AUTHORIZATION="")
    queue((Resp(), Req(), plain, 0.0))
    log.flush_access()
    queue((Resp(), Req(), plain, 0.0))
    queue((Resp(), Req(), environ(), 0.0))  # quotes: this round is rendered line by line
    log.flush_access()
    first, second, third = path.read_text().splitlines()
    assert first == second and first.startswith("10.0.0.1 - - [")
    assert first.endswith('] "GET /x HTTP/1.1" 200 5 "-" "UA/1"')
    assert third.endswith('] "GET /p%20a/th?x=1&y=\\" HTTP/1.1" 200 5 "http://r/\\"" "UA/1"')


def test_a_line_that_fails_is_logged_and_the_others_written(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), errorlog=str(tmp_path / "e.log"), access_log_format="%(r)s"))
    log.batch_access()
    queue = log.access_queue()
    assert queue is not None
    broken = environ()
    del broken["RAW_URI"]
    queue((Resp(), Req(), environ(RAW_URI="/a"), 0.0))
    queue((Resp(), Req(), broken, 0.0))
    queue((Resp(), Req(), environ(RAW_URI="/b"), 0.0))
    log.flush_access()
    assert path.read_text() == "GET /a HTTP/1.1\nGET /b HTTP/1.1\n"
    assert "KeyError: 'RAW_URI'" in (tmp_path / "e.log").read_text()


def test_a_line_queued_during_a_flush_waits_for_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path), access_log_format="%(s)s"))
    log.batch_access()

    class Racing(list[Any]):
        """Another thread (gthread) queues a request right after the flush took its copy."""

        raced = False

        def __getitem__(self, index: Any) -> Any:
            taken = super().__getitem__(index)
            if isinstance(index, slice) and not self.raced:
                self.raced = True
                self.append((Resp(status="201 Created"), Req(), environ(), 0.0))
            return taken

    log._deferred = Racing()
    queue = log.access_queue()
    assert queue is not None
    queue((Resp(), Req(), environ(), 0.0))
    log.flush_access()
    assert path.read_text() == "200\n" and len(log._deferred) == 1
    log.flush_access()
    assert path.read_text() == "200\n201\n" and not log._deferred


def test_held_lines_are_due_by_size_or_age(tmp_path: Path) -> None:
    from monoceros.observability import access_writer as accesswriter

    path = tmp_path / "access.log"
    log = Logger(LogCfg(accesslog=str(path)))
    log.batch_access()
    writer = log._writer
    writer.hold("a line")
    assert not writer.due() and path.read_text() == ""  # held, not written
    writer.hold("x" * accesswriter.HOLD_BYTES)
    assert writer.due()
    writer.flush()
    assert path.read_text() == "a line\n" + "x" * accesswriter.HOLD_BYTES + "\n"
    writer.hold("late")
    time.sleep(accesswriter.HOLD_SECONDS * 1.5)
    assert writer.due()
    log.flush_access()
    assert path.read_text().endswith("\nlate\n") and not writer.pending
