"""Raw and streamed responses and the gateway metadata keep their types: 0 errors."""

from __future__ import annotations

import asyncio
from typing import List, Optional

from apertis import Apertis, APIResponse, AsyncApertis, GatewayInfo
from apertis.streaming import AsyncChatCompletionStream, ChatCompletionStream
from apertis.types import ChatCompletion, ChatCompletionMessageParam

messages: List[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
client = Apertis(api_key="sk-test")

raw: APIResponse[ChatCompletion] = client.chat.completions.with_raw_response.create(model="m", messages=messages)
status: int = raw.status_code
request_id: Optional[str] = raw.request_id
retries: int = raw.retries_taken
completion: ChatCompletion = raw.parse()
# The leading underscore keeps it apart from API fields; pyright strict reports it as private (as `_request_id`).
gateway: GatewayInfo = completion._gateway  # pyright: ignore[reportPrivateUsage]
actual_model: Optional[str] = gateway.actual_model
if gateway.rate_limit is not None:
    remaining: Optional[int] = gateway.rate_limit.remaining
served_by: Optional[str] = raw.gateway.actual_model

streamed = client.chat.completions.with_raw_response.create(model="m", messages=messages, stream=True)
stream: ChatCompletionStream = streamed.parse()
for chunk in stream:
    print(chunk.choices[0].delta.content if chunk.choices else "")

with client.chat.completions.with_streaming_response.create(model="m", messages=messages) as response:
    for line in response.iter_lines():
        print(line)
    parsed: ChatCompletion = response.parse()

with client.audio.speech.with_streaming_response.create(model="tts-1", input="hi", voice="alloy") as speech:
    for part in speech.iter_bytes(4096):
        print(len(part))


async def main() -> None:
    async with AsyncApertis(api_key="sk-test") as async_client:
        answer = await async_client.chat.with_raw_response.completions.create(model="m", messages=messages)
        result: ChatCompletion = await answer.parse()
        print(result.choices[0].message.content)
        events = await async_client.chat.completions.with_raw_response.create(model="m", messages=messages, stream=True)
        async_stream: AsyncChatCompletionStream = await events.parse()
        async for event in async_stream:
            print(event.id)
        async with async_client.models.with_streaming_response.list() as listing:
            async for text in listing.iter_text():
                print(text)


asyncio.run(main())
