"""Errors of this layer: what turning a parsed request into an environ may raise, and the interrupt of an
application that ran past its deadline.

The first two are ``monoceros.http`` protocol errors carrying the status the worker answers with, like
every parser rejection, so the worker maps them to an error page without knowing this layer. Names follow
the Gunicorn classes they correspond to. ``RequestTimeout`` is raised into the application by the worker
(`request_timeout`) and caught by ``run_app``.
"""

from __future__ import annotations

from monoceros.http import InvalidSchemeHeaders, ProtocolError

# InvalidSchemeHeaders is monoceros.http's (the ASGI scope applies the same rule); named here as before.
__all__ = ["ConfigurationProblem", "InvalidSchemeHeaders", "RequestTimeout"]


class ConfigurationProblem(ProtocolError):
    """The request path is not under SCRIPT_NAME: the deployment, not the client, is at fault (500)."""

    def __init__(self, reason: str) -> None:
        super().__init__(500, reason)


class RequestTimeout(BaseException):
    """`request_timeout` passed while the application was handling a request. The worker raises it into
    the app's code (the sync worker's main thread from SIGALRM, a gthread pool thread asynchronously) and
    ``run_app`` answers 504, or closes the connection when the head is out; the worker goes on.

    A BaseException, so that an application's ``except Exception`` does not turn it into its own 500.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds

    def __str__(self) -> str:
        return f"request_timeout ({self.seconds:g} s) passed"
