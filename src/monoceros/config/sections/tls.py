"""Section "SSL": serving HTTPS directly (all accepted, none implemented yet)."""

from __future__ import annotations

from monoceros.config import validators as v
from monoceros.config.setting import Section, Setting

# The values of ssl.PROTOCOL_TLS and ssl.CERT_NONE, without importing ssl for every start-up.
PROTOCOL_TLS = 2
CERT_NONE = 0


class SSLSettings(Section, title="SSL"):
    keyfile = Setting[str | None](
        cli=["--keyfile"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        doc="""The private key file for HTTPS.""",
    )
    certfile = Setting[str | None](
        cli=["--certfile"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        doc="""The certificate file for HTTPS (with its chain).""",
    )
    ssl_version = Setting[int](
        cli=["--ssl-version"],
        validator=v.to_int,
        default=PROTOCOL_TLS,
        doc="""Deprecated by Gunicorn and ignored: the protocol version is negotiated. Use the
        `ssl_context` hook to restrict it.""",
    )
    cert_reqs = Setting[int](
        cli=["--cert-reqs"],
        validator=v.int_between(0, 2),
        default=CERT_NONE,
        doc="""Whether clients must present a certificate: 0 not requested, 1 optional, 2 required.""",
    )
    ca_certs = Setting[str | None](
        cli=["--ca-certs"],
        meta="FILE",
        validator=v.to_opt_str,
        default=None,
        doc="""The file of CA certificates used to verify client certificates.""",
    )
    suppress_ragged_eofs = Setting[bool](
        cli=["--suppress-ragged-eofs"],
        action="flag",
        validator=v.to_bool,
        default=True,
        doc="""Treat a TLS connection closed without a close-notify alert as a normal end of data.""",
    )
    do_handshake_on_connect = Setting[bool](
        cli=["--do-handshake-on-connect"],
        action="flag",
        validator=v.to_bool,
        default=False,
        doc="""Do the TLS handshake as soon as a connection is accepted rather than at the first
        read.""",
    )
    ciphers = Setting[str | None](
        cli=["--ciphers"],
        validator=v.to_opt_str,
        default=None,
        doc="""The allowed cipher suites, in OpenSSL cipher list format.""",
    )
