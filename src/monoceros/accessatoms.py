"""The access-log atoms of Gunicorn (`h l u t r m U q H s B b f a T M D L p`, `{x}i`, `{x}o`, `{x}e`).

Each atom is a small function of one request, so a compiled format calls only those it names
(`accessformat`). `gunicorn_atoms()` builds Gunicorn's whole dictionary instead, for the slow path
that hands it to a user's logging configuration or to a `logger_class` overriding `atoms()`.
Values are taken as Gunicorn takes them: from the environ after the app ran, the status string the
app gave and the body bytes that went out.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Protocol

CLF_TIME = "[%d/%b/%Y:%H:%M:%S %z]"


class ResponseLike(Protocol):
    """What the atoms read from `monoceros.wsgi.ResponseInfo`."""

    @property
    def status(self) -> str: ...
    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def bytes_sent(self) -> int: ...


class RequestLike(Protocol):
    """What the atoms read from `monoceros.http.Request`: (UPPER-CASE name, value) pairs."""

    @property
    def headers(self) -> list[tuple[str, str]]: ...


Environ = Mapping[str, object]
Atom = Callable[[ResponseLike, RequestLike, Environ, timedelta], object]


class ClfClock:
    """`[10/Oct/2000:13:55:36 -0700]` for now, local time, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            # strftime, not a hand-made month table: %b follows the locale as in Gunicorn.
            self._text = time.strftime(CLF_TIME, time.localtime(now))
            self._second = now
        return self._text


class _Pid:
    """This process's id, read again in a forked child: `os.getpid()` is a system call per request."""

    value = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        cls.value = os.getpid()


os.register_at_fork(after_in_child=_Pid.refresh)


def current_pid() -> int:
    return _Pid.value


def escape(value: object) -> object:
    """Gunicorn's only escaping: `"` becomes `\\"` in string values."""
    if isinstance(value, str) and '"' in value:
        return value.replace('"', '\\"')
    return value


def status_text(resp: ResponseLike) -> str:
    """The first token of the status the app gave ("404" from "404 Not Found")."""
    if resp.status:
        return resp.status.split(None, 1)[0]
    return str(resp.status_code) if resp.status_code else "-"


def basic_user(environ: Environ) -> str | None:
    """The user name of an `Authorization: Basic` header, or None."""
    auth = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(auth, str) or not auth.lower().startswith("basic"):
        return None
    parts = auth.split(" ", 1)
    if len(parts) != 2:
        return None
    try:
        return base64.b64decode(parts[1].strip().encode()).split(b":", 1)[0].decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def micros(rt: timedelta) -> int:
    return rt.seconds * 1_000_000 + rt.microseconds


def simple_atoms(clock: ClfClock) -> dict[str, Atom]:
    """The one-letter atoms; `t` reads `clock`."""
    env = _environ_atom
    return {
        "h": env("REMOTE_ADDR", "-"),
        "l": lambda resp, req, environ, rt: "-",
        "u": lambda resp, req, environ, rt: basic_user(environ) or "-",
        "t": lambda resp, req, environ, rt: clock(),
        "r": _request_line,
        "s": lambda resp, req, environ, rt: status_text(resp),
        "m": env("REQUEST_METHOD", None),
        "U": env("PATH_INFO", None),
        "q": env("QUERY_STRING", None),
        "H": env("SERVER_PROTOCOL", None),
        "b": lambda resp, req, environ, rt: str(resp.bytes_sent),
        "B": lambda resp, req, environ, rt: resp.bytes_sent,
        "f": env("HTTP_REFERER", "-"),
        "a": env("HTTP_USER_AGENT", "-"),
        "T": lambda resp, req, environ, rt: rt.seconds,
        "D": lambda resp, req, environ, rt: micros(rt),
        "M": lambda resp, req, environ, rt: rt.seconds * 1000 + rt.microseconds // 1000,
        "L": lambda resp, req, environ, rt: f"{rt.seconds}.{rt.microseconds:06d}",
        "p": lambda resp, req, environ, rt: f"<{_Pid.value}>",
    }


# Atoms whose values cannot hold a `"`: their escaping is skipped on the hot path.
NEVER_QUOTED = frozenset("ltsbBTDMLp")


def braced_atom(key: str) -> Atom | None:
    """`{x-forwarded-for}i`, `{content-type}o` or `{remote_addr}e` (already lower-cased); None if not one."""
    if len(key) < 3 or not key.startswith("{") or key[-2] != "}":
        return None
    name, kind = key[1:-2], key[-1]
    if kind == "i":
        upper = name.upper()
        return lambda resp, req, environ, rt: _last(req.headers, upper, str.upper)
    if kind == "o":
        return lambda resp, req, environ, rt: _last(resp.headers, name, str.lower)
    if kind == "e":
        return _environ_key(name)
    return None


def gunicorn_atoms(
    resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta, clock: ClfClock
) -> dict[str, object]:
    """Gunicorn's full atoms dictionary (`Logger.atoms()`), unescaped."""
    atoms = {key: atom(resp, req, environ, rt) for key, atom in simple_atoms(clock).items()}
    atoms.update({f"{{{k.lower()}}}i": v for k, v in req.headers})
    atoms.update({f"{{{k.lower()}}}o": v for k, v in resp.headers})
    atoms.update({f"{{{k.lower()}}}e": v for k, v in environ.items()})
    return atoms


class SafeAtoms(dict[str, object]):
    """Gunicorn's wrapper: `"` escaped, `{...}` keys matched case-insensitively, a missing atom is `-`."""

    def __init__(self, atoms: Mapping[str, object]) -> None:
        super().__init__((k, escape(v)) for k, v in atoms.items())

    def __getitem__(self, key: str) -> object:
        if key.startswith("{"):
            key = key.lower()
        return super().get(key, "-")


def _environ_atom(name: str, default: object) -> Atom:
    return lambda resp, req, environ, rt: environ.get(name, default)


def _request_line(resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta) -> str:
    return f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"


def _last(pairs: Iterable[tuple[str, str]], name: str, fold: Callable[[str], str]) -> str:
    # Gunicorn builds a dict from the pairs: the last one of a repeated header wins.
    found = "-"
    for key, value in pairs:
        if fold(key) == name:
            found = value
    return found


def _environ_key(name: str) -> Atom:
    upper = name.upper()

    def atom(resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta) -> object:
        # CGI keys are upper-case and wsgi.* ones lower-case: try both before a scan.
        for key in (upper, name):
            if key in environ:
                return environ[key]
        return next((v for k, v in environ.items() if k.lower() == name), "-")

    return atom
