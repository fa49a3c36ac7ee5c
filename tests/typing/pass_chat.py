"""A chat stream used as the README shows: `with ... as s`, then `s.text_stream` / `s.get_final_completion()`.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

from typing import List

from typing_extensions import assert_type

import apertis
from apertis import Apertis, AsyncApertis
from apertis.streaming import AsyncChatCompletionStream, AsyncStream, ChatCompletionStream, Stream
from apertis.types import ChatCompletion, ChatCompletionChunk


def text(client: Apertis) -> str:
    with client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as s:
        assert_type(s, ChatCompletionStream)
        return "".join(s.text_stream)


def final(client: Apertis) -> ChatCompletion:
    with client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as s:
        for chunk in s:
            assert_type(chunk, ChatCompletionChunk)
            for choice in chunk.choices or []:
                print(choice.delta.content if choice.delta else None)
        return s.get_final_completion()


def the_base_classes(s: ChatCompletionStream, a: AsyncChatCompletionStream) -> None:
    generic: Stream[ChatCompletionChunk] = s
    async_generic: AsyncStream[ChatCompletionChunk] = a
    root: apertis.Stream[ChatCompletionChunk] = generic
    async_root: apertis.AsyncStream[ChatCompletionChunk] = async_generic
    print(root.completed, async_root.completed)


async def async_text(client: AsyncApertis) -> str:
    parts: List[str] = []
    async with await client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as s:
        assert_type(s, AsyncChatCompletionStream)
        async for piece in s.text_stream:
            parts.append(piece)
    async with await client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    ) as s:
        completion = await s.get_final_completion()
        assert_type(completion, ChatCompletion)
    return "".join(parts)
