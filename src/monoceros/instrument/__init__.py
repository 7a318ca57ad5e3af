"""Metrics: the StatsD logger (`statsd`), which Gunicorn users know as `gunicorn.instrument.statsd`."""
