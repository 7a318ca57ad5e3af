"""The optional native fast path (``_speedups.c`` and ``_speedups_writer.c``), when it was built:
``HeadScanner``, ``take_chunks`` and ``NativeResponseWriter``, or None.

``RequestParser(native=True)`` uses the first two for the common head and for plain chunks, and falls back
to the Python parser for every other input; ``NativeResponseWriter`` is ``_writer.ResponseWriter`` in C,
deferring to that module's functions for what is not plain. ``NATIVE_AVAILABLE`` tells the server which
path ``http_parser = auto`` takes.
"""

from __future__ import annotations

from . import _caches, _errors, _writer

try:
    from ._speedups import HeadScanner, bind, take_chunks
    from ._speedups import ResponseWriter as NativeResponseWriter
except ImportError:  # not compiled (no compiler or headers at install time): the Python parser alone
    HeadScanner = None  # type: ignore[assignment,misc]
    take_chunks = None  # type: ignore[assignment]
    NativeResponseWriter = None  # type: ignore[assignment,misc]
else:
    # What the native writer defers to, so that every refusal has the reference's words and every leniency
    # is decided in one place (bound once per process, at import: constants, not state).
    bind(
        _errors.LocalProtocolError,
        _writer._parse_status,
        _writer._fields,
        _writer._server_line,
        _writer._without_length,
        _writer._trailer_block,
        _caches.Caches,
        _caches.STATUS_SIZE,
        _caches.HEADER_LISTS_SIZE,
    )

__all__ = ["NATIVE_AVAILABLE", "HeadScanner", "NativeResponseWriter", "native_chosen", "take_chunks"]

NATIVE_AVAILABLE = HeadScanner is not None


def native_chosen(http_parser: str) -> bool:
    """Whether the ``http_parser`` setting's value (auto, fast or python) takes the native path."""
    return http_parser == "fast" or (http_parser == "auto" and NATIVE_AVAILABLE)
