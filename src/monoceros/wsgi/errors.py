"""Errors found while turning a parsed request into an environ, as ``monoceros.http`` protocol errors.

Both carry the status the worker answers with, like every parser rejection, so the worker maps them to an
error page without knowing this layer. Names follow the Gunicorn classes they correspond to.
"""

from __future__ import annotations

from monoceros.http import InvalidSchemeHeaders, ProtocolError

# InvalidSchemeHeaders is monoceros.http's (the ASGI scope applies the same rule); named here as before.
__all__ = ["ConfigurationProblem", "InvalidSchemeHeaders"]


class ConfigurationProblem(ProtocolError):
    """The request path is not under SCRIPT_NAME: the deployment, not the client, is at fault (500)."""

    def __init__(self, reason: str) -> None:
        super().__init__(500, reason)
