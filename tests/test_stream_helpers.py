"""`chat.completions.stream(...)` and `messages.stream(...)`: openai-python's and anthropic-sdk-python's streaming
helpers, sync and async, through the public client (pytest-httpx and the offline server)."""

from __future__ import annotations

import json
from typing import Any, Callable, List, Optional

import pytest
from pytest_httpx import HTTPXMock, IteratorStream

import apertis
from apertis.testing import FakeApertis

MESSAGES = [{"role": "user", "content": "Hi"}]


def sse(payload: Any, event: Optional[str] = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


def chunk(delta: dict[str, Any], finish_reason: Optional[str] = None, index: int = 0) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish_reason}
    return sse({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]})


def tool(index: int, arguments: str, name: Optional[str] = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        call.update(id=f"call_{index}", type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


CHAT = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(tool(0, '{"city":', name="weather")),
    chunk(tool(0, ' "Paris"}')),
    chunk(tool(1, "{}", name="time")),
    chunk({}, finish_reason="tool_calls"),
    b"data: [DONE]\n\n",
]

MESSAGE = [
    sse(
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude",
                "stop_reason": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        }
    ),
    sse({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
    sse({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hm"}}),
    sse({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
    sse({"type": "content_block_stop", "index": 0}),
    sse({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    sse({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi "}}),
    sse({"type": "ping"}),
    sse({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "there"}}),
    sse({"type": "content_block_stop", "index": 1}),
    sse(
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        }
    ),
    sse({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"a"'}}),
    sse({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ": 1}"}}),
    sse({"type": "content_block_stop", "index": 2}),
    sse({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
    sse({"type": "message_stop"}),
]


def _respond(httpx_mock: HTTPXMock, body: List[bytes]) -> None:
    httpx_mock.add_response(stream=IteratorStream(body), headers={"content-type": "text/event-stream"})


async def _run(manager: Any, use: Callable[[Any], Any]) -> Any:
    """`with manager as stream: return use(stream)` for either twin; `use` gets the stream and an async flag."""
    if hasattr(manager, "__aenter__"):
        async with manager as stream:
            result = use(stream)
            return await result if hasattr(result, "__await__") else result
    with manager as stream:
        result = use(stream)
        return await result if hasattr(result, "__await__") else result


async def _events(stream: Any) -> List[Any]:
    if hasattr(stream, "__aiter__"):
        return [event async for event in stream]
    return list(stream)


async def _list(manager: Any) -> List[Any]:
    return await _run(manager, _events)  # type: ignore[no-any-return]


async def test_chat_stream_yields_openai_events(httpx_mock: HTTPXMock, make_client: Callable[..., Any]) -> None:
    _respond(httpx_mock, CHAT)
    events = await _list(make_client().chat.completions.stream(model="m", messages=MESSAGES))
    kinds = [event.type for event in events]
    assert kinds.count("chunk") == 7
    deltas = [(e.delta, e.snapshot) for e in events if e.type == "content.delta"]
    assert deltas == [("Hel", "Hel"), ("lo", "Hello")]
    argument_deltas = [
        (e.name, e.index, e.arguments_delta, e.arguments)
        for e in events
        if e.type.endswith("delta") and e.type.startswith("tool_calls")
    ]
    assert argument_deltas == [
        ("weather", 0, '{"city":', '{"city":'),
        ("weather", 0, ' "Paris"}', '{"city": "Paris"}'),
        ("time", 1, "{}", "{}"),
    ]
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.name, e.index, e.parsed_arguments) for e in done] == [("weather", 0, {"city": "Paris"}), ("time", 1, {})]
    # the first call is done when the second begins, as in openai-python; the content when the choice finishes
    assert (
        kinds.index("tool_calls.function.arguments.done")
        < kinds.index("chunk", kinds.index("tool_calls.function.arguments.done") - 2) + 3
    )
    assert [e.content for e in events if e.type == "content.done"] == ["Hello"]
    assert kinds[-1] == "tool_calls.function.arguments.done"
    assert events[1].type == "chunk" and events[1].snapshot.choices[0].message.content == "Hel"


async def test_chat_stream_final_completion_and_snapshot(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    _respond(httpx_mock, CHAT)

    async def use(stream: Any) -> Any:
        first = await _next(stream)
        assert first.type == "chunk"
        final = stream.get_final_completion()
        final = await final if hasattr(final, "__await__") else final
        assert stream.current_completion_snapshot.choices[0].message.content == "Hello"
        return final

    completion = await _run(make_client().chat.completions.stream(model="m", messages=MESSAGES), use)
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert [c.function.arguments for c in completion.choices[0].message.tool_calls] == ['{"city": "Paris"}', "{}"]


async def _next(stream: Any) -> Any:
    if hasattr(stream, "__anext__"):
        return await stream.__anext__()
    return next(stream)


async def test_chat_stream_sends_stream_true_only_on_entry(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    manager = make_client().chat.completions.stream(model="m", messages=MESSAGES, temperature=0.5)
    assert httpx_mock.get_requests() == []  # nothing sent before the block is entered
    _respond(httpx_mock, CHAT)

    await _run(manager, lambda stream: stream.until_done())
    body = json.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert body["stream"] is True and body["temperature"] == 0.5


async def test_the_stream_argument_is_refused(make_client: Callable[..., Any]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="always streams"):
        client.chat.completions.stream(model="m", messages=MESSAGES, stream=False)
    with pytest.raises(TypeError, match="always streams"):
        client.messages.stream(model="m", messages=MESSAGES, max_tokens=5, stream=True)


async def test_leaving_the_block_early_closes_the_stream(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    _respond(httpx_mock, CHAT)

    async def first_then_leave(stream: Any) -> Any:
        await _next(stream)
        return stream

    stream = await _run(make_client().chat.completions.stream(model="m", messages=MESSAGES), first_then_leave)
    assert stream.response.is_closed


async def test_messages_stream_yields_anthropic_events(httpx_mock: HTTPXMock, make_client: Callable[..., Any]) -> None:
    _respond(httpx_mock, MESSAGE)
    events = await _list(make_client().messages.stream(model="claude", max_tokens=10, messages=MESSAGES))
    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start", "content_block_delta", "thinking", "content_block_delta", "signature",
        "content_block_stop",
        "content_block_start", "content_block_delta", "text", "content_block_delta", "text", "content_block_stop",
        "content_block_start", "content_block_delta", "input_json", "content_block_delta", "input_json",
        "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert [(e.text, e.snapshot) for e in events if e.type == "text"] == [("Hi ", "Hi "), ("there", "Hi there")]
    assert [e.snapshot for e in events if e.type == "input_json"] == ['{"a"', '{"a": 1}']
    assert [e.thinking for e in events if e.type == "thinking"] == ["Hm"]


async def test_messages_stream_text_final_message_and_text(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    _respond(httpx_mock, MESSAGE)

    async def use(stream: Any) -> Any:
        texts = stream.text_stream
        pieces = [t async for t in texts] if hasattr(texts, "__aiter__") else list(texts)
        assert stream.current_message_snapshot.stop_reason == "tool_use"
        text = stream.get_final_text()
        return pieces, (await text if hasattr(text, "__await__") else text)

    pieces, text = await _run(make_client().messages.stream(model="claude", max_tokens=10, messages=MESSAGES), use)
    assert pieces == ["Hi ", "there"]
    assert text == "Hi there"


async def test_messages_stream_with_anthropic_version_on_the_offline_server(
    fake_apertis: FakeApertis, make_client: Callable[..., Any]
) -> None:
    client = make_client(base_url=fake_apertis.url, default_headers={"anthropic-version": "2023-06-01"})

    async def use(stream: Any) -> Any:
        message = stream.get_final_message()
        return await message if hasattr(message, "__await__") else message

    try:
        message = await _run(client.messages.stream(model="claude-sonnet-4.5", max_tokens=64, messages=MESSAGES), use)
    finally:
        closed = client.close()
        if hasattr(closed, "__await__"):
            await closed
    assert message.content[0].text
    assert fake_apertis.requests[-1].headers["anthropic-version"] == "2023-06-01"


def test_the_helpers_are_exported() -> None:
    from apertis import streaming

    assert streaming.ChatCompletionStreamManager is apertis._sync._stream_helpers.ChatCompletionStreamManager
    assert streaming.AsyncMessageStreamManager.__name__ == "AsyncMessageStreamManager"
    assert streaming.ContentDeltaEvent.type == "content.delta"


async def test_breaking_out_of_the_loop_keeps_the_stream_for_the_final_completion(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    _respond(httpx_mock, CHAT)

    async def break_then_finish(stream: Any) -> Any:
        if hasattr(stream, "__aiter__"):
            async for event in stream:
                if event.type == "content.delta":
                    break
            return await stream.get_final_completion()
        for event in stream:
            if event.type == "content.delta":
                break
        return stream.get_final_completion()

    completion = await _run(make_client().chat.completions.stream(model="m", messages=MESSAGES), break_then_finish)
    assert completion.choices[0].message.content == "Hello"


async def test_an_error_in_the_stream_raises_through_the_helper(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any]
) -> None:
    error = sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")
    _respond(httpx_mock, [*MESSAGE[:3], error])
    with pytest.raises(apertis.InternalServerError, match="Overloaded"):
        await _list(make_client().messages.stream(model="claude", max_tokens=10, messages=MESSAGES))
