"""ASGI connection scopes (``http`` and ``websocket``) built from a parsed request.

Two stages, as for the WSGI environ: ``ScopeBuilder`` holds what one worker decides once (``root_path``,
the secure-scheme headers, a cache of lower-cased header names); ``ConnectionScope`` what one connection
decides once (client, server, scheme, whether the peer is trusted); ``http(request)`` and
``websocket(request)`` build the per-request dict.

What the values mean (ASGI 3, HTTP and WebSocket spec 2.4):

- ``headers``: the request's field lines after ``header_map`` (names with an underscore are dropped unless
  configured otherwise, exactly as for WSGI), names lower-cased, both as latin-1 bytes, in wire order.
- ``path``: the request path, percent-decoded and read as UTF-8; ``raw_path`` the bytes as sent, without the
  query. Both start with ``root_path`` when one is set: the spec's reading (``path`` is the full path, and
  ``root_path`` the part of it where the app is mounted), which uvicorn follows since 0.26 and Starlette
  relies on. Gunicorn 27's ASGI worker leaves ``path`` without it (docs/differences.md).
- ``scheme``: ``http``/``https`` (``ws``/``wss``), from the listener, or from a trusted peer's
  ``secure_scheme_headers`` (a 400 when they disagree, as for WSGI); with ``proxy_headers`` (uvicorn's
  setting, on under the uvicorn worker names) also from a trusted peer's ``X-Forwarded-Proto``.
- ``client``: the peer, or the PROXY protocol header's client, or (``proxy_headers``) the nearest address in
  a trusted peer's ``X-Forwarded-For`` that is not itself trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from monoceros.http import ProxyInfo, Request, stated_scheme

ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
_VERSIONS = {(1, 1): "1.1", (1, 0): "1.0"}
_MAX_NAMES = 1024  # header names are client-chosen: the cache of their lower-case bytes is bounded

Address = tuple[str, int] | None


def address(sockaddr: Any) -> Address:
    """A socket address as the spec has it: (host, port) for TCP, None for a Unix socket."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return None


def decode_path(path: str) -> str:
    """The ``path`` of a scope: percent-decoded, UTF-8 (the parser gives the bytes as latin-1 text)."""
    if path.isascii():
        return unquote(path) if "%" in path else path
    return unquote(path.encode("latin-1").decode("utf-8", "replace"))


class ScopeBuilder:
    """One worker's scope settings; ``connection()`` prepares a connection's scopes."""

    def __init__(
        self,
        root_path: str = "",
        secure_scheme_headers: Mapping[str, str] | None = None,
        proxy_headers: bool = False,
        is_trusted: Callable[[str], bool] | None = None,
        state: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.root_path = root_path.rstrip("/") if root_path != "/" else ""
        self._raw_root = self.root_path.encode("utf-8")
        self.secure = {name.upper(): value for name, value in (secure_scheme_headers or {}).items()}
        self.proxy_headers = proxy_headers
        self.is_trusted = is_trusted or (lambda host: False)
        self.state = state
        self.names: dict[str, bytes] = {}
        # The request fields that can change the scheme or the client: a trusted peer's request without any
        # of them skips the second look at its fields.
        self.watched = frozenset(self.secure) | (
            {"X-FORWARDED-FOR", "X-FORWARDED-PROTO"} if proxy_headers else frozenset()
        )

    def connection(
        self, client: Any, server: Any, tls: bool, peer_trusted: bool, proxy_info: ProxyInfo | None = None
    ) -> ConnectionScope:
        peer = address(client)
        if proxy_info is not None and proxy_info.client_addr is not None:
            peer = (proxy_info.client_addr, int(proxy_info.client_port or 0))
        return ConnectionScope(self, peer, address(server), "https" if tls else "http", peer_trusted)

    def lower(self, name: str) -> bytes:
        raw = name.lower().encode("latin-1")
        if len(self.names) < _MAX_NAMES:
            self.names[name] = raw
        return raw


class ConnectionScope:
    """The scopes of the requests of one connection."""

    __slots__ = ("_builder", "client", "server", "scheme", "_trusted")

    def __init__(
        self, builder: ScopeBuilder, client: Address, server: Address, scheme: str, trusted: bool
    ) -> None:
        self._builder = builder
        self.client = client
        self.server = server
        self.scheme = scheme
        self._trusted = trusted

    def http(self, request: Request) -> dict[str, Any]:
        builder = self._builder
        names = builder.names
        fields = request.headers
        try:
            headers = [(names[name], value.encode("latin-1")) for name, value in fields]
        except KeyError:  # a name not seen yet: remembered, then the list is built again
            for name, _ in fields:
                if name not in names:
                    builder.lower(name)
            headers = [
                (names.get(name) or builder.lower(name), value.encode("latin-1")) for name, value in fields
            ]
        scheme = self.scheme
        client = self.client
        if self._trusted:
            watched = builder.watched
            for name, _ in fields:  # (a plain loop: cheaper than a map over the fields for a short head)
                if name in watched:
                    scheme, client = self._forwarded(fields, scheme, client)
                    break
        path = request.path
        if "%" in path or not path.isascii():
            path = decode_path(path)
        root = builder.root_path
        scope = {  # (one dict display: cheaper than a copy and a store per key)
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": _VERSIONS.get(request.version) or "{}.{}".format(*request.version),
            "method": request.method,
            "scheme": scheme,
            "path": root + path if root else path,
            "raw_path": builder._raw_root + request.path.encode("latin-1"),
            "query_string": request.query.encode("latin-1"),
            "root_path": root,
            "headers": headers,
            "client": client,
            "server": self.server,
        }
        if builder.state is not None:
            scope["state"] = builder.state()
        return scope

    def websocket(self, request: Request) -> dict[str, Any]:
        scope = self.http(request)
        del scope["method"]
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        protocols: list[str] = []
        for name, value in request.headers:
            if name == "SEC-WEBSOCKET-PROTOCOL":
                protocols.extend(item.strip() for item in value.split(",") if item.strip())
        scope["subprotocols"] = protocols
        return scope

    def _forwarded(self, headers: list[tuple[str, str]], scheme: str, client: Address) -> tuple[str, Address]:
        """Scheme and client as a trusted peer states them."""
        builder = self._builder
        secure = builder.secure
        scheme = stated_scheme(headers, secure) or scheme
        if builder.proxy_headers:
            forwarded_for = forwarded_proto = None
            for name, value in headers:
                if name == "X-FORWARDED-FOR":
                    forwarded_for = value if forwarded_for is None else forwarded_for + "," + value
                elif name == "X-FORWARDED-PROTO":
                    forwarded_proto = value
            if forwarded_proto is not None and "X-FORWARDED-PROTO" not in secure:
                proto = forwarded_proto.rsplit(",", 1)[-1].strip().lower()
                if proto in ("http", "https", "ws", "wss"):
                    scheme = "https" if proto in ("https", "wss") else "http"
            if forwarded_for is not None:
                client = _nearest_untrusted(forwarded_for, builder.is_trusted, client)
        return scheme, client


def _nearest_untrusted(value: str, is_trusted: Callable[[str], bool], client: Address) -> Address:
    """The client an ``X-Forwarded-For`` chain names: walked from the nearest hop, the first address that is
    not a trusted proxy (or the farthest when all are); its port is unknown (0)."""
    hops = [hop.strip() for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return (hop, 0)
    return (hops[0], 0) if hops else client
