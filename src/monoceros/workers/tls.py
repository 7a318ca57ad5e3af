"""TLS: the server context built from Gunicorn's SSL settings, checked in the master, reloaded in workers.

* ``check(cfg, log)`` runs in the master before any worker is forked: it builds the context once (the
  ``ssl_context`` hook included) so a missing or unreadable file, a key that does not match its
  certificate or a wrong password stops the start with one line instead of failing every handshake.
* ``WorkerTLS`` is a worker's TLS state: the context, built once per worker (Gunicorn builds one per
  connection), the socket wrapping, and — with ``ssl_reload_interval`` — a watch on the certificate
  files that rebuilds the context for new connections when they change on disk.
* ``TLSEnviron`` adds the connection's TLS facts (protocol, cipher, client certificate) to each
  request's environ, under mod_ssl's names.

Safe defaults: TLS 1.2 or newer, Python's default cipher list, ALPN ``http/1.1``, no renegotiation.
A private key is never asked for on a terminal: a pass phrase comes from the ``ssl_context`` hook
(``default_ssl_context_factory(password=...)``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from monoceros.config.errors import ConfigError

if TYPE_CHECKING:
    from monoceros.config.core import Config
    from monoceros.wsgi.environ import ConnectionEnviron

ALPN = ["http/1.1"]
# `ssl_version` values (ssl.PROTOCOL_* numbers, as Gunicorn stores them) -> the lowest version accepted.
# Anything older than TLS 1.2 is not honoured: lower the floor in the `ssl_context` hook if you must.
_FLOORS = {
    ssl.PROTOCOL_TLS: ssl.TLSVersion.TLSv1_2,
    ssl.PROTOCOL_TLS_SERVER: ssl.TLSVersion.TLSv1_2,
    5: ssl.TLSVersion.TLSv1_2,  # PROTOCOL_TLSv1_2, deprecated in the ssl module
    int(ssl.TLSVersion.TLSv1_3): ssl.TLSVersion.TLSv1_3,
}
Password = str | bytes | Callable[[], str | bytes] | None


class TLSSetupError(ConfigError, ValueError):
    """The TLS settings cannot give a working server context; ``str()`` is the line to show."""


class _NoPassword(Exception):
    """The key is encrypted and no pass phrase was given (never prompt on a terminal)."""


def _refuse_prompt() -> bytes:
    raise _NoPassword


def min_version(cfg: Config) -> ssl.TLSVersion:
    return _FLOORS.get(cfg.ssl_version, ssl.TLSVersion.TLSv1_2)


def default_context(cfg: Config, password: Password = None) -> ssl.SSLContext:
    """Gunicorn's default context, with a TLS 1.2 floor, ALPN and no renegotiation."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=cfg.ca_certs)
    ctx.minimum_version = min_version(cfg)
    if not cfg.certfile:
        raise TLSSetupError("TLS: keyfile is set but certfile is not")
    ctx.load_cert_chain(cfg.certfile, cfg.keyfile, password if password is not None else _refuse_prompt)
    ctx.verify_mode = ssl.VerifyMode(cfg.cert_reqs)
    if cfg.ciphers:
        ctx.set_ciphers(cfg.ciphers)
    ctx.set_alpn_protocols(ALPN)
    # Client-initiated renegotiation only costs the server CPU; TLS 1.3 has none anyway.
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return ctx


def build_context(cfg: Config) -> ssl.SSLContext:
    """The context the ``ssl_context`` hook returns (by default ``default_context``)."""

    def factory(password: Password = None) -> ssl.SSLContext:
        return default_context(cfg, password)

    ctx: Any = cfg.ssl_context(cfg, factory)
    if not isinstance(ctx, ssl.SSLContext):
        raise TLSSetupError(f"TLS: the ssl_context hook returned {type(ctx).__name__}, not an ssl.SSLContext")
    return ctx


def check(cfg: Config, log: Any) -> None:
    """In the master, before forking: fail with one clear line if no context can be built."""
    if not cfg.is_ssl:
        return
    for name in ("certfile", "keyfile", "ca_certs"):
        path = getattr(cfg, name)
        if path and not os.access(path, os.R_OK):
            problem = "does not exist" if not os.path.exists(path) else "is not readable"
            raise TLSSetupError(f'TLS: {name} "{path}" {problem}')
    if cfg.ssl_version not in _FLOORS:
        log.warning(
            "ssl_version %s is older than TLS 1.2 and is ignored: TLS 1.2 is the minimum", cfg.ssl_version
        )
    try:
        build_context(cfg)
    except TLSSetupError:
        raise
    except _NoPassword:
        raise TLSSetupError(
            f'TLS: keyfile "{cfg.keyfile or cfg.certfile}" is encrypted: give its pass phrase in the '
            "ssl_context hook (default_ssl_context_factory(password=...))"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise TLSSetupError(f"TLS: cannot build the server context: {describe(exc, cfg)}") from None


def describe(exc: BaseException, cfg: Config) -> str:
    """A one-line reason for an ``ssl``/``OSError`` failure, naming the usual culprits."""
    reason = getattr(exc, "reason", None)
    if reason == "KEY_VALUES_MISMATCH":
        return "the private key does not match the certificate (KEY_VALUES_MISMATCH)"
    if isinstance(exc, ssl.SSLError) and "PEM lib" in str(exc):
        # OpenSSL gives no reason here: look at the files to say which one is wrong.
        cert, key = _read(cfg.certfile), _read(cfg.keyfile or cfg.certfile)
        if "-----BEGIN CERTIFICATE-----" not in cert:
            return f'certfile "{cfg.certfile}" holds no PEM certificate'
        if "ENCRYPTED" in key:
            return f'wrong pass phrase for the private key in "{cfg.keyfile or cfg.certfile}"'
        if "PRIVATE KEY-----" not in key:
            return f'keyfile "{cfg.keyfile or cfg.certfile}" holds no PEM private key'
    return " ".join(str(exc).split())


def _read(path: str | None) -> str:
    try:
        with open(path or "", encoding="latin-1") as file:
            return file.read(1 << 20)
    except OSError:
        return ""


class WorkerTLS:
    """One worker's TLS: its context, how sockets are wrapped, and the certificate watch."""

    def __init__(self, cfg: Config, log: Any) -> None:
        self.cfg = cfg
        self.log = log
        self.context = build_context(cfg)
        self.ragged = bool(cfg.suppress_ragged_eofs)
        self.interval = float(cfg.ssl_reload_interval)
        self.next_check = 0.0
        self.stamp = self._stamp()

    def wrap(self, sock: Any) -> ssl.SSLSocket:
        # The handshake is driven by the engine's loop, never by a blocking call here.
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=self.ragged
        )

    def tick(self, now: float) -> None:
        """From the loop's tick: rebuild the context if the certificate files changed."""
        if self.interval <= 0 or now < self.next_check:
            return
        self.next_check = now + self.interval
        stamp = self._stamp()
        if stamp == self.stamp:
            return
        self.stamp = stamp  # a half-written pair fails once, then loads when the second file lands
        try:
            self.context = build_context(self.cfg)
        except Exception as exc:
            self.log.error(
                "TLS: certificate files changed but cannot be loaded, keeping the old ones: %s", exc
            )
            return
        self.log.info("TLS: certificate files changed: new connections use them")

    def _stamp(self) -> tuple[object, ...]:
        stamp: list[object] = []
        for path in (self.cfg.certfile, self.cfg.keyfile, self.cfg.ca_certs):
            try:
                st = os.stat(path) if path else None
            except OSError:
                st = None
            stamp.append((st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None)
        return tuple(stamp)

    def environ(self, inner: ConnectionEnviron | TLSEnviron, sock: ssl.SSLSocket) -> TLSEnviron:
        return TLSEnviron(inner, connection_keys(sock))


def connection_keys(sock: ssl.SSLSocket) -> dict[str, str]:
    """The environ keys describing a finished handshake (mod_ssl's names)."""
    cipher = sock.cipher()
    keys = {
        "HTTPS": "on",
        "SSL_PROTOCOL": sock.version() or "",
        "SSL_CIPHER": cipher[0] if cipher else "",
        "SSL_CLIENT_VERIFY": "NONE",
    }
    der = sock.getpeercert(binary_form=True)
    if der:
        keys["SSL_CLIENT_CERT"] = ssl.DER_cert_to_PEM_cert(der)
        info = sock.getpeercert()
        if info:  # only a verified certificate is decoded by the ssl module
            keys["SSL_CLIENT_VERIFY"] = "SUCCESS"
            keys["SSL_CLIENT_S_DN"] = _dn(info.get("subject", ()))
            keys["SSL_CLIENT_I_DN"] = _dn(info.get("issuer", ()))
    return keys


def _dn(rdns: Any) -> str:
    """An RFC 4514-style distinguished name from the ssl module's nested tuples."""
    names = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    names |= {"countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{names.get(k, k)}={v}" for k, v in rdn))
    return ",".join(parts)


class TLSEnviron:
    """A connection's environ builder plus its TLS keys (fixed for the connection's life)."""

    __slots__ = ("inner", "keys")

    def __init__(self, inner: ConnectionEnviron | TLSEnviron, keys: dict[str, str]) -> None:
        self.inner = inner
        self.keys = keys

    def build(
        self, request: Any, wsgi_input: object, proxy_info: Any = None, sock: object = None
    ) -> dict[str, Any]:
        env = self.inner.build(request, wsgi_input, proxy_info, sock)
        env.update(self.keys)
        return env
