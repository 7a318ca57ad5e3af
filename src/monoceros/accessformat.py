"""Gunicorn's `access_log_format`, compiled once: a request computes only the atoms the format names.

Gunicorn builds every atom, every header and every environ key into a dict for each request and
then applies the `%`-format. The line is the same here (`format % values`), but the values dict
holds only the keys the format uses, found once at start-up, and atoms that cannot contain a `"`
skip the escaping.
"""

from __future__ import annotations

from datetime import timedelta

from monoceros.accessatoms import (
    NEVER_QUOTED,
    Atom,
    ClfClock,
    Environ,
    RequestLike,
    ResponseLike,
    braced_atom,
    escape,
    simple_atoms,
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


class AccessFormat:
    """`AccessFormat(fmt, clock).render(resp, req, environ, request_time)` is Gunicorn's line."""

    def __init__(self, fmt: str, clock: ClfClock) -> None:
        self.fmt = fmt
        self._constants: dict[str, object] = {}
        self._plain: list[tuple[str, Atom]] = []
        self._quoted: list[tuple[str, Atom]] = []
        known = simple_atoms(clock)
        for key in format_keys(fmt):
            atom = known.get(key) or (braced_atom(key.lower()) if key.startswith("{") else None)
            if atom is None or key == "l":
                self._constants[key] = "-"  # unknown atoms print `-`, and `l` always is `-`
            elif key in NEVER_QUOTED:
                self._plain.append((key, atom))
            else:
                self._quoted.append((key, atom))

    def render(self, resp: ResponseLike, req: RequestLike, environ: Environ, rt: timedelta) -> str:
        values = self._constants.copy()
        for key, atom in self._plain:
            values[key] = atom(resp, req, environ, rt)
        for key, atom in self._quoted:
            values[key] = escape(atom(resp, req, environ, rt))
        return self.fmt % values
