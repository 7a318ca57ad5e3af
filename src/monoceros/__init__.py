"""Monoceros: a fast, strict pre-fork WSGI HTTP server, drop-in compatible with Gunicorn."""

__version__ = "0.1.0"
SERVER_SOFTWARE = f"monoceros/{__version__}"

__all__ = ["SERVER_SOFTWARE", "__version__"]
