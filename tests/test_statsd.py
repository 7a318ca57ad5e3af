"""The StatsD logger: Gunicorn's datagrams, byte for byte, received on real UDP and Unix sockets."""

from __future__ import annotations

import importlib.util
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monoceros.observability.logger import ACCESS_LOGGER, ERROR_LOGGER, Logger
from monoceros.observability.statsd import Statsd
from monoceros.observability.statsd_client import normalize_prefix
from test_access_log import Req, Resp, environ
from test_glogging import LogCfg

RT = timedelta(seconds=1, microseconds=234567)


OPENED: list[Any] = []


def make(cfg: LogCfg) -> Any:
    """A logger whose statsd socket the fixture closes (sockets left to the GC warn)."""
    log = Statsd(cfg)
    OPENED.append(log)
    return log


def test_statsd_host_switches_the_default_logger_class() -> None:
    from monoceros.config import Config

    cfg = Config({})
    assert cfg.logger_class is Logger
    cfg.set("statsd_host", "localhost:8125")
    assert cfg.logger_class is Statsd
    cfg.set("logger_class", "gunicorn.instrument.statsd.Statsd")
    assert cfg.logger_class is Statsd


@pytest.fixture(autouse=True)
def _drop_handlers() -> Iterator[None]:
    yield
    while OPENED:
        sock = OPENED.pop().sock
        if sock is not None:
            sock.close()
    for name in (ERROR_LOGGER, ACCESS_LOGGER):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        yield sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"{host}:{port}"


def drain(sock: socket.socket) -> list[str]:
    sock.settimeout(0.2)
    got = []
    try:
        while True:
            got.append(sock.recv(4096).decode())
    except TimeoutError:
        return got


def exercise(log: Any) -> None:
    log.access(Resp(), Req(), environ(), RT)
    log.access(Resp(status="404 Not Found", status_code=404), Req(), environ(), RT)
    log.error("e")
    log.warning("w")
    log.critical("c")
    log.exception("x")
    log.info("i")
    log.debug("", extra={"metric": "gunicorn.workers", "value": 3, "mtype": "gauge"})
    log.info("", extra={"metric": "custom.hist", "value": 7, "mtype": "histogram"})
    log.info("", extra={"metric": "custom.count", "value": 2, "mtype": "counter"})
    log.info("", extra={"metric": "custom.time", "value": 1.5, "mtype": "timer"})
    log.info("", extra={"metric": "custom.zero", "value": 0, "mtype": "gauge"})
    log.decrement("custom.down", 4)


EXPECTED = [
    "gunicorn.request.duration:1234.567|ms",
    "gunicorn.requests:1|c|@1.0",
    "gunicorn.request.status.200:1|c|@1.0",
    "gunicorn.request.duration:1234.567|ms",
    "gunicorn.requests:1|c|@1.0",
    "gunicorn.request.status.404:1|c|@1.0",
    "gunicorn.log.error:1|c|@1.0",
    "gunicorn.log.warning:1|c|@1.0",
    "gunicorn.log.critical:1|c|@1.0",
    "gunicorn.log.exception:1|c|@1.0",
    "gunicorn.workers:3|g",
    "custom.hist:7|h",
    "custom.count:2|c|@1.0",
    "custom.time:1.5|ms",
    "custom.zero:0|g",
    "custom.down:-4|c|@1.0",
]


def test_default_logger_becomes_statsd_and_sends_gunicorns_datagrams(
    udp: socket.socket, tmp_path: Path
) -> None:
    log = make(LogCfg(statsd_host=address(udp), errorlog=str(tmp_path / "e.log")))
    assert type(log) is Statsd
    exercise(log)
    assert drain(udp) == EXPECTED


def test_prefix_and_dogstatsd_tags(udp: socket.socket, tmp_path: Path) -> None:
    cfg = LogCfg(statsd_host=address(udp), statsd_prefix="app", dogstatsd_tags="env:prod,team:web")
    make(cfg).access(Resp(), Req(), environ(), RT)
    assert drain(udp) == [
        "app.gunicorn.request.duration:1234.567|ms|#env:prod,team:web",
        "app.gunicorn.requests:1|c|@1.0|#env:prod,team:web",
        "app.gunicorn.request.status.200:1|c|@1.0|#env:prod,team:web",
    ]


def test_the_masters_own_metric_name_is_sent_under_gunicorns(udp: socket.socket) -> None:
    log = make(LogCfg(statsd_host=address(udp)))
    log.debug("%d workers", 2, extra={"metric": "monoceros.workers", "value": 2, "mtype": "gauge"})
    assert drain(udp) == ["gunicorn.workers:2|g"]


def test_unix_datagram_socket(tmp_path: Path) -> None:
    path = tmp_path / "statsd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        make(LogCfg(statsd_host=f"unix://{path}")).increment("gunicorn.requests", 1)
        assert drain(sock) == ["gunicorn.requests:1|c|@1.0"]


def test_unreachable_statsd_warns_once_and_requests_go_on(tmp_path: Path) -> None:
    errors = tmp_path / "e.log"
    log = make(LogCfg(statsd_host=f"unix://{tmp_path / 'nobody'}", errorlog=str(errors)))
    log.access(Resp(), Req(), environ(), RT)
    assert "Cannot reach statsd" in errors.read_text()


def test_statsd_wants_access_even_without_an_access_log(udp: socket.socket) -> None:
    assert make(LogCfg(statsd_host=address(udp))).wants_access()


@pytest.mark.parametrize(("given", "used"), [("", ""), ("app", "app."), ("app.", "app."), ("a.b..", "a.b.")])
def test_prefix_gets_one_trailing_dot(given: str, used: str) -> None:
    assert normalize_prefix(given) == used


@pytest.mark.skipif(importlib.util.find_spec("gunicorn") is None, reason="needs gunicorn")
def test_same_datagrams_as_gunicorns_statsd(udp: socket.socket, tmp_path: Path) -> None:
    from gunicorn.config import Config as GConfig
    from gunicorn.instrument.statsd import Statsd as GStatsd

    gcfg = GConfig()
    for name, value in [("statsd_host", address(udp)), ("statsd_prefix", "p"), ("dogstatsd_tags", "k:v")]:
        gcfg.set(name, value)
    gcfg.set("errorlog", str(tmp_path / "g.log"))
    theirs_log = GStatsd(gcfg)
    OPENED.append(theirs_log)
    exercise(theirs_log)
    theirs = drain(udp)
    cfg = LogCfg(
        statsd_host=address(udp), statsd_prefix="p", dogstatsd_tags="k:v", errorlog=str(tmp_path / "m.log")
    )
    exercise(make(cfg))
    assert drain(udp) == theirs
