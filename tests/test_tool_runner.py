"""The tool runners (`chat.completions.run_tools`, `messages.run_tools`), sync and async, through the public API:
scripted answers (pytest-httpx) for what the model asks, and the offline server end to end."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
from pydantic import BaseModel
from pytest_httpx import HTTPXMock

import apertis
from apertis import function_tool
from apertis.testing import FakeApertis

Call = Callable[..., Awaitable[Any]]
USER: List[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]


@function_tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """The current weather of a city.

    Args:
        city: The city's name.
        unit: `celsius` or `fahrenheit`.
    """
    return f"18 degrees {unit} in {city}"


@function_tool
def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"boom: {reason}")


def chat_reply(content: Optional[str] = None, calls: Sequence[Tuple[str, str, str]] = ()) -> Dict[str, Any]:
    """A chat completion: the text, or tool calls `(id, name, arguments JSON)`."""
    message: Dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}
            for ident, name, arguments in calls
        ]
    finish = "tool_calls" if calls else "stop"
    choice = {"index": 0, "message": message, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}


def messages_reply(text: Optional[str] = None, uses: Sequence[Tuple[str, str, Any]] = ()) -> Dict[str, Any]:
    """A Messages reply: the text, then `tool_use` blocks `(id, name, input)`."""
    content: List[Dict[str, Any]] = [{"type": "text", "text": text}] if text is not None else []
    content.extend({"type": "tool_use", "id": ident, "name": name, "input": value} for ident, name, value in uses)
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": content,
        "stop_reason": "tool_use" if uses else "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def sent(httpx_mock: HTTPXMock) -> List[Dict[str, Any]]:
    """The JSON bodies of the requests, in order."""
    return [json.loads(request.content) for request in httpx_mock.get_requests()]


async def run_chat(client: Any, call: Call, tools: Sequence[Any], **options: Any) -> Any:
    options.setdefault("messages", USER)
    return await call(client.chat.completions.run_tools, model="gpt-4.1-mini", tools=tools, **options)


async def run_messages(client: Any, call: Call, tools: Sequence[Any], **options: Any) -> Any:
    options.setdefault("messages", USER)
    return await call(client.messages.run_tools, model="claude", max_tokens=100, tools=tools, **options)


# -- chat completions ------------------------------------------------------------------------------------------


async def test_a_reply_without_tool_calls_is_the_answer(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply("It is sunny."))
    run = await run_chat(make_client(), call, [get_weather], temperature=0)
    assert run.final.choices[0].message.content == "It is sunny."
    assert run.replies == [run.final]
    assert run.tool_calls == [] and run.errors == []
    assert run.messages == USER
    (body,) = sent(httpx_mock)
    assert body["temperature"] == 0 and body["messages"] == USER
    (tool,) = body["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "get_weather"
    assert tool["function"]["strict"] is True
    assert tool["function"]["description"] == "The current weather of a city."


async def test_one_tool_call_is_run_and_its_result_sent_back(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply(calls=[("call_1", "get_weather", '{"city": "Paris", "unit": null}')]))
    httpx_mock.add_response(json=chat_reply("18 degrees in Paris."))
    given = list(USER)
    run = await run_chat(make_client(), call, [get_weather], messages=given)
    assert given == USER  # the caller's list is not modified
    assert run.final.choices[0].message.content == "18 degrees in Paris."
    (result,) = run.tool_calls
    assert (result.id, result.name, result.error) == ("call_1", "get_weather", None)
    assert result.value == result.output == "18 degrees celsius in Paris"  # a null for `unit` is its default
    second = sent(httpx_mock)[1]["messages"]
    assert second[0] == USER[0]
    assert second[1]["role"] == "assistant" and second[1]["tool_calls"][0]["id"] == "call_1"
    assert second[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees celsius in Paris"}
    assert len(run.messages) == 3 and run.messages[2] == second[2]


async def test_several_calls_in_one_reply_and_over_several_turns(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(
        json=chat_reply(calls=[("a", "get_weather", '{"city": "Paris"}'), ("b", "get_weather", '{"city": "Rome"}')])
    )
    httpx_mock.add_response(json=chat_reply(calls=[("c", "get_weather", '{"city": "Oslo", "unit": "fahrenheit"}')]))
    httpx_mock.add_response(json=chat_reply("Done."))
    run = await run_chat(make_client(), call, [get_weather])
    assert [r.id for r in run.tool_calls] == ["a", "b", "c"]
    assert [r.output for r in run.tool_calls] == [
        "18 degrees celsius in Paris",
        "18 degrees celsius in Rome",
        "18 degrees fahrenheit in Oslo",
    ]
    assert len(run.replies) == 3
    bodies = sent(httpx_mock)
    assert [m["role"] for m in bodies[2]["messages"]] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert [m.get("tool_call_id") for m in bodies[1]["messages"][2:]] == ["a", "b"]


async def test_a_raising_tool_becomes_an_error_result_and_is_kept(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply(calls=[("x", "fail", '{"reason": "disk full"}')]))
    httpx_mock.add_response(json=chat_reply("Sorry."))
    run = await run_chat(make_client(), call, [fail])
    (failed,) = run.errors
    assert isinstance(failed.error, ValueError) and str(failed.error) == "boom: disk full"
    assert failed.is_error and failed.value is None
    sent_back = sent(httpx_mock)[1]["messages"][2]
    assert sent_back == {"role": "tool", "tool_call_id": "x", "content": "Error: ValueError: boom: disk full"}


async def test_an_unknown_tool_becomes_an_error_result(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply(calls=[("x", "get_time", "{}")]))
    httpx_mock.add_response(json=chat_reply("Sorry."))
    run = await run_chat(make_client(), call, [get_weather])
    (failed,) = run.errors
    assert isinstance(failed.error, apertis.UnknownToolError) and failed.error.tool_name == "get_time"
    content = sent(httpx_mock)[1]["messages"][2]["content"]
    assert content.startswith("Error: the model called tool 'get_time'") and "get_weather" in content


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ('{"city": 3}', "city: Input should be a valid string"),
        ("{not json", "not valid JSON"),
        ("{}", "city: Field required"),
    ],
)
async def test_arguments_that_do_not_validate_become_an_error_result(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, arguments: str, problem: str
) -> None:
    httpx_mock.add_response(json=chat_reply(calls=[("x", "get_weather", arguments)]))
    httpx_mock.add_response(json=chat_reply("Sorry."))
    run = await run_chat(make_client(), call, [get_weather])
    (failed,) = run.errors
    error = failed.error
    assert isinstance(error, apertis.ToolArgumentsError)
    assert error.tool_name == "get_weather" and error.arguments == arguments and error.errors
    assert problem in str(error)
    assert sent(httpx_mock)[1]["messages"][2]["content"] == f"Error: {error}"


async def test_max_turns_raises_with_the_run_so_far(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply(calls=[("x", "get_weather", '{"city": "Paris"}')]), is_reusable=True)
    with pytest.raises(
        apertis.MaxTurnsExceededError, match=r"asked for tools \(get_weather\) after max_turns=3 replies"
    ) as caught:
        await run_chat(make_client(), call, [get_weather], max_turns=3)
    run = caught.value.run
    assert len(sent(httpx_mock)) == 3 and len(run.replies) == 3
    assert len(run.tool_calls) == 2  # the last reply's calls are not run
    assert run.final.choices[0].message.tool_calls[0].id == "x"
    assert [m["role"] if isinstance(m, dict) else m.role for m in run.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]


async def test_max_turns_of_one_allows_only_an_answer(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json=chat_reply("Hi."))
    run = await run_chat(make_client(), call, [get_weather], max_turns=1)
    assert run.final.choices[0].message.content == "Hi."


async def test_bad_arguments_are_refused_before_the_network(make_client: Callable[..., Any], call: Call) -> None:
    client = make_client()
    with pytest.raises(TypeError, match=r"run_tools: every tool must be an apertis\.function_tool"):
        await run_chat(client, call, [{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(ValueError, match="`max_turns` must be a positive integer, got 0"):
        await run_chat(client, call, [get_weather], max_turns=0)
    with pytest.raises(ValueError, match="two tools are named 'get_weather'"):
        await run_chat(client, call, [get_weather, get_weather])
    with pytest.raises(TypeError, match=r"`tools` must be a list of apertis\.function_tool\(\.\.\.\) tools"):
        await run_chat(client, call, get_weather)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`messages` must be a list of messages, got str"):
        await run_chat(client, call, [get_weather], messages="hello")


def test_the_sync_client_refuses_an_async_tool() -> None:
    @function_tool
    async def slow() -> str:
        return "late"

    client = apertis.Apertis(api_key="sk-test", base_url="https://api.test/v1")
    with pytest.raises(TypeError, match=r"tool 'slow' is an async function.*use AsyncApertis"):
        client.chat.completions.run_tools(model="m", messages=[], tools=[slow])


# -- concurrency (the async runner) ------------------------------------------------------------------------------


async def test_the_async_runner_runs_the_calls_of_a_reply_concurrently(httpx_mock: HTTPXMock) -> None:
    # Each tool waits for the other to have started: run one after the other, the first would time out.
    started = {"first": asyncio.Event(), "second": asyncio.Event()}

    async def meet(me: str, other: str) -> str:
        started[me].set()
        await asyncio.wait_for(started[other].wait(), timeout=10)
        return f"{me} met {other}"

    @function_tool
    async def first() -> str:
        return await meet("first", "second")

    @function_tool
    async def second() -> str:
        return await meet("second", "first")

    httpx_mock.add_response(json=chat_reply(calls=[("1", "first", "{}"), ("2", "second", "{}")]))
    httpx_mock.add_response(json=chat_reply("Both met."))
    async with apertis.AsyncApertis(api_key="sk-test", base_url="https://api.test/v1") as client:
        run = await client.chat.completions.run_tools(model="m", messages=USER, tools=[first, second])
    assert run.errors == []
    assert [r.output for r in run.tool_calls] == ["first met second", "second met first"]


async def test_the_async_runner_runs_plain_functions_in_worker_threads(httpx_mock: HTTPXMock) -> None:
    barrier = threading.Barrier(2, timeout=10)  # broken (an error result) unless both calls run at once
    loop_thread = threading.get_ident()
    threads: List[int] = []

    @function_tool
    def blocking(name: str) -> str:
        threads.append(threading.get_ident())
        barrier.wait()
        return name

    uses = [("1", "blocking", {"name": "a"}), ("2", "blocking", {"name": "b"})]
    httpx_mock.add_response(json=messages_reply(uses=uses))
    httpx_mock.add_response(json=messages_reply("Done."))
    async with apertis.AsyncApertis(api_key="sk-test", base_url="https://api.test/v1") as client:
        run = await client.messages.run_tools(model="claude", max_tokens=10, messages=USER, tools=[blocking])
    assert run.errors == []
    assert loop_thread not in threads and len(set(threads)) == 2


# -- Messages ----------------------------------------------------------------------------------------------------


async def test_messages_tool_use_blocks_are_answered_with_tool_result_blocks(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    uses = [("t1", "get_weather", {"city": "Paris"}), ("t2", "fail", {"reason": "no"}), ("t3", "nope", {})]
    httpx_mock.add_response(json=messages_reply("Let me look.", uses))
    httpx_mock.add_response(json=messages_reply("Paris is mild."))
    run = await run_messages(make_client(), call, [get_weather, fail], system="Be brief.")
    assert run.final.content[0].text == "Paris is mild."
    first, second = sent(httpx_mock)
    assert first["system"] == "Be brief." and first["max_tokens"] == 100
    assert first["tools"][0]["name"] == "get_weather" and "input_schema" in first["tools"][0]
    assert "type" not in first["tools"][0]
    assistant, results = second["messages"][1:]
    assert assistant["role"] == "assistant" and [b["type"] for b in assistant["content"]] == ["text"] + ["tool_use"] * 3
    assert results["role"] == "user"
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "18 degrees celsius in Paris"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "Error: ValueError: boom: no", "is_error": True},
        {"type": "tool_result", "tool_use_id": "t3", "content": results["content"][2]["content"], "is_error": True},
    ]
    assert [type(r.error) for r in run.errors] == [ValueError, apertis.UnknownToolError]


async def test_messages_max_turns(httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call) -> None:
    httpx_mock.add_response(json=messages_reply(uses=[("t", "get_weather", {"city": "Oslo"})]), is_reusable=True)
    with pytest.raises(apertis.MaxTurnsExceededError) as caught:
        await run_messages(make_client(), call, [get_weather], max_turns=2)
    assert len(caught.value.run.replies) == 2 and len(caught.value.run.tool_calls) == 1


# -- the offline server, streamed and not ------------------------------------------------------------------------


async def read_turns(run_stream: Any, kind: str, api: str) -> List[str]:
    """The text of each streamed turn, for both twins."""
    texts: List[str] = []
    if kind == "async":
        async with run_stream as turns:
            async for turn in turns:
                pieces = [
                    (event.delta if api == "chat" else event.text)
                    async for event in turn
                    if event.type in ("content.delta", "text")
                ]
                texts.append("".join(pieces))
    else:
        with run_stream as turns:
            for turn in turns:
                pieces = [
                    (event.delta if api == "chat" else event.text)
                    for event in turn
                    if event.type in ("content.delta", "text")
                ]
                texts.append("".join(pieces))
    return texts


@pytest.mark.parametrize("api", ["chat", "messages"])
async def test_the_offline_server_calls_the_tool_then_answers(
    make_client: Callable[..., Any], call: Call, api: str
) -> None:
    with FakeApertis() as server:
        client = make_client(base_url=server.url)
        if api == "chat":
            run = await run_chat(client, call, [get_weather])
            answer = run.final.choices[0].message.content
        else:
            run = await run_messages(client, call, [get_weather])
            answer = run.final.content[-1].text
        await call(client.close)
    (result,) = run.tool_calls
    assert result.output == "18 degrees example-unit in example-city"  # the arguments built from the schema
    assert answer.endswith("the tool returned '18 degrees example-unit in example-city'.")


@pytest.mark.parametrize("api", ["chat", "messages"])
async def test_stream_true_streams_each_turn_and_the_answer_last(
    make_client: Callable[..., Any], call: Call, kind: str, api: str
) -> None:
    with FakeApertis() as server:
        client = make_client(base_url=server.url)
        resource = client.chat.completions if api == "chat" else client.messages
        options: Dict[str, Any] = {} if api == "chat" else {"max_tokens": 100}
        run_stream = resource.run_tools(model="m", messages=USER, tools=[get_weather], stream=True, **options)
        assert not run_stream.done
        texts = await read_turns(run_stream, kind, api)
        await call(client.close)
    assert run_stream.done
    run = run_stream.result
    assert len(texts) == 2 and len(run.replies) == 2 and len(run.tool_calls) == 1
    assert texts[-1].endswith("the tool returned '18 degrees example-unit in example-city'.")
    final_text = run.final.choices[0].message.content if api == "chat" else run.final.content[-1].text
    assert final_text == texts[-1]


async def test_until_done_and_leaving_a_stream_early(make_client: Callable[..., Any], call: Call, kind: str) -> None:
    with FakeApertis() as server:
        client = make_client(base_url=server.url)
        run_stream = client.chat.completions.run_tools(model="m", messages=USER, tools=[get_weather], stream=True)
        run = await call(run_stream.until_done)
        assert run is run_stream.result and len(run.replies) == 2
        early = client.chat.completions.run_tools(model="m", messages=USER, tools=[get_weather], stream=True)
        if kind == "async":
            async with early:
                async for _ in early:
                    break
        else:
            with early:
                for _ in early:
                    break
        assert not early.done and early.result.replies == []
        with pytest.raises(apertis.ApertisError, match="the tool run has no reply yet"):
            print(early.result.final)
        await call(client.close)


def test_the_offline_server_leaves_requests_without_tools_alone() -> None:
    with FakeApertis() as server, apertis.Apertis(base_url=server.url, api_key="sk-x") as client:
        message = client.messages.create(model="claude", max_tokens=50, messages=USER)
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"


def test_the_tool_errors_pickle_with_what_they_carry() -> None:
    import pickle

    arguments = apertis.ToolArgumentsError("bad", tool_name="t", arguments="{}", errors=[{"msg": "m"}])
    unknown = apertis.UnknownToolError("no such tool", tool_name="u")
    run: apertis.ToolRun[Any, Any] = apertis.ToolRun(USER)
    turns = apertis.MaxTurnsExceededError("too many", run=run)
    copies = [pickle.loads(pickle.dumps(error)) for error in (arguments, unknown, turns)]
    assert (copies[0].tool_name, copies[0].arguments, copies[0].errors) == ("t", "{}", [{"msg": "m"}])
    assert copies[1].tool_name == "u" and str(copies[1]) == "no such tool"
    assert copies[2].run.messages == USER and type(copies[2]).__module__ == "apertis"


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Span:
    start: datetime.date
    days: int


class Opaque:
    def __str__(self) -> str:
        return "<opaque>"


def looped() -> List[Any]:
    items: List[Any] = []
    items.append(items)
    return items


@pytest.mark.parametrize(
    ("value", "output"),
    [
        ({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        (Span(datetime.date(2026, 12, 6), 3), '{"start":"2026-12-06","days":3}'),
        (Opaque(), '"<opaque>"'),
        (looped(), "[[...]]"),
        (None, "null"),
    ],
)
async def test_what_a_tool_returns_is_sent_as_json(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, value: Any, output: str
) -> None:
    @function_tool
    def produce() -> Any:
        return value

    httpx_mock.add_response(json=chat_reply(calls=[("x", "produce", "{}")]))
    httpx_mock.add_response(json=chat_reply("Done."))
    run = await run_chat(make_client(), call, [produce])
    (result,) = run.tool_calls
    assert result.output == output and result.value is value
    assert repr(result) == f"ToolCallResult(id='x', name='produce', output={output!r})"
    assert repr(run) == "ToolRun(replies=2, tool_calls=1, errors=0, messages=3)"
    assert sent(httpx_mock)[1]["messages"][2]["content"] == output


async def test_a_reply_without_choices_is_an_answer(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json={**chat_reply("x"), "choices": []})
    run = await run_chat(make_client(), call, [get_weather])
    assert run.final.choices == [] and run.tool_calls == []


@pytest.mark.parametrize(("value", "output"), [({"a": [1, None]}, '{"a": [1, null]}'), (looped(), "[[...]]")])
async def test_without_pydantic_a_tool_result_is_sent_as_json_too(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, value: Any, output: str
) -> None:
    monkeypatch.setitem(sys.modules, "pydantic_core", None)

    @function_tool(parameters={"type": "object", "properties": {}})
    def produce() -> Any:
        return value

    httpx_mock.add_response(json=chat_reply(calls=[("x", "produce", "{}")]))
    httpx_mock.add_response(json=chat_reply("Done."))
    client = apertis.Apertis(api_key="sk-test", base_url="https://api.test/v1")
    run = client.chat.completions.run_tools(model="m", messages=USER, tools=[produce])
    assert run.tool_calls[0].output == output
