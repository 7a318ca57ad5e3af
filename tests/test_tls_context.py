"""`monoceros.workers.tls` without a server: the default context, the hook, the master's check, the reload
watch."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from monoceros.config import Config
from monoceros.config.sections.tls import ssl_version
from monoceros.workers.tls import TLSSetupError, WorkerTLS, build_context, check, default_context, min_version

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed (Debian: openssl)")
LOG = logging.getLogger("test-tls")


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    assert OPENSSL is not None
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def config(**values: object) -> Config:
    cfg = Config({})
    for name, value in values.items():
        cfg.set(name, value)
    return cfg


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path, "server")


def test_default_context_is_safe(pair: tuple[Path, Path]) -> None:
    ctx = default_context(config(certfile=str(pair[0]), keyfile=str(pair[1])))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.options & ssl.OP_NO_RENEGOTIATION


def test_cert_reqs_and_ciphers_are_applied(pair: tuple[Path, Path]) -> None:
    cfg = config(certfile=str(pair[0]), keyfile=str(pair[1]), ca_certs=str(pair[0]), cert_reqs=2)
    cfg.set("ciphers", "ECDHE+AESGCM")
    ctx = default_context(cfg)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 and all("GCM" in name for name in tls12)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TLS", 2), ("TLSv1_2", 5), ("TLSv1_3", 772), ("TLS_SERVER", 17), ("2", 2), (5, 5)],
)
def test_ssl_version_accepts_gunicorn_names_and_numbers(value: object, expected: int) -> None:
    assert ssl_version(value) == expected


@pytest.mark.parametrize(
    ("value", "floor"),
    [
        (2, ssl.TLSVersion.TLSv1_2),
        (5, ssl.TLSVersion.TLSv1_2),
        (772, ssl.TLSVersion.TLSv1_3),
        (3, ssl.TLSVersion.TLSv1_2),
    ],
)
def test_min_version_never_goes_below_tls_1_2(value: int, floor: ssl.TLSVersion) -> None:
    assert min_version(config(ssl_version=value)) == floor


def test_old_ssl_version_is_ignored_with_a_warning(
    pair: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        check(config(certfile=str(pair[0]), keyfile=str(pair[1]), ssl_version="TLSv1"), LOG)
    assert "older than TLS 1.2 and is ignored" in caplog.text


def test_the_hook_gets_the_config_and_the_factory(pair: tuple[Path, Path]) -> None:
    seen: list[object] = []

    def hook(cfg: Config, factory: object) -> ssl.SSLContext:
        seen.append(cfg)
        assert callable(factory)
        ctx: ssl.SSLContext = factory()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    cfg = config(certfile=str(pair[0]), keyfile=str(pair[1]), ssl_context=hook)
    assert build_context(cfg).minimum_version == ssl.TLSVersion.TLSv1_3
    assert seen == [cfg]


def test_check_does_nothing_without_tls() -> None:
    check(config(), LOG)


def test_a_missing_ca_file_is_one_clear_line(pair: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = config(certfile=str(pair[0]), keyfile=str(pair[1]), ca_certs=str(tmp_path / "nope.pem"))
    with pytest.raises(TLSSetupError, match=r'^TLS: ca_certs ".*nope.pem" does not exist$'):
        check(cfg, LOG)


def test_worker_reloads_changed_files_and_keeps_the_old_on_failure(
    pair: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copyfile(pair[0], cert)
    shutil.copyfile(pair[1], key)
    tls = WorkerTLS(config(certfile=str(cert), keyfile=str(key), ssl_reload_interval=5), LOG)
    first = tls.context
    tls.tick(0.0)
    assert tls.context is first  # nothing changed
    new_cert, new_key = self_signed(tmp_path, "rotated")
    shutil.copyfile(new_cert, cert)
    shutil.copyfile(new_key, key)
    tls.tick(1.0)
    assert tls.context is first  # not due before the interval has passed
    tls.tick(5.0)
    assert tls.context is not first
    second = tls.context
    key.write_text("garbage\n")
    with caplog.at_level(logging.ERROR):
        tls.tick(10.0)
    assert tls.context is second
    assert "keeping the old ones" in caplog.text


def test_without_an_interval_the_files_are_never_watched(pair: tuple[Path, Path]) -> None:
    tls = WorkerTLS(config(certfile=str(pair[0]), keyfile=str(pair[1])), LOG)
    first = tls.context
    pair[1].write_text("garbage\n")
    tls.tick(1e9)
    assert tls.context is first
