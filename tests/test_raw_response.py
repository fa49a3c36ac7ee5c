"""`with_raw_response` / `with_streaming_response` on the generated resources, and the gateway metadata
(`_gateway` on results and streams, `gateway` on raw responses), through the public client, both twins."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest
from pytest_httpx import HTTPXMock
from rawserver import loopback_servers, maybe_await, raw
from test_operations import BASE_URL, SPEC, _bound_method, _call_arguments, _json_operations, _resolve

import apertis
from apertis import Apertis, AsyncApertis
from apertis.testing import FakeApertis

MESSAGES = [{"role": "user", "content": "Hi"}]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "claude-sonnet-4.5",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop", "logprobs": None}
    ],
    "usage": {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "total_tokens": 4,
        "latency_checkpoint": {"engine_ttft_ms": 210, "service_ttft_ms": 225.5, "total_duration_ms": 480},
    },
}
GATEWAY_HEADERS = {
    "x-request-id": "req_abc",
    "x-actual-model": "claude-sonnet-4.5",
    "x-fallback-used": "true",
    "x-fallback-from": "gpt-4.1-mini",
    "x-fallback-reason": "primary_model_failed",
    "x-web-search-used": "true",
    "x-web-search-count": "3",
    "x-web-search-status": "success",
    "x-compression-applied": "true",
    "x-compression-original-tokens": "12000",
    "x-compression-final-tokens": "2000",
    "x-compression-savings": "83%",
    "x-ratelimit-limit": "1500",
    "x-ratelimit-remaining": "1499",
    "x-ratelimit-reset": "1767225600",
}


@pytest.fixture
def loopback() -> Iterator[Callable[..., Any]]:
    yield from loopback_servers()


@pytest.fixture
async def open_client(make_client: Callable[..., Any], call: Any) -> Any:
    """`make_client`, closing every client it made at the end of the test."""
    clients: List[Any] = []

    def make(**kwargs: Any) -> Any:
        clients.append(make_client(**kwargs))
        return clients[-1]

    yield make
    for client in clients:
        await call(client.close)


@pytest.fixture
def server() -> Iterator[FakeApertis]:
    with FakeApertis() as fake:
        yield fake


async def enter(manager: Any) -> Any:
    if hasattr(manager, "__aenter__"):
        return await manager.__aenter__()
    return manager.__enter__()


async def leave(manager: Any) -> None:
    if hasattr(manager, "__aexit__"):
        await manager.__aexit__(None, None, None)
    else:
        manager.__exit__(None, None, None)


async def collect(iterator: Any) -> List[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


# -- with_raw_response ------------------------------------------------------------------------------------------


async def test_raw_response_has_headers_status_and_parses_the_result(
    open_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    httpx_mock.add_response(status_code=503, json={"error": {"message": "busy"}})
    httpx_mock.add_response(json=COMPLETION, headers=GATEWAY_HEADERS)
    client = open_client()
    response = await call(client.chat.completions.with_raw_response.create, model="gpt-4.1-mini", messages=MESSAGES)
    assert type(response).__name__ in ("APIResponse", "AsyncAPIResponse")
    assert response.status_code == 200
    assert response.headers["x-actual-model"] == "claude-sonnet-4.5"
    assert isinstance(response.http_response, httpx.Response)
    assert response.request_id == "req_abc"
    assert response.retries_taken == 1
    assert response.gateway.actual_model == "claude-sonnet-4.5"
    completion = await call(response.parse)
    assert isinstance(completion, apertis.types.ChatCompletion)
    assert completion.choices[0].message.content == "hello"
    assert completion.retries_taken == 1 and completion._request_id == "req_abc"
    assert await call(response.parse) is completion  # parsed once
    assert (await call(response.json))["id"] == "chatcmpl-1"


async def test_raw_response_of_a_streamed_call_parses_to_the_stream(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    response = await call(
        client.chat.completions.with_raw_response.create, model="gpt-4.1-mini", messages=MESSAGES, stream=True
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = await call(response.parse)
    assert type(stream).__name__.endswith("ChatCompletionStream")
    chunks = await collect(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Offline answer")
    assert response.is_closed


async def test_raw_response_of_a_sub_resource_and_an_error_status(
    open_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=404, json={"error": {"message": "no such model"}})
    client = open_client(max_retries=0)
    with pytest.raises(apertis.NotFoundError, match="no such model"):
        await call(client.chat.with_raw_response.completions.create, model="nope", messages=MESSAGES)


async def test_raw_wrappers_check_arguments_as_the_method(open_client: Callable[..., Any], call: Any) -> None:
    client = open_client()
    with pytest.raises(TypeError, match="temprature"):
        await call(client.chat.completions.with_raw_response.create, model="m", messages=MESSAGES, temprature=1)
    # The streaming variant sends (and checks) when its block is entered, as in openai-python.
    manager = client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, temprature=1)
    with pytest.raises(TypeError, match="temprature"):
        await enter(manager)


def test_wrappers_keep_signature_and_docstring(kind: str) -> None:
    client = (apertis.AsyncApertis if kind == "async" else apertis.Apertis)(api_key="k", base_url="http://x/v1")
    for wrappers in (client.chat.completions.with_raw_response, client.chat.completions.with_streaming_response):
        assert inspect.getdoc(wrappers.create) == inspect.getdoc(client.chat.completions.create)
        original = inspect.signature(client.chat.completions.create).parameters
        assert list(inspect.signature(wrappers.create).parameters) == list(original)
    assert client.chat.completions.with_raw_response is client.chat.completions.with_raw_response  # cached


def test_wrapper_modules_are_loaded_on_first_use() -> None:
    code = (
        "import sys, apertis\n"
        "client = apertis.Apertis(api_key='k', base_url='http://x/v1')\n"
        "client.chat.completions\n"
        "assert not [m for m in sys.modules if '_raw' in m], [m for m in sys.modules if '_raw' in m]\n"
        "client.chat.completions.with_raw_response\n"
        "assert 'apertis._sync.resources._raw_chat' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- with_streaming_response ------------------------------------------------------------------------------------


async def test_streaming_response_reads_the_body_only_when_asked(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    manager = client.audio.speech.with_streaming_response.create(model="tts-1", input="hello", voice="alloy")
    response = await enter(manager)
    try:
        assert response.status_code == 200
        assert not response.http_response.is_stream_consumed
        chunks = await collect(response.iter_bytes(1024))
        assert len(chunks) > 1 and all(len(c) <= 1024 for c in chunks)
        assert response.gateway.rate_limit is not None
    finally:
        await leave(manager)
    assert response.is_closed


async def test_streaming_response_lines_and_parse(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    manager = client.chat.completions.with_streaming_response.create(
        model="gpt-4.1-mini", messages=MESSAGES, stream=True
    )
    response = await enter(manager)
    try:
        lines = [line for line in await collect(response.iter_lines()) if line]
        assert lines[0].startswith("data: {") and lines[-1] == "data: [DONE]"
    finally:
        await leave(manager)
    assert response.is_closed

    manager = client.models.with_streaming_response.list()
    response = await enter(manager)
    try:
        models = await call(response.parse)
        assert isinstance(models, apertis.types.ModelList) and models.data
        assert models._gateway.request_id == response.request_id
    finally:
        await leave(manager)


async def test_streaming_response_leaves_a_json_body_unread_until_asked(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    manager = client.chat.completions.with_streaming_response.create(model="gpt-4.1-mini", messages=MESSAGES)
    response = await enter(manager)
    try:
        assert not response.http_response.is_stream_consumed
        completion = await call(response.parse)
        assert completion.choices[0].message.content.startswith("Offline answer")
    finally:
        await leave(manager)


async def test_a_json_answer_to_a_stream_still_raises_with_its_message(
    open_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"error": {"message": "model overloaded", "code": 503}}, is_reusable=True)
    client = open_client(max_retries=0)
    for accept in (None, "*/*"):  # also when extra_headers replaced the Accept header of the stream
        with pytest.raises(apertis.APIStatusError, match="model overloaded"):
            await call(
                client.chat.completions.create,
                model="m",
                messages=MESSAGES,
                stream=True,
                extra_headers=None if accept is None else {"Accept": accept},
            )
        raw_response = await call(
            client.chat.completions.with_raw_response.create, model="m", messages=MESSAGES, stream=True
        )
        with pytest.raises(apertis.APIStatusError, match="model overloaded"):
            await call(raw_response.parse)


async def test_streaming_response_body_failure_is_an_sdk_error(
    open_client: Callable[..., Any], call: Any, loopback: Callable[..., Any]
) -> None:
    # 100 bytes promised, 3 sent: the failure comes while the caller reads, after the call returned.
    server = loopback(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: audio/mpeg\r\n\r\nabc"))
    client = open_client(base_url=server.url, max_retries=0)
    manager = client.audio.speech.with_streaming_response.create(model="tts-1", input="hi", voice="alloy")
    response = await enter(manager)
    try:
        with pytest.raises(apertis.APIConnectionError):
            await call(response.read)
    finally:
        await leave(manager)


# -- gateway metadata -------------------------------------------------------------------------------------------


async def test_gateway_metadata_of_a_result(open_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=COMPLETION, headers=GATEWAY_HEADERS)
    httpx_mock.add_response(json=COMPLETION)
    client = open_client()
    completion = await call(client.chat.completions.create, model="gpt-4.1-mini", messages=MESSAGES)
    gateway = completion._gateway
    assert isinstance(gateway, apertis.GatewayInfo)
    assert gateway.actual_model == "claude-sonnet-4.5"
    assert gateway.fallback == apertis.FallbackInfo(used=True, from_model="gpt-4.1-mini", reason="primary_model_failed")
    assert gateway.web_search == apertis.WebSearchInfo(used=True, count=3, status="success")
    assert gateway.compression is not None and gateway.compression.savings == "83%"
    assert gateway.compression.original_tokens == 12000 and gateway.compression.final_tokens == 2000
    assert gateway.rate_limit == apertis.RateLimitInfo(limit=1500, remaining=1499, reset=1767225600)
    assert gateway.request_id == "req_abc" and gateway.retries_taken == 0
    assert "claude-sonnet-4.5" in repr(gateway)
    latency = completion.usage.latency_checkpoint
    assert (latency.engine_ttft_ms, latency.service_ttft_ms, latency.total_duration_ms) == (210, 225.5, 480)

    # Outside equality and repr; kept by pickle.
    plain = await call(client.chat.completions.create, model="gpt-4.1-mini", messages=MESSAGES)
    assert plain == completion
    assert plain._gateway.actual_model is None and plain._gateway.fallback is None
    assert plain._gateway.rate_limit is None and plain._gateway.web_search is None
    assert "_gateway" not in repr(completion) and "req_abc" not in repr(completion)
    restored = pickle.loads(pickle.dumps(completion))
    assert restored == completion and restored._gateway.actual_model == "claude-sonnet-4.5"
    # Nested models and models built in code report nothing.
    assert completion.choices[0]._gateway.actual_model is None


async def test_gateway_metadata_of_the_offline_server(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    completion = await call(
        client.chat.completions.create,
        model="gpt-unavailable",
        messages=MESSAGES,
        fallback_models=["claude-sonnet-4.5"],
        fallback_enabled=True,
        compression={"enabled": True, "threshold": 1},
    )
    gateway = completion._gateway
    assert completion.model == gateway.actual_model == "claude-sonnet-4.5"
    expected = apertis.FallbackInfo(used=True, from_model="gpt-unavailable", reason="primary_model_failed")
    assert gateway.fallback == expected
    assert gateway.compression is not None and gateway.compression.applied
    assert gateway.rate_limit is not None and gateway.rate_limit.limit == 1500
    assert completion.usage.latency_checkpoint.total_duration_ms > 0

    stream = await call(client.chat.completions.create, model="gpt-4.1-mini:web", messages=MESSAGES, stream=True)
    try:
        assert stream._gateway.web_search == apertis.WebSearchInfo(used=True, count=2, status="success")
        assert stream._gateway.actual_model == "gpt-4.1-mini"
        assert stream._request_id is not None
    finally:
        await call(stream.close)

    speech = await call(client.audio.speech.create, model="tts-1", input="hi", voice="alloy")
    assert speech._gateway.request_id == speech._request_id is not None


async def test_the_final_model_of_a_stream_reports_the_gateway_metadata(
    open_client: Callable[..., Any], call: Any, server: FakeApertis
) -> None:
    client = open_client(base_url=server.url)
    stream = await call(
        client.chat.completions.create,
        model="gpt-unavailable",
        messages=MESSAGES,
        stream=True,
        fallback_models=["claude-sonnet-4.5"],
        fallback_enabled=True,
    )
    final = await call(stream.get_final_completion)
    assert final._gateway.actual_model == "claude-sonnet-4.5"
    assert final._request_id == stream._request_id is not None
    message_stream = await call(
        client.messages.create, model="claude-sonnet-4.5", max_tokens=64, messages=MESSAGES, stream=True
    )
    message = await call(message_stream.get_final_message)
    assert message._request_id == message_stream._request_id is not None
    assert message._gateway.rate_limit is not None


# -- every operation --------------------------------------------------------------------------------------------


def _wrapped(client: Any, operation: Dict[str, Any], wrapper: str) -> Any:
    target = client
    for attribute in operation["x-apertis-resource"].split("."):
        target = getattr(target, attribute)
    return getattr(getattr(target, wrapper), operation["x-apertis-method"])


def test_every_operation_has_both_wrappers_with_its_signature_and_docstring() -> None:
    clients = (Apertis(api_key="k", base_url=BASE_URL), AsyncApertis(api_key="k", base_url=BASE_URL))
    for operation in (op for item in SPEC["paths"].values() for op in item.values() if "operationId" in op):
        for client in clients:
            original = _bound_method(client, operation)
            for wrapper in ("with_raw_response", "with_streaming_response"):
                method = _wrapped(client, operation, wrapper)
                where = f"{operation['operationId']} {wrapper}"
                assert inspect.getdoc(method) == inspect.getdoc(original), where
                parameters = inspect.signature(method).parameters
                assert list(parameters) == list(inspect.signature(original).parameters), where
    clients[0].close()


@pytest.mark.parametrize(("path", "method", "operation"), _json_operations())
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_every_json_operation_through_with_raw_response(
    httpx_mock: HTTPXMock, flavour: str, path: str, method: str, operation: Dict[str, Any]
) -> None:
    args, kwargs, _, _ = _call_arguments(path, operation)
    ok = _resolve(operation["responses"].get("200") or operation["responses"].get("201"))
    example = ok["content"]["application/json"]["example"]
    httpx_mock.add_response(json=example, headers={"x-request-id": "req_123", "x-actual-model": "m"})
    client = (Apertis if flavour == "sync" else AsyncApertis)(api_key="sk-test", base_url=BASE_URL, max_retries=0)
    try:
        response = await maybe_await(_wrapped(client, operation, "with_raw_response")(*args, **kwargs))
        assert response.request_id == "req_123" and response.gateway.actual_model == "m"
        result = await maybe_await(response.parse())
        assert result.to_dict() == example
        assert result._gateway.actual_model == "m"
    finally:
        await maybe_await(client.close())
