"""The optional native fast path (``_speedups.c``), when it was built: ``HeadScanner`` and ``take_chunks``,
or None.

``RequestParser(native=True)`` uses them for the common head and for plain chunks, and falls back to the
Python parser for every other input; ``NATIVE_AVAILABLE`` tells the server which path
``http_parser = auto`` takes.
"""

from __future__ import annotations

try:
    from ._speedups import HeadScanner, take_chunks
except ImportError:  # not compiled (no compiler or headers at install time): the Python parser alone
    HeadScanner = None  # type: ignore[assignment,misc]
    take_chunks = None  # type: ignore[assignment]

__all__ = ["NATIVE_AVAILABLE", "HeadScanner", "native_chosen", "take_chunks"]

NATIVE_AVAILABLE = HeadScanner is not None


def native_chosen(http_parser: str) -> bool:
    """Whether the ``http_parser`` setting's value (auto, fast or python) takes the native path."""
    return http_parser == "fast" or (http_parser == "auto" and NATIVE_AVAILABLE)
