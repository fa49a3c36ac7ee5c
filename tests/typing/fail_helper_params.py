"""Mistakes in the arguments of the helpers that wrap `create` (parse, stream, run_tools) a type checker must catch:
every `# expect-error` line has an error, no other line has."""

from __future__ import annotations

from typing import Any, List

from pydantic import BaseModel

from apertis import Apertis, AsyncApertis, function_tool
from apertis.types import ChatCompletionMessageParam, MessageParam


class Answer(BaseModel):
    text: str


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return city


client = Apertis(api_key="sk-test")
chat: List[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
claude: List[MessageParam] = [{"role": "user", "content": "Hi"}]

client.chat.completions.parse(model="m", messages=chat, response_format=Answer, temprature=0)  # expect-error
client.chat.completions.parse(model="m", messages=chat, response_format=Answer, max_tokens="9")  # expect-error
client.chat.completions.parse(messages=chat, response_format=Answer)  # expect-error
client.chat.completions.parse(model="m", messages=chat, response_format=Answer, stream=True)  # expect-error
client.chat.completions.parse(model="m", messages=chat, response_format=Answer, extra_headers=3)  # expect-error
client.chat.completions.stream(model="m", messages=chat, temprature=0)  # expect-error
client.chat.completions.stream(model="m", messages=chat, response_format=Answer, seed="1")  # expect-error
client.chat.completions.stream(model="m", messages="Hi")  # expect-error
client.chat.completions.run_tools(model="m", messages=chat, tools=[get_weather], tool_choise="auto")  # expect-error
client.chat.completions.run_tools(model="m", messages=chat, tools=[get_weather], timeout="9")  # expect-error

client.responses.parse(model="m", input="Hi", text_format=Answer, max_output_token=9)  # expect-error
client.responses.parse(input="Hi", text_format=Answer)  # expect-error
client.responses.stream(model="m", input="Hi", store="yes")  # expect-error

client.messages.parse(model="m", max_tokens=9, messages=claude, output_format=Answer, sytem="Be brief")  # expect-error
client.messages.parse(model="m", messages=claude, output_format=Answer)  # expect-error
client.messages.stream(model="m", max_tokens="9", messages=claude)  # expect-error
client.messages.run_tools(model="m", max_tokens=9, messages=claude, tools=[get_weather], top_kk=1)  # expect-error


async def main(aclient: AsyncApertis, schema: Any) -> None:
    await aclient.chat.completions.parse(model="m", messages=chat, response_format=Answer, n="2")  # expect-error
    await aclient.responses.parse(model="m", input="Hi", text_format=schema, instruction="x")  # expect-error
    aclient.messages.stream(model="m", max_tokens=9, messages=claude, temperture=0)  # expect-error
