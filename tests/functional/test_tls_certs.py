"""Test certificates for test_tls.py, made with the `openssl` command: a CA and the leaves it signs.

EC P-256 keys keep generation fast (well under a second for the whole set). Tests that need them
skip when `openssl` is not installed (Debian package `openssl`).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")
_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
# The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks of a CA and of its leaves.
_CA_EXT = [
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
]
_LEAF_EXT = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid,issuer\n"
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertSet:
    ca: Pair
    server: Pair
    server2: Pair  # the same names, another key: what a certificate rotation installs
    client: Pair
    stranger: Pair  # a client certificate from a CA the server does not trust


def _run(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(directory: Path, name: str) -> Pair:
    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    extensions = [arg for ext in _CA_EXT for arg in ("-addext", ext)]
    _run("req", "-x509", *_KEY, "-keyout", str(pair.key), "-out", str(pair.cert), "-days", "2",
         "-subj", f"/CN={name}", *extensions, cwd=directory)  # fmt: skip
    return pair


def make_leaf(directory: Path, name: str, ca: Pair, subject: str) -> Pair:
    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(_LEAF_EXT)
    _run("req", "-new", *_KEY, "-keyout", str(pair.key), "-out", str(csr), "-subj", subject, cwd=directory)
    _run("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
         "-out", str(pair.cert), "-days", "2", "-extfile", str(ext), cwd=directory)  # fmt: skip
    return pair


def make_set(directory: Path) -> CertSet:
    ca, other_ca = make_ca(directory, "ca"), make_ca(directory, "other-ca")
    return CertSet(
        ca=ca,
        server=make_leaf(directory, "server", ca, "/CN=localhost/O=first"),
        server2=make_leaf(directory, "server2", ca, "/CN=localhost/O=second"),
        client=make_leaf(directory, "client", ca, "/CN=alice/O=Clients"),
        stranger=make_leaf(directory, "stranger", other_ca, "/CN=mallory"),
    )


def test_the_generated_set_chains_to_its_ca(tmp_path: Path) -> None:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed (Debian package: openssl)")
    certs = make_set(tmp_path)
    for leaf in (certs.server, certs.server2, certs.client):
        out = subprocess.run(
            [OPENSSL, "verify", "-CAfile", str(certs.ca.cert), str(leaf.cert)], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
