"""The optional native fast path (``_speedups.c``), when it was built: ``HeadScanner``, or None.

``RequestParser(native=True)`` uses it for the common head and falls back to the Python parser for every
other one; ``NATIVE_AVAILABLE`` tells the server which path ``http_parser = auto`` takes.
"""

from __future__ import annotations

try:
    from ._speedups import HeadScanner
except ImportError:  # not compiled (no compiler or headers at install time): the Python parser alone
    HeadScanner = None  # type: ignore[assignment,misc]

__all__ = ["NATIVE_AVAILABLE", "HeadScanner", "native_chosen"]

NATIVE_AVAILABLE = HeadScanner is not None


def native_chosen(http_parser: str) -> bool:
    """Whether the ``http_parser`` setting's value (auto, fast or python) takes the native path."""
    return http_parser == "fast" or (http_parser == "auto" and NATIVE_AVAILABLE)
