"""The deferred-verification TLS context of the SDK's own connection pools (apertis/_tls.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import pytest

from apertis._tls import DeferredVerifyContext, default_ssl_context


def test_the_default_context_is_shared_and_verifies_like_httpx_default() -> None:
    context = default_ssl_context()
    assert context is default_ssl_context()
    assert isinstance(context, DeferredVerifyContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.protocol == ssl.PROTOCOL_TLS_CLIENT


def test_certificates_are_loaded_by_the_first_tls_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = DeferredVerifyContext()
    assert context.get_ca_certs() == []  # constructing a client reads no certificate
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api.apertis.ai")
    expected = ssl.create_default_context(cafile=certifi.where()).get_ca_certs()
    assert context.get_ca_certs() == expected


def test_ssl_cert_file_is_honoured_as_httpx_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = Path(certifi.where()).read_text(encoding="ascii")
    end = "-----END CERTIFICATE-----"
    one = bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)] + "\n"
    (tmp_path / "one.pem").write_text(one, encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "one.pem"))
    context = DeferredVerifyContext()
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api.apertis.ai")
    assert len(context.get_ca_certs()) == 1
