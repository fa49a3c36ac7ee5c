"""Mistakes the stream types must catch: every line marked `expect-error` is an error under mypy --strict and
basedpyright strict, and no other line is (tests/test_typing_programs.py)."""

from __future__ import annotations

from apertis import Apertis
from apertis.streaming import ChatCompletionStream, MessageStream


def unnarrowed(stream: MessageStream) -> None:
    for event in stream:
        print(event.delta)  # expect-error: not every event has a delta
        print(event.unknown_type)  # expect-error: only UnknownStreamEvent has it
        if event.type == "content_block_delta":
            print(event.delta.text)  # expect-error: the delta may be an input_json_delta
            print(event.message)  # expect-error: a message_start field
        if event.type == "message_delta":
            print(event.delta.type)  # expect-error: a message_delta's delta has no type


def wrong_stream(client: Apertis) -> None:
    with client.chat.completions.create(model="m", messages=[], stream=True) as s:
        s.get_final_message()  # expect-error: a chat stream has get_final_completion
        other: MessageStream = s  # expect-error: not a Messages stream
        print(other)
    with client.messages.create(model="m", max_tokens=1, messages=[], stream=True) as m:
        chat: ChatCompletionStream = m  # expect-error: not a chat stream
        print(chat)
