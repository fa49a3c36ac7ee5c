"""Correct openai-style request code: type-checks with 0 errors under mypy --strict and basedpyright."""

from __future__ import annotations

from typing import List

from apertis import Apertis
from apertis.types import (
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
    ChatCompletionUserMessageParam,
    MessageParam,
    ResponseInputItemParam,
)

client = Apertis(api_key="sk-test")

msgs: List[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
        ],
    },
]
user: ChatCompletionUserMessageParam = {"role": "user", "content": "Again"}
msgs.append(user)
tools: List[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
]

completion = client.chat.completions.create(
    model="gpt-4.1-mini",
    messages=msgs,
    tools=tools,
    tool_choice="auto",
    stream_options=None,
    max_tokens=None,
    temperature=0.2,
    response_format={"type": "json_object"},
)
message = completion.choices[0].message
# The assistant message the API returned goes back as it is, and so do its tool calls.
msgs.append(message)
if message.tool_calls:
    msgs.append({"role": "assistant", "content": None, "tool_calls": message.tool_calls})
    msgs.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"})
client.chat.completions.create(model="gpt-4.1-mini", messages=msgs)
if completion.usage is not None:
    total: int = completion.usage.total_tokens

stream = client.chat.completions.create(
    model="gpt-4.1-mini",
    messages=[{"role": "user", "content": "Hi"}],
    stream=True,
    stream_options={"include_usage": True},
)

anthropic_messages: List[MessageParam] = [{"role": "user", "content": "Hello"}]
reply = client.messages.create(model="claude-sonnet-4.5", max_tokens=256, messages=anthropic_messages)
anthropic_messages.append({"role": "assistant", "content": reply.content})

items: List[ResponseInputItemParam] = [{"role": "user", "content": "Hello"}]
response = client.responses.create(model="gpt-4.1-mini", input=items)
items.extend(response.output)
