"""The async client, typed the same way: 0 errors."""

from __future__ import annotations

import asyncio
from typing import List

from apertis import AsyncApertis
from apertis.types import ChatCompletionMessageParam


async def main() -> None:
    async with AsyncApertis(api_key="sk-test") as client:
        messages: List[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
        completion = await client.chat.completions.create(model="m", messages=messages, temperature=None)
        messages.append(completion.choices[0].message)
        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        async for chunk in stream:
            for choice in chunk.choices:
                print(choice.delta.content or "", end="")
        with open("speech.mp3", "rb") as audio:
            transcription = await client.audio.transcriptions.create(file=audio, model="whisper-1")
            print(transcription.text)


asyncio.run(main())
