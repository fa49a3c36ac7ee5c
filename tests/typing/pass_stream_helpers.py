"""The streaming helpers `chat.completions.stream(...)` and `messages.stream(...)`, and the video polling helpers:
narrowing on the helper events' `type`, sync and async.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

from typing import Any, List

from typing_extensions import assert_type

from apertis import Apertis, AsyncApertis
from apertis.streaming import ChatCompletionEventStream, ChatCompletionStreamEvent, MessageEventStream
from apertis.types import ChatCompletion, ChatCompletionMessageParam, Message, MessageParam, Video, VideoTask


def chat(client: Apertis, messages: List[ChatCompletionMessageParam]) -> ChatCompletion:
    with client.chat.completions.stream(model="gpt-4.1-mini", messages=messages) as stream:
        assert_type(stream, ChatCompletionEventStream)
        event: ChatCompletionStreamEvent
        for event in stream:
            if event.type == "content.delta":
                assert_type(event.delta, str)
                assert_type(event.snapshot, str)
            elif event.type == "chunk":
                assert_type(event.snapshot, ChatCompletion)
            elif event.type == "tool_calls.function.arguments.done":
                assert_type(event.arguments, str)
                assert_type(event.parsed_arguments, Any)
        return stream.get_final_completion()


def messages(client: Apertis, conversation: List[MessageParam]) -> str:
    with client.messages.stream(model="claude-sonnet-4.5", max_tokens=64, messages=conversation) as stream:
        assert_type(stream, MessageEventStream)
        for event in stream:
            if event.type == "text":
                assert_type(event.snapshot, str)
            elif event.type == "content_block_delta":
                assert_type(event.index, int)
        assert_type(stream.get_final_message(), Message)
        return stream.get_final_text()


async def async_helpers(client: AsyncApertis, conversation: List[MessageParam]) -> None:
    async with client.messages.stream(model="claude-sonnet-4.5", max_tokens=64, messages=conversation) as stream:
        async for text in stream.text_stream:
            assert_type(text, str)
    video = await client.videos.create_and_poll(model="sora-2", prompt="A fox", on_progress=lambda v: print(v.status))
    assert_type(video, Video)
    task = await client.video.poll("veo3:1", poll_interval=10)
    assert_type(task, VideoTask)
