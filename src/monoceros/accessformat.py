"""Gunicorn's `access_log_format`, compiled once: a request computes only the atoms the format names.

Gunicorn builds every atom, every header and every environ key into a dict for each request and
then applies the `%`-format. The line is the same here (`format % values`), but the values dict
holds only the keys the format uses, found once at start-up, and is built by one generated
function (`render`) whose source is kept in `AccessFormat.source` for debugging. Atoms that cannot
contain a `"` skip the escaping.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from monoceros.accessatoms import (
    EXPRESSIONS,
    NEVER_QUOTED,
    ClfClock,
    Environ,
    RequestLike,
    ResponseLike,
    braced_expression,
    namespace,
)


def format_keys(fmt: str) -> list[str]:
    """The mapping keys of a `%`-format, in order, read as `str % mapping` reads them.

    `%%` is a literal; a key runs to the matching `)`, so `%(a(b))s` names `a(b)`.
    """
    keys: list[str] = []
    i = fmt.find("%")
    while 0 <= i < len(fmt) - 1:
        if fmt[i + 1] == "%":
            i = fmt.find("%", i + 2)
            continue
        if fmt[i + 1] == "(":
            end = _closing_paren(fmt, i + 1)
            if end < 0:
                break  # `%` will raise on it; the caller logs that per request, as Gunicorn does
            if fmt[i + 2 : end] not in keys:
                keys.append(fmt[i + 2 : end])
            i = end
        i = fmt.find("%", i + 1)
    return keys


def _closing_paren(fmt: str, start: int) -> int:
    depth = 0
    for j in range(start, len(fmt)):
        if fmt[j] == "(":
            depth += 1
        elif fmt[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


class Render(Protocol):
    def __call__(
        self, resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta, now: str | None = None, /
    ) -> str: ...


class AccessFormat:
    """`AccessFormat(fmt, clock).render(resp, req, environ, request_time)` is Gunicorn's line."""

    def __init__(self, fmt: str, clock: ClfClock) -> None:
        self.fmt = fmt
        positional = _positional(fmt)
        names = namespace(clock)
        names["_fmt"] = fmt
        keys = positional[1] if positional is not None else format_keys(fmt)
        if positional is not None:
            names["_pfmt"] = positional[0]
            self.source = _positional_source(keys)
        else:
            self.source = _render_source(keys)
        # Only the duration atoms read the request time: without them, it need not be built.
        self.needs_time = not {"T", "D", "M", "L"}.isdisjoint(keys)
        # Generated once, like dataclasses' __init__: the keys only ever enter it through repr().
        exec(compile(self.source, "<access_log_format>", "exec"), names)  # noqa: S102
        # render(resp, req, environ, request_time, now=None): `now`, the `t` text, saves a clock reading.
        self.render: Render = names["render"]  # type: ignore[assignment]


def _expression(key: str) -> str | None:
    if key == "t":
        return "(now or _clock())"  # a batch of lines is rendered with one reading of the clock
    return EXPRESSIONS.get(key) or (braced_expression(key.lower()) if key.startswith("{") else None)


def _render_source(keys: list[str]) -> str:
    items = []
    for key in keys:
        expression = _expression(key)
        if expression is None:
            expression = '"-"'  # an unknown atom prints `-`
        elif key not in NEVER_QUOTED:
            expression = f"_escape({expression})"
        items.append(f"{key!r}: {expression}")
    return "def render(resp, req, environ, rt, now=None):\n    return _fmt % {" + ", ".join(items) + "}\n"


def _positional(fmt: str) -> tuple[str, list[str]] | None:
    """`fmt` with each `%(key)s` made a plain `%s`, and the keys in order; None if it uses anything else.

    Such a format (the default is one) is applied to a tuple: no dict is built per request.
    """
    out: list[str] = []
    keys: list[str] = []
    i = 0
    while i < len(fmt):
        at = fmt.find("%", i)
        if at < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:at])
        if fmt[at + 1 : at + 2] == "%":
            out.append("%%")
            i = at + 2
            continue
        end = _closing_paren(fmt, at + 1) if fmt[at + 1 : at + 2] == "(" else -1
        if end < 0 or fmt[end + 1 : end + 2] != "s":
            return None  # a width, a flag or another conversion: the mapping form does it
        out.append("%s")
        keys.append(fmt[at + 2 : end])
        i = end + 2
    return "".join(out), keys


def _positional_source(keys: list[str]) -> str:
    items = "".join(f"{_atom_expression(key, n)}, " for n, key in enumerate(keys))
    return "def render(resp, req, environ, rt, now=None):\n    return _pfmt % (" + items + ")\n"


def _atom_expression(key: str, n: int) -> str:
    expression = _expression(key)
    if expression is None:
        return '"-"'  # an unknown atom prints `-`
    if key in NEVER_QUOTED:
        return "(" + expression + ")"
    # `_escape` written inline (no call per atom): only a str can hold a `"`.
    v = f"_v{n}"
    quote, escaped = repr('"'), repr('\\"')
    plain = f"type({v} := {expression}) is not str or {quote} not in {v}"
    return f"({v} if {plain} else {v}.replace({quote}, {escaped}))"
