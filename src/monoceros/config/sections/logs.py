"""Section "Logging": error and access logs, syslog and StatsD."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting

DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def _syslog_for_platform(env: Mapping[str, str]) -> tuple[object, str] | None:
    if sys.platform == "darwin":
        return "unix:///var/run/syslog", "default"
    if sys.platform.startswith(("freebsd", "dragonfly")):
        return "unix:///var/run/log", "default"
    if sys.platform.startswith("openbsd"):
        return "unix:///dev/log", "default"
    return None


class LoggingSettings(Section, title="Logging"):
    accesslog = Setting[str | None](
        cli=["--access-logfile"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The file to write the access log to; `-` means standard output. Without it no access
        log is written.""",
    )
    disable_redirect_access_to_syslog = Setting[bool](
        cli=["--disable-redirect-access-to-syslog"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""With `syslog` on, keep the access log out of syslog.""",
    )
    access_log_format = Setting[str](
        cli=["--access-logformat"],
        meta="STRING",
        validator=v.to_str,
        default=DEFAULT_ACCESS_LOG_FORMAT,
        implemented=True,
        doc="""The format of access log lines, with Gunicorn's `%(atom)s` placeholders: `h` remote
        address, `t` time, `r` request line, `s` status, `b` response length, `f` referer, `a` user
        agent, `D` duration in microseconds, `{header}i` a request header, and the others Gunicorn
        documents. The value `json` (Monoceros only) writes one JSON object per request instead,
        with the fields listed in docs/logging.md.""",
    )
    errorlog = Setting[str](
        cli=["--error-logfile", "--log-file"],
        meta="FILE",
        validator=v.to_str,
        default="-",
        implemented=True,
        doc="""The file to write the error log to; `-` means standard error.""",
    )
    loglevel = Setting[str](
        cli=["--log-level"],
        meta="LEVEL",
        validator=v.choice("debug", "info", "warning", "error", "critical", aliases={"warn": "warning"}),
        default="info",
        implemented=True,
        doc="""The least severe messages to write to the error log: `debug`, `info`, `warning`,
        `error` or `critical`.""",
    )
    capture_output = Setting[bool](
        cli=["--capture-output"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Send what the application prints to standard output and error into the error log
        file.""",
    )
    _logger_class = Setting[str | type[Any]](
        name="logger_class",
        cli=["--logger-class"],
        meta="STRING",
        validator=v.class_or_str,
        default="monoceros.observability.logger.Logger",
        implemented=True,
        doc="""The class that writes the logs, as a dotted path; `simple` means the default. Gunicorn's
        default name `gunicorn.glogging.Logger` also means Monoceros's default.""",
    )
    logconfig = Setting[str | None](
        cli=["--log-config"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""A logging configuration file in the format of Python's `logging.config.fileConfig`.""",
    )
    logconfig_dict = Setting[dict[str, Any]](
        validator=v.to_dict,
        default={},
        implemented=True,
        doc="""A logging configuration dictionary for Python's `logging.config.dictConfig`, set in the
        config file. It takes precedence over `logconfig` and `logconfig_json`.""",
    )
    logconfig_json = Setting[str | None](
        cli=["--log-config-json"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""A JSON file holding a `logging.config.dictConfig` dictionary.""",
    )
    syslog_addr = Setting[str](
        cli=["--log-syslog-to"],
        meta="SYSLOG_ADDR",
        validator=v.to_str,
        default="udp://localhost:514",
        default_factory=_syslog_for_platform,
        default_doc="udp://localhost:514; the local syslog socket on macOS and the BSDs",
        implemented=True,
        doc="""Where to send syslog messages: `unix://PATH[#dgram|#stream]`, `udp://HOST:PORT` or
        `tcp://HOST:PORT`.""",
    )
    syslog = Setting[bool](
        cli=["--log-syslog"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Also send the logs to syslog.""",
    )
    syslog_prefix = Setting[str | None](
        cli=["--log-syslog-prefix"],
        meta="SYSLOG_PREFIX",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The program name to use in syslog entries.""",
    )
    syslog_facility = Setting[str](
        cli=["--log-syslog-facility"],
        meta="SYSLOG_FACILITY",
        validator=v.to_str,
        default="user",
        implemented=True,
        doc="""The syslog facility name, such as `user`, `daemon` or `local0`.""",
    )
    enable_stdio_inheritance = Setting[bool](
        cli=["-R", "--enable-stdio-inheritance"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""With `daemon`, keep standard output and error open instead of redirecting them to
        /dev/null.""",
    )
    statsd_host = Setting[str | None](
        cli=["--statsd-host"],
        meta="STATSD_ADDR",
        validator=v.statsd_address,
        default=None,
        implemented=True,
        doc="""Send metrics to the StatsD server at this address (`HOST:PORT`, default port 8125, or
        `unix://PATH`).""",
    )
    metrics_bind = Setting[str | None](
        cli=["--metrics-bind"],
        meta="ADDRESS",
        validator=v.metrics_address,
        default=None,
        implemented=True,
        doc="""Serve Prometheus metrics from the master at `http://ADDRESS/metrics` (`HOST:PORT`, default port
        9100, or `unix:PATH`), with `/healthz` (200 while the master runs) and `/readyz` (200 once at least
        half the workers have booted, 503 from the moment a stop begins, `shutdown_delay` included) for
        load balancers and Kubernetes probes. Counters are summed over every worker that ever ran, so they
        never drop when a worker is replaced: requests by method and status class, a request-duration
        histogram, response bytes, in-flight requests, open connections, worker restarts by reason, each
        worker's RSS, the listen backlog, and the queue time a trusted router states in `X-Request-Start`
        (`t=` seconds, milliseconds or microseconds, as nginx's `t=${msec}`). Off by default. A Monoceros
        setting.""",
    )
    dogstatsd_tags = Setting[str](
        cli=["--dogstatsd-tags"],
        meta="DOGSTATSD_TAGS",
        validator=v.to_str,
        default="",
        implemented=True,
        doc="""Comma-separated DogStatsD tags (`key:value`) added to every metric.""",
    )
    statsd_prefix = Setting[str](
        cli=["--statsd-prefix"],
        meta="STATSD_PREFIX",
        validator=v.to_str,
        default="",
        implemented=True,
        doc="""A prefix for the names of the metrics sent to StatsD; a dot is added after it.""",
    )
    enable_backlog_metric = Setting[bool](
        cli=["--enable-backlog-metric"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Report the number of connections waiting in the listen backlogs (TCP, Linux) on every pass
        of the master's loop: a debug log line and, with `statsd_host`, the histogram `gunicorn.backlog`,
        as Gunicorn does.""",
    )
