"""ASGI 3 for Monoceros (issue 16, in progress): the application interface and the lifespan protocol.

Not selectable as a worker yet; the pieces here are complete and tested on their own.
"""

from .app import as_asgi3, is_asgi3
from .lifespan import Lifespan, LifespanFailed, LifespanUnsupported

__all__ = ["Lifespan", "LifespanFailed", "LifespanUnsupported", "as_asgi3", "is_asgi3"]
