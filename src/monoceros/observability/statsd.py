"""The StatsD logger: Gunicorn's `gunicorn.instrument.statsd.Statsd`, a `Logger` that also sends metrics.

Metric names are Gunicorn's, `gunicorn.requests`, `gunicorn.request.duration`,
`gunicorn.request.status.<code>`, `gunicorn.workers`, `gunicorn.log.<level>`, behind the optional
`statsd_prefix`, so dashboards and alerts built for Gunicorn keep working. Metrics Monoceros itself
names `monoceros.<x>` (the master's worker count) are sent as `gunicorn.<x>` for the same reason.
Any log call with `extra={"metric": name, "value": v, "mtype": "gauge|counter|histogram|timer"}`
is forwarded, whatever its level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from monoceros.observability.access_atoms import RequestLike, ResponseLike
from monoceros.observability.logger import ExcInfo, Extra, LogConfig, Logger
from monoceros.observability.statsd_client import StatsdClient, open_socket

METRIC_VAR = "metric"
VALUE_VAR = "value"
MTYPE_VAR = "mtype"
GAUGE_TYPE = "gauge"
COUNTER_TYPE = "counter"
HISTOGRAM_TYPE = "histogram"
TIMER_TYPE = "timer"

NAMESPACE = "gunicorn."
OWN_NAMESPACE = "monoceros."


class Statsd(Logger):
    """statsD-based instrumentation that passes as a logger."""

    def __init__(self, cfg: LogConfig) -> None:
        super().__init__(cfg)
        sock = open_socket(cfg.statsd_host) if cfg.statsd_host else None
        if sock is None and cfg.statsd_host:
            Logger.warning(self, "Cannot reach statsd at %s: metrics are dropped", cfg.statsd_host)
        self.client = StatsdClient(sock, cfg.statsd_prefix, cfg.dogstatsd_tags, self._send_failed)
        self.prefix = self.client.prefix
        self.dogstatsd_tags = cfg.dogstatsd_tags
        self.sock = sock

    def _send_failed(self, msg: str) -> None:
        Logger.warning(self, msg, exc_info=True)

    # -- logs that count ------------------------------------------------------------------------

    def critical(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        Logger.critical(self, msg, *args, exc_info=exc_info, extra=extra)
        self.increment("gunicorn.log.critical", 1)

    def error(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        Logger.error(self, msg, *args, exc_info=exc_info, extra=extra)
        self.increment("gunicorn.log.error", 1)

    def warning(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        Logger.warning(self, msg, *args, exc_info=exc_info, extra=extra)
        self.increment("gunicorn.log.warning", 1)

    def exception(self, msg: str, *args: object, exc_info: ExcInfo = True, extra: Extra = None) -> None:
        Logger.exception(self, msg, *args, exc_info=exc_info, extra=extra)
        self.increment("gunicorn.log.exception", 1)

    def info(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self.log(logging.INFO, msg, *args, exc_info=exc_info, extra=extra)

    def debug(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self.log(logging.DEBUG, msg, *args, exc_info=exc_info, extra=extra)

    def log(
        self, lvl: int | str, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None
    ) -> None:
        """Send the metric in `extra` if there is one, then log `msg` if there is something to say."""
        try:
            if extra is not None:
                self._forward_metric(extra)
            if msg:
                Logger.log(self, lvl, msg, *args, exc_info=exc_info, extra=extra)
        except Exception:
            Logger.warning(self, "Failed to log to statsd", exc_info=True)

    def _forward_metric(self, extra: Mapping[str, object]) -> None:
        metric, value, mtype = extra.get(METRIC_VAR), extra.get(VALUE_VAR), extra.get(MTYPE_VAR)
        if not metric or value is None or not isinstance(mtype, str):
            return
        send = self._senders().get(mtype)
        if send is not None:
            send(_public_name(str(metric)), value)

    def _senders(self) -> dict[str, Callable[[str, object], None]]:
        return {
            GAUGE_TYPE: self.gauge,
            COUNTER_TYPE: self.increment,
            HISTOGRAM_TYPE: self.histogram,
            TIMER_TYPE: self.timer,
        }

    # -- requests ---------------------------------------------------------------------------------

    def wants_access(self) -> bool:
        return True  # every request is counted and timed, with or without an access log

    def access(
        self, resp: ResponseLike, req: RequestLike, environ: Mapping[str, object], request_time: timedelta
    ) -> None:
        """The access-log line if one is configured, then the request's duration, count and status."""
        Logger.access(self, resp, req, environ, request_time)
        duration_ms = request_time.seconds * 1000 + float(request_time.microseconds) / 10**3
        self.timer("gunicorn.request.duration", duration_ms)
        self.increment("gunicorn.requests", 1)
        self.increment(f"gunicorn.request.status.{_status_code(resp)}", 1)

    # -- StatsD methods (public: hooks and apps may call them) ------------------------------------

    def gauge(self, name: str, value: object) -> None:
        self.client.gauge(name, value)

    def increment(self, name: str, value: object, sampling_rate: float = 1.0) -> None:
        self.client.increment(name, value, sampling_rate)

    def decrement(self, name: str, value: object, sampling_rate: float = 1.0) -> None:
        self.client.decrement(name, value, sampling_rate)

    def timer(self, name: str, value: object) -> None:
        self.client.timer(name, value)

    def histogram(self, name: str, value: object) -> None:
        self.client.histogram(name, value)


def _public_name(metric: str) -> str:
    if metric.startswith(OWN_NAMESPACE):
        return NAMESPACE + metric[len(OWN_NAMESPACE) :]
    return metric


def _status_code(resp: ResponseLike) -> int:
    if resp.status:
        try:
            return int(resp.status.split(None, 1)[0])
        except ValueError:
            pass
    return resp.status_code
