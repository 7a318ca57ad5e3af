"""Gunicorn's import path for the StatsD logger (``gunicorn.instrument.statsd.Statsd``), kept so that code and
configuration written against it work; the logger lives in ``monoceros.observability.statsd``."""
