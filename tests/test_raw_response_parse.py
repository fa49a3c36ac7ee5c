"""`with_raw_response.parse(...)` and `with_streaming_response.parse(...)` of chat completions, responses and
messages, sync and async: the raw response (headers, status, request id) whose `parse()` gives what the plain
`parse` returns, and raises what it raises."""

from __future__ import annotations

import dataclasses
from typing import Any, AsyncIterator, Callable, Dict, Optional

import pytest
from pytest_httpx import HTTPXMock
from test_raw_response import enter, leave

import apertis
from apertis.testing import FakeApertis

MESSAGES = [{"role": "user", "content": "Where?"}]


@dataclasses.dataclass
class Point:
    x: int
    label: Optional[str] = None


APIS = ["chat", "responses", "messages-tool", "messages-json_schema"]
PARSED_CLASS = {"chat": "ParsedChatCompletion", "responses": "ParsedResponse"}


@pytest.fixture
async def offline(fake_apertis: FakeApertis, make_client: Callable[..., Any]) -> AsyncIterator[Any]:
    """A client of the current kind on the offline server, closed afterwards."""
    client = make_client(base_url=fake_apertis.url)
    yield client
    closed = client.close()
    if hasattr(closed, "__await__"):
        await closed


async def _raw_parse(
    client: Any, api: str, call: Callable[..., Any], wrapper: str = "with_raw_response", **options: Any
) -> Any:
    """What the `parse` method of `api` under `wrapper` returns, with `Point` as the format."""
    if api == "chat":
        raw = getattr(client.chat.completions, wrapper)
        return await call(raw.parse, model="gpt-4.1-mini", messages=MESSAGES, response_format=Point, **options)
    if api == "responses":
        raw = getattr(client.responses, wrapper)
        return await call(raw.parse, model="gpt-4.1-mini", input="Where?", text_format=Point, **options)
    options.setdefault("max_tokens", 1000)
    return await call(
        getattr(client.messages, wrapper).parse,
        model="claude-sonnet-4.5",
        messages=MESSAGES,
        output_format=Point,
        output_mode=api.split("-", 1)[1],
        **options,
    )


def _parsed_value(api: str, result: Any) -> Any:
    if api == "chat":
        return result.choices[0].message.parsed
    if api == "responses":
        return result.output_parsed
    return result.parsed_output


@pytest.mark.parametrize("api", APIS)
async def test_the_raw_response_parses_to_the_parsed_object(api: str, offline: Any, call: Callable[..., Any]) -> None:
    raw = await _raw_parse(offline, api, call)
    assert type(raw).__name__ in ("APIResponse", "AsyncAPIResponse")
    assert raw.status_code == 200
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    assert raw.headers["x-request-id"] == raw.request_id
    result = await call(raw.parse)
    expected_class = PARSED_CLASS.get(api, "ParsedMessage")
    assert isinstance(result, getattr(apertis.types, expected_class))
    assert _parsed_value(api, result) == Point(x=1, label="example-label")
    assert await call(raw.parse) is result  # parsed once, as every raw response


@pytest.mark.parametrize("api", APIS)
async def test_a_length_cut_raises_from_parse(api: str, offline: Any, call: Callable[..., Any]) -> None:
    cap: Dict[str, Any] = {"chat": {"max_tokens": 1}, "responses": {"max_output_tokens": 1}}.get(api, {"max_tokens": 1})
    raw = await _raw_parse(offline, api, call, **cap)  # the call itself succeeds: the response is there
    assert raw.status_code == 200
    with pytest.raises(apertis.LengthFinishReasonError):
        await call(raw.parse)


def _completion(content: str, finish_reason: str = "stop") -> Dict[str, Any]:
    message = {"role": "assistant", "content": content}
    choice = {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
    return {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}


BODIES: Dict[str, Dict[str, Any]] = {
    "chat": _completion('{"x": "many"}'),
    "responses": {
        "id": "r",
        "object": "response",
        "model": "m",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "i",
                "role": "assistant",
                "content": [{"type": "output_text", "text": '{"x": "many"}'}],
            }
        ],
    },
    "messages-tool": {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "t", "name": "Point", "input": {"x": "many"}}],
    },
    "messages-json_schema": {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": '{"x": "many"}'}],
    },
}


@pytest.mark.parametrize("api", APIS)
async def test_a_reply_that_does_not_validate_raises_from_parse(
    api: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=BODIES[api], headers={"x-request-id": "req_raw", "x-actual-model": "claude-x"})
    raw = await _raw_parse(make_client(), api, call)
    assert raw.request_id == "req_raw"
    assert raw.gateway.actual_model == "claude-x"
    with pytest.raises(apertis.StructuredOutputValidationError, match="does not match Point"):
        await call(raw.parse)
    sent = httpx_mock.get_requests()[-1]
    assert b"Point" in sent.content  # the request is the one the plain parse sends


async def test_the_content_filter_error_raises_from_parse(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion("", finish_reason="content_filter"))
    raw = await _raw_parse(make_client(), "chat", call)
    with pytest.raises(apertis.ContentFilterFinishReasonError):
        await call(raw.parse)


async def test_bad_arguments_raise_on_the_call(make_client: Callable[..., Any], call: Callable[..., Any]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="stream"):
        await call(
            client.chat.completions.with_raw_response.parse,
            model="m",
            messages=MESSAGES,
            response_format=Point,
            stream=True,
        )


@pytest.mark.parametrize("api", APIS)
async def test_the_streaming_response_parses_after_the_block_opens(
    api: str, offline: Any, call: Callable[..., Any]
) -> None:
    manager = await _raw_parse(offline, api, call, wrapper="with_streaming_response")
    response = await enter(manager)  # the request is sent here, its body left unread
    try:
        assert response.request_id is not None
        assert not response.http_response.is_stream_consumed
        result = await call(response.parse)
        assert _parsed_value(api, result) == Point(x=1, label="example-label")
    finally:
        await leave(manager)
    assert response.is_closed


async def test_the_streaming_response_raises_the_validation_error_from_parse(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=BODIES["messages-tool"])
    manager = await _raw_parse(make_client(), "messages-tool", call, wrapper="with_streaming_response")
    response = await enter(manager)
    try:
        with pytest.raises(apertis.StructuredOutputValidationError, match="does not match Point"):
            await call(response.parse)
    finally:
        await leave(manager)
