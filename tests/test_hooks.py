"""Hooks (`hooks=apertis.Hooks(...)`): called before each attempt, on each response, retry and error, on both
twins, shared by `with_options()` copies, and never shown the API key."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Tuple

import httpx
import pytest
from conftest import API_KEY
from pytest_httpx import HTTPXMock, IteratorStream

import apertis
from apertis.types import ChatCompletionMessageParam

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
MESSAGES: List[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


def recorder(kind: str) -> Tuple[apertis.Hooks, List[Tuple[str, Any]]]:
    """Hooks that record (event, info); coroutine functions for the async client, plain ones for the sync."""
    events: List[Tuple[str, Any]] = []

    def make(name: str) -> Callable[[Any], Any]:
        if kind == "async":

            async def hook(info: Any) -> None:
                events.append((name, info))

            return hook

        def plain(info: Any) -> None:
            events.append((name, info))

        return plain

    hooks = apertis.Hooks(
        on_request=make("request"), on_response=make("response"), on_retry=make("retry"), on_error=make("error")
    )
    return hooks, events


async def create(call: Any, client: Any, **kwargs: Any) -> Any:
    return await call(client.chat.completions.create, model="gpt-4o", messages=MESSAGES, **kwargs)


async def test_each_step_of_a_retried_call_reaches_its_hook(
    kind: str, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    httpx_mock.add_response(status_code=503, headers={"retry-after": "0.25", "x-request-id": "req-a"})
    httpx_mock.add_response(json=COMPLETION, headers={"x-request-id": "req-b"})
    result = await create(call, make_client(hooks=hooks))
    assert result.choices[0].message.content == "Hi"
    assert [name for name, _ in events] == ["request", "response", "retry", "request", "response"]
    first, failed, retry, second, answered = (info for _, info in events)
    assert (first.method, first.url, first.attempt) == ("POST", "https://api.test/v1/chat/completions", 1)
    assert (failed.status_code, failed.request_id, failed.request) == (503, "req-a", first)
    assert failed.elapsed >= 0
    assert (retry.reason, retry.delay, retry.attempt, retry.request) == ("status 503", 0.25, 2, first)
    assert sleeps == [0.25]
    assert second.attempt == 2
    assert second.headers["x-apertis-retry-count"] == "1"
    assert (answered.status_code, answered.request_id) == (200, "req-b")


async def test_a_failed_call_reaches_on_error_with_the_error_it_raises(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    httpx_mock.add_response(status_code=400, json={"error": {"message": "bad model"}})
    with pytest.raises(apertis.BadRequestError) as raised:
        await create(call, make_client(hooks=hooks))
    assert [name for name, _ in events] == ["request", "response", "error"]
    info = events[-1][1]
    assert info.error is raised.value
    assert info.request is events[0][1]


async def test_a_transport_failure_is_retried_then_reported(
    kind: str, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    with pytest.raises(apertis.APIConnectionError) as raised:
        await create(call, make_client(hooks=hooks, max_retries=1))
    assert [name for name, _ in events] == ["request", "retry", "request", "error"]
    assert events[1][1].reason == "ConnectError: refused"
    assert events[-1][1].error is raised.value


async def test_the_key_never_reaches_a_hook(
    kind: str, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    # A server that echoes the key everywhere it can: a header, the request id, the error body.
    echo = {"x-request-id": f"req-{API_KEY}", "x-echo": f"Bearer {API_KEY}", "set-cookie": f"k={API_KEY}"}
    httpx_mock.add_response(status_code=500, headers=echo, json={"error": {"message": API_KEY}})
    httpx_mock.add_response(status_code=401, headers=echo, json={"error": {"message": API_KEY}})
    client = make_client(hooks=hooks, default_headers={"X-Custom-Secret": "s3cr3t-value-123456"})
    with pytest.raises(apertis.AuthenticationError):
        await create(call, client, extra_query={"api_key": API_KEY})
    assert len(events) == 6
    for _, info in events:
        fields = {name: value for name, value in vars_of(info).items() if name != "error"}
        assert API_KEY not in repr(fields)
        assert "s3cr3t-value-123456" not in repr(fields)
    assert events[0][1].headers["authorization"] == "<redacted>"


def vars_of(info: Any) -> Dict[str, Any]:
    import attrs

    return attrs.asdict(info, recurse=True)


async def test_hook_exceptions_propagate_unchanged_and_stop_the_call(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    class Refused(Exception):
        pass

    def refuse(info: Any) -> None:
        raise Refused(info.url)

    client = make_client(hooks=apertis.Hooks(on_request=refuse))
    with pytest.raises(Refused):
        await create(call, client)
    assert httpx_mock.get_requests() == []


async def test_with_options_copies_share_the_hooks_unless_given_others(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    client = make_client(hooks=hooks)
    copy = client.with_options(timeout=5)
    assert copy.hooks is client.hooks is hooks
    httpx_mock.add_response(json=COMPLETION)
    await create(call, copy)
    assert [name for name, _ in events] == ["request", "response"]
    silent = client.with_options(hooks=None)
    assert silent.hooks is None
    httpx_mock.add_response(json=COMPLETION)
    await create(call, silent)
    assert len(events) == 2


async def test_a_stream_error_reaches_on_error(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    hooks, events = recorder(kind)
    chunk = {**COMPLETION, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    body = [f"data: {json.dumps(chunk)}\n\n".encode(), b'data: {"error": {"message": "upstream died"}}\n\n']
    httpx_mock.add_response(stream=IteratorStream(body), headers={"content-type": "text/event-stream"})
    stream = await create(call, make_client(hooks=hooks), stream=True)
    with pytest.raises(apertis.APIError) as raised:
        if kind == "async":
            async for _ in stream:
                pass
        else:
            for _ in stream:
                pass
    assert [name for name, _ in events] == ["request", "response", "error"]
    assert events[-1][1].error is raised.value


def test_a_sync_client_refuses_coroutine_hooks(httpx_mock: HTTPXMock) -> None:
    async def on_request(info: Any) -> None:
        pass

    hooks = apertis.Hooks(on_request=on_request)
    client = apertis.Apertis(api_key=API_KEY, base_url="https://api.test/v1", hooks=hooks)
    with pytest.raises(TypeError, match="sync client"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    client.close()


def test_bad_hooks_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(TypeError, match=r"Hooks\(on_retry=\.\.\.\) must be a function"):
        apertis.Hooks(on_retry="print")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"hooks must be an apertis\.Hooks"):
        apertis.Apertis(api_key=API_KEY, hooks={"on_request": print})  # type: ignore[arg-type]


def test_a_client_without_hooks_or_tracing_observes_nothing(make_client: Callable[..., Any]) -> None:
    client = make_client()
    assert client._observers is None
    assert client.hooks is None and client.tracing is None
    assert make_client(hooks=apertis.Hooks())._observers is None
