"""Malformed and unfamiliar data (docs/ARCHITECTURE.md, "Malformed and unfamiliar data: the policy"), through the
public API of both twins: JSON nested past the cap as a body, an error body and a stream event; fields of the
wrong type where the SDK uses them; models holding data nested deeper than anything the API can deliver. Only
the SDK's own errors may come out, never a RecursionError, TypeError or the like."""

from __future__ import annotations

import copy
import json
import pickle
import sys
from typing import Any, Callable, Dict, List, Optional

import pytest
from conftest import API_KEY
from pytest_httpx import HTTPXMock, IteratorStream
from rawserver import maybe_await

import apertis
from apertis._json import MAX_JSON_DEPTH
from apertis.types import ChatCompletion, Message, Response

TEN_THOUSAND = 10_000


def nested(depth: int, leaf: str = "1") -> str:
    """A JSON array nested `depth` levels deep."""
    return "[" * depth + leaf + "]" * depth


def nested_value(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


def completion_with(extra: str) -> bytes:
    """The completion's JSON with `"extra": <extra>` spliced in as raw JSON text."""
    return (json.dumps(COMPLETION)[:-1] + ', "extra": ' + extra + "}").encode()


async def create_chat(client: Any, call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return await call(
            client.chat.completions.create, model="m", messages=[{"role": "user", "content": "hi"}], **kwargs
        )
    finally:
        await call(client.close)


# ------------------------------------------------------------------------------------------- bodies


async def test_a_body_nested_ten_thousand_deep_is_a_validation_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(content=completion_with(nested(TEN_THOUSAND)), headers={"content-type": "application/json"})
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await create_chat(make_client(max_retries=0), call)
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in info.value.message
    assert info.value.status_code == 200
    assert info.value.response is not None


LONG_INTEGER = "9" * 5000  # valid JSON, past Python 3.11's default limit of 4,300 digits for int()


async def test_a_body_holding_an_integer_of_five_thousand_digits_is_json(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(content=completion_with(LONG_INTEGER), headers={"content-type": "application/json"})
    completion = await create_chat(make_client(max_retries=0), call)
    assert completion.choices[0].message.content == "hi"
    assert completion.to_dict()["extra"] == int("9" * 2500) * 10**2500 + int("9" * 2500)


async def test_a_stream_event_holding_an_integer_of_five_thousand_digits_is_json(
    kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    chunk = json.dumps(chat_chunk(index=0, delta={"content": "hi"}))[:-1] + ', "extra": ' + LONG_INTEGER + "}"
    completion = await final_result(
        "chat", kind, make_client(max_retries=0), [sse(chunk), TERMINATORS["chat"]], httpx_mock
    )
    assert completion.choices[0].message.content == "hi"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
async def test_a_body_at_the_cap_is_accepted_and_its_model_stays_usable(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any], depth: int
) -> None:
    # The whole body is `depth` levels deep: the completion object is the first level.
    httpx_mock.add_response(content=completion_with(nested(depth - 1)), headers={"content-type": "application/json"})
    completion = await create_chat(make_client(max_retries=0), call)
    assert completion.to_dict()["extra"] == nested_value(depth - 1)
    assert pickle.loads(pickle.dumps(completion)) == completion
    assert copy.deepcopy(completion) == completion
    assert "extra" in repr(completion)
    assert json.loads(completion.to_json()) == json.loads(completion_with(nested(depth - 1)))


async def test_a_body_one_level_past_the_cap_is_rejected(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(
        content=completion_with(nested(MAX_JSON_DEPTH)), headers={"content-type": "application/json"}
    )
    with pytest.raises(apertis.APIResponseValidationError, match="nested deeper"):
        await create_chat(make_client(max_retries=0), call)


async def test_brackets_inside_strings_do_not_count(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    # Long and full of brackets, but only in strings (escaped quotes and backslashes included), and many shallow
    # arrays side by side: none of it is deep.
    tricky = json.dumps({"text": '\\"[{' * 2000, "more": "[" * 3000, "wide": [[[1]]] * 500})
    httpx_mock.add_response(content=completion_with(tricky), headers={"content-type": "application/json"})
    completion = await create_chat(make_client(max_retries=0), call)
    assert completion.to_dict()["extra"] == json.loads(tricky)


async def test_an_error_body_nested_ten_thousand_deep_is_still_the_status_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    body = ('{"message": "key ' + API_KEY + ' is over its limit", "detail": ' + nested(TEN_THOUSAND) + "}").encode()
    httpx_mock.add_response(status_code=429, content=body, headers={"content-type": "application/json"})
    with pytest.raises(apertis.RateLimitError) as info:
        await create_chat(make_client(max_retries=0), call)
    error = info.value
    assert error.status_code == 429
    assert error.body is None  # not parsed
    assert "is over its limit" in error.message  # the text is kept
    assert API_KEY not in error.message  # and redacted
    pickle.loads(pickle.dumps(error))


async def test_a_body_that_is_not_an_object_is_a_validation_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=[1, 2, 3])
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await create_chat(make_client(max_retries=0), call)
    assert "ChatCompletion data must be a JSON object, got array" in info.value.message
    assert info.value.status_code == 200


async def test_embeddings_whose_data_is_not_an_array_are_a_validation_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json={"object": "list", "data": 7, "model": "m"})
    client = make_client(max_retries=0)
    try:
        with pytest.raises(apertis.APIResponseValidationError, match="data must be an array, got 7"):
            await call(client.embeddings.create, model="m", input="hi")
    finally:
        await call(client.close)


# ------------------------------------------------------------------------------------------- streams


def sse(payload: Any, event: Optional[str] = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def chat_chunk(**choice: Any) -> Dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}


TERMINATORS = {
    "chat": b"data: [DONE]\n\n",
    "messages": sse({"type": "message_stop"}, "message_stop"),
    "responses": sse({"type": "response.completed", "response": {"id": "r", "object": "response", "output": []}}),
}
MESSAGE_START = sse(
    {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": []}}
)


def start_stream(api: str, client: Any) -> Any:
    if api == "chat":
        return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    if api == "messages":
        return client.messages.create(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    return client.responses.create(model="m", input="hi", stream=True)


async def final_result(api: str, kind: str, client: Any, chunks: List[bytes], httpx_mock: HTTPXMock) -> Any:
    """Stream `chunks` as `api`'s answer and return what get_final_* assembles (the stream is closed after)."""
    httpx_mock.add_response(method="POST", stream=IteratorStream(chunks), headers={"content-type": "text/event-stream"})
    stream = await maybe_await(start_stream(api, client))
    method = {"chat": "get_final_completion", "messages": "get_final_message", "responses": "get_final_response"}
    try:
        return await maybe_await(getattr(stream, method[api])())
    finally:
        await maybe_await(stream.close())
        await maybe_await(client.close())


@pytest.mark.parametrize("api", ["chat", "messages", "responses"])
async def test_a_stream_event_nested_ten_thousand_deep_is_a_validation_error(
    api: str, kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    deep = b'data: {"type": "content_block_delta", "x": ' + nested(TEN_THOUSAND).encode() + b"}\n\n"
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await final_result(api, kind, make_client(max_retries=0), [deep, TERMINATORS[api]], httpx_mock)
    error = info.value
    assert f"a stream event the JSON is nested deeper than {MAX_JSON_DEPTH} levels" in error.message
    assert error.status_code == 200 and error.response is not None
    assert error.text.startswith('"{\\"type\\"')


async def test_a_long_stream_event_at_the_cap_is_accepted(
    kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    # Long enough to be checked, as deep as allowed (the chunk is level 1, `extra` holds the rest).
    chunk = json.dumps(chat_chunk(index=0, delta={"content": "x" * 600}))[:-1]
    event = f'data: {chunk}, "extra": {nested(MAX_JSON_DEPTH - 1)}}}\n\n'.encode()
    completion = await final_result("chat", kind, make_client(max_retries=0), [event, TERMINATORS["chat"]], httpx_mock)
    assert completion.choices[0].message.content == "x" * 600


WRONG_TYPES = [
    ("chat", [sse(chat_chunk(index=[1], delta={"content": "x"}))], "choices[0].index must be an integer, got array"),
    ("chat", [sse(chat_chunk(index="0", delta={"content": "x"}))], "choices[0].index must be an integer, got string"),
    ("chat", [sse(chat_chunk(index=0, delta={"content": 5}))], "choices[0].delta.content must be a string, got 5"),
    ("chat", [sse(chat_chunk(index=0, delta="hello"))], "choices[0].delta must be an object, got string"),
    ("chat", [sse({"choices": "abc"})], "choices must be an array, got string"),
    ("chat", [sse({"choices": [{"index": 0}, 7]})], "choices[1] must be an object, got 7"),
    (
        "chat",
        [sse(chat_chunk(index=0, delta={"reasoning_content": ["r"]}))],
        "choices[0].delta.reasoning_content must be a string, got array",
    ),
    (
        "chat",
        [sse(chat_chunk(index=0, delta={"tool_calls": [{"index": 0, "id": 5}]}))],
        "choices[0].delta.tool_calls[0].id must be a string, got 5",
    ),
    (
        "chat",
        [sse(chat_chunk(index=0, delta={"tool_calls": [{"index": {}, "function": {"name": "f"}}]}))],
        "choices[0].delta.tool_calls[0].index must be an integer, got object",
    ),
    (
        "chat",
        [sse(chat_chunk(index=0, delta={"tool_calls": [{"index": 0, "function": {"name": ["f"]}}]}))],
        "choices[0].delta.tool_calls[0].function.name must be a string, got array",
    ),
    (
        "messages",
        [
            MESSAGE_START,
            sse({"type": "content_block_delta", "index": [1], "delta": {"type": "text_delta", "text": "x"}}),
        ],
        "content_block_delta.index must be a non-negative integer, got array",
    ),
    (
        "messages",
        [
            MESSAGE_START,
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}}),
        ],
        "content_block_delta.delta.text must be a string, got 5",
    ),
    (
        "messages",
        [
            MESSAGE_START,
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": 3}}),
            sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}),
        ],
        "content block 0's text must be a string, got 3",
    ),
    (
        "messages",
        [sse({"type": "message_start", "message": {"content": 5}})],
        "message_start.message.content must be an array, got 5",
    ),
    (
        "messages",
        [MESSAGE_START, sse({"type": "message_delta", "delta": {}, "usage": [1]})],
        "message_delta.usage must be an object, got array",
    ),
    (
        "responses",
        [sse({"type": "response.output_text.delta", "output_index": "0", "content_index": 0, "delta": "x"})],
        "response.output_text.delta.output_index must be a non-negative integer, got string",
    ),
    (
        "responses",
        [sse({"type": "response.output_text.delta", "output_index": 0, "content_index": -1, "delta": "x"})],
        "response.output_text.delta.content_index must be a non-negative integer, got -1",
    ),
    (
        "responses",
        [sse({"type": "response.output_text.delta", "output_index": 0, "delta": {"text": "x"}})],
        "response.output_text.delta.delta must be a string, got object",
    ),
    (
        "responses",
        [sse({"type": "response.created", "response": {"output": "x"}})],
        "response.created.response.output must be an array, got string",
    ),
    (
        "responses",
        [sse({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "content": [3]}})],
        "response.output_item.added.item.content[0] must be an object, got 3",
    ),
    (
        "responses",
        [sse({"type": "response.completed", "response": ["not", "an", "object"]})],
        "response.completed.response must be an object, got array",
    ),
]


@pytest.mark.parametrize(("api", "chunks", "problem"), WRONG_TYPES)
async def test_a_wrong_type_where_the_sdk_uses_a_field_is_a_validation_error_naming_it(
    api: str, chunks: List[bytes], problem: str, kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await final_result(api, kind, make_client(max_retries=0), [*chunks, TERMINATORS[api]], httpx_mock)
    error = info.value
    assert problem in error.message
    assert error.status_code == 200 and error.response is not None


@pytest.mark.parametrize("api", ["chat", "messages", "responses"])
async def test_fields_the_sdk_only_passes_through_keep_any_type(
    api: str, kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    # Unknown fields, enum values, event types and union variants, and wrong types where the SDK does not look.
    chunks = {
        "chat": [
            sse({**chat_chunk(index=0, delta={"content": "a"}, finish_reason=["odd"]), "model": {"x": 1}, "new": 1}),
            sse({"choices": [], "usage": "plenty"}),
        ],
        "messages": [
            MESSAGE_START,
            sse({"type": "brand_new", "index": [1]}),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "new_block", "x": [1]}}),
            sse({"type": "content_block_delta", "index": 0, "delta": {"type": "new_delta", "text": 5}}),
        ],
        "responses": [
            sse({"type": "response.brand_new", "output_index": "x"}),
            sse({"type": "response.output_item.added", "output_index": 0, "item": {"type": [1], "x": 1}}),
        ],
    }[api]
    result = await final_result(api, kind, make_client(max_retries=0), [*chunks, TERMINATORS[api]], httpx_mock)
    assert isinstance(result, (ChatCompletion, Message, Response))


async def test_tool_input_nested_past_the_cap_is_kept_as_text(
    kind: str, httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    deep_input = '{"a": ' + nested(TEN_THOUSAND) + "}"
    chunks = [
        MESSAGE_START,
        sse({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f"}}),
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": deep_input},
            }
        ),
        sse({"type": "content_block_stop", "index": 0}),
        TERMINATORS["messages"],
    ]
    message = await final_result("messages", kind, make_client(max_retries=0), chunks, httpx_mock)
    assert message.content[0].input == deep_input


# ------------------------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("garbage", "output must be an array, got string"),
        ([{"type": "message", "content": {"text": "x"}}], "output[0].content must be an array, got object"),
        (
            [{"type": "message", "content": [{"type": "output_text", "text": ["x"]}]}],
            "output[0].content[0].text must be a string, got array",
        ),
    ],
)
def test_output_text_names_a_field_of_the_wrong_type(output: Any, problem: str) -> None:
    response = Response.from_dict({"id": "r", "object": "response", "output": output})
    with pytest.raises(apertis.APIResponseValidationError) as info:
        response.output_text  # noqa: B018
    assert problem in info.value.message
    assert info.value.response is None


def test_output_text_skips_items_and_parts_of_unknown_types() -> None:
    output = [
        {"type": ["unhashable"]},
        {"type": "message", "content": [{"type": {"x": 1}}, {"type": "output_text", "text": "kept"}]},
    ]
    assert Response.from_dict({"output": output}).output_text == "kept"


def test_an_unhashable_union_tag_is_kept_as_an_unknown_variant() -> None:
    response = Response.from_dict({"output": [{"type": [1], "x": 1}]})
    assert response.output == [{"type": [1], "x": 1}]  # type: ignore[comparison-overlap]


@pytest.mark.parametrize("value", [[1], "text", 3, None, True])
def test_from_dict_of_something_other_than_an_object_is_a_validation_error(value: Any) -> None:
    with pytest.raises(apertis.APIResponseValidationError, match="ChatCompletion data must be a JSON object"):
        ChatCompletion.from_dict(value)


@pytest.mark.parametrize("where", ["additional_properties", "list field"])
def test_a_model_built_from_data_past_the_recursion_limit_raises_only_sdk_errors(where: str) -> None:
    deep = nested_value(TEN_THOUSAND)
    data = {**COMPLETION, "extra": deep} if where == "additional_properties" else {**COMPLETION, "choices": [deep]}
    completion = ChatCompletion.from_dict(data)
    # to_dict walks no data that is not a model: any depth works.
    assert completion.to_dict() == data
    assert copy.copy(completion) == completion
    assert "cannot be shown" in repr(completion)
    for operation in (completion.to_json, lambda: pickle.dumps(completion), lambda: copy.deepcopy(completion)):
        with pytest.raises(apertis.APIResponseValidationError, match="ChatCompletion"):
            operation()


def test_pickle_rejects_data_past_the_cap_that_it_could_still_write() -> None:
    completion = ChatCompletion.from_dict({**COMPLETION, "extra": nested_value(MAX_JSON_DEPTH + 1)})
    with pytest.raises(apertis.APIResponseValidationError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        pickle.dumps(completion)
    at_cap = ChatCompletion.from_dict({**COMPLETION, "extra": nested_value(MAX_JSON_DEPTH)})
    assert pickle.loads(pickle.dumps(at_cap)) == at_cap


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="Python 3.11+ limits int-to-text digits")
def test_an_integer_past_pythons_digit_limit_is_shown_and_reported_without_a_builtin_error() -> None:
    completion = ChatCompletion.from_dict({**COMPLETION, "created": 10**5000})
    assert "created=" in repr(completion)
    assert completion.to_dict()["created"] == 10**5000
    with pytest.raises(apertis.APIResponseValidationError, match="cannot be written as JSON"):
        completion.to_json()
