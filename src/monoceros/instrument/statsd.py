"""``monoceros.instrument.statsd.Statsd``: Gunicorn's path to the StatsD logger (``observability.statsd``)."""

from monoceros.observability.statsd import Statsd

__all__ = ["Statsd"]
