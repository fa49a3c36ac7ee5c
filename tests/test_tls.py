"""The deferred-verification TLS context of the SDK's own connection pools (apertis/_tls.py)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import certifi
import httpx
import pytest

import apertis
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


# ----------------------------------------------------------------------- a certificate that fails verification

# A self-signed certificate for 127.0.0.1 (EC P-256, valid until 2126), and its key: no CA trusts it.
_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUeVdA0dw2Z1RzO9W3oDXPxXMI0MowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwNjAxNTc0NloYDzIxMjYxMTEy
MDE1NzQ2WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARytW8lmENyb/HQwa4VVfpjsne6aqsHr5m13AJZKAzLIL1YjVSggonB
LVpTdVshuJzpTtZfQ47jR7+Ufuxe5sRJo2QwYjAdBgNVHQ4EFgQUB98R4mx7+zPl
ImzAJ/HiNVKw2fMwHwYDVR0jBBgwFoAUB98R4mx7+zPlImzAJ/HiNVKw2fMwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IQCNCWW/qNNinV4A00kJjfM+Cz4arOo5LCpJ0bpGGrLZ8QIgLvmY92s3GDW84nHS
tkRz+P8HfJqyIuc8tueA5ZkeF0U=
-----END CERTIFICATE-----
"""
_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoRdO5cjwVkLlVBoF
mliI+ayNaU/v/kgJoHH3fBd1BJ6hRANCAARytW8lmENyb/HQwa4VVfpjsne6aqsH
r5m13AJZKAzLIL1YjVSggonBLVpTdVshuJzpTtZfQ47jR7+Ufuxe5sRJ
-----END PRIVATE KEY-----
"""


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[Tuple[str, List[str]]]:
    """A TLS server on 127.0.0.1 with the self-signed certificate: (base URL, what each connection came to).

    Each connection is one handshake; one that succeeds gets `{"ok":true}` to its request.
    """
    (tmp_path / "cert.pem").write_text(_CERTIFICATE + _KEY, encoding="ascii")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "cert.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    outcomes: List[str] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += tls.recv(65536)
                    tls.sendall(
                        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
                    )
                outcomes.append("answered")
            except (ssl.SSLError, OSError):
                outcomes.append("handshake failed")
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1", outcomes
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone would not)
        listener.close()
        thread.join(5)


async def test_a_certificate_that_fails_verification_is_not_retried(
    kind: str, make_client: Callable[..., Any], call: Any, sleeps: List[float], self_signed_server: Any
) -> None:
    url, outcomes = self_signed_server
    client = make_client(base_url=url, max_retries=2)
    with pytest.raises(apertis.APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as info:
        await call(client.get, "/models")
    assert info.value.retries_taken == 0 and sleeps == []
    assert _wait_for(lambda: outcomes == ["handshake failed"])
    await call(client.close)


async def test_the_self_signed_server_answers_a_client_that_trusts_it(
    kind: str, call: Any, self_signed_server: Any, tmp_path: Path
) -> None:
    # The control for the test above: the server is a working TLS server, only the trust is missing.
    url, outcomes = self_signed_server
    (tmp_path / "ca.pem").write_text(_CERTIFICATE, encoding="ascii")
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    http_client = httpx.AsyncClient(verify=trusting) if kind == "async" else httpx.Client(verify=trusting)
    client_class = apertis.AsyncApertis if kind == "async" else apertis.Apertis
    client = client_class(api_key="sk-test", base_url=url, http_client=http_client, max_retries=0)
    assert await call(client.get, "/models") == {"ok": True}
    await call(http_client.aclose if isinstance(http_client, httpx.AsyncClient) else http_client.close)
    assert _wait_for(lambda: outcomes == ["answered"])


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.01)
    return condition()


# The name OpenSSL looks the certificate up by in a CA directory: its subject hash (`openssl x509 -hash`), ".0".
_CERTIFICATE_HASH_NAME = "88d0bdcb.0"


async def test_ssl_cert_dir_is_honoured_in_a_real_handshake(
    kind: str,
    make_client: Callable[..., Any],
    call: Any,
    self_signed_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK's own pool trusts what httpx's default would: here a CA directory that holds the server's certificate.
    url, outcomes = self_signed_server
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / _CERTIFICATE_HASH_NAME).write_text(_CERTIFICATE, encoding="ascii")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "ca"))
    monkeypatch.setattr(apertis._tls, "_context", None)  # a context of this test's own, loaded by this handshake
    client = make_client(base_url=url, max_retries=0)
    assert await call(client.get, "/models") == {"ok": True}
    await call(client.close)
    assert _wait_for(lambda: outcomes == ["answered"])


def test_concurrent_first_handshakes_load_the_certificates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = DeferredVerifyContext()
    loads: List[Any] = []
    load = context.load_verify_locations

    def counted_load(*args: Any, **kwargs: Any) -> None:
        loads.append(load(*args, **kwargs))

    context.load_verify_locations = counted_load  # type: ignore[method-assign]

    def handshake() -> None:
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api.apertis.ai")

    # Both threads find the certificates not loaded yet and queue up on the lock the test holds.
    with context._load_lock:
        threads = [threading.Thread(target=handshake) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join(10)
    assert len(loads) == 1
    assert context.get_ca_certs() == ssl.create_default_context(cafile=certifi.where()).get_ca_certs()


def test_sslkeylogfile_is_honoured_as_by_the_default_context(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    assert DeferredVerifyContext().keylog_filename == str(tmp_path / "keys.log")
    monkeypatch.delenv("SSLKEYLOGFILE")
    assert DeferredVerifyContext().keylog_filename is None


async def test_aiohttp_client_verifies_by_default_and_takes_the_callers_verify(
    self_signed_server: Any, tmp_path: Path
) -> None:
    pytest.importorskip("httpx_aiohttp")
    url, outcomes = self_signed_server
    async with apertis.AiohttpClient() as default:  # the SDK's deferred context: no CA trusts this server
        client = apertis.AsyncApertis(api_key="sk-test", base_url=url, http_client=default, max_retries=0)
        with pytest.raises(apertis.APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get("/models")
    (tmp_path / "ca.pem").write_text(_CERTIFICATE, encoding="ascii")
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    async with apertis.AiohttpClient(verify=trusting) as http_client:
        client = apertis.AsyncApertis(api_key="sk-test", base_url=url, http_client=http_client, max_retries=0)
        assert await client.get("/models") == {"ok": True}
    assert _wait_for(lambda: outcomes == ["handshake failed", "answered"])
