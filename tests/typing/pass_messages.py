"""An Anthropic-style Messages stream: narrowing on `event.type` and `delta.type`, sync and async.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

from typing import Iterator, List

from typing_extensions import assert_never, assert_type

from apertis import Apertis, AsyncApertis
from apertis.streaming import AsyncMessageStream, MessageStream, MessageStreamEvent, UnknownStreamEvent
from apertis.types import Message, MessageParam


def the_readme_loop(client: Apertis, messages: List[MessageParam]) -> Message:
    # README.md, "Streams", as written there.
    with client.messages.create(model="claude-sonnet-4.5", max_tokens=1024, messages=messages, stream=True) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                print(event.delta.text, end="")
            elif event.type == "unknown":  # an event type newer than this SDK
                print(event.unknown_type, event.data)
        message = stream.get_final_message()
    return message


def the_plain_loop(client: Apertis) -> str:
    parts: List[str] = []
    with client.messages.create(
        model="claude-sonnet-4.5", max_tokens=1024, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as stream:
        assert_type(stream, MessageStream)
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
    return "".join(parts)


def every_event(client: Apertis) -> Message:
    with client.messages.create(
        model="claude-sonnet-4.5", max_tokens=1024, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as stream:
        for event in stream:
            if event.type == "message_start":
                print(event.message.id, event.message.model)
            elif event.type == "content_block_start":
                print(event.index, event.content_block.type)
            elif event.type == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    print(delta.text)
                elif delta.type == "input_json_delta":
                    print(delta.partial_json)
                elif delta.type == "thinking_delta":
                    print(delta.thinking)
                elif delta.type == "signature_delta":
                    assert_type(delta.signature, str)
                else:
                    # A delta type newer than this SDK (Anthropic's citations_delta, say).
                    assert_type(delta, UnknownStreamEvent)
                    print(delta.unknown_type, delta.data)
            elif event.type == "message_delta":
                print(event.delta.stop_reason, event.delta.stop_sequence)
            elif event.type == "message_stop":
                print("done")
            elif event.type == "unknown":
                # A newer server's event: its own type and payload, as received.
                print(event.unknown_type, event.to_dict())
        return stream.get_final_message()


def text_only(client: Apertis) -> Iterator[str]:
    stream = client.messages.create(
        model="claude-sonnet-4.5", max_tokens=1024, messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert_type(stream, MessageStream)
    yield from stream.text_stream


def describe(event: MessageStreamEvent) -> str:
    """Exhaustive over the union a stream yields, which is apertis.types.MessageStreamEvent."""
    if isinstance(event, UnknownStreamEvent):
        return event.unknown_type or ""
    if event.type == "message_start":
        return event.message.id
    if event.type == "content_block_start":
        return event.content_block.type
    if event.type == "content_block_delta":
        return event.delta.type
    if event.type == "content_block_stop":
        return str(event.index)
    if event.type == "message_delta":
        return str(event.delta.stop_reason)
    if event.type == "message_stop":
        return "stop"
    if event.type == "ping":
        return "ping"
    if event.type == "error":
        return str(event.error)
    assert_never(event)


def annotated_loop_variable(stream: MessageStream) -> List[str]:
    described: List[str] = []
    event: MessageStreamEvent
    for event in stream:
        described.append(describe(event))
    return described


async def the_async_loop(client: AsyncApertis) -> str:
    parts: List[str] = []
    async with await client.messages.create(
        model="claude-sonnet-4.5", max_tokens=1024, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as stream:
        assert_type(stream, AsyncMessageStream)
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
            elif event.type == "message_delta" and event.usage is not None:
                print(event.usage.output_tokens)
        final = await stream.get_final_message()
        assert_type(final, Message)
    async with await client.messages.create(
        model="claude-sonnet-4.5", max_tokens=1024, messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as stream:
        async for text in stream.text_stream:
            parts.append(text)
    return "".join(parts)
