"""The error hierarchy of ``monoceros.http``: every rejection carries the HTTP status to answer with.

``ProtocolError(status, reason)`` splits into ``RemoteProtocolError`` (the peer sent something invalid) and
``LocalProtocolError`` (we were asked to send something invalid). The request parser raises the subclasses
below, each named after the Gunicorn error class it corresponds to, so that tests can match the corpus'
``expected_exception`` and workers can map errors to responses without string matching.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: ``status`` is the HTTP status to answer with, ``reason`` a short human text."""

    status: int
    reason: str

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class RemoteProtocolError(ProtocolError):
    """The peer sent something that is not valid HTTP/1.1 (or breaks a configured limit)."""


class LocalProtocolError(ProtocolError):
    """We (the application or the server) asked to send something invalid."""


class InvalidSchemeHeaders(RemoteProtocolError):
    """A trusted peer sent secure-scheme headers that disagree (400, as Gunicorn)."""

    def __init__(self, reason: str = "Contradictory scheme headers") -> None:
        super().__init__(400, reason)


class _ParseError(RemoteProtocolError):
    """A request parsing error with a fixed status: build it from the reason alone."""

    default_status = 400

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(self.default_status if status is None else status, reason)


class InvalidRequestLine(_ParseError):
    """Malformed request line or request-target."""


class InvalidRequestMethod(_ParseError):
    """The method is not a token (or not conventional: 3-20 chars, no lowercase, no ``#``)."""


class InvalidHTTPVersion(_ParseError):
    """Malformed HTTP-version (400) or a well-formed but unsupported one (505)."""


class LimitRequestLine(_ParseError):
    """The request line is longer than ``limit_request_line`` (414; Gunicorn answers 400)."""

    default_status = 414


class InvalidHeader(_ParseError):
    """Malformed header line or value, or a header that breaks framing/semantic rules."""


class InvalidHeaderName(_ParseError):
    """A field name that is not a token, refused by ``header_map``, or forbidden in trailers."""


class ObsoleteFolding(_ParseError):
    """obs-fold line continuation without ``permit_obsolete_folding``."""


class LimitRequestHeaders(_ParseError):
    """Too many header fields, or a field line longer than ``limit_request_field_size``."""

    default_status = 431


class UnsupportedTransferCoding(_ParseError):
    """A well-formed coding list ending in ``chunked`` that names a coding we do not decode before it."""

    default_status = 501


class ExpectationFailed(_ParseError):
    """An ``Expect`` value other than ``100-continue``."""

    default_status = 417


class InvalidChunkSize(_ParseError):
    """A chunk-size that is not 1 to 16 hex digits."""


class InvalidChunkExtension(_ParseError):
    """A chunk extension that does not follow RFC 9112 §7.1.1."""


class ChunkMissingTerminator(_ParseError):
    """The CRLF after chunk data (or the final CRLF of the chunked body) is missing."""


class NoMoreData(_ParseError):
    """The connection was closed in the middle of a message."""


class InvalidProxyLine(_ParseError):
    """Malformed PROXY protocol v1 line."""


class InvalidProxyHeader(_ParseError):
    """Malformed or unsupported PROXY protocol v2 header (Gunicorn answers 500)."""


class ForbiddenProxyRequest(_ParseError):
    """A PROXY protocol header from a peer that is not in ``proxy_allow_ips``."""

    default_status = 403
