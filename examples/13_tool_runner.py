"""Pattern 13: tools. The model calls Python functions and `run_tools` does the loop: it runs the calls the model asks
for (concurrently, on the async client), sends the results back, and returns when the model answers."""

import asyncio
from typing import Literal

from apertis import AsyncApertis, function_tool


@function_tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """The current weather of a city.

    Args:
        city: The city's name, such as Paris.
        unit: The temperature unit.
    """
    return f"18 degrees {unit} and sunny in {city}"


@function_tool
async def get_time(city: str) -> str:
    """The local time of a city.

    Args:
        city: The city's name.
    """
    await asyncio.sleep(0.01)  # an async tool: awaited on the loop, next to the others the reply asks for
    return f"It is 14:05 in {city}"


async def main() -> None:
    async with AsyncApertis() as client:
        # Chat completions: the whole run, then the answer.
        run = await client.chat.completions.run_tools(
            model="gpt-4.1-mini",
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[get_weather, get_time],
            max_turns=5,
        )
        for call in run.tool_calls:
            print(f"called {call.name}({call.arguments}) -> {call.output}")
        print("answer:", run.final.choices[0].message.content)
        print(f"({len(run.replies)} replies, {len(run.messages)} messages in the conversation)")

        # Messages, streamed: each turn is a `messages.stream` event stream; the last one is the answer.
        async with client.messages.run_tools(
            model="claude-sonnet-4.5",
            max_tokens=1024,
            messages=[{"role": "user", "content": "What time is it in Rome?"}],
            tools=[get_time],
            stream=True,
        ) as turns:
            async for turn in turns:
                print("turn: ", end="")
                async for text in turn.text_stream:
                    print(text, end="", flush=True)
                message = await turn.get_final_message()
                asked = [block.name for block in message.content if block.type == "tool_use"]
                print(f"(asks for {', '.join(asked)})" if asked else "")
        print("tool results:", [call.output for call in turns.result.tool_calls])


if __name__ == "__main__":
    asyncio.run(main())
