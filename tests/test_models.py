"""Generated models: lenient parsing, required arrays, Response.output_text, public type exports.

The codegen keys behind them (model_mixins, extra_type_exports) are tested in test_codegen.py, which needs the
generator (Python >= 3.11); these tests run on every supported Python."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Dict, get_args

import pytest
from pytest_httpx import HTTPXMock, IteratorStream

import apertis
from apertis import types
from apertis.types import (
    AssistantMessageParam,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionDelta,
    EmbeddingResponse,
    FunctionDefinition,
    Message,
    ModelList,
    Response,
    ToolCall,
    UserMessageParam,
)

# The model (to checkers, apertis.types.ChatCompletionToolParam is the request TypedDict of the same name).
from apertis.types.chat_completion_tool_param import ChatCompletionToolParam

ROOT = Path(__file__).resolve().parent.parent

RESPONSE: Dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4.1",
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Paris is ", "annotations": []},
                {"type": "refusal", "refusal": "not this"},
                {"type": "text", "text": "the capital."},
            ],
        },
        {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": " Yes."}]},
        {"type": "brand_new_item", "content": [{"type": "output_text", "text": "not a message"}]},
    ],
}


# ---------------------------------------------------------------------------------------------- output_text


async def test_output_text_on_a_non_streamed_response(
    httpx_mock: HTTPXMock, make_client: Any, call: Any, kind: str
) -> None:
    httpx_mock.add_response(method="POST", json=RESPONSE)
    client = make_client(max_retries=0)
    try:
        response = await call(client.responses.create, model="gpt-4.1", input="Capital of France?")
    finally:
        await call(client.close)
    assert isinstance(response, Response)
    assert response.output_text == "Paris is the capital. Yes."


@pytest.mark.parametrize(
    "output",
    # (An `output` of the wrong type raises: tests/test_hostile_json.py.)
    [[], None, [{"type": "function_call", "name": "f"}], [{"type": "message", "content": None}]],
)
def test_output_text_is_empty_without_text(output: Any) -> None:
    data = {**RESPONSE, "output": output}
    if output is None:
        del data["output"]
    assert Response.from_dict(data).output_text == ""


def test_output_text_reads_unknown_items_kept_as_dicts() -> None:
    # An item of a type the SDK does not know stays a dict; a message among them still counts.
    response = Response.from_dict(RESPONSE)
    assert isinstance(response.output[-1], dict)
    assert response.output_text.endswith("Yes.")
    assert "output_text" not in response.to_dict()  # a property, never a wire field


def test_response_is_still_a_slotted_attrs_model() -> None:
    response = Response.from_dict(RESPONSE)
    with pytest.raises(AttributeError):
        response.not_a_field = 1  # type: ignore[attr-defined]
    assert response.to_dict() == RESPONSE


# ---------------------------------------------------------------------------------------------- required arrays


@pytest.mark.parametrize("missing", ["absent", "null"])
@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (ChatCompletion, {"model": "m", "choices": 1}, "choices"),
        (EmbeddingResponse, {"object": "list", "model": "m", "data": 1}, "data"),
        (Message, {"id": "m", "type": "message", "role": "assistant", "model": "c", "content": 1}, "content"),
        (ModelList, {"object": "list", "data": 1}, "data"),
        (Response, {"id": "r", "model": "m", "output": 1}, "output"),
    ],
)
def test_a_required_array_left_out_or_null_reads_as_empty_list(
    cls: Any, data: Dict[str, Any], field: str, missing: str
) -> None:
    data = dict(data)
    if missing == "absent":
        del data[field]
    else:
        data[field] = None
    model = cls.from_dict(data)
    assert getattr(model, field) == []
    assert list(getattr(model, field)) == []


def test_required_scalars_and_optional_fields_left_out_read_as_none() -> None:
    completion = ChatCompletion.from_dict({"choices": [{"index": 0, "message": {"role": "assistant"}}]})
    assert completion.model is None
    assert completion.id is None
    assert completion.choices[0].message.content is None
    nullable = ChatCompletion.from_dict({"model": "m", "choices": [], "usage": None})
    assert nullable.usage is None


@pytest.mark.parametrize("missing", ["absent", "null"])
def test_a_required_array_round_trips_as_it_came(missing: str) -> None:
    data: Dict[str, Any] = {"model": "m"} if missing == "absent" else {"model": "m", "choices": None}
    completion = ChatCompletion.from_dict(data)
    assert completion.choices == []
    assert completion.to_dict() == data
    completion.choices.append(None)  # type: ignore[arg-type]  # changed after parsing: now it is sent whatever the source said
    assert completion.to_dict() == {**data, "choices": [None]}


def test_a_required_array_of_the_wrong_type_is_kept_as_it_came() -> None:
    assert ChatCompletion.from_dict({"model": "m", "choices": "oops"}).choices == "oops"  # type: ignore[comparison-overlap]


# ---------------------------------------------------------------------------------------------- lenient parsing


def test_unknown_keys_are_kept_and_the_input_is_not_modified() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "x", "new_delta_field": 1}, "brand_new": True}],
        "top_level_new": {"a": [1]},
    }
    original = copy.deepcopy(chunk)
    parsed = ChatCompletionChunk.from_dict(chunk)
    assert chunk == original
    assert parsed.additional_properties == {"top_level_new": {"a": [1]}}
    assert parsed.choices[0].additional_properties == {"brand_new": True}
    assert parsed.choices[0].delta.additional_properties == {"new_delta_field": 1}
    assert parsed.to_dict() == original
    # Models built separately never share their additional_properties dict.
    plain = ChatCompletionChunk.from_dict({"id": "c"})
    assert plain.additional_properties == {}
    assert plain.additional_properties is not ChatCompletionChunk.from_dict({"id": "d"}).additional_properties


def test_from_dict_accepts_any_mapping_and_nullable_single_model_unions() -> None:
    from types import MappingProxyType

    data = {"model": "m", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    completion = ChatCompletion.from_dict(MappingProxyType(data))
    assert completion.usage is not None and completion.usage.total_tokens == 3
    assert json.loads(completion.to_json()) == data


def test_models_keep_their_readable_repr() -> None:
    # `choices` is required (a list): a chunk without it reads [] and shows it.
    assert repr(ChatCompletionChunk.from_dict({"id": "c", "x": 1})) == (
        "ChatCompletionChunk(choices=[], id='c', additional_properties={'x': 1})"
    )


# ---------------------------------------------------------------------------------------------- absent and null

# A chunk as servers send it: `refusal` explicitly null, `content` left out of the role delta, `logprobs` absent.
CHUNK: Dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "system_fingerprint": None,
    "choices": [{"index": 0, "delta": {"role": "assistant", "refusal": None}, "finish_reason": None}],
}


def test_an_optional_field_left_out_reads_as_none_like_one_sent_as_null() -> None:
    chunk = ChatCompletionChunk.from_dict(CHUNK)
    delta = chunk.choices[0].delta
    assert delta.content is None  # absent
    assert delta.refusal is None  # null
    assert chunk.usage is None and chunk.service_tier is None  # absent
    assert chunk.system_fingerprint is None  # null
    assert chunk.choices[0].logprobs is None
    assert ChatCompletionDelta().content is None  # built in code: the default


def test_to_dict_gives_back_exactly_the_keys_that_were_sent() -> None:
    original = copy.deepcopy(CHUNK)
    data = ChatCompletionChunk.from_dict(CHUNK).to_dict()
    assert data == original
    assert data["system_fingerprint"] is None  # null stays null
    assert "usage" not in data and "service_tier" not in data  # absent stays absent
    delta = data["choices"][0]["delta"]
    assert "refusal" in delta and delta["refusal"] is None
    assert "content" not in delta
    assert original == CHUNK  # the source is referenced, never modified


def test_a_field_changed_after_parsing_is_serialised_with_its_new_value() -> None:
    chunk = ChatCompletionChunk.from_dict(CHUNK)
    chunk.choices[0].delta.content = "hi"  # was absent
    chunk.system_fingerprint = "fp"  # was null
    chunk.model = None  # was sent: now sent as null
    data = chunk.to_dict()
    assert data["choices"][0]["delta"]["content"] == "hi"
    assert data["system_fingerprint"] == "fp"
    assert data["model"] is None


def test_public_model_types_have_no_unset_state() -> None:
    hints = typing.get_type_hints(ChatCompletionDelta)
    assert hints["content"] == typing.Optional[str]
    assert hints["tool_calls"] == typing.Optional[typing.List[apertis.types.ToolCallDelta]]
    generated = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "apertis" / "types").glob("*.py"))
    assert "Unset" not in generated
    assert "UNSET" not in generated
    assert "NOT_GIVEN" not in generated


def test_a_model_built_in_code_leaves_its_none_fields_out() -> None:
    assert UserMessageParam(content="hi").to_dict() == {"role": "user", "content": "hi"}
    assistant = AssistantMessageParam(
        tool_calls=[ToolCall(id="c1", function=apertis.types.Function(name="f", arguments="{}"))]
    )
    assert assistant.to_dict() == {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    tool = ChatCompletionToolParam(function=FunctionDefinition(name="f", parameters={"type": "object"}))
    assert tool.to_dict() == {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


async def test_a_request_built_from_models_sends_no_nulls(
    httpx_mock: HTTPXMock, make_client: Any, call: Any, kind: str
) -> None:
    httpx_mock.add_response(method="POST", json={"model": "m", "choices": []})
    client = make_client(max_retries=0)
    try:
        await call(
            client.chat.completions.create,
            model="m",
            messages=[UserMessageParam(content="hi"), AssistantMessageParam(content="hello")],
            tools=[ChatCompletionToolParam(function=FunctionDefinition(name="f"))],
        )
    finally:
        await call(client.close)
    body = json.loads(httpx_mock.get_requests()[0].content)
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert body["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert "null" not in httpx_mock.get_requests()[0].content.decode()


def _sse(payload: Dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def test_the_is_not_none_pattern_of_openai_python_reads_the_text(
    httpx_mock: HTTPXMock, make_client: Any, call: Any, kind: str
) -> None:
    def chunk(delta: Dict[str, Any], finish_reason: Any = None) -> Dict[str, Any]:
        return {**CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    body = [
        _sse(chunk({"role": "assistant"})),  # no content key at all
        _sse(chunk({"content": "Hel"})),
        _sse(chunk({"content": None})),
        _sse(chunk({"content": "lo"})),
        _sse(chunk({}, "stop")),
        _sse({**CHUNK, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}),
        b"data: [DONE]\n\n",
    ]
    httpx_mock.add_response(method="POST", stream=IteratorStream(body), headers={"content-type": "text/event-stream"})
    client = make_client(max_retries=0)
    try:
        stream = await call(
            client.chat.completions.create, model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [c async for c in stream] if kind == "async" else list(stream)
    finally:
        await call(client.close)
    printed = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content is not None]
    assert printed == ["Hel", "lo"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 3
    assert chunks[0].usage is None


# ---------------------------------------------------------------------------------------------- pickle and copy


@pytest.mark.parametrize("clone", ["pickle", "copy", "deepcopy"])
def test_parsed_models_survive_pickle_and_copy_with_their_null_and_absent_keys(clone: str) -> None:
    from types import MappingProxyType

    cloners = {
        "pickle": lambda m: pickle.loads(pickle.dumps(m)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }
    chunk = ChatCompletionChunk.from_dict({**CHUNK, "brand_new": [1]})
    twin = cloners[clone](chunk)
    assert type(twin) is ChatCompletionChunk
    assert twin == chunk
    assert twin.to_dict() == {**CHUNK, "brand_new": [1]}
    assert twin.choices[0].delta.content is None
    # A model parsed from any Mapping (not only a dict) can be pickled.
    completion = ChatCompletion.from_dict(MappingProxyType({"model": "m", "choices": None, "usage": None}))
    assert cloners[clone](completion).to_dict() == {"model": "m", "choices": None, "usage": None}
    built = UserMessageParam(content="hi")
    assert cloners[clone](built) == built
    assert cloners[clone](built).to_dict() == {"role": "user", "content": "hi"}


def test_the_source_takes_no_part_in_equality_or_repr() -> None:
    sent_null = ChatCompletionChunk.from_dict({"id": "c", "usage": None})
    left_out = ChatCompletionChunk.from_dict({"id": "c"})
    assert sent_null == left_out == ChatCompletionChunk(id="c")
    assert sent_null.to_dict() != left_out.to_dict()
    assert repr(sent_null) == repr(left_out) == "ChatCompletionChunk(choices=[], id='c')"
    assert "_source" not in repr(ChatCompletionChunk.from_dict(CHUNK))


# ---------------------------------------------------------------------------------------------- import cost

_IMPORTS_SCRIPT = """
import asyncio, json, sys
import httpx
from apertis import Apertis, AsyncApertis

def handler(request):
    body = json.loads(request.content)
    if not body.get("stream"):
        return httpx.Response(200, json={"model": "m", "choices": []})
    done = b"data: [DONE]\\n\\n"
    if "/messages" in request.url.path:
        done = b'data: {"type": "message_stop"}\\n\\n'
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=done)

def loaded():
    return {
        "messages": "apertis.types.message_start_event" in sys.modules,
        "responses": "apertis.types.response_created_event" in sys.modules,
        "chunk": "apertis.types.chat_completion_chunk" in sys.modules,
    }

async def main(kind):
    seen = []
    if kind == "sync":
        client = Apertis(api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
        run = lambda x: x
    else:
        client = AsyncApertis(api_key="k", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        async def run(x):
            return await x
    await maybe(run(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])))
    seen.append(loaded())
    stream = await maybe(run(client.chat.completions.create(model="m", messages=[], stream=True)))
    await drain(stream)
    seen.append(loaded())
    stream = await maybe(run(client.messages.create(model="m", max_tokens=1, messages=[], stream=True)))
    await drain(stream)
    seen.append(loaded())
    print(json.dumps(seen))

async def maybe(x):
    return await x if asyncio.iscoroutine(x) else x

async def drain(stream):
    if hasattr(stream, "__aiter__"):
        return [e async for e in stream]
    return list(stream)

asyncio.run(main(sys.argv[1]))
"""


def test_each_apis_stream_event_models_load_when_its_first_stream_is_built(kind: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_SCRIPT, kind], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    after_call, after_chat_stream, after_messages_stream = json.loads(result.stdout)
    assert after_call == {"messages": False, "responses": False, "chunk": False}
    assert after_chat_stream == {"messages": False, "responses": False, "chunk": True}
    assert after_messages_stream == {"messages": True, "responses": False, "chunk": True}


def test_the_stream_event_unions_stay_importable_from_the_stream_module() -> None:
    from apertis._async import _streaming

    assert types.MessageStartEvent in get_args(_streaming.MessageStreamEvent)
    assert types.UnknownStreamEvent in get_args(_streaming.ResponseStreamEvent)
    assert types.ResponseCompletedEvent in get_args(_streaming.ResponseStreamEvent)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _streaming.Nope  # type: ignore[attr-defined]  # noqa: B018


# ---------------------------------------------------------------------------------------------- exports


def test_stream_event_types_are_exported_from_apertis_types() -> None:
    from apertis._stream_events import UnknownStreamEvent

    assert types.UnknownStreamEvent is UnknownStreamEvent
    assert {"UnknownStreamEvent", "MessageStreamEvent", "ResponseStreamEvent"} <= set(types.__all__)
    assert "UnknownStreamEvent" in dir(types)
    message_event = types.MessageStreamEvent
    response_event = types.ResponseStreamEvent
    assert types.MessageStartEvent in get_args(message_event)
    assert types.ResponseCompletedEvent in get_args(response_event)


def test_a_model_holding_an_unknown_delta_serialises_pickles_and_compares_by_value() -> None:
    import copy
    import pickle

    payload = {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {"a": 1}}}
    event = types.ContentBlockDeltaEvent.from_dict(payload)
    assert isinstance(event.delta, types.UnknownStreamEvent)
    assert (event.delta.type, event.delta.unknown_type) == ("unknown", "citations_delta")
    assert event.to_dict() == payload
    assert json.loads(event.to_json()) == payload
    assert pickle.loads(pickle.dumps(event)) == event == copy.deepcopy(event)
    assert event.delta != types.UnknownStreamEvent("citations_delta", {"type": "citations_delta"})
