"""The WSGI environ (PEP 3333 §"environ Variables") built from a parsed request, as Gunicorn builds it.

Three stages, so each request pays only for what is really per request:

* ``EnvironBuilder`` (once per worker): server-wide values, trust policy, and the cache that maps a header
  name (``USER-AGENT``) to its environ key (``HTTP_USER_AGENT``).
* ``ConnectionEnviron`` (once per connection): the base dict with every key that does not change between
  the requests of one connection (``wsgi.*``, ``REMOTE_*``, ``SERVER_*`` for TCP listeners).
* ``ConnectionEnviron.build`` (per request): copy the base, fill the request's keys, one dict lookup per
  header. Rare work (trusted scheme headers, SCRIPT_NAME forwarding, Unix-socket SERVER_NAME, PROXY
  protocol, percent-decoding) only runs when the request needs it.

Trust: secure-scheme headers and the ``SCRIPT_NAME`` header count only when the peer is trusted
(``forwarded_allow_ips``); the worker decides that once per connection (see ``trust.IPTrust``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from monoceros.http import ProxyInfo, Request, stated_scheme

from .errors import ConfigurationProblem
from .filewrapper import FileWrapper
from .types import WSGIEnviron

DEFAULT_SECURE_SCHEME_HEADERS = {
    "X-FORWARDED-PROTOCOL": "ssl",
    "X-FORWARDED-PROTO": "https",
    "X-FORWARDED-SSL": "on",
}
DEFAULT_FORWARDER_HEADERS = frozenset({"SCRIPT_NAME", "PATH_INFO"})

# Header names are client-chosen: cap the name -> key cache so random names cannot grow it forever.
_MAX_CACHED_KEYS = 1024
_PROTOCOLS = {(1, 1): "HTTP/1.1", (1, 0): "HTTP/1.0"}
_DEFAULT_PORTS = {"http": "80", "https": "443"}

Address = tuple[Any, ...] | str | bytes
"""A socket address as ``accept()``/``getsockname()`` give it: a tuple for TCP, a path for Unix sockets."""


def _names(value: str | Iterable[str]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip().upper() for item in items if item.strip())


def _host_port(address: Address) -> tuple[str, str | None]:
    """(host, port) of a socket address; port None for a Unix socket (whose host is its path, or '')."""
    if isinstance(address, tuple):
        return str(address[0]), str(address[1])
    if isinstance(address, bytes):
        return address.decode("latin-1"), None
    return address, None


class EnvironBuilder:
    """Server-wide environ settings; ``connection()`` prepares one connection's requests."""

    def __init__(
        self,
        server_software: str,
        multithread: bool,
        multiprocess: bool,
        script_name_env: str = "",
        secure_scheme_headers: Mapping[str, str] = DEFAULT_SECURE_SCHEME_HEADERS,
        forwarder_headers: str | Iterable[str] = DEFAULT_FORWARDER_HEADERS,
        errors_stream: object = None,
        file_wrapper: type = FileWrapper,
    ) -> None:
        # Parsed header names are upper-case; Gunicorn compares them with the configured names as written,
        # so a lower-case name in a config silently never matched there. We match it.
        self.secure_scheme_headers = {name.upper(): value for name, value in secure_scheme_headers.items()}
        forwarders = _names(forwarder_headers)
        self.forward_script_name = "SCRIPT_NAME" in forwarders or "*" in forwarders
        self.script_name = script_name_env
        self.server_software = server_software
        self._wsgi = {
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr if errors_stream is None else errors_stream,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": file_wrapper,
            "wsgi.input_terminated": True,
            "SERVER_SOFTWARE": server_software,
            "SCRIPT_NAME": script_name_env,
        }
        self.keys: dict[str, str] = {"CONTENT-TYPE": "CONTENT_TYPE", "CONTENT-LENGTH": "CONTENT_LENGTH"}

    def key_for(self, name: str) -> str:
        """The environ key of header ``name`` (upper-case), remembered for the next request."""
        key = "HTTP_" + name.replace("-", "_")
        if len(self.keys) < _MAX_CACHED_KEYS:
            self.keys[name] = key
        return key

    def connection(
        self, peer: Address, sockname: Address, url_scheme: str = "http", peer_trusted: bool = False
    ) -> ConnectionEnviron:
        """Prepare the requests of one connection from ``peer`` accepted on the listener at ``sockname``."""
        base: WSGIEnviron = dict(self._wsgi)
        base["wsgi.url_scheme"] = url_scheme
        remote_addr, remote_port = _host_port(peer)
        base["REMOTE_ADDR"] = remote_addr
        if remote_port is not None:
            base["REMOTE_PORT"] = remote_port
        server_name, server_port = _host_port(sockname)
        unix_name = None
        if server_port is None:
            unix_name = server_name  # SERVER_* come from each request's Host header
        else:
            base["SERVER_NAME"] = server_name
            base["SERVER_PORT"] = server_port
        return ConnectionEnviron(self, base, peer_trusted, unix_name)


class ConnectionEnviron:
    """Builds the environ of each request on one connection."""

    __slots__ = (
        "_builder",
        "_base",
        "_keys",
        "_secure",
        "_scheme_keys",
        "_forward_script",
        "_unix_name",
        "_proxy",
    )

    def __init__(
        self, builder: EnvironBuilder, base: WSGIEnviron, peer_trusted: bool, unix_name: str | None
    ) -> None:
        self._builder = builder
        self._base = base
        self._keys = builder.keys
        self._secure = builder.secure_scheme_headers if peer_trusted else {}
        # The environ keys that reveal a scheme header is present, so the common request skips the scan.
        self._scheme_keys = tuple(builder.key_for(name) for name in self._secure)
        self._forward_script = peer_trusted and builder.forward_script_name
        self._unix_name = unix_name
        self._proxy: tuple[ProxyInfo, dict[str, str]] | None = None

    def build(
        self, request: Request, wsgi_input: object, proxy_info: ProxyInfo | None = None, sock: object = None
    ) -> WSGIEnviron:
        """The environ of ``request``; ``InvalidSchemeHeaders`` (400) or ``ConfigurationProblem`` (500)."""
        env = self._base.copy()
        env["REQUEST_METHOD"] = request.method
        env["QUERY_STRING"] = request.query
        env["RAW_URI"] = request.target
        try:
            env["SERVER_PROTOCOL"] = _PROTOCOLS[request.version]
        except KeyError:
            env["SERVER_PROTOCOL"] = f"HTTP/{request.version[0]}.{request.version[1]}"
        env["wsgi.input"] = wsgi_input
        if sock is not None:
            env["gunicorn.socket"] = sock
        keys = self._keys
        for name, value in request.headers:
            try:
                key = keys[name]
            except KeyError:
                key = self._builder.key_for(name)
            if key in env:
                env[key] += "," + value  # repeated field lines: joined as Gunicorn does, no space
            else:
                env[key] = value
        for key in self._scheme_keys:
            if key in env:
                env["wsgi.url_scheme"] = (
                    stated_scheme(request.headers, self._secure) or env["wsgi.url_scheme"]
                )
                break
        self._paths(env, request)
        if self._unix_name is not None:
            self._unix_server(env)
        if proxy_info is not None:
            env.update(self._proxy_keys(proxy_info))
        return env

    def _paths(self, env: WSGIEnviron, request: Request) -> None:
        path = request.path
        script_name = env["SCRIPT_NAME"]
        if self._forward_script and "HTTP_SCRIPT_NAME" in env:
            for name, value in request.headers:
                if name == "SCRIPT_NAME":
                    script_name = value  # the last one wins, as in Gunicorn
            env["SCRIPT_NAME"] = script_name
        if script_name:
            if not path.startswith(script_name):
                raise ConfigurationProblem(
                    f"Request path {path!r} does not start with SCRIPT_NAME {script_name!r}"
                )
            path = path[len(script_name) :]
        # PEP 3333: PATH_INFO is the decoded path as bytes, carried in a latin-1 native string.
        env["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1") if "%" in path else path

    def _unix_server(self, env: WSGIEnviron) -> None:
        """SERVER_NAME/PORT on a Unix socket: from Host, else the socket path (as Gunicorn)."""
        host = env.get("HTTP_HOST")
        if not host:
            env["SERVER_NAME"] = self._unix_name
            env["SERVER_PORT"] = ""
            return
        if host.startswith("["):  # an IPv6 literal: its colons are not a port separator
            name, _, rest = host[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            name, _, port = host.partition(":")
        env["SERVER_NAME"] = name
        env["SERVER_PORT"] = port or _DEFAULT_PORTS.get(env["wsgi.url_scheme"], "")

    def _proxy_keys(self, info: ProxyInfo) -> dict[str, str]:
        """PROXY protocol keys (Gunicorn's): the client becomes REMOTE_*, the proxy PROXY_*."""
        cached = self._proxy
        if cached is not None and cached[0] is info:
            return cached[1]
        keys = {"PROXY_PROTOCOL": info.proxy_protocol}
        # LOCAL / UNSPEC / UNKNOWN headers carry no addresses: keep the real peer's REMOTE_* then.
        if info.client_addr is not None:
            keys["REMOTE_ADDR"] = info.client_addr
            keys["REMOTE_PORT"] = str(info.client_port)
        if info.proxy_addr is not None:
            keys["PROXY_ADDR"] = info.proxy_addr
            keys["PROXY_PORT"] = str(info.proxy_port)
        self._proxy = (info, keys)
        return keys
