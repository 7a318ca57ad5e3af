"""Sans-IO HTTP/1.1 for Monoceros: the connection, the request parser, response framing, error pages and the
Date cache.

This package imports nothing but the standard library; limits are plain constructor arguments.
The public names are listed in ``__all__``; everything else lives in ``_private`` modules.
"""

from ._caches import Caches
from ._connection import CONTINUE, Connection, ConnectionFactory
from ._date import http_date
from ._errorpage import TIMEOUT_DETAIL, error_response
from ._errors import (
    ChunkMissingTerminator,
    ExpectationFailed,
    ForbiddenProxyRequest,
    InvalidChunkExtension,
    InvalidChunkSize,
    InvalidHeader,
    InvalidHeaderName,
    InvalidHTTPVersion,
    InvalidProxyHeader,
    InvalidProxyLine,
    InvalidRequestLine,
    InvalidRequestMethod,
    InvalidSchemeHeaders,
    LimitRequestHeaders,
    LimitRequestLine,
    LocalProtocolError,
    NoMoreData,
    ObsoleteFolding,
    ProtocolError,
    RemoteProtocolError,
    UnsupportedTransferCoding,
)
from ._events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    ProxyInfo,
    Request,
    Sentinel,
)
from ._native import NATIVE_AVAILABLE, NativeResponseWriter, native_chosen
from ._parser import RequestParser
from ._semantics import stated_scheme
from ._state import (
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MUST_CLOSE,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED_PROTOCOL,
)
from ._uwsgi import InvalidUwsgiHeader, UnsupportedModifier, UwsgiParser
from ._writer import ResponseWriter, interim_response

__all__ = [
    "CLOSED",
    "CONTINUE",
    "DONE",
    "ERROR",
    "IDLE",
    "MUST_CLOSE",
    "NATIVE_AVAILABLE",
    "NativeResponseWriter",
    "NEED_DATA",
    "SEND_BODY",
    "SEND_RESPONSE",
    "SWITCHED_PROTOCOL",
    "Caches",
    "Connection",
    "ConnectionFactory",
    "PAUSED",
    "ChunkMissingTerminator",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "ExpectationFailed",
    "ForbiddenProxyRequest",
    "InvalidChunkExtension",
    "InvalidChunkSize",
    "InvalidHTTPVersion",
    "InvalidHeader",
    "InvalidHeaderName",
    "InvalidProxyHeader",
    "InvalidProxyLine",
    "InvalidRequestLine",
    "InvalidRequestMethod",
    "InvalidSchemeHeaders",
    "LimitRequestHeaders",
    "LimitRequestLine",
    "LocalProtocolError",
    "NoMoreData",
    "ObsoleteFolding",
    "ProtocolError",
    "ProxyInfo",
    "RemoteProtocolError",
    "Request",
    "RequestParser",
    "ResponseWriter",
    "Sentinel",
    "UnsupportedModifier",
    "UnsupportedTransferCoding",
    "UwsgiParser",
    "InvalidUwsgiHeader",
    "TIMEOUT_DETAIL",
    "error_response",
    "http_date",
    "interim_response",
    "native_chosen",
    "stated_scheme",
]
