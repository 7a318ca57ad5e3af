"""The WSGI types (PEP 3333) and the two I/O objects the worker hands to this layer, declared once.

``Transport`` and ``BodySource`` are the whole boundary between the WSGI layer and the I/O engine:
the layer never sees a socket, so it can be driven (and tested) with in-memory recorders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import IO, Any, Protocol

WSGIEnviron = dict[str, Any]
"""The environ: native-string keys, values of any type (PEP 3333 §"environ Variables")."""

ExcInfo = tuple[type[BaseException], BaseException, "TracebackType | None"]
OptExcInfo = ExcInfo | tuple[None, None, None]
Write = Callable[[bytes], object]
"""The legacy ``write()`` callable ``start_response`` returns."""


class StartResponse(Protocol):
    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
        /,
    ) -> Write: ...


WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]


class Transport(Protocol):
    """Where response bytes go."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``; may block for back-pressure; ``OSError`` when the peer is gone."""

    def sendfile(self, file: IO[bytes], offset: int, count: int | None) -> int | None:
        """Send ``count`` bytes of ``file`` from ``offset``; the bytes sent, or None if not possible here."""


class BodySource(Protocol):
    """Where request body bytes come from."""

    def read_body(self, size: int) -> bytes:
        """Up to ``size`` de-chunked body bytes, ``b""`` at the end; sends "100 Continue" if expected."""


class ErrorLog(Protocol):
    """The part of a ``logging.Logger`` this layer uses to report application failures."""

    def exception(self, msg: str, *args: object) -> None: ...

    def error(self, msg: str, *args: object, exc_info: Any = None) -> None: ...

    def debug(self, msg: str, *args: object) -> None: ...
