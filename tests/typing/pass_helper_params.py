"""The helpers that wrap `create` (parse, stream, run_tools) take `create`'s other arguments, typed as `create` types
them: body fields, None / NOT_GIVEN for an optional one, and the request options (extra_headers, timeout, ...).

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

from typing import List

import httpx
from pydantic import BaseModel
from typing_extensions import assert_type

from apertis import NOT_GIVEN, Apertis, AsyncApertis, function_tool
from apertis.types import ChatCompletion, ChatCompletionMessageParam, Message, MessageParam, ParsedChatCompletion


class Answer(BaseModel):
    text: str


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


def sync(client: Apertis, chat: List[ChatCompletionMessageParam], claude: List[MessageParam]) -> None:
    completion = client.chat.completions.parse(
        model="m",
        messages=chat,
        response_format=Answer,
        temperature=None,
        max_tokens=NOT_GIVEN,
        tool_choice="none",
        reasoning_effort="low",
        extra_headers={"X-Timeout": "60000"},
        extra_query={"trace": 1},
        extra_body={"provider_option": True},
        timeout=httpx.Timeout(30.0),
        total_timeout=90.0,
    )
    assert_type(completion, ParsedChatCompletion[Answer])
    with client.chat.completions.stream(model="m", messages=chat, stream_options={"include_usage": True}) as stream:
        print(stream.get_final_completion().id)
    with client.chat.completions.stream(model="m", messages=chat, response_format={"type": "json_object"}) as stream:
        print(stream.get_final_completion().id)
    run = client.chat.completions.run_tools(
        model="m", messages=chat, tools=[get_weather], max_turns=3, parallel_tool_calls=False, timeout=20
    )
    assert_type(run.final, ChatCompletion)
    response = client.responses.parse(model="m", input="Hi", text_format=Answer, store=False, max_output_tokens=50)
    print(response.output_parsed)
    with client.responses.stream(model="m", input="Hi", instructions="Be brief") as events:
        print(events.get_final_response().id)
    message = client.messages.parse(
        model="m", max_tokens=50, messages=claude, output_format=Answer, system="Be brief", extra_headers=None
    )
    print(message.parsed_output)
    with client.messages.stream(model="m", max_tokens=50, messages=claude, top_k=5) as message_stream:
        print(message_stream.get_final_message().id)
    tool_run = client.messages.run_tools(model="m", max_tokens=50, messages=claude, tools=[get_weather], top_p=0.5)
    assert_type(tool_run.final, Message)


async def async_(client: AsyncApertis, chat: List[ChatCompletionMessageParam]) -> None:
    completion = await client.chat.completions.parse(model="m", messages=chat, response_format=Answer, seed=1)
    assert_type(completion, ParsedChatCompletion[Answer])
    async with client.chat.completions.stream(model="m", messages=chat, n=1) as stream:
        print((await stream.get_final_completion()).id)
    run = await client.chat.completions.run_tools(model="m", messages=chat, tools=[get_weather], user="u1")
    assert_type(run.final, ChatCompletion)
