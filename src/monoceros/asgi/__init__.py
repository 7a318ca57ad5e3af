"""ASGI 3 for Monoceros: the application interface, the lifespan protocol, scopes, and the two exchanges a
worker runs over a ``Channel`` of its own: ``HTTPCycle`` (one request) and, in ``monoceros.asgi.websocket``
(which needs ``wsproto``: ``pip install 'monoceros[asgi]'``), ``WebSocketCycle``.

Nothing here touches a socket or the configuration: the worker (``monoceros.workers.asgi``) does the I/O.
"""

from .app import as_asgi3, is_asgi3
from .http import Channel, HTTPCycle, status_text
from .lifespan import Lifespan, LifespanFailed, LifespanUnsupported
from .scope import ConnectionScope, ScopeBuilder

__all__ = [
    "Channel",
    "ConnectionScope",
    "HTTPCycle",
    "Lifespan",
    "LifespanFailed",
    "LifespanUnsupported",
    "ScopeBuilder",
    "as_asgi3",
    "is_asgi3",
    "status_text",
]
