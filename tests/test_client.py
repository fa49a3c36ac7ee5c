"""Client configuration and the requests it builds: env vars, headers, URLs, bodies, responses, secrecy."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, List

import httpx
import pytest
from conftest import API_KEY, BASE_URL
from pytest_httpx import HTTPXMock

import apertis


def test_api_key_and_base_url_from_the_environment(client_class: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APERTIS_API_KEY", "sk-from-env")
    monkeypatch.setenv("APERTIS_BASE_URL", "https://gateway.example/v1/")
    client = client_class()
    assert client.api_key == "sk-from-env"
    assert client.base_url == "https://gateway.example/v1"
    assert client_class(api_key="sk-explicit", base_url="http://localhost:8080/v1").api_key == "sk-explicit"


def test_defaults(client_class: Any) -> None:
    client = client_class(api_key="k")
    assert client.base_url == "https://api.apertis.ai/v1"
    assert client.max_retries == 2
    assert client.max_retry_after == 60.0
    assert client.timeout == httpx.Timeout(600.0, connect=5.0)
    assert client.timeout == apertis.DEFAULT_TIMEOUT
    assert apertis.DEFAULT_MAX_RETRIES == 2
    assert apertis.DEFAULT_CONNECTION_LIMITS.max_connections == 1000
    assert apertis.DEFAULT_CONNECTION_LIMITS.max_keepalive_connections == 100


def test_missing_api_key_names_both_sources(client_class: Any) -> None:
    with pytest.raises(ValueError, match=r"api_key.*APERTIS_API_KEY"):
        client_class()


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"api_key": ""}, ValueError, "api_key"),
        ({"api_key": 123}, TypeError, "api_key"),
        ({"api_key": "sk-abc\ndef"}, ValueError, "api_key"),
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": 1.5}, TypeError, "max_retries"),
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "10"}, TypeError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"max_retry_after": -1}, ValueError, "max_retry_after"),
        ({"base_url": "api.apertis.ai/v1"}, ValueError, "base_url"),
        ({"base_url": "ftp://x/v1"}, ValueError, "base_url"),
        ({"base_url": "http://[::1/v1"}, ValueError, "base_url"),  # httpx cannot parse it
        ({"base_url": 8080}, TypeError, "base_url"),
        ({"default_headers": {"X-A": 1}}, TypeError, "default_headers"),
        ({"default_headers": ["a"]}, TypeError, "default_headers"),
        ({"default_query": "a=b"}, TypeError, "default_query"),
        ({"http_client": object()}, TypeError, "http_client"),
    ],
)
def test_bad_configuration_fails_with_a_message_naming_the_argument(
    client_class: Any, kwargs: dict[str, Any], error: type, pattern: str
) -> None:
    kwargs.setdefault("api_key", "k")
    with pytest.raises(error, match=pattern):
        client_class(**kwargs)


def test_timeout_forms(client_class: Any) -> None:
    assert client_class(api_key="k", timeout=12).timeout == httpx.Timeout(12.0)
    assert client_class(api_key="k", timeout=None).timeout == httpx.Timeout(None)
    custom = httpx.Timeout(30.0, connect=2.0)
    assert client_class(api_key="k", timeout=custom).timeout is custom


async def test_per_call_timeout_reaches_the_request(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    client = make_client(timeout=20)
    await call(client.get, "/models")
    await call(client.get, "/models", timeout=3.5)
    await call(client.get, "/models", timeout=None)
    await call(client.get, "/models", timeout=httpx.Timeout(9.0, connect=1.0))
    timeouts = [r.extensions["timeout"] for r in httpx_mock.get_requests()]
    assert timeouts[0] == {"connect": 20.0, "read": 20.0, "write": 20.0, "pool": 20.0}
    assert timeouts[1]["read"] == 3.5
    assert timeouts[2] == {"connect": None, "read": None, "write": None, "pool": None}
    assert timeouts[3]["connect"] == 1.0
    with pytest.raises(ValueError, match="timeout"):
        await call(client.get, "/models", timeout=-2)


def test_repr_never_shows_the_key(make_client: Callable[..., Any]) -> None:
    client = make_client()
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    assert API_KEY not in str(client.default_headers)
    assert "base_url='https://api.test/v1'" in repr(client)


async def test_headers_sent(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"id": "m"})
    client = make_client(default_headers={"X-Team": "search", "X-Remove-Me": "1"})
    result = await call(client.post, "/chat/completions", body={"model": "m"}, extra_headers={"X-Remove-Me": None})
    assert result == {"id": "m"}
    request = httpx_mock.get_requests()[0]
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["user-agent"] == f"apertis-python/{apertis.__version__}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "search"
    assert "x-remove-me" not in request.headers
    assert not any(name.lower().startswith("x-stainless") for name in request.headers)


async def test_extra_headers_can_override_and_remove_defaults(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    await call(make_client().get, "/models", extra_headers={"User-Agent": None, "Accept": "text/plain"})
    request = httpx_mock.get_requests()[0]
    assert "user-agent" not in request.headers
    assert request.headers["accept"] == "text/plain"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("X-Note", "a\r\nX-Injected: 1", "line break"),
        ("X-Note", "a\nb", "line break"),
        ("X-Note", "a\x00b", "control character"),
        ("X-Note", "a\x7fb", "control character"),
        ("X Note", "a", "not a valid header name"),
        ("X-Note:", "a", "not a valid header name"),
        ("X-Nöte", "a", "not a valid header name"),
        ("", "a", "not a valid header name"),
    ],
)
async def test_a_header_that_cannot_be_sent_is_refused_before_sending(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, name: str, value: str, problem: str
) -> None:
    client = make_client(max_retries=2)
    with pytest.raises(ValueError, match=rf"^extra_headers: .*{problem}") as info:
        await call(client.get, "/models", extra_headers={name: value})
    assert not isinstance(info.value, apertis.ApertisError)
    with pytest.raises(ValueError, match=rf"^default_headers: .*{problem}"):
        make_client(default_headers={name: value})
    with pytest.raises(ValueError, match=rf"^default_headers: .*{problem}"):
        client.with_options(default_headers={name: value})
    assert httpx_mock.get_requests() == []


async def test_a_tab_inside_a_header_value_is_sent(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    await call(make_client().get, "/models", extra_headers={"X-Note": "a\tb"})
    assert httpx_mock.get_requests()[0].headers["x-note"] == "a\tb"


async def test_json_body_is_compact_utf8_with_extra_body_merged(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo ✓"}], "temperature": 0.5}
    await call(
        make_client().post, "/chat/completions", body=body, extra_body={"fallback_models": ["a"], "temperature": 1}
    )
    content = httpx_mock.get_requests()[0].content
    assert (
        content
        == json.dumps(
            {**body, "fallback_models": ["a"], "temperature": 1}, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert "héllo ✓".encode() in content


async def test_arguments_passed_as_none_are_left_out_of_the_body(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # apertis 0.4.1's meaning of None ("omit"), and what code ported from openai-python (max_tokens=None, ...)
    # expects; a provider may reject a null it does not take. extra_body still sends an explicit null.
    answer = {"model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    httpx_mock.add_response(json=answer)
    await call(
        make_client().chat.completions.create,
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        temperature=None,
        max_tokens=None,
        tools=None,
        stream=None,
        extra_body={"seed": None},
    )
    sent = json.loads(httpx_mock.get_requests()[0].content)
    assert sent == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": None}


async def test_bodies_that_are_not_json_fail_before_the_network(make_client: Callable[..., Any], call: Any) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="JSON"):
        await call(client.post, "/x", body={"when": object()})
    with pytest.raises(ValueError, match="NaN"):
        await call(client.post, "/x", body={"temperature": float("nan")})
    with pytest.raises(TypeError, match="extra_body"):
        await call(client.post, "/x", body={}, extra_body=["not", "a", "dict"])


async def test_query_layers_merge(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={})
    client = make_client(default_query={"tenant": "a", "drop": "x"})
    await call(client.get, "/video/query", query={"id": "task 1"}, extra_query={"drop": None, "flag": True})
    url = httpx_mock.get_requests()[0].url
    assert url.path == "/v1/video/query"
    assert dict(url.params) == {"tenant": "a", "id": "task 1", "flag": "true"}


async def test_host_root_and_absolute_urls(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    client = make_client(base_url="https://api.test:8443/v1")
    await call(client.post, "/sora/v1/characters", body={}, host_root=True)
    await call(client.get, "models")
    await call(client.get, "https://other.test/api/models")
    await call(client.get, "https://API.test:8443/v1/models")  # the API's own host, spelled differently
    await call(client.get, "https://other.test/api/models", extra_headers={"Authorization": "Bearer other"})
    requests = httpx_mock.get_requests()
    assert [str(r.url) for r in requests] == [
        "https://api.test:8443/sora/v1/characters",
        "https://api.test:8443/v1/models",
        "https://other.test/api/models",
        "https://api.test:8443/v1/models",
        "https://other.test/api/models",
    ]
    # The key goes to the API's host only; another host gets what the call passes itself.
    assert [r.headers.get("authorization") for r in requests] == [
        f"Bearer {client.api_key}",
        f"Bearer {client.api_key}",
        None,
        f"Bearer {client.api_key}",
        "Bearer other",
    ]


async def test_multipart_fields(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"text": "hi"})
    data = {
        "model": "whisper-1",
        "temperature": 0.2,
        "stream": False,
        "timestamp_granularities": ["word", "segment"],
        "chunking": {"type": "auto"},
        "language": None,
    }
    result = await call(
        make_client().post,
        "/audio/transcriptions",
        data=data,
        files=[("file", ("a.wav", b"RIFF", "audio/wav"))],
        extra_body={"extra_field": 1},
    )
    assert result == {"text": "hi"}
    request = httpx_mock.get_requests()[0]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    content = request.read()
    for expected in [
        b'name="model"\r\n\r\nwhisper-1\r\n',
        b'name="temperature"\r\n\r\n0.2\r\n',
        b'name="stream"\r\n\r\nfalse\r\n',
        b'name="timestamp_granularities[]"\r\n\r\nword\r\n',
        b'name="timestamp_granularities[]"\r\n\r\nsegment\r\n',
        b'name="chunking"\r\n\r\n{"type":"auto"}\r\n',
        b'name="extra_field"\r\n\r\n1\r\n',
        b'name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n',
    ]:
        assert expected in content
    assert b'name="language"' not in content


async def test_multipart_without_a_file_is_still_multipart(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={})
    await call(make_client().post, "/videos", data={"prompt": 'a "cat"', "seconds": 4}, files=[])
    request = httpx_mock.get_requests()[0]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="prompt"\r\n\r\na "cat"\r\n' in request.content
    assert b'name="seconds"\r\n\r\n4\r\n' in request.content


async def test_binary_response(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, tmp_path: Path, kind: str, sleeps: List[float]
) -> None:
    audio = bytes(range(256)) * 10
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(content=audio, headers={"content-type": "audio/mpeg"})
    result = await call(make_client().post, "/audio/speech", body={"input": "hi"}, response_kind="binary")
    assert type(result).__name__ == ("AsyncBinaryResponse" if kind == "async" else "BinaryResponse")
    assert httpx_mock.get_requests()[0].headers["accept"] == "*/*"
    assert result.content == audio
    assert result.content_type == "audio/mpeg"
    assert result.retries_taken == 1
    assert result.response.status_code == 200
    target = tmp_path / "speech.mp3"
    result.write_to_file(target)
    assert target.read_bytes() == audio
    chunks = [c async for c in result.aiter_bytes(1000)] if kind == "async" else list(result.iter_bytes(1000))
    assert b"".join(chunks) == audio
    assert len(chunks) == 3
    await call(result.close)
    assert "2560 bytes" in repr(result)

    # As a context manager, which closes it.
    httpx_mock.add_response(content=audio, headers={"content-type": "audio/mpeg"})
    result = await call(make_client().post, "/audio/speech", body={"input": "hi"}, response_kind="binary")
    if kind == "async":
        async with result as entered:
            assert entered is result
    else:
        with result as entered:
            assert entered is result
    assert result.response.is_closed


async def test_text_or_json_follows_the_content_type(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"text": "hello"})
    httpx_mock.add_response(text="1\n00:00:00,000 --> 00:00:01,000\nhello\n", headers={"content-type": "text/plain"})
    client = make_client()
    as_json = await call(
        client.post,
        "/audio/transcriptions",
        data={},
        files=[("file", b"x")],
        response_kind="text-or-json",
        cast_to=lambda d: d["text"],
    )
    as_text = await call(
        client.post, "/audio/transcriptions", data={}, files=[("file", b"x")], response_kind="text-or-json"
    )
    assert as_json == "hello"
    assert as_text.startswith("1\n00:00:00,000")


async def test_other_http_methods(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"ok": True}, is_reusable=True)
    client = make_client()
    for method in ("put", "patch", "delete"):
        assert await call(getattr(client, method), "/things/1") == {"ok": True}
    assert await call(client.request, "options", "/things") == {"ok": True}
    assert [r.method for r in httpx_mock.get_requests()] == ["PUT", "PATCH", "DELETE", "OPTIONS"]
    httpx_mock.add_response(status_code=204)
    assert await call(client.delete, "/things/2") is None


async def test_with_options_shares_the_pool_and_changes_only_the_copy(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, client_class: Any
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    client = make_client(default_headers={"X-A": "1"})
    copy = client.with_options(timeout=5, max_retries=7, default_headers={"X-B": "2"}, api_key="sk-other")
    assert type(copy) is client_class
    assert client.copy is not None and client_class.copy is client_class.with_options
    assert (copy.max_retries, copy.timeout, copy.base_url) == (7, httpx.Timeout(5.0), client.base_url)
    assert (client.max_retries, client.timeout) == (2, httpx.Timeout(600.0, connect=5.0))
    await call(copy.get, "/models")
    sent = httpx_mock.get_requests()[0].headers
    assert (sent["x-a"], sent["x-b"], sent["authorization"]) == ("1", "2", "Bearer sk-other")
    # The copy does not own the pool: closing it leaves the original working; closing the original closes both.
    await call(copy.close)
    assert not client.is_closed()
    await call(client.get, "/models")
    await call(client.close)
    assert client.is_closed() and copy.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        await call(copy.get, "/models")


async def test_context_manager_closes_its_own_pool_but_not_a_users(kind: str, client_class: Any) -> None:
    if kind == "async":
        async with client_class(api_key="k") as client:
            assert not client.is_closed()
        assert client.is_closed()
        mine = httpx.AsyncClient()
        async with client_class(api_key="k", http_client=mine):
            pass
        assert not mine.is_closed
        await mine.aclose()
    else:
        with client_class(api_key="k") as client:
            assert not client.is_closed()
        assert client.is_closed()
        mine_sync = httpx.Client()
        with client_class(api_key="k", http_client=mine_sync):
            pass
        assert not mine_sync.is_closed
        mine_sync.close()


def test_http_client_timeout_is_used_unless_one_is_given(kind: str, client_class: Any) -> None:
    http_client = (httpx.AsyncClient if kind == "async" else httpx.Client)(timeout=42.0)
    assert client_class(api_key="k", http_client=http_client).timeout == httpx.Timeout(42.0)
    assert client_class(api_key="k", http_client=http_client, timeout=3).timeout == httpx.Timeout(3.0)


async def test_redirects_are_not_followed_by_default(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=307, headers={"location": "https://elsewhere.test/v1/models"})
    with pytest.raises(apertis.APIStatusError) as info:
        await call(make_client().get, "/models")
    assert info.value.status_code == 307
    assert "https://elsewhere.test/v1/models" in info.value.message
    assert len(httpx_mock.get_requests()) == 1


async def test_a_following_http_client_drops_authorization_when_leaving_the_host(
    kind: str, client_class: Any, call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{BASE_URL}/models", status_code=307, headers={"location": "https://evil.test/steal"})
    httpx_mock.add_response(url="https://evil.test/steal", json={})
    http_client = (httpx.AsyncClient if kind == "async" else httpx.Client)(follow_redirects=True)
    client = client_class(api_key=API_KEY, base_url=BASE_URL, http_client=http_client)
    await call(client.get, "/models")
    first, second = httpx_mock.get_requests()
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    assert "authorization" not in second.headers


def test_tls_verification_is_on_by_default(kind: str, client_class: Any) -> None:
    client = client_class(api_key="k")
    pool = client._client._transport._pool
    assert pool._ssl_context.verify_mode.name == "CERT_REQUIRED"


async def test_the_key_never_reaches_the_logs(
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
    sleeps: List[float],
) -> None:
    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(status_code=401, json={"error": {"message": f"bad key {API_KEY}"}})
    client = make_client(default_headers={"x-api-key": API_KEY})
    with caplog.at_level(logging.DEBUG), pytest.raises(apertis.AuthenticationError):
        await call(client.post, "/chat/completions", body={"model": "m", "messages": "SECRET-PROMPT"})
    assert caplog.records, "debug logging produced nothing to check"
    assert any("Request:" in record.getMessage() for record in caplog.records)
    assert API_KEY not in caplog.text
    assert "SECRET-PROMPT" not in caplog.text
    assert "<redacted>" in caplog.text


def test_apertis_log_env_turns_on_logging() -> None:
    script = (
        "import apertis, logging\n"
        "apertis.AsyncApertis(api_key='k')\n"
        "logger = logging.getLogger('apertis')\n"
        "print(logger.level, len(logger.handlers))\n"
        "logger.debug('h %s', {'Authorization': 'Bearer sk-hidden', 'x-api-key': 'sk-hidden'})\n"
    )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    env = {**base_env, "APERTIS_LOG": "debug"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == [str(logging.DEBUG), "1"]
    assert "sk-hidden" not in done.stderr
    assert "<redacted>" in done.stderr
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=base_env, check=True)
    assert quiet.stdout.split() == ["0", "0"]


def test_apertis_log_env_adds_one_redacting_handler_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process (the test above runs a child, whose coverage is not measured): what a client's first
    # construction sets up, and that a second one adds nothing.
    logger = logging.getLogger("apertis")
    monkeypatch.setattr(apertis._logging, "_configured", False)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setenv("APERTIS_LOG", " Info ")
    for _ in range(2):
        apertis.Apertis(api_key="k").close()
    assert logger.level == logging.INFO
    (handler,) = logger.handlers
    assert any(isinstance(f, apertis._logging.SensitiveHeadersFilter) for f in handler.filters)


def test_import_is_lazy() -> None:
    script = (
        "import sys, apertis\n"
        "names = ('httpx', 'apertis.types', 'apertis.resources', 'apertis._async._client')\n"
        "print(sorted(m for m in names if m in sys.modules))\n"
        "apertis.AsyncApertis\n"
        "print('apertis._async._client' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_users_first_line_loads_only_the_clients() -> None:
    # `from apertis import Apertis, AsyncApertis` is what every program runs first: the opt-in machinery (hooks and
    # tracing, the RateLimiter, uploads) and attrs (the models of a first call) wait for their first use.
    loaded = "print(sorted(m for m in {!r} if m in sys.modules))\n".format(
        ("attrs", "apertis._observe", "apertis._limiter", "apertis._files", "apertis.types")
    )
    first_line = "import sys\nfrom apertis import Apertis, AsyncApertis\n" + loaded
    opt_in = (
        "import sys\nfrom apertis import Apertis, Hooks\n"
        "client = Apertis(api_key='sk-test', base_url='http://127.0.0.1:9/v1')\n"
        + loaded
        + "client.with_options(hooks=Hooks(on_request=print))\n"
        "Apertis(api_key='sk-test', limiter=True).close()\n" + loaded
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    done = subprocess.run([sys.executable, "-c", first_line], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split("\n")[0] == "[]"
    done = subprocess.run([sys.executable, "-c", opt_in], capture_output=True, text=True, env=env, check=True)
    constructed, used = done.stdout.split("\n")[:2]
    assert "apertis._limiter" not in constructed and "apertis._files" not in constructed
    assert "'apertis._observe'" in used and "'apertis._limiter'" in used


def test_public_names() -> None:
    for name in ["Apertis", "AsyncApertis", "NOT_GIVEN", "NotGiven", "Timeout", "DEFAULT_BASE_URL", "RateLimitError"]:
        assert name in apertis.__all__
        assert getattr(apertis, name) is not None
    assert apertis.DEFAULT_BASE_URL == "https://api.apertis.ai/v1"
    with pytest.raises(AttributeError):
        apertis.NoSuchThing  # noqa: B018


def test_not_given_stays_the_one_sentinel_through_copies_and_pickling() -> None:
    # Request arguments are checked with `is NOT_GIVEN`: a copied or unpickled argument dict (a retry queue, a
    # multiprocessing task) must still read as "left out", and never as a truthy value.
    import copy
    import pickle

    arguments = {"model": "m", "temperature": apertis.NOT_GIVEN}
    for clone in (copy.deepcopy(arguments), pickle.loads(pickle.dumps(arguments))):
        assert clone["temperature"] is apertis.NOT_GIVEN
    assert copy.copy(apertis.NOT_GIVEN) is apertis.NOT_GIVEN
    assert apertis.NotGiven() is apertis.NOT_GIVEN
    assert not apertis.NOT_GIVEN
    assert repr(arguments) == "{'model': 'm', 'temperature': NOT_GIVEN}"


def test_one_sync_client_is_shared_by_threads(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"ok": True}, is_reusable=True)
    client = apertis.Apertis(api_key=API_KEY, base_url=BASE_URL)
    results: List[Any] = []
    errors: List[BaseException] = []

    def work() -> None:
        try:
            results.extend(client.get("/models") for _ in range(20))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert results == [{"ok": True}] * 160
    client.close()


def test_the_async_client_outside_asyncio_says_it_needs_asyncio() -> None:
    # Driven by hand, as another async library's scheduler would: no asyncio loop runs. The call fails at once
    # with an error that names the way out, not in the middle of a retry or inside httpcore.
    client = apertis.AsyncApertis(api_key="sk-test-0123456789", base_url="https://api.test/v1")
    coroutine = client.models.list()
    with pytest.raises(RuntimeError, match=r"runs on asyncio .* sync Apertis client in a worker thread"):
        coroutine.send(None)
    coroutine.close()


@pytest.mark.parametrize("cookie", [False, True])
async def test_a_request_is_built_header_for_header_as_httpx_builds_it(
    kind: str, make_client: Callable[..., Any], call: Callable[..., Any], cookie: bool
) -> None:
    # The SDK builds its common requests (a JSON body, no caller headers) from templates merged with the http
    # client's own headers; a client whose build_request is overridden gets httpx's. Both must send the same.
    seen: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"set-cookie": "session=s1; Path=/"} if cookie else {})

    base: Any = httpx.AsyncClient if kind == "async" else httpx.Client

    class BuildsItsOwn(base):  # type: ignore[misc]
        def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
            request: httpx.Request = super().build_request(*args, **kwargs)
            return request

    sent: List[List[Any]] = []
    for http_class in (base, BuildsItsOwn):
        http_client = http_class(
            transport=httpx.MockTransport(handler),
            headers={"Accept": "text/html", "X-Proxy-Team": "blue", "user-agent": "theirs"},
            params={"tenant": "t1"},
        )
        client = make_client(http_client=http_client)
        for _ in range(2):  # the second time, from the templates cached by the first (and with its cookie)
            await call(client.post, "/chat/completions", body={"model": "m", "messages": []}, query={"q": "1"})
        # Everything but the idempotency key, which is new on every call.
        sent.append(
            [
                ([item for item in r.headers.multi_items() if item[0] != "idempotency-key"], str(r.url), r.content)
                for r in seen
            ]
        )
        seen.clear()
        await call(client.close)
        await call(http_client.aclose if kind == "async" else http_client.close)
    assert sent[0] == sent[1]
    headers = dict(sent[0][1][0])
    assert headers["accept"] == "application/json" and headers["x-proxy-team"] == "blue"
    assert ("cookie" in headers) is cookie
