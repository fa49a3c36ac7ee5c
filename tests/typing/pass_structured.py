"""Structured outputs: `parse` on the three APIs and the structured streams keep the caller's type, sync and async.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from pydantic import BaseModel
from typing_extensions import TypedDict, assert_type

from apertis import Apertis, APIResponse, AsyncApertis, AsyncAPIResponse
from apertis.streaming import (
    ParsedChatCompletionEventStream,
    ParsedMessageEventStream,
    ParsedResponseEventStream,
    ResponseEventStream,
)
from apertis.types import ChatCompletionMessageParam, MessageParam, ParsedChatCompletion, ParsedMessage, ParsedResponse


class Step(BaseModel):
    title: str
    substeps: List[Step] = []


@dataclasses.dataclass
class Point:
    x: int


class Movie(TypedDict):
    title: str


def chat(client: Apertis, messages: List[ChatCompletionMessageParam]) -> Optional[Step]:
    completion = client.chat.completions.parse(model="gpt-4.1-mini", messages=messages, response_format=Step)
    assert_type(completion, ParsedChatCompletion[Step])
    message = completion.choices[0].message
    assert_type(message.refusal, Optional[str])
    point = client.chat.completions.parse(model="m", messages=messages, response_format=Point)
    assert_type(point.choices[0].message.parsed, Optional[Point])
    movie = client.chat.completions.parse(model="m", messages=messages, response_format=Movie)
    assert_type(movie.choices[0].message.parsed, Optional[Movie])
    schema: Dict[str, Any] = {"type": "object", "properties": {}}
    loose = client.chat.completions.parse(model="m", messages=messages, response_format=schema, strict=False)
    assert_type(loose.choices[0].message.parsed, Optional[Any])
    return message.parsed


def responses(client: Apertis) -> Optional[Step]:
    response = client.responses.parse(model="gpt-4.1-mini", input="Plan", text_format=Step)
    assert_type(response, ParsedResponse[Step])
    assert_type(response.output_text, str)
    return response.output_parsed


def messages(client: Apertis, conversation: List[MessageParam]) -> Optional[Step]:
    message = client.messages.parse(
        model="claude-sonnet-4.5", max_tokens=512, messages=conversation, output_format=Step, output_mode="json_schema"
    )
    assert_type(message, ParsedMessage[Step])
    return message.parsed_output


def streams(client: Apertis, messages: List[ChatCompletionMessageParam], conversation: List[MessageParam]) -> None:
    with client.chat.completions.stream(model="m", messages=messages, response_format=Step) as stream:
        assert_type(stream, ParsedChatCompletionEventStream[Step])
        for event in stream:
            if event.type == "content.delta":
                assert_type(event.snapshot, str)
            elif event.type == "content.done":
                assert_type(event.parsed, Optional[Step])
        assert_type(stream.get_final_completion().choices[0].message.parsed, Optional[Step])
    with client.messages.stream(model="c", max_tokens=512, messages=conversation, output_format=Step) as answer:
        assert_type(answer, ParsedMessageEventStream[Step])
        assert_type(answer.get_final_message().parsed_output, Optional[Step])
    with client.responses.stream(model="m", input="Plan", text_format=Step) as response:
        assert_type(response, ParsedResponseEventStream[Step])
        assert_type(response.output_text, str)
        assert_type(response.get_final_response().output_parsed, Optional[Step])
    with client.responses.stream(model="m", input="Plan") as plain:
        assert_type(plain, ResponseEventStream)


async def asynchronous(client: AsyncApertis, messages: List[ChatCompletionMessageParam]) -> Optional[Step]:
    completion = await client.chat.completions.parse(model="m", messages=messages, response_format=Step)
    assert_type(completion, ParsedChatCompletion[Step])
    response = await client.responses.parse(model="m", input="Plan", text_format=Step)
    assert_type(response.output_parsed, Optional[Step])
    async with client.chat.completions.stream(model="m", messages=messages, response_format=Step) as stream:
        final = await stream.get_final_completion()
        assert_type(final, ParsedChatCompletion[Step])
    raw = await client.chat.completions.with_raw_response.parse(model="m", messages=messages, response_format=Step)
    assert_type(raw, AsyncAPIResponse[ParsedChatCompletion[Step]])
    assert_type(await raw.parse(), ParsedChatCompletion[Step])
    raw_response = await client.responses.with_raw_response.parse(model="m", input="Plan", text_format=Point)
    assert_type(await raw_response.parse(), ParsedResponse[Point])
    async with client.messages.with_streaming_response.parse(
        model="m", max_tokens=100, messages=[], output_format=Point
    ) as streamed:
        assert_type(streamed, AsyncAPIResponse[ParsedMessage[Point]])
    return completion.choices[0].message.parsed


def raw_responses(client: Apertis, messages: List[MessageParam], schema: Dict[str, Any]) -> Optional[Point]:
    """`with_raw_response.parse` carries the type to the raw response and its `parse()`."""
    raw = client.chat.completions.with_raw_response.parse(model="m", messages=[], response_format=Point)
    assert_type(raw, APIResponse[ParsedChatCompletion[Point]])
    assert_type(raw.parse().choices[0].message.parsed, Optional[Point])
    loose = client.responses.with_raw_response.parse(model="m", input="Plan", text_format=schema)
    assert_type(loose, APIResponse[ParsedResponse[Any]])
    message = client.messages.with_raw_response.parse(
        model="claude-sonnet-4.5", max_tokens=100, messages=messages, output_format=Point
    )
    assert_type(message, APIResponse[ParsedMessage[Point]])
    request_id: Optional[str] = message.request_id
    print(request_id, message.status_code, message.headers.get("x-actual-model"))
    with client.responses.with_streaming_response.parse(model="m", input="Plan", text_format=Step) as streamed:
        assert_type(streamed, APIResponse[ParsedResponse[Step]])
        assert_type(streamed.parse().output_parsed, Optional[Step])
    return message.parse().parsed_output
