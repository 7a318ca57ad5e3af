"""``monoceros.glogging.Logger``: Gunicorn's path to the logger class (``gunicorn.glogging.Logger``), kept so
that a custom logger subclassing it, or a config naming it, works unchanged; the code lives in
``monoceros.observability.logger``."""

from monoceros.observability.logger import Logger

__all__ = ["Logger"]
