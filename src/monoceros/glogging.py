"""The server's error log, with Gunicorn's `Logger` interface, line format and level names.

Owns the `monoceros.error` logger and installs the same handlers on `gunicorn.error`, because
applications written for Gunicorn call `logging.getLogger("gunicorn.error")` to write into the
server's log. The access log is a later piece of work: `access()` keeps its signature and does nothing.
"""

import logging
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol

from monoceros import process

ERROR_LOGGER = "monoceros.error"
COMPAT_ERROR_LOGGER = "gunicorn.error"

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

_MARK = "_monoceros"  # set on handlers we installed, so a re-setup replaces only ours


class ErrorLog(Protocol):
    """What the master's helpers need from a logger (ours, a custom `logger_class`, or stdlib's)."""

    def critical(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def error(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def warning(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def info(self, msg: str, *args: object, exc_info: bool = False) -> None: ...
    def debug(self, msg: str, *args: object, exc_info: bool = False) -> None: ...


class LogConfig(Protocol):
    """The settings the error log reads."""

    @property
    def errorlog(self) -> str: ...
    @property
    def loglevel(self) -> str: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...


class Logger:
    """Gunicorn-compatible logger: `Logger(cfg)`, then `info(...)`, `reopen_files()` on USR1, ..."""

    LOG_LEVELS = LOG_LEVELS
    error_fmt = ERROR_FORMAT
    datefmt = DATE_FORMAT

    def __init__(self, cfg: LogConfig) -> None:
        self.error_log = logging.getLogger(ERROR_LOGGER)
        self.compat_error_log = logging.getLogger(COMPAT_ERROR_LOGGER)
        for log in (self.error_log, self.compat_error_log):
            log.propagate = False
        self.cfg = cfg
        self.loglevel = logging.INFO
        self.setup(cfg)

    def setup(self, cfg: LogConfig) -> None:
        """(Re)build the handlers from `cfg`; run again on HUP with the reloaded settings."""
        self.cfg = cfg
        handler = self._make_handler(cfg)
        self.loglevel = LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        for log in (self.error_log, self.compat_error_log):
            for old in [h for h in log.handlers if getattr(h, _MARK, False)]:
                log.removeHandler(old)
                old.close()
            log.setLevel(self.loglevel)
            log.addHandler(handler)

    def _make_handler(self, cfg: LogConfig) -> logging.Handler:
        handler: logging.Handler
        if cfg.errorlog == "-":
            # StreamHandler flushes after every record, so lines show up at once even when piped.
            handler = logging.StreamHandler(sys.stderr)
        else:
            handler = _open_file_handler(cfg.errorlog, cfg.uid, cfg.gid)
        handler.setFormatter(logging.Formatter(self.error_fmt, self.datefmt))
        setattr(handler, _MARK, True)
        return handler

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

    def access(self, resp: object, req: object, environ: Mapping[str, object], request_time: object) -> None:
        """Access log entry for one request: not implemented yet (a later issue), kept for the signature."""

    def reopen_files(self) -> None:
        """USR1: reopen every file handler of every logger, so logrotate's renamed files are let go."""
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


def _open_file_handler(path: str, uid: int, gid: int) -> logging.FileHandler:
    try:
        handler = logging.FileHandler(path)
    except OSError as e:
        raise ValueError(f"Error: '{path}' isn't writable [{e.strerror}]") from e
    try:
        # Workers drop to uid/gid and must still be able to reopen the file on USR1.
        process.chown(handler.baseFilename, uid, gid)
    except OSError:
        pass  # not ours to give away (e.g. /dev/null, or we are not root): reopening still works for us
    return handler


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
