"""The tool runners and function_tool, sync and async: what a run, its turns and its records are typed as.

Type-checked only (tests/test_typing_programs.py): it must give no error under mypy --strict and basedpyright strict.
"""

from __future__ import annotations

from typing import List, Optional

from typing_extensions import assert_type

from apertis import (
    Apertis,
    AsyncApertis,
    AsyncToolRunStream,
    FunctionTool,
    MaxTurnsExceededError,
    ToolCallResult,
    ToolRun,
    ToolRunStream,
    function_tool,
)
from apertis.streaming import AsyncMessageEventStream, ChatCompletionEventStream
from apertis.types import ChatCompletion, ChatCompletionMessageParam, Message, MessageParam
from apertis.types.params import ChatCompletionToolParam, FunctionToolParam, ToolParam


@function_tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather.

    Args:
        city: The city.
        unit: The unit.
    """
    return f"sunny in {city}"


@function_tool(strict=False, name="lookup")
async def search(query: str) -> List[str]:
    """Search."""
    return [query]


def definitions() -> None:
    assert_type(get_weather, FunctionTool[str])
    assert_type(get_weather("Paris"), str)
    chat: ChatCompletionToolParam = get_weather.chat_tool()
    flat: FunctionToolParam = get_weather.responses_tool()
    messages: ToolParam = get_weather.messages_tool()
    print(chat, flat, messages, search.name)


def chat(client: Apertis, conversation: List[ChatCompletionMessageParam]) -> Optional[str]:
    run = client.chat.completions.run_tools(model="gpt-4.1-mini", messages=conversation, tools=[get_weather])
    assert_type(run, ToolRun[ChatCompletion, ChatCompletionMessageParam])
    assert_type(run.final, ChatCompletion)
    assert_type(run.messages, List[ChatCompletionMessageParam])
    call: ToolCallResult
    for call in run.tool_calls:
        assert_type(call.error, Optional[BaseException])
        print(call.name, call.output)
    with client.chat.completions.run_tools(
        model="gpt-4.1-mini", messages=conversation, tools=[get_weather], stream=True, temperature=0
    ) as turns:
        assert_type(turns, ToolRunStream[ChatCompletionEventStream, ChatCompletion, ChatCompletionMessageParam])
        for turn in turns:
            for event in turn:
                if event.type == "content.delta":
                    print(event.delta, end="")
    return turns.result.final.choices[0].message.content


async def messages(client: AsyncApertis, conversation: List[MessageParam]) -> Message:
    try:
        run = await client.messages.run_tools(
            model="claude-sonnet-4.5", max_tokens=1024, messages=conversation, tools=[get_weather, search], max_turns=4
        )
    except MaxTurnsExceededError as error:
        print(error.run)
        raise
    assert_type(run, ToolRun[Message, MessageParam])
    assert_type(run.messages, List[MessageParam])
    stream = client.messages.run_tools(
        model="claude-sonnet-4.5", max_tokens=1024, messages=conversation, tools=[get_weather], stream=True
    )
    assert_type(stream, AsyncToolRunStream[AsyncMessageEventStream, Message, MessageParam])
    async with stream:
        async for turn in stream:
            async for text in turn.text_stream:
                print(text, end="")
    done = await stream.until_done()
    return done.final
