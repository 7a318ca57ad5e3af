"""The server's logs, with Gunicorn's `Logger` interface: error log, access log, syslog, user configs.

Owns the `monoceros.error` and `monoceros.access` loggers and makes `gunicorn.error` and
`gunicorn.access` other names for the same logger objects: applications call
`logging.getLogger("gunicorn.error")` to write into the server's log, and Gunicorn users' logging
configurations name those loggers. Setting up may fail only here, at start-up, with a
`LogSetupError` (a `RuntimeError` the command line shows as one `Error: ...` line).
With `statsd_host` set, `Logger(cfg)` builds the StatsD logger instead, as Gunicorn's config does.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol

from monoceros import process
from monoceros.observability import log_config as logconfig
from monoceros.observability import syslog_handler as logsyslog
from monoceros.observability.access_atoms import (
    ClfClock,
    RequestLike,
    ResponseLike,
    SafeAtoms,
    gunicorn_atoms,
)
from monoceros.observability.access_format import AccessFormat, Deferred
from monoceros.observability.access_json import JsonAccessFormat
from monoceros.observability.access_writer import AccessWriter
from monoceros.observability.error_stream import ErrorStream

ERROR_LOGGER = "monoceros.error"
COMPAT_ERROR_LOGGER = "gunicorn.error"
ACCESS_LOGGER = "monoceros.access"
COMPAT_ACCESS_LOGGER = "gunicorn.access"

ExcInfo = (
    bool
    | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)

# Gunicorn's callers pass metrics this way: extra={"metric": "gunicorn.workers", "value": n, "mtype": "gauge"}
Extra = Mapping[str, object] | None

LOG_LEVELS: Mapping[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

# Gunicorn splits the brackets this way too; a user's logconfig copying its formatter renders the same.
ERROR_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"
ACCESS_FORMAT = "%(message)s"
# `--access-logformat json`: a Gunicorn format would print the word itself, which nobody wants.
JSON_FORMAT = "json"

_MARK = "_monoceros"  # set on handlers we installed, so a re-setup replaces only ours


class LogSetupError(RuntimeError):
    """A log destination is unusable; the text is one line for `Error: ...`."""


class ErrorLog(Protocol):
    """What the master's helpers need from a logger (ours, a custom `logger_class`, or stdlib's)."""

    def critical(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def error(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def warning(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def info(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def debug(self, msg: str, *args: object, exc_info: bool = False) -> None: ...


class LogConfig(Protocol):
    """The settings the logs read (the `Logging` section, plus uid/gid and the process name)."""

    # fmt: off
    @property
    def errorlog(self) -> str: ...
    @property
    def loglevel(self) -> str: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def proc_name(self) -> str: ...
    @property
    def accesslog(self) -> str | None: ...
    @property
    def access_log_format(self) -> str: ...
    @property
    def disable_redirect_access_to_syslog(self) -> bool: ...
    @property
    def capture_output(self) -> bool: ...
    @property
    def logconfig(self) -> str | None: ...
    @property
    def logconfig_dict(self) -> dict[str, Any]: ...
    @property
    def logconfig_json(self) -> str | None: ...
    @property
    def syslog(self) -> bool: ...
    @property
    def syslog_addr(self) -> str: ...
    @property
    def syslog_prefix(self) -> str | None: ...
    @property
    def syslog_facility(self) -> str: ...
    @property
    def statsd_host(self) -> str | None: ...
    @property
    def statsd_prefix(self) -> str: ...
    @property
    def dogstatsd_tags(self) -> str: ...
    # fmt: on


_NO_TIME = timedelta(0)  # for a format that never reads the request time


class Logger:
    """Gunicorn's logger interface: `Logger(cfg)`, `info(...)`, `access(...)`, `reopen_files()` on USR1."""

    LOG_LEVELS = LOG_LEVELS
    error_fmt = ERROR_FORMAT
    datefmt = DATE_FORMAT
    access_fmt = ACCESS_FORMAT
    syslog_fmt = logsyslog.SYSLOG_FORMAT
    atoms_wrapper_class = SafeAtoms

    def __init__(self, cfg: LogConfig) -> None:
        self.error_log = _aliased_logger(ERROR_LOGGER, COMPAT_ERROR_LOGGER)
        self.access_log = _aliased_logger(ACCESS_LOGGER, COMPAT_ACCESS_LOGGER)
        self.compat_error_log = self.error_log
        self.logfile: io.TextIOWrapper | None = None  # the capture_output file
        self.lock = threading.Lock()
        self.clock = ClfClock()
        self.cfg = cfg
        self.loglevel = logging.INFO
        # Requests whose access line is rendered at the next flush_access() (set by batch_access()).
        # A list: a gthread worker's application threads append while the loop thread takes them.
        self._deferred: list[Deferred] | None = None
        self.setup(cfg)

    def wsgi_errors(self) -> ErrorStream:
        """The ``wsgi.errors`` stream: the error log's files, as in Gunicorn."""
        return ErrorStream(self.error_log)

    # -- set-up -----------------------------------------------------------------------------------

    def setup(self, cfg: LogConfig) -> None:
        """(Re)build the handlers from `cfg`; run again on HUP with the reloaded settings."""
        self.cfg = cfg
        self.loglevel = LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.access_log.setLevel(logging.INFO)
        for log in (self.error_log, self.access_log):
            log.propagate = False
            _drop_own_handlers(log)
        self._capture_output(cfg)
        _line_buffer_stdout()
        self._add(
            self.error_log, _stream_or_file(cfg.errorlog, sys.stderr, cfg), self.error_fmt, self.datefmt
        )
        if cfg.accesslog is not None:
            self._add(self.access_log, _stream_or_file(cfg.accesslog, sys.stdout, cfg), self.access_fmt)
        if cfg.syslog:
            self._add_syslog(cfg)
        try:
            user_config = logconfig.apply_user_config(
                logconfig.config_defaults(self.error_fmt, self.datefmt),
                cfg.logconfig_dict,
                cfg.logconfig_json,
                cfg.logconfig,
            )
        except logconfig.LogConfigError as exc:
            raise LogSetupError(str(exc)) from exc
        self._access_enabled = bool(
            cfg.accesslog or user_config or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
        )
        self._setup_access(cfg)

    def _setup_access(self, cfg: LogConfig) -> None:
        self._json = JsonAccessFormat() if cfg.access_log_format == JSON_FORMAT else None
        self._format = AccessFormat(cfg.access_log_format, self.clock)
        own = [h for h in self.access_log.handlers if isinstance(h, logging.StreamHandler) and _ours(h)]
        previous = getattr(self, "_writer", None)
        if previous is not None:
            previous.flush()
        self._writer = AccessWriter(self.access_log, own)
        if getattr(self, "_batching", False):
            self._writer.batch()
        # A subclass computing its own atoms or time (a Gunicorn customisation) gets Gunicorn's path.
        kind = type(self)
        self._precompiled = self._json is None and kind.atoms is Logger.atoms and kind.now is Logger.now
        self._defer_if_possible()

    def _add(
        self, log: logging.Logger, handler: logging.Handler, fmt: str, datefmt: str | None = None
    ) -> None:
        handler.setFormatter(logging.Formatter(fmt, datefmt))
        setattr(handler, _MARK, True)
        log.addHandler(handler)

    def _add_syslog(self, cfg: LogConfig) -> None:
        prefix = cfg.syslog_prefix or cfg.proc_name.replace(":", ".")
        targets = [(self.error_log, "error")]
        if not cfg.disable_redirect_access_to_syslog:
            targets.append((self.access_log, "access"))
        for log, kind in targets:
            try:
                handler = logsyslog.syslog_handler(cfg.syslog_addr, cfg.syslog_facility, prefix, kind)
            except logsyslog.SyslogError as exc:
                raise LogSetupError(str(exc)) from exc
            setattr(handler, _MARK, True)
            log.addHandler(handler)

    def _capture_output(self, cfg: LogConfig) -> None:
        """`--capture-output`: what the app prints to fds 1 and 2 lands in the error log file."""
        if not cfg.capture_output or cfg.errorlog == "-":
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        with self.lock:
            old, self.logfile = self.logfile, _open_append(cfg.errorlog)
            os.dup2(self.logfile.fileno(), sys.stdout.fileno())
            os.dup2(self.logfile.fileno(), sys.stderr.fileno())
            if old is not None:
                old.close()

    # -- the error log ----------------------------------------------------------------------------

    def critical(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self._emit(logging.CRITICAL, msg, args, exc_info, extra)

    def error(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self._emit(logging.ERROR, msg, args, exc_info, extra)

    def warning(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self._emit(logging.WARNING, msg, args, exc_info, extra)

    def info(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self._emit(logging.INFO, msg, args, exc_info, extra)

    def debug(self, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None) -> None:
        self._emit(logging.DEBUG, msg, args, exc_info, extra)

    def exception(self, msg: str, *args: object, exc_info: ExcInfo = True, extra: Extra = None) -> None:
        self._emit(logging.ERROR, msg, args, exc_info, extra)

    def log(
        self, lvl: int | str, msg: str, *args: object, exc_info: ExcInfo = None, extra: Extra = None
    ) -> None:
        if isinstance(lvl, str):
            lvl = LOG_LEVELS.get(lvl.lower(), logging.INFO)
        self._emit(lvl, msg, args, exc_info, extra)

    def _emit(self, lvl: int, msg: str, args: tuple[object, ...], exc_info: ExcInfo, extra: Extra) -> None:
        # stacklevel 3: records name the caller of info()/error(), not this wrapper.
        self.error_log.log(lvl, msg, *args, exc_info=exc_info, extra=extra, stacklevel=3)

    def loglevel_is_debug(self) -> bool:
        return self.loglevel <= logging.DEBUG

    # -- the access log ---------------------------------------------------------------------------

    def wants_access(self) -> bool:
        """Whether the workers should call `access()` at all (it costs a clock read per request)."""
        return self._access_enabled

    @property
    def access_log_enabled(self) -> bool:
        return self._access_enabled

    def access(
        self, resp: ResponseLike, req: RequestLike, environ: Mapping[str, object], request_time: timedelta
    ) -> None:
        """One access-log entry: Gunicorn's format line, or a JSON object for the format `json`."""
        if not self._access_enabled:
            return
        try:
            if self._precompiled and self._writer.direct():
                self._writer.hold(self._format.render(resp, req, environ, request_time))
            else:
                self._access_other(resp, req, environ, request_time)
        except Exception:
            self.error(traceback.format_exc())

    def _access_other(
        self, resp: ResponseLike, req: RequestLike, environ: Mapping[str, object], rt: timedelta
    ) -> None:
        if self._json is not None:
            line = self._json.render(resp, req, environ, rt)
            if self._writer.direct():
                self._writer.hold(line)
            else:
                self.access_log.info(line)
            return
        # Gunicorn's call: formatters of a user's config may read the atoms in record.args.
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, rt))
        self.access_log.info(self.cfg.access_log_format, atoms)

    def atoms(
        self, resp: ResponseLike, req: RequestLike, environ: Mapping[str, object], request_time: timedelta
    ) -> dict[str, object]:
        """Gunicorn's whole atoms dictionary for one request (a subclass may add its own)."""
        atoms = gunicorn_atoms(resp, req, environ, request_time, self.clock)
        atoms["t"] = self.now()
        return atoms

    def now(self) -> str:
        """The time in Apache's Common Log Format, `[10/Oct/2000:13:55:36 -0700]`."""
        return self.clock()

    # -- files --------------------------------------------------------------------------------------

    def batch_access(self) -> None:
        """A worker's serving loop will call `flush_access()` after each round of events."""
        self._batching = True
        self._writer.batch()
        self._defer_if_possible()

    def _defer_if_possible(self) -> None:
        # A subclass with its own access() (StatsD's metrics, a user's class) is called at once.
        kind = type(self)
        deferrable = (self._precompiled or self._json is not None) and kind.access is Logger.access
        batching = getattr(self, "_batching", False)
        self._deferred = [] if batching and deferrable and self._access_enabled else None

    def wants_request_time(self) -> bool:
        """False when no access line will read the request's duration (the workers then skip timing it)."""
        if self._deferred is None or self._json is not None:
            return True
        return self._format.needs_time

    def access_queue(self) -> Callable[[Deferred], None] | None:
        """Where a worker puts `(resp, req, environ, seconds)` when lines are deferred, else None.

        A queued request's line is rendered at the next `flush_access()`, with the others of its round:
        rendering them together, after the responses went out, keeps that code hot in the processor's
        caches (in a worker it costs about half as much as a line rendered per request). With None, the
        worker calls `access()` as Gunicorn does.
        """
        return self._deferred.append if self._deferred is not None else None

    def flush_access(self) -> None:
        """Render the deferred lines, then write everything queued (one write per destination)."""
        self.render_access()
        self._writer.flush()

    def render_access(self) -> float:
        """Render the deferred lines and hold them; write them when enough is held (the writer's `due()`).

        A worker's loop calls this after each round of events. It answers when (`time.monotonic()`) the
        held lines must go out, 0.0 when none are held: the loop's wait for events ends then, and the call
        after that (empty) round writes them.
        """
        self._render_round()
        writer = self._writer
        if writer.due():
            writer.flush()
        return writer.held_until()

    def _render_round(self) -> None:
        deferred = self._deferred
        writer = self._writer
        if deferred:
            # Taken by a copy and a cut, each atomic: a line another thread queues meanwhile stays.
            items = deferred[:]
            del deferred[: len(items)]
            batch = self._format.render_batch if self._json is None else None
            if batch is not None and writer.direct():
                try:
                    text = batch(items, self.clock() if self._format.needs_now else "")
                except Exception:
                    text = None  # the line that raised is found, and logged, one by one below
                if text is not None:
                    writer.hold(text)  # after any line queued before
                    return
            self._render_deferred(items)

    def _render_deferred(self, items: list[Deferred]) -> None:
        if not self._writer.direct():  # someone added a handler or a filter since: logging's path
            self._writer.flush()  # what was held first, in order
            for resp, req, environ, seconds in items:
                self.access(resp, req, environ, timedelta(seconds=seconds))
            return
        if self._json is not None:
            lines = self._render_json(self._json, items)
        else:
            lines = self._render_each(items, self.clock() if self._format.needs_now else "")
        if lines:
            self._writer.hold("\n".join(lines))

    def _render_each(self, items: list[Deferred], now: str) -> list[str]:
        lines = []
        render, needs_time = self._format.render, self._format.needs_time
        for resp, req, environ, seconds in items:
            rt = timedelta(seconds=seconds) if needs_time else _NO_TIME
            try:
                lines.append(render(resp, req, environ, rt, now or None))
            except Exception:
                self.error(traceback.format_exc())
        return lines

    def _render_json(self, json: JsonAccessFormat, items: list[Deferred]) -> list[str]:
        lines = []
        json_render = json.render
        for resp, req, environ, seconds in items:
            try:
                lines.append(json_render(resp, req, environ, timedelta(seconds=seconds)))
            except Exception:
                self.error(traceback.format_exc())
        return lines

    def reopen_files(self) -> None:
        """USR1: reopen every file handler of every logger, so logrotate's renamed files are let go."""
        self.flush_access()  # what was logged before the signal belongs in the old file
        if self.cfg.capture_output and self.cfg.errorlog != "-":
            self._capture_output(self.cfg)
        for handler in _file_handlers():
            with _locked(handler):
                if handler.stream is not None:
                    handler.stream.flush()
                    handler.stream.close()
                    handler.stream = handler._open()

    def close_on_exec(self) -> None:
        """Keep log files out of exec'd programs (a re-exec'd master opens its own)."""
        for handler in _file_handlers():
            with _locked(handler):
                if handler.stream is not None:
                    process.close_on_exec(handler.stream.fileno())
        if self.logfile is not None:
            process.close_on_exec(self.logfile.fileno())


def _aliased_logger(name: str, alias: str) -> logging.Logger:
    """`logging.getLogger(name)`, also registered under `alias`: one object, two names."""
    log = logging.getLogger(name)
    manager = log.manager
    existing = manager.loggerDict.get(alias)
    if existing is not log:
        # An alias logger created before us (an app at import) hands its handlers over.
        if isinstance(existing, logging.Logger):
            for handler in existing.handlers:
                if handler not in log.handlers and not _ours(handler):
                    log.addHandler(handler)
        manager.loggerDict[alias] = log
    return log


def _ours(handler: logging.Handler) -> bool:
    return bool(getattr(handler, _MARK, False))


def _drop_own_handlers(log: logging.Logger) -> None:
    for old in [h for h in log.handlers if _ours(h)]:
        log.removeHandler(old)
        old.close()


def _line_buffer_stdout() -> None:
    # A pipe (Docker, systemd) makes stdout block-buffered: the app's print() lines would show up
    # in 8 KiB bursts. Line buffering shows each one at once (stderr already is, since 3.9).
    stdout = sys.stdout
    if isinstance(stdout, io.TextIOWrapper) and not stdout.line_buffering and not stdout.isatty():
        stdout.reconfigure(line_buffering=True)


def _stream_or_file(path: str, stream: Any, cfg: LogConfig) -> logging.Handler:
    # StreamHandler flushes after every record, so lines show up at once even when piped.
    if path == "-":
        return logging.StreamHandler(stream)
    return _open_file_handler(path, cfg.uid, cfg.gid)


def _open_file_handler(path: str, uid: int, gid: int) -> logging.FileHandler:
    try:
        handler = logging.FileHandler(path)
    except OSError as e:
        raise LogSetupError(f"'{path}' isn't writable [{e.strerror}]") from e
    try:
        # Workers drop to uid/gid and must still be able to reopen the file on USR1.
        process.chown(handler.baseFilename, uid, gid)
    except OSError:
        pass  # not ours to give away (e.g. /dev/null, or we are not root): reopening still works for us
    return handler


def _open_append(path: str) -> io.TextIOWrapper:
    try:
        return open(path, "a+")  # noqa: SIM115 - kept open: it backs fds 1 and 2 until the next reopen
    except OSError as e:
        raise LogSetupError(f"'{path}' isn't writable [{e.strerror}]") from e


def _file_handlers() -> list[logging.FileHandler]:
    loggers = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    seen: dict[int, logging.FileHandler] = {}
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.FileHandler):
                seen[id(h)] = h
    return list(seen.values())


class _locked:
    """`with _locked(handler):` holds the handler's I/O lock (Handler has no context manager of its own)."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def __enter__(self) -> None:
        self.handler.acquire()

    def __exit__(self, *exc: object) -> None:
        self.handler.release()
