"""Section "SSL": serving HTTPS directly (see docs/tls.md); `ssl_reload_interval` is Monoceros' own."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting

# The values of ssl.PROTOCOL_TLS and ssl.CERT_NONE, without importing ssl for every start-up.
PROTOCOL_TLS = 2
CERT_NONE = 0
# Gunicorn also accepts the names of the ssl.PROTOCOL_* constants; TLSv1_3 is ours (ssl.TLSVersion value).
PROTOCOL_NAMES = {
    "SSLv23": 2,
    "TLS": 2,
    "TLS_SERVER": 17,
    "SSLv3": 1,
    "TLSv1": 3,
    "TLSv1_1": 4,
    "TLSv1_2": 5,
    "TLSv1_3": 772,
}


def ssl_version(value: object) -> int:
    """An ssl.PROTOCOL_* number or name."""
    if isinstance(value, str) and value.strip() in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[value.strip()]
    return v.to_int(value)


class SSLSettings(Section, title="SSL"):
    keyfile = Setting[str | None](
        cli=["--keyfile"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The private key file for HTTPS.""",
    )
    certfile = Setting[str | None](
        cli=["--certfile"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The certificate file for HTTPS (with its chain).""",
    )
    ssl_version = Setting[int](
        cli=["--ssl-version"],
        validator=ssl_version,
        none_ok=True,
        default=PROTOCOL_TLS,
        implemented=True,
        doc="""The lowest TLS version accepted, as an `ssl.PROTOCOL_*` name or number: the default
        (`TLS`) and `TLSv1_2` accept TLS 1.2 and 1.3, `TLSv1_3` only TLS 1.3. Older versions are never
        enabled by this setting (a warning says so); lower the floor in the `ssl_context` hook if you
        must. Gunicorn ignores this setting.""",
    )
    cert_reqs = Setting[int](
        cli=["--cert-reqs"],
        validator=v.int_between(0, 2),
        default=CERT_NONE,
        implemented=True,
        doc="""Whether clients must present a certificate: 0 not requested, 1 optional, 2 required.""",
    )
    ca_certs = Setting[str | None](
        cli=["--ca-certs"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The file of CA certificates used to verify client certificates.""",
    )
    suppress_ragged_eofs = Setting[bool](
        cli=["--suppress-ragged-eofs"],
        action="flag",
        validator=v.to_bool,
        default=True,
        implemented=True,
        doc="""Treat a TLS connection closed without a close-notify alert as a normal end of data.""",
    )
    do_handshake_on_connect = Setting[bool](
        cli=["--do-handshake-on-connect"],
        action="flag",
        validator=v.to_bool,
        default=False,
        implemented=True,
        doc="""Accepted for compatibility: Monoceros always starts the TLS handshake as soon as a
        connection is accepted, without blocking (the worker's loop drives it, bounded by `timeout`).""",
    )
    ciphers = Setting[str | None](
        cli=["--ciphers"],
        validator=v.to_opt_str,
        default=None,
        implemented=True,
        doc="""The allowed cipher suites, in OpenSSL cipher list format.""",
    )
    ssl_reload_interval = Setting[int](
        cli=["--ssl-reload-interval"],
        meta="SECONDS",
        validator=v.to_int,
        default=0,
        implemented=True,
        doc="""Not in Gunicorn. When above 0, each worker checks every this many seconds whether the
        `certfile`, `keyfile` or `ca_certs` files changed on disk and, if so, serves new connections
        with them (open connections keep theirs). A pair that cannot be loaded is logged and the
        previous certificate stays in use. 0 (the default) reloads them only on HUP.""",
    )
