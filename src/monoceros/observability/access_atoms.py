"""The access-log atoms of Gunicorn (`h l u t r m U q H s B b f a T M D L p`, `{x}i`, `{x}o`, `{x}e`).

Each atom is a Python expression, so a compiled format evaluates only those it names, inline
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


# Each atom as a Python expression over (resp, req, environ, rt) and the helpers in `namespace()`.
# `accessformat` compiles those a format names into one function: a request then pays for one dict
# display and one `%`, not for a call per atom.
EXPRESSIONS: Mapping[str, str] = {
    "h": 'environ.get("REMOTE_ADDR", "-")',
    "l": '"-"',
    "u": '_escape(_basic_user(environ) or "-") if "HTTP_AUTHORIZATION" in environ else "-"',
    "t": "_clock()",
    # Gunicorn's `"%s %s %s" % (...)`: each part formatted with str(), as `!s` does
    "r": "f\"{environ['REQUEST_METHOD']!s} {environ['RAW_URI']!s} {environ['SERVER_PROTOCOL']!s}\"",
    # the status was validated as "NNN" or "NNN reason" before it was sent: its code is [:3]
    "s": "resp.status[:3] if resp.status else _status_text(resp)",
    "m": 'environ.get("REQUEST_METHOD")',
    "U": 'environ.get("PATH_INFO")',
    "q": 'environ.get("QUERY_STRING")',
    "H": 'environ.get("SERVER_PROTOCOL")',
    "b": "str(resp.bytes_sent)",
    "B": "resp.bytes_sent",
    "f": 'environ.get("HTTP_REFERER", "-")',
    "a": 'environ.get("HTTP_USER_AGENT", "-")',
    "T": "rt.seconds",
    "D": "rt.seconds * 1000000 + rt.microseconds",
    "M": "rt.seconds * 1000 + rt.microseconds // 1000",
    "L": 'f"{rt.seconds}.{rt.microseconds:06d}"',
    "p": 'f"<{_Pid.value}>"',
}

# The three parts of the request line (`r`), joined by spaces.
REQUEST_LINE = ("environ['REQUEST_METHOD']", "environ['RAW_URI']", "environ['SERVER_PROTOCOL']")

# The same atoms before escaping, for lines checked for `"` afterwards (`accessformat.render_batch`);
# each is formatted with `str()`, as `%s` does.
UNESCAPED: Mapping[str, str] = {
    **EXPRESSIONS,
    "u": '(_basic_user(environ) or "-") if "HTTP_AUTHORIZATION" in environ else "-"',
    "b": "resp.bytes_sent",  # str() of it, as the line shows it
}

_COMPILED = {key: compile(expr, f"<atom {key}>", "eval") for key, expr in EXPRESSIONS.items()}

# Atoms whose values cannot hold a `"`: their escaping is skipped on the hot path.
NEVER_QUOTED = frozenset("lutsbBTDMLp")  # `u` escapes itself, only when there is a user


def braced_expression(key: str) -> str | None:
    """`{x-forwarded-for}i`, `{content-type}o` or `{remote_addr}e` (lower-cased); None if not one."""
    if len(key) < 3 or not key.startswith("{") or key[-2] != "}":
        return None
    name, kind = key[1:-2], key[-1]
    # repr() makes the name a literal: no text of the format is ever run as code.
    if kind == "i":
        return f"_last(req.headers, {name.upper()!r}, str.upper)"
    if kind == "o":
        return f"_last(resp.headers, {name!r}, str.lower)"
    if kind == "e":
        return f"_environ_key(environ, {name!r})"
    return None


def namespace(clock: ClfClock) -> dict[str, object]:
    """The names the expressions use; `t` reads `clock`."""
    return {
        "_clock": clock,
        "_basic_user": basic_user,
        "_request_line": _request_line,
        "_status_text": status_text,
        "_Pid": _Pid,
        "_last": _last,
        "_environ_key": _environ_key,
        "_escape": escape,
    }


def gunicorn_atoms(
    resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta, clock: ClfClock
) -> dict[str, object]:
    """Gunicorn's full atoms dictionary (`Logger.atoms()`), unescaped."""
    names = namespace(clock)
    names.update(resp=resp, req=req, environ=environ, rt=rt)
    atoms = {key: eval(code, names) for key, code in _COMPILED.items()}  # noqa: S307 - our own text
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


def _request_line(environ: Environ) -> str:
    return f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"


def _last(pairs: Iterable[tuple[str, str]], name: str, fold: Callable[[str], str]) -> str:
    # Gunicorn builds a dict from the pairs: the last one of a repeated header wins.
    found = "-"
    for key, value in pairs:
        if fold(key) == name:
            found = value
    return found


def _environ_key(environ: Environ, name: str) -> object:
    # CGI keys are upper-case and wsgi.* ones lower-case: try both before a scan.
    for key in (name.upper(), name):
        if key in environ:
            return environ[key]
    return next((v for k, v in environ.items() if k.lower() == name), "-")
