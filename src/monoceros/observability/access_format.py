"""Gunicorn's `access_log_format`, compiled once: a request computes only the atoms the format names.

Gunicorn builds every atom, every header and every environ key into a dict for each request and
then applies the `%`-format. The line is the same here (`format % values`), but the values dict
holds only the keys the format uses, found once at start-up, and is built by one generated
function (`render`) whose source is kept in `AccessFormat.source` for debugging. Atoms that cannot
contain a `"` skip the escaping.

A worker renders the lines of a round of events together (`render_batch`, for a format of plain
`%(atom)s` fields such as the default): one generated loop over the round's requests builds each
line as an f-string from raw atom values, without a call or an escape check per line. Escaping
only turns `"` into `\\"`, so when the round's text holds exactly the `"` of the format's own text,
no value had one and the text is what `render` gives line by line; otherwise the caller renders
that round with `render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from monoceros.observability.access_atoms import (
    EXPRESSIONS,
    NEVER_QUOTED,
    REQUEST_LINE,
    UNESCAPED,
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


# A deferred request: (response, request, environ, duration in seconds or 0.0).
Deferred = tuple[ResponseLike, RequestLike, Environ, float]


class RenderBatch(Protocol):
    def __call__(self, items: Sequence[Deferred], now: str, /) -> str | None: ...


class AccessFormat:
    """`AccessFormat(fmt, clock).render(resp, req, environ, request_time)` is Gunicorn's line."""

    def __init__(self, fmt: str, clock: ClfClock) -> None:
        self.fmt = fmt
        positional = _positional(fmt)
        names = namespace(clock)
        names["_fmt"] = fmt
        keys = positional[1] if positional is not None else format_keys(fmt)
        if positional is not None:
            names["_pfmt"] = _tuple_format(positional[0])
            self.source = _positional_source(keys)
        else:
            self.source = _render_source(keys)
        # Only the duration atoms read the request time: without them, it need not be built.
        self.needs_time = not {"T", "D", "M", "L"}.isdisjoint(keys)
        # Whether the lines show the time of day (`t`): a batch then reads the clock once.
        self.needs_now = "t" in keys
        if positional is not None:
            self.source += "\n\n" + _batch_source(positional[0], keys, self.needs_time)
            names["_td"] = timedelta
        # Generated once, like dataclasses' __init__: the keys only ever enter it through repr().
        exec(compile(self.source, "<access_log_format>", "exec"), names)  # noqa: S102
        # render(resp, req, environ, request_time, now=None): `now`, the `t` text, saves a clock reading.
        self.render: Render = names["render"]  # type: ignore[assignment]
        # render_batch(items, now): the lines of `items`, joined by newlines, or None when a value
        # holds a `"` (the caller then renders them one by one with `render`, which escapes).
        self.render_batch: RenderBatch | None = names.get("render_batch")  # type: ignore[assignment]


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


def _positional(fmt: str) -> tuple[list[str], list[str]] | None:
    """The literal text around each `%(key)s` of `fmt` (`%%` read as `%`) and the keys in order;
    None if `fmt` uses anything else (a width, a flag, another conversion).

    Such a format (the default is one) is applied to a tuple: no dict is built per request.
    """
    literals: list[str] = []
    keys: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(fmt):
        at = fmt.find("%", i)
        if at < 0:
            current.append(fmt[i:])
            break
        current.append(fmt[i:at])
        if fmt[at + 1 : at + 2] == "%":
            current.append("%")
            i = at + 2
            continue
        end = _closing_paren(fmt, at + 1) if fmt[at + 1 : at + 2] == "(" else -1
        if end < 0 or fmt[end + 1 : end + 2] != "s":
            return None  # the mapping form does it
        literals.append("".join(current))
        current = []
        keys.append(fmt[at + 2 : end])
        i = end + 2
    literals.append("".join(current))
    return literals, keys


def _tuple_format(literals: list[str]) -> str:
    return "%s".join(text.replace("%", "%%") for text in literals)


def _positional_source(keys: list[str]) -> str:
    items = "".join(f"{_atom_expression(key, n)}, " for n, key in enumerate(keys))
    return "def render(resp, req, environ, rt, now=None):\n    return _pfmt % (" + items + ")\n"


def _atom_expression(key: str, n: int) -> str:
    expression = _expression(key)
    if expression is None:
        return '"-"'  # an unknown atom prints `-`
    if key in NEVER_QUOTED:
        return "(" + expression + ")"
    # `_escape` written inline (no call per atom): only a str, or an instance of a subclass of str, can hold
    # a `"`; the exact type is tested first, so a str value costs no isinstance() call.
    v = f"_v{n}"
    quote, escaped = repr('"'), repr('\\"')
    plain = f"type({v} := {expression}) is not str and not isinstance({v}, str) or {quote} not in {v}"
    return f"({v} if {plain} else {v}.replace({quote}, {escaped}))"


def _batch_source(literals: list[str], keys: list[str], needs_time: bool) -> str:
    """`render_batch(items, now)`: each line an f-string over raw (unescaped) atom values.

    One list comprehension: each value is bound by a `for _vN in [expression]` clause, which the
    compiler makes a plain assignment. An atom that is the same on every line (`l`, an unknown one)
    joins the literal text. The text of a batch is trusted only when it holds as many `"` as the
    literal text, `now` included, puts there: then no value held one, and escaping would have
    changed nothing.
    """
    pieces = [_fstring_literal(literals[0])]
    constant_quotes = literals[0].count('"')
    clauses = ["for resp, req, environ, seconds in items"]
    if needs_time:
        clauses.append("for rt in [_td(seconds=seconds)]")
    now_fields = 0
    for n, key in enumerate(keys):
        expression = UNESCAPED.get(key) or (braced_expression(key.lower()) if key.startswith("{") else None)
        if key == "t":
            pieces.append("{now}")
            now_fields += 1
        elif key == "r":  # three values in the line, not one string made for it
            clauses += [f"for _v{n}_{i} in [{part}]" for i, part in enumerate(REQUEST_LINE)]
            pieces.append(" ".join(f"{{_v{n}_{i}!s}}" for i in range(len(REQUEST_LINE))))
        elif expression is None or key == "l":
            text = "-"  # `l` is always `-`; so is an unknown atom
            pieces.append(_fstring_literal(text))
            constant_quotes += text.count('"')
        else:
            clauses.append(f"for _v{n} in [{expression}]")
            pieces.append(f"{{_v{n}!s}}")
        pieces.append(_fstring_literal(literals[n + 1]))
        constant_quotes += literals[n + 1].count('"')
    line = "f" + repr("".join(pieces))
    quotes = f"{constant_quotes} + {now_fields} * now.count('\"')" if now_fields else str(constant_quotes)
    return (
        "def render_batch(items, now):\n"
        f"    lines = [\n        {line}\n" + "".join(f"        {c}\n" for c in clauses) + "    ]\n"
        "    text = '\\n'.join(lines)\n"
        f"    if text.count('\"') != len(lines) * ({quotes}):\n"
        "        return None  # a value holds a quote: `render` escapes it\n"
        "    return text\n"
    )


def _fstring_literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
