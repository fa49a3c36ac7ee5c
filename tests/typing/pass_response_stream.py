"""A Responses stream: narrowing on `event.type`, sync and async.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
Optional fields are read with `or` / `print`, so the program holds whether the models type them Optional or not.
"""

from __future__ import annotations

from typing import List

from typing_extensions import assert_type

from apertis import Apertis, AsyncApertis
from apertis.streaming import AsyncResponseStream, ResponseStream, ResponseStreamEvent, UnknownStreamEvent
from apertis.types import Response


def the_loop(client: Apertis) -> str:
    parts: List[str] = []
    with client.responses.create(model="gpt-4.1", input="Hi", stream=True) as stream:
        assert_type(stream, ResponseStream)
        for event in stream:
            if event.type == "response.created":
                print(event.response)
            elif event.type == "response.output_text.delta":
                parts.append(event.delta or "")
            elif event.type == "response.output_text.done":
                print(event.text)
            elif event.type == "response.function_call_arguments.delta":
                print(event.item_id, event.delta)
            elif event.type == "response.function_call_arguments.done":
                print(event.arguments)
            elif event.type == "response.reasoning_summary_text.delta":
                print(event.summary_index, event.delta)
            elif event.type == "response.output_item.added":
                print(event.output_index, event.item)
            elif event.type == "response.completed":
                print(event.response.output_text if event.response else "")
            elif event.type == "response.failed" or event.type == "response.incomplete":
                print(event.response)
            elif event.type == "unknown":
                print(event.unknown_type, event.to_dict())
        final = stream.get_final_response()
        assert_type(final, Response)
    return "".join(parts) + final.output_text


def text_only(client: Apertis) -> str:
    stream = client.responses.create(model="gpt-4.1", input="Hi", stream=True)
    assert_type(stream, ResponseStream)
    return "".join(stream.text_stream)


def handle(event: ResponseStreamEvent) -> str:
    """The union a stream yields is apertis.types.ResponseStreamEvent."""
    if isinstance(event, UnknownStreamEvent):
        return event.unknown_type or ""
    if event.type == "response.output_text.delta":
        return event.delta or ""
    return event.type


async def the_async_loop(client: AsyncApertis) -> str:
    parts: List[str] = []
    async with await client.responses.create(model="gpt-4.1", input="Hi", stream=True) as stream:
        assert_type(stream, AsyncResponseStream)
        async for event in stream:
            parts.append(handle(event))
            if event.type == "response.output_text.delta":
                parts.append(event.delta or "")
        final = await stream.get_final_response()
        assert_type(final, Response)
    stream = await client.responses.create(model="gpt-4.1", input="Hi", stream=True)
    async for text in stream.text_stream:
        parts.append(text)
    return "".join(parts)
