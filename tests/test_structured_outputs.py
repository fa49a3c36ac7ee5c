"""Structured outputs through the public client, sync and async: `chat.completions.parse`, `responses.parse`,
`messages.parse` (both modes) and the structured streams, against the offline server and pytest-httpx."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import textwrap
from typing import Any, AsyncIterator, Callable, Dict, List, Optional

import jsonschema  # type: ignore[import-untyped]
import pydantic
import pytest
from pytest_httpx import HTTPXMock, IteratorStream
from typing_extensions import TypedDict

import apertis
import apertis._structured
from apertis.testing import FakeApertis
from apertis.testing._schema import answer_for_schema

MESSAGES = [{"role": "user", "content": "Describe a tree"}]


@pytest.fixture
async def offline(fake_apertis: FakeApertis, make_client: Callable[..., Any]) -> AsyncIterator[Any]:
    """A client of the current kind on the offline server, closed afterwards."""
    client = make_client(base_url=fake_apertis.url)
    yield client
    closed = client.close()
    if hasattr(closed, "__await__"):
        await closed


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Node(pydantic.BaseModel):
    """A node of a tree."""

    name: str = pydantic.Field(description="what the node is called")
    color: Color = Color.RED
    weight: int = 3
    note: Optional[str] = None
    children: List[Node] = []


class Tree(pydantic.BaseModel):
    root: Node = pydantic.Field(description="the top node")
    tags: List[str]


@dataclasses.dataclass
class Point:
    x: int
    label: Optional[str] = None


class Movie(TypedDict):
    title: str
    year: int


SCHEMA: Dict[str, Any] = {
    "title": "Answer",
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["answer", "score"],
}

# What the offline server answers for each type (deterministic), as the type.
EXPECTED: Dict[str, Any] = {
    "pydantic": Tree(
        root=Node(name="example-name", weight=1, note="example-note", children=[Node(name="example-name")]),
        tags=["example-tags"],
    ),
    "dataclass": Point(x=1, label="example-label"),
    "typeddict": {"title": "example-title", "year": 1},
    "schema": {"answer": "example-answer", "score": 1},
}
TYPES: Dict[str, Any] = {"pydantic": Tree, "dataclass": Point, "typeddict": Movie, "schema": SCHEMA}
APIS = ["chat", "responses", "messages-tool", "messages-json_schema"]


async def _parse(client: Any, api: str, tp: Any, call: Callable[..., Any], **options: Any) -> Any:
    """(result, parsed) of the `parse` method of `api`."""
    if api == "chat":
        completion = await call(
            client.chat.completions.parse, model="gpt-4.1-mini", messages=MESSAGES, response_format=tp, **options
        )
        return completion, completion.choices[0].message.parsed
    if api == "responses":
        response = await call(client.responses.parse, model="gpt-4.1-mini", input="Describe", text_format=tp, **options)
        return response, response.output_parsed
    mode = api.split("-", 1)[1]
    message = await call(
        client.messages.parse,
        model="claude-sonnet-4.5",
        max_tokens=1000,
        messages=MESSAGES,
        output_format=tp,
        output_mode=mode,
        **options,
    )
    return message, message.parsed_output


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("type_kind", list(TYPES))
async def test_each_type_kind_for_each_api_offline(
    api: str, type_kind: str, offline: Any, call: Callable[..., Any]
) -> None:
    client = offline
    result, parsed = await _parse(client, api, TYPES[type_kind], call)
    assert parsed == EXPECTED[type_kind]
    if type_kind in ("pydantic", "dataclass"):
        assert type(parsed) is TYPES[type_kind]
    expected_class = {"chat": "ParsedChatCompletion", "responses": "ParsedResponse"}.get(api, "ParsedMessage")
    assert type(result).__name__ == expected_class
    assert isinstance(result, getattr(apertis.types, expected_class))
    assert result._request_id is not None or result.retries_taken == 0  # the call's metadata stays on the result


async def test_nested_recursive_enum_and_optional_fields(offline: Any, call: Callable[..., Any]) -> None:
    _, tree = await _parse(offline, "chat", Tree, call)
    assert isinstance(tree.root.color, Color)
    assert tree.root.children[0].note is None  # the server's null for an optional field
    assert tree.root.children[0].children == []  # a null for a field with a default: the default
    assert tree.root.children[0].weight == 3


def _request_body(httpx_mock: HTTPXMock) -> Any:
    request = httpx_mock.get_requests()[-1]
    return json.loads(request.content)


def _completion(content: Optional[str], finish_reason: str = "stop", refusal: Optional[str] = None) -> Any:
    message: Dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


async def test_chat_sends_the_strict_schema(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion('{"x": 2, "label": null}'))
    completion = await call(
        make_client().chat.completions.parse, model="gpt-4.1-mini", messages=MESSAGES, response_format=Point
    )
    assert completion.choices[0].message.parsed == Point(x=2)
    sent = _request_body(httpx_mock)["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {
            "name": "Point",
            "strict": True,
            "schema": {
                "type": "object",
                "title": "Point",
                "properties": {
                    "x": {"title": "X", "type": "integer"},
                    "label": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Label"},
                },
                "required": ["x", "label"],
                "additionalProperties": False,
            },
        },
    }
    # to_dict() is what the server sent: the parsed value is not part of it
    assert "parsed" not in completion.choices[0].message.to_dict()


async def test_strict_false_sends_the_schema_as_pydantic_wrote_it(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion('{"x": 2}'))
    completion = await call(
        make_client().chat.completions.parse,
        model="gpt-4.1-mini",
        messages=MESSAGES,
        response_format=Point,
        strict=False,
    )
    assert completion.choices[0].message.parsed == Point(x=2)
    sent = _request_body(httpx_mock)["response_format"]["json_schema"]
    assert sent["strict"] is False
    assert sent["schema"] == pydantic.TypeAdapter(Point).json_schema()


async def test_a_whole_response_format_dict_is_sent_unchanged(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False}}
    httpx_mock.add_response(json=_completion('{"answer": "a", "score": 1}'))
    httpx_mock.add_response(json=_completion('{"anything": true}'))
    client = make_client()
    completion = await call(
        client.chat.completions.parse, model="m", messages=MESSAGES, response_format=response_format
    )
    assert completion.choices[0].message.parsed == {"answer": "a", "score": 1}
    assert _request_body(httpx_mock)["response_format"] == response_format
    completion = await call(
        client.chat.completions.parse, model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert completion.choices[0].message.parsed == {"anything": True}


async def test_a_reply_that_does_not_validate(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion('{"root": {"name": 7}, "tags": "none"}'))
    with pytest.raises(apertis.StructuredOutputValidationError) as caught:
        await call(make_client().chat.completions.parse, model="m", messages=MESSAGES, response_format=Tree)
    error = caught.value
    assert isinstance(error, apertis.APIResponseValidationError)
    assert str(error) == (
        "the model's reply does not match Tree (2 errors): root.name: Input should be a valid string; "
        "tags: Input should be a valid list"
    )
    assert error.text == '{"root": {"name": 7}, "tags": "none"}'
    assert error.errors[0] == {
        "loc": ["root", "name"],
        "msg": "Input should be a valid string",
        "type": "string_type",
        "input": 7,
    }


@pytest.mark.parametrize(
    ("api", "body"),
    [
        ("chat", _completion("not json")),
        (
            "responses",
            {
                "id": "r",
                "object": "response",
                "model": "m",
                "status": "completed",
                "output": [
                    {
                        "type": "message",
                        "id": "i",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "{}"}],
                    }
                ],
            },
        ),
        (
            "messages-tool",
            {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "c",
                "stop_reason": "tool_use",
                "content": [{"type": "tool_use", "id": "t", "name": "Point", "input": {"x": "many"}}],
            },
        ),
        (
            "messages-json_schema",
            {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "c",
                "stop_reason": "end_turn",
                "content": [{"type": "text", "text": '{"x": []}'}],
            },
        ),
    ],
)
async def test_each_api_raises_the_validation_error(
    api: str, body: Any, httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=body)
    with pytest.raises(apertis.StructuredOutputValidationError, match="does not match Point") as caught:
        await _parse(make_client(), api, Point, call)
    assert caught.value.errors


async def test_messages_without_the_tool_call(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    message = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "I would rather talk."}],
    }
    httpx_mock.add_response(json=message)
    with pytest.raises(apertis.StructuredOutputValidationError, match="did not call the Point tool") as caught:
        await _parse(make_client(), "messages-tool", Point, call)
    assert caught.value.text == "I would rather talk."


async def test_messages_modes_send_what_they_document(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    reply = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "t", "name": "Point", "input": {"x": 1, "label": None}}],
    }
    httpx_mock.add_response(json=reply)
    httpx_mock.add_response(json={**reply, "content": [{"type": "text", "text": '{"x": 1, "label": "a"}'}]})
    client = make_client()
    _, point = await _parse(client, "messages-tool", Point, call)
    assert point == Point(x=1)
    body = _request_body(httpx_mock)
    schema = pydantic.TypeAdapter(Point).json_schema()
    assert body["tool_choice"] == {"type": "tool", "name": "Point"}
    assert [tool["name"] for tool in body["tools"]] == ["Point"]
    assert body["tools"][0]["input_schema"] == apertis._structured.to_strict_json_schema(schema)
    _, point = await _parse(client, "messages-json_schema", Point, call)
    assert point == Point(x=1, label="a")
    request = httpx_mock.get_requests()[-1]
    body = json.loads(request.content)
    assert "tools" not in body
    assert body["output_format"]["type"] == "json_schema"
    assert request.headers["anthropic-beta"] == "structured-outputs-2025-11-13"


async def test_responses_keeps_the_other_text_options(offline: Any, call: Callable[..., Any]) -> None:
    client = offline
    response = await call(
        client.responses.parse, model="gpt-4.1-mini", input="x", text_format=Movie, text={"verbosity": "low"}
    )
    assert response.output_parsed == EXPECTED["typeddict"]
    with pytest.raises(TypeError, match="drop `format` from `text`"):
        await call(client.responses.parse, model="m", input="x", text_format=Movie, text={"format": {}})


async def test_refusals_parse_to_none(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion(None, refusal="I can't help with that."))
    httpx_mock.add_response(
        json={
            "id": "r",
            "object": "response",
            "model": "m",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "i",
                    "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "I can't help with that."}],
                }
            ],
        }
    )
    httpx_mock.add_response(
        json={
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "c",
            "stop_reason": "refusal",
            "content": [{"type": "text", "text": "I can't"}],
        }
    )
    client = make_client()
    completion, parsed = await _parse(client, "chat", Point, call)
    assert parsed is None
    assert completion.choices[0].message.refusal == "I can't help with that."
    _, parsed = await _parse(client, "responses", Point, call)
    assert parsed is None
    message, parsed = await _parse(client, "messages-tool", Point, call)
    assert parsed is None
    assert message.stop_reason == "refusal"


@pytest.mark.parametrize("api", APIS)
async def test_a_length_cut_raises_length_finish_reason_error(api: str, offline: Any, call: Callable[..., Any]) -> None:
    client = offline
    cap = {"chat": {"max_tokens": 4}, "responses": {"max_output_tokens": 4}}.get(api, {})
    if api.startswith("messages"):
        # messages.parse takes max_tokens itself (1000 in _parse): cut it there
        mode = api.split("-", 1)[1]
        with pytest.raises(apertis.LengthFinishReasonError, match="raise max_tokens") as caught:
            await call(
                client.messages.parse,
                model="claude-sonnet-4.5",
                max_tokens=4,
                messages=MESSAGES,
                output_format=Tree,
                output_mode=mode,
            )
        assert caught.value.completion.stop_reason == "max_tokens"
        return
    with pytest.raises(apertis.LengthFinishReasonError, match="token limit") as caught:
        await _parse(client, api, Tree, call, **cap)
    assert caught.value.completion is not None


async def test_a_content_filter_stop_raises_its_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=_completion("", finish_reason="content_filter"))
    with pytest.raises(apertis.ContentFilterFinishReasonError, match="content filter") as caught:
        await _parse(make_client(), "chat", Point, call)
    assert caught.value.completion.choices[0].finish_reason == "content_filter"


async def test_create_with_a_class_points_at_parse(make_client: Callable[..., Any], call: Callable[..., Any]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match=r"call client\.chat\.completions\.parse\(\.\.\., response_format=Tree\)"):
        await call(client.chat.completions.create, model="m", messages=MESSAGES, response_format=Tree)
    with pytest.raises(TypeError, match=r"call client\.responses\.parse\(\.\.\., text_format=Tree\)"):
        await call(client.responses.create, model="m", input="x", text={"format": Tree})


async def test_bad_arguments_are_clear(make_client: Callable[..., Any], call: Callable[..., Any]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="does not stream"):
        await call(client.chat.completions.parse, model="m", messages=MESSAGES, response_format=Point, stream=True)
    with pytest.raises(TypeError, match="drop `tools`"):
        await call(client.messages.parse, model="c", max_tokens=5, messages=MESSAGES, output_format=Point, tools=[])
    with pytest.raises(ValueError, match="output_mode must be 'tool' or 'json_schema'"):
        await call(
            client.messages.parse, model="c", max_tokens=5, messages=MESSAGES, output_format=Point, output_mode="x"
        )
    with pytest.raises(TypeError, match="nothing to parse"):
        await call(client.chat.completions.parse, model="m", messages=MESSAGES, response_format={"type": "text"})
    with pytest.raises(TypeError, match="text_format must be a type"):
        await call(client.responses.parse, model="m", input="x", text_format="Point")


# -- streams -----------------------------------------------------------------------------------------------------


async def _drain(manager: Any) -> Any:
    """(events, final) of a stream manager of either twin."""
    if hasattr(manager, "__aenter__"):
        async with manager as stream:
            events = [event async for event in stream]
            final = await (
                stream.get_final_completion() if hasattr(stream, "get_final_completion") else stream.get_final_message()
            )
            return events, final
    with manager as stream:
        events = list(stream)
        final = stream.get_final_completion() if hasattr(stream, "get_final_completion") else stream.get_final_message()
        return events, final


async def test_chat_stream_with_a_type(offline: Any) -> None:
    client = offline
    events, completion = await _drain(
        client.chat.completions.stream(model="gpt-4.1-mini", messages=MESSAGES, response_format=Tree)
    )
    snapshots = [event.snapshot for event in events if event.type == "content.delta"]
    assert len(snapshots) > 3
    assert all(later.startswith(earlier) for earlier, later in zip(snapshots, snapshots[1:]))  # the JSON as it grows
    done = [event for event in events if event.type == "content.done"]
    assert [event.parsed for event in done] == [EXPECTED["pydantic"]]
    assert json.loads(snapshots[-1]) == json.loads(done[0].content)
    assert isinstance(completion, apertis.types.ParsedChatCompletion)
    assert completion.choices[0].message.parsed == EXPECTED["pydantic"]


async def test_chat_stream_without_a_type_is_unchanged(offline: Any) -> None:
    client = offline
    events, completion = await _drain(
        client.chat.completions.stream(model="gpt-4.1-mini", messages=MESSAGES, response_format={"type": "json_object"})
    )
    assert type(completion) is apertis.types.ChatCompletion
    assert [event.parsed for event in events if event.type == "content.done"] == [None]


async def test_chat_stream_cut_short_raises_at_the_end(offline: Any) -> None:
    client = offline
    manager = client.chat.completions.stream(model="m", messages=MESSAGES, response_format=Tree, max_tokens=3)
    with pytest.raises(apertis.LengthFinishReasonError):
        await _drain(manager)


@pytest.mark.parametrize("mode", ["tool", "json_schema"])
async def test_messages_stream_with_a_type(mode: str, offline: Any) -> None:
    client = offline
    events, message = await _drain(
        client.messages.stream(
            model="claude-sonnet-4.5", max_tokens=1000, messages=MESSAGES, output_format=Tree, output_mode=mode
        )
    )
    grows = "input_json" if mode == "tool" else "text"
    snapshots = [event.snapshot for event in events if event.type == grows]
    assert len(snapshots) > 3
    assert all(later.startswith(earlier) for earlier, later in zip(snapshots, snapshots[1:]))
    assert isinstance(message, apertis.types.ParsedMessage)
    assert message.parsed_output == EXPECTED["pydantic"]


# -- the offline server's answers ----------------------------------------------------------------------------------


class Shape(str, enum.Enum):
    CIRCLE = "circle"
    SQUARE = "square"


class Leaf(pydantic.BaseModel):
    shape: Shape
    size: float = pydantic.Field(gt=2, le=10)
    code: str = pydantic.Field(min_length=12)


class Branch(pydantic.BaseModel):
    leaves: List[Leaf]
    next: Optional[Branch] = None
    when: Optional[str] = pydantic.Field(default=None, json_schema_extra={"format": "date-time"})
    pair: Dict[str, int] = {}


@pytest.mark.parametrize("model", [Tree, Branch, Leaf])
@pytest.mark.parametrize("strict", [True, False])
def test_the_offline_answer_validates_against_the_schema(model: Any, strict: bool) -> None:
    schema = model.model_json_schema()
    sent = apertis._structured.to_strict_json_schema(schema) if strict else schema
    answer = answer_for_schema(sent)
    jsonschema.validate(answer, sent)
    assert answer == answer_for_schema(sent)  # deterministic
    model.model_validate(apertis._structured.drop_added_nulls(answer, schema))


# -- without pydantic ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_without_pydantic_parse_names_the_extra_and_schema_dicts_still_work() -> None:
    code = textwrap.dedent(
        """
        import dataclasses, sys
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name == "pydantic" or name.startswith("pydantic."):
                    raise ImportError("blocked for the test")
        sys.meta_path.insert(0, _Block())
        import apertis
        from apertis.testing import FakeApertis
        from typing_extensions import TypedDict

        @dataclasses.dataclass
        class Point:
            x: int

        class Movie(TypedDict):
            title: str

        with FakeApertis() as server:
            client = apertis.Apertis(base_url=server.url, api_key="k")
            messages = [{"role": "user", "content": "hi"}]
            for tp in (Point, Movie):
                try:
                    client.chat.completions.parse(model="m", messages=messages, response_format=tp)
                except apertis.MissingDependencyError as error:
                    print(error)
            try:
                client.messages.parse(model="c", max_tokens=100, messages=messages, output_format=Point)
            except apertis.MissingDependencyError as error:
                print(error)
            schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
            print(client.responses.parse(model="m", input="x", text_format=schema).output_parsed)
        assert "pydantic" not in sys.modules
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    extra = 'pip install "apertis[pydantic]" (or pydantic>=2.7)'
    lines = result.stdout.splitlines()
    assert [line.split(" needs ")[0] for line in lines[:3]] == [
        "response_format=Point",
        "response_format=Movie",
        "output_format=Point",
    ]
    assert all(extra in line for line in lines[:3])
    assert lines[3] == "{'n': 1}"


def _chunk(delta: Dict[str, Any], finish_reason: Optional[str] = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    payload = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    return f"data: {json.dumps(payload)}\n\n".encode()


async def test_a_streamed_reply_that_does_not_validate_raises_at_content_done(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    body = [
        _chunk({"role": "assistant", "content": '{"x": '}),
        _chunk({"content": '"many"}'}, "stop"),
        b"data: [DONE]\n\n",
    ]
    httpx_mock.add_response(stream=IteratorStream(body), headers={"content-type": "text/event-stream"})
    manager = make_client().chat.completions.stream(model="m", messages=MESSAGES, response_format=Point)
    with pytest.raises(apertis.StructuredOutputValidationError, match="does not match Point") as caught:
        await _drain(manager)
    assert caught.value.text == '{"x": "many"}'
