"""PEP 3333 for Monoceros: environ, ``start_response``/``write()``, ``wsgi.input``, file wrapper, proxy trust.

This layer sees no sockets and no configuration object: the worker hands it plain values, a ``Transport``
(where response bytes go) and a ``BodySource`` (where request body bytes come from).
"""

from .environ import ConnectionEnviron, EnvironBuilder
from .errors import ConfigurationProblem, InvalidSchemeHeaders, RequestTimeout
from .filewrapper import FileWrapper
from .input import EMPTY_INPUT, EmptyInput, InputStream, input_for
from .response import ResponseInfo, run_app
from .trust import IPTrust
from .types import BodySource, ErrorLog, StartResponse, Transport, WSGIApp, WSGIEnviron

__all__ = [
    "EMPTY_INPUT",
    "BodySource",
    "ConfigurationProblem",
    "ConnectionEnviron",
    "EmptyInput",
    "EnvironBuilder",
    "ErrorLog",
    "FileWrapper",
    "IPTrust",
    "InputStream",
    "InvalidSchemeHeaders",
    "RequestTimeout",
    "ResponseInfo",
    "StartResponse",
    "Transport",
    "WSGIApp",
    "WSGIEnviron",
    "input_for",
    "run_app",
]
