"""The ``Date`` header value (RFC 9110 §5.6.7 IMF-fixdate), cached per second.

Every response carries a ``Date`` header, and formatting a date costs far more than a
response head should, so the value is computed at most once per wall-clock second and
shared by every caller. The cache is one tuple swapped atomically, so threads (gthread)
can race on it harmlessly: the worst case is formatting the same second twice.
"""

from __future__ import annotations

import time
from email.utils import formatdate

# (second, value, header line); second -1 forces a refresh on the first call.
_cache: tuple[int, bytes, bytes] = (-1, b"", b"")


def _refresh(second: int) -> tuple[int, bytes, bytes]:
    global _cache
    value = formatdate(second, usegmt=True).encode("ascii")
    entry = (second, value, b"Date: " + value + b"\r\n")
    _cache = entry
    return entry


def http_date() -> bytes:
    """Return the current date as an IMF-fixdate, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    entry = _cache
    second = int(time.time())
    if entry[0] != second:
        entry = _refresh(second)
    return entry[1]


def date_line() -> bytes:
    """Return the whole ``Date: ...\\r\\n`` header line, so response heads skip a concatenation."""
    entry = _cache
    second = int(time.time())
    if entry[0] != second:
        entry = _refresh(second)
    return entry[2]
