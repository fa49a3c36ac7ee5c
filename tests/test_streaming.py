"""Streams of the three APIs, sync and async, through the public API (`create(..., stream=True)`): typed events,
final results, errors, lifecycle, connection reuse and the drain after the terminator."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import pickle
import socket
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Type

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

import apertis
from apertis import _exceptions as errors
from apertis import _stream_events as stream_events
from apertis.types import UnknownStreamEvent

BASE_URL = "http://test.invalid/v1"
API_KEY = "sk-test-streaming"
TWINS = ["sync", "async"]


def sse(payload: Any, event: Optional[str] = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def chat_chunk(content: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
        **extra,
    }


CHAT_BODY = [
    sse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ),
    sse(chat_chunk("Hel")),
    sse(chat_chunk("lo")),
    sse(chat_chunk(finish_reason="stop")),
    sse(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    ),
    b"data: [DONE]\n\n",
]

MESSAGE_BODY = [
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
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
        "message_start",
    ),
    sse(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        "content_block_start",
    ),
    sse({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm"}}),
    sse({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
    sse({"type": "content_block_stop", "index": 0}),
    sse({"type": "ping"}, "ping"),
    sse({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    sse({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi "}}),
    sse({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "there"}}),
    sse({"type": "content_block_stop", "index": 1}),
    sse(
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        }
    ),
    sse(
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"location": "Tok'},
        }
    ),
    sse({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'yo"}'}}),
    sse({"type": "content_block_stop", "index": 2}),
    sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
        "message_delta",
    ),
    sse({"type": "message_stop"}, "message_stop"),
]

FINAL_RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "The capital", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 12, "output_tokens": 8, "total_tokens": 20},
}

RESPONSE_BODY = [
    sse(
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {**FINAL_RESPONSE, "status": "in_progress", "output": []},
        },
        "response.created",
    ),
    sse(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "The ",
        },
        "response.output_text.delta",
    ),
    sse({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "capital"}),
    sse({"type": "response.completed", "sequence_number": 9, "response": FINAL_RESPONSE}, "response.completed"),
]

APIS = ["chat", "messages", "responses"]
BODIES = {"chat": CHAT_BODY, "messages": MESSAGE_BODY, "responses": RESPONSE_BODY}
PATHS = {"chat": "/chat/completions", "messages": "/messages", "responses": "/responses"}
STREAM_CLASSES = {"chat": "ChatCompletionStream", "messages": "MessageStream", "responses": "ResponseStream"}


def start_stream(api: str, client: Any, **kwargs: Any) -> Any:
    """The public call that starts a stream of `api` (awaitable on the async client)."""
    if api == "chat":
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs
        )
    if api == "messages":
        return client.messages.create(
            model="claude-sonnet-4", max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs
        )
    return client.responses.create(model="gpt-4.1", input="hi", stream=True, **kwargs)


async def open_stream(twin: str, api: str, client: Any, **kwargs: Any) -> Any:
    stream = start_stream(api, client, **kwargs)
    if twin == "async":
        stream = await stream
    expected = ("Async" if twin == "async" else "") + STREAM_CLASSES[api]
    assert type(stream).__name__ == expected
    return stream


async def collect(twin: str, stream: Any) -> List[Any]:
    if twin == "async":
        return [item async for item in stream]
    return list(stream)


class Clients:
    """One SDK client per twin (no retries unless a test asks), closed at the end of the test."""

    def __init__(self) -> None:
        self.sync = apertis.Apertis(api_key=API_KEY, base_url=BASE_URL, max_retries=0)
        self.async_ = apertis.AsyncApertis(api_key=API_KEY, base_url=BASE_URL, max_retries=0)

    def get(self, twin: str) -> Any:
        return self.async_ if twin == "async" else self.sync

    async def close(self) -> None:
        self.sync.close()
        await self.async_.close()


@pytest.fixture
async def clients() -> Any:
    c = Clients()
    yield c
    await c.close()


def add_stream(httpx_mock: HTTPXMock, chunks: List[bytes], status: int = 200) -> None:
    httpx_mock.add_response(
        method="POST", status_code=status, stream=IteratorStream(chunks), headers={"content-type": "text/event-stream"}
    )


async def run(twin: str, api: str, chunks: List[bytes], httpx_mock: HTTPXMock, clients: Clients) -> List[Any]:
    add_stream(httpx_mock, chunks)
    stream = await open_stream(twin, api, clients.get(twin))
    items = await collect(twin, stream)
    assert stream.response.is_closed
    return items


# ---------------------------------------------------------------------------------------------- typed events


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_stream_yields_typed_chunks(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    chunks = await run(twin, "chat", CHAT_BODY, httpx_mock, clients)
    assert len(chunks) == 5
    assert all(type(c).__name__ == "ChatCompletionChunk" for c in chunks)
    text = "".join(c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content)
    assert text == "Hello"
    assert chunks[-1].usage.total_tokens == 5


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_final_completion_joins_content_and_tool_calls(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    body = [
        sse(
            {
                "id": "web-search",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "🔍 Web searching...\n\n"}}],
            }
        ),
        sse(chat_chunk("Let me check.")),
        sse(
            chat_chunk(None)
            | {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "get_weather", "arguments": ""},
                                }
                            ]
                        },
                    }
                ]
            }
        ),
        sse(
            chat_chunk(None)
            | {
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}}
                ]
            }
        ),
        sse(
            chat_chunk(None)
            | {
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Tokyo"}'}}]}}
                ]
            }
        ),
        sse(chat_chunk(finish_reason="tool_calls")),
        sse({"web_sources": [{"title": "t", "url": "https://x", "snippet": "s"}]}),
        sse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}),
        b"data: [DONE]\n\n",
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "chat", clients.get(twin))
    final = await stream.get_final_completion() if twin == "async" else stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls[0].function.arguments == '{"city": "Tokyo"}'
    assert message.tool_calls[0].function.name == "get_weather"
    assert message.tool_calls[0].id == "call_1"
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.total_tokens == 3
    assert final.id == "chatcmpl-1"
    assert final.web_sources[0].url == "https://x"
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_chunks_with_whitespace_around_their_json_are_read(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    body = [b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]} \t\n\n', *CHAT_BODY[2:]]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "chat", clients.get(twin))
    assert await collect(twin, stream.text_stream) == ["Hel", "lo"]


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_text_stream(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, CHAT_BODY)
    stream = await open_stream(twin, "chat", clients.get(twin))
    texts = await collect(twin, stream.text_stream)
    assert texts == ["Hel", "lo"]


@pytest.mark.parametrize("twin", TWINS)
async def test_messages_stream_typed_events_final_message_and_text(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    events = await run(twin, "messages", MESSAGE_BODY, httpx_mock, clients)
    kinds = [type(e).__name__ for e in events]
    assert "PingEvent" not in kinds and len(events) == len(MESSAGE_BODY) - 1  # the ping is skipped
    assert kinds[0] == "MessageStartEvent" and kinds[-1] == "MessageStopEvent"
    assert "ContentBlockDeltaEvent" in kinds and "MessageDeltaEvent" in kinds

    add_stream(httpx_mock, MESSAGE_BODY)
    stream = await open_stream(twin, "messages", clients.get(twin))
    final = await stream.get_final_message() if twin == "async" else stream.get_final_message()
    content = final.content
    assert content[0].thinking == "Hmm" and content[0].signature == "sig"
    assert content[1].text == "Hi there"
    assert content[2].input == {"location": "Tokyo"} or content[2].input.to_dict() == {"location": "Tokyo"}
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 15 and final.usage.input_tokens == 12

    add_stream(httpx_mock, MESSAGE_BODY)
    stream = await open_stream(twin, "messages", clients.get(twin))
    assert await collect(twin, stream.text_stream) == ["Hi ", "there"]


@pytest.mark.parametrize("twin", TWINS)
async def test_responses_stream_typed_events_final_response_and_text(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    events = await run(twin, "responses", RESPONSE_BODY, httpx_mock, clients)
    assert [type(e).__name__ for e in events] == [
        "ResponseCreatedEvent",
        "ResponseOutputTextDeltaEvent",
        "ResponseOutputTextDeltaEvent",
        "ResponseCompletedEvent",
    ]
    assert events[1].delta == "The "

    add_stream(httpx_mock, RESPONSE_BODY)
    stream = await open_stream(twin, "responses", clients.get(twin))
    final = await stream.get_final_response() if twin == "async" else stream.get_final_response()
    assert final.output_text == "The capital"
    assert final.usage.total_tokens == 20

    add_stream(httpx_mock, RESPONSE_BODY)
    stream = await open_stream(twin, "responses", clients.get(twin))
    assert await collect(twin, stream.text_stream) == ["The ", "capital"]


@pytest.mark.parametrize("twin", TWINS)
async def test_responses_stream_ending_with_done_is_assembled_from_deltas(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    body = [
        sse({"type": "response.output_text.delta", "delta": "Conver"}),
        sse({"type": "response.output_text.delta", "delta": "ted"}),
        b"data: [DONE]\n\n",
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "responses", clients.get(twin))
    final = await stream.get_final_response() if twin == "async" else stream.get_final_response()
    assert final.output_text == "Converted"


def _logprobs(token: str) -> Dict[str, Any]:
    return {"content": [{"token": token, "logprob": -0.5, "top_logprobs": []}], "refusal": None}


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_final_completion_joins_reasoning_refusal_and_logprobs_per_choice(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    def chunk(*choices: Any) -> bytes:
        return sse(chat_chunk() | {"choices": list(choices)})

    body = [
        chunk({"index": 0, "delta": {"role": "assistant", "reasoning_content": "Think"}, "logprobs": None}),
        chunk({"index": 0, "delta": {"reasoning_content": "ing.", "content": "A"}, "logprobs": _logprobs("A")}),
        chunk(
            {"index": 0, "delta": {"content": "B"}, "logprobs": _logprobs("B")},
            {"index": 1, "delta": {"refusal": "No"}},
        ),
        # Logprobs of a shape the SDK does not know (not an object) cannot be joined: the last ones are kept.
        chunk(
            {"index": 1, "delta": {"refusal": " way."}, "logprobs": ["x"]},
            {"index": 0, "delta": {}, "finish_reason": "stop"},
        ),
        chunk({"index": 1, "delta": {}, "finish_reason": "stop", "logprobs": ["y"]}),
        b"data: [DONE]\n\n",
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "chat", clients.get(twin))
    final = await stream.get_final_completion() if twin == "async" else stream.get_final_completion()
    first, second = final.choices
    assert (first.index, first.message.content, first.message.reasoning_content) == (0, "AB", "Thinking.")
    assert [entry.token for entry in first.logprobs.content] == ["A", "B"]
    assert (second.index, second.message.refusal, second.finish_reason) == (1, "No way.", "stop")
    assert second.logprobs == ["y"]


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_final_completion_merges_tool_calls_sent_without_an_index(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    def tool_calls(*fragments: Any) -> bytes:
        return sse(chat_chunk() | {"choices": [{"index": 0, "delta": {"tool_calls": list(fragments)}}]})

    body = [
        # Whole calls told apart by their id (some upstreams send no index) ...
        tool_calls({"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": '}}),
        tool_calls({"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": '}}),
        # ... a fragment with neither index nor id continues the last call; one naming a known id, that call.
        tool_calls({"function": {"arguments": '"UTC"}'}}),
        tool_calls({"id": "call_a", "function": {"arguments": '"Oslo"}'}}),
        # Arguments sent as a JSON object rather than a string of JSON are kept as that JSON.
        tool_calls({"id": "call_c", "function": {"name": "search", "arguments": {"q": "x"}}}),
        sse(chat_chunk(finish_reason="tool_calls")),
        b"data: [DONE]\n\n",
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "chat", clients.get(twin))
    final = await stream.get_final_completion() if twin == "async" else stream.get_final_completion()
    message = final.choices[0].message
    assert message.content is None  # a message of tool calls only has no text
    assert [(call.id, call.function.name, call.function.arguments) for call in message.tool_calls] == [
        ("call_a", "get_weather", '{"city": "Oslo"}'),
        ("call_b", "get_time", '{"tz": "UTC"}'),
        ("call_c", "search", '{"q": "x"}'),
    ]


@pytest.mark.parametrize("twin", TWINS)
async def test_messages_final_message_keeps_broken_and_unfinished_tool_input(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    start: Dict[str, Any] = {
        "type": "message_start",
        "message": {"id": "msg_1", "role": "assistant", "model": "claude"},
    }
    start["message"]["content"] = [{"type": "text", "text": "Earlier "}]  # blocks may come with message_start

    def tool_use(index: int) -> bytes:
        block = {"type": "tool_use", "id": f"toolu_{index}", "name": "f", "input": {}}
        return sse({"type": "content_block_start", "index": index, "content_block": block})

    def partial_json(index: int, text: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": text}
        return sse({"type": "content_block_delta", "index": index, "delta": delta})

    body = [
        sse(start),
        sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "text"}}),
        tool_use(1),
        partial_json(1, '{"city": "Os'),
        sse({"type": "content_block_stop", "index": 1}),  # the JSON was cut short
        tool_use(2),
        partial_json(2, '{"n": 1}'),  # and this block is never stopped
        sse({"type": "message_stop"}),
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "messages", clients.get(twin))
    final = await stream.get_final_message() if twin == "async" else stream.get_final_message()
    text, broken, unfinished = final.content
    assert text.text == "Earlier text"
    assert broken.input == '{"city": "Os'  # what the model produced is kept, not lost
    assert unfinished.input == {"n": 1}
    assert final.stop_reason is None  # no message_delta said how the answer ended


@pytest.mark.parametrize("twin", TWINS)
async def test_responses_ending_with_done_rebuilds_items_text_and_arguments(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    snapshot = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt", "output": []}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}
    body = [
        sse({"type": "response.created", "response": snapshot}),
        sse({"type": "response.output_item.added", "output_index": 0, "item": call}),
        sse({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"a": '}),
        sse({"type": "response.function_call_arguments.delta", "output_index": 0, "delta": "1}"}),
        # A text delta for an item that is not a message is not the answer's text.
        sse({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "stray"}),
        sse({"type": "response.output_text.delta", "output_index": 1, "content_index": 1, "delta": "Done."}),
        sse({"type": "response.output_text.delta", "output_index": 1, "content_index": 1, "delta": None}),
        b"data: [DONE]\n\n",
    ]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, "responses", clients.get(twin))
    final = await stream.get_final_response() if twin == "async" else stream.get_final_response()
    assert final.status is None  # no terminal event: the snapshot's in_progress described the start
    function_call, message = final.output
    assert (function_call.type, function_call.arguments) == ("function_call", '{"a": 1}')
    assert [part.text for part in message.content] == ["", "Done."]
    assert final.output_text == "Done."


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", ["messages", "responses"])
async def test_unknown_events_and_fields_pass_through(
    twin: str, api: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    # (Data that is not JSON is not an unknown event but a broken one: see tests/test_stream_integrity.py.)
    body = list(BODIES[api])
    body.insert(1, sse({"type": "brand_new_event", "payload": {"x": 1}}, "brand_new_event"))
    body.insert(2, sse({"no_type": True}, "weird"))
    items = await run(twin, api, body, httpx_mock, clients)
    unknown = [i for i in items if isinstance(i, UnknownStreamEvent)]
    assert [u.type for u in unknown] == ["unknown", "unknown"]  # the tag that keeps the event union narrowable
    assert [u.unknown_type for u in unknown] == ["brand_new_event", "weird"]
    assert unknown[0].payload == {"x": 1}
    assert unknown[1].data == {"no_type": True}
    assert unknown[0].to_dict()["type"] == "brand_new_event"
    assert repr(unknown[1]) == "UnknownStreamEvent(unknown_type='weird', data={'no_type': True})"
    assert unknown[0] != unknown[1] and unknown[1] != {
        "no_type": True
    }  # equal to an unknown event of the same data only


@pytest.mark.parametrize("twin", TWINS)
async def test_chat_chunks_with_unknown_fields_and_no_choices_parse(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    body = [
        sse({"choices": [{"delta": {"content": "task_id: sora-2:1"}}]}),  # Sora progress: no id, index, object
        sse(chat_chunk("x", brand_new_field={"a": 1})),
        sse({"web_sources": []}),
        b": keep-alive\n\n",
        b"data: [DONE]\n\n",
    ]
    chunks = await run(twin, "chat", body, httpx_mock, clients)
    assert len(chunks) == 3


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    ("api", "payload", "cls", "status"),
    [
        (
            "chat",
            {"error": {"message": "quota gone", "type": "insufficient_quota", "code": None}},
            errors.RateLimitError,
            429,
        ),
        ("chat", {"error": {"message": "boom", "type": "server_error"}}, errors.InternalServerError, 500),
        (
            "messages",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            errors.InternalServerError,
            529,
        ),
        (
            "messages",
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            errors.RateLimitError,
            429,
        ),
        (
            "responses",
            {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"},
            errors.RateLimitError,
            429,
        ),
        ("responses", {"error": {"message": "bad", "type": "invalid_request_error"}}, errors.BadRequestError, 400),
        # An error given as a string only: it is the message, of an error without a type (500).
        ("chat", {"error": "quota exceeded"}, errors.InternalServerError, 500),
    ],
)
async def test_error_events_raise_status_errors(
    twin: str,
    api: str,
    payload: Dict[str, Any],
    cls: Type[errors.APIStatusError],
    status: int,
    httpx_mock: HTTPXMock,
    clients: Clients,
) -> None:
    body = [BODIES[api][0], sse(payload, "error"), *BODIES[api][1:]]
    add_stream(httpx_mock, body)
    stream = await open_stream(twin, api, clients.get(twin))
    received = []
    with pytest.raises(cls) as info:
        if twin == "async":
            async for item in stream:
                received.append(item)  # noqa: PERF401 (items before the error are kept)
        else:
            for item in stream:
                received.append(item)  # noqa: PERF402 (items before the error are kept)
    assert len(received) == 1
    assert info.value.status_code == status
    assert info.value.body
    error = payload.get("error")
    message = error["message"] if isinstance(error, dict) else payload.get("message", error)
    assert isinstance(message, str) and message in str(info.value)
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    ("last", "error"),
    [
        (b"data: [DONE]\n\n", None),
        (b'event: error\ndata: {"message": "boom"}\n\n', errors.InternalServerError),
        (b"event: error\ndata: [1, 2]\n\n", errors.InternalServerError),  # not an object: still the server's error
        (b"data: {1: 2}\n\n", errors.APIResponseValidationError),
    ],
    ids=["done", "error-event", "error-event-not-an-object", "not-json"],
)
async def test_the_base_stream_class_yields_each_json_payload(
    twin: str, last: bytes, error: Any, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    # apertis.Stream / AsyncStream, the base of the three APIs' streams, for an endpoint without typed events.
    add_stream(httpx_mock, [sse({"a": 1}), sse([2]), sse({"error": {"message": ""}}), last])
    stream_class = apertis.AsyncStream if twin == "async" else apertis.Stream
    client = clients.get(twin)
    opened = client._request("POST", "/custom", body={}, stream=True, stream_cls=stream_class)
    stream = await opened if twin == "async" else opened
    received: List[Any] = []
    with contextlib.nullcontext() if error is None else pytest.raises(error):
        if twin == "async":
            async for item in stream:
                received.append(item)  # noqa: PERF401 (items before the error are kept)
        else:
            for item in stream:
                received.append(item)  # noqa: PERF402 (items before the error are kept)
    assert received == [{"a": 1}, [2], {"error": {"message": ""}}]  # a placeholder error object is data
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
async def test_placeholder_error_object_is_not_an_error(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    placeholder = {"message": "", "type": "", "param": "", "code": None}
    body = [sse(chat_chunk("ok", error=placeholder)), b"data: [DONE]\n\n"]
    chunks = await run(twin, "chat", body, httpx_mock, clients)
    assert len(chunks) == 1


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", ["chat", "messages"])  # a Responses stream may end at the end of its body
async def test_missing_terminator_raises(twin: str, api: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, BODIES[api][:-1])
    stream = await open_stream(twin, api, clients.get(twin))
    with pytest.raises(errors.APIConnectionError, match="terminator"):
        await collect(twin, stream)
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
async def test_unterminated_final_event_is_not_dispatched(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, [*CHAT_BODY[:-1], b"data: [DONE]\n"])  # no blank line after [DONE]
    stream = await open_stream(twin, "chat", clients.get(twin))
    with pytest.raises(errors.APIConnectionError):
        await collect(twin, stream)


def _failing(chunks: List[bytes], exc: Exception) -> Iterator[bytes]:
    yield from chunks
    raise exc


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ReadTimeout("read timed out"), errors.APITimeoutError),
        (
            httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
            errors.APIConnectionError,
        ),
        (httpx.ReadError("connection reset"), errors.APIConnectionError),
    ],
)
async def test_transport_errors_mid_stream_are_wrapped(
    twin: str, exc: Exception, cls: type, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    httpx_mock.add_response(method="POST", stream=IteratorStream(_failing(CHAT_BODY[:2], exc)))
    stream = await open_stream(twin, "chat", clients.get(twin))
    received = []
    with pytest.raises(cls) as info:
        if twin == "async":
            async for item in stream:
                received.append(item)  # noqa: PERF401 (items before the error are kept)
        else:
            for item in stream:
                received.append(item)  # noqa: PERF402 (items before the error are kept)
    assert len(received) == 2
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is exc
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    ("api", "payload"),
    [
        ("chat", {"error": {"message": f"invalid key {API_KEY}", "type": "authentication_error"}}),
        ("messages", {"type": "error", "error": {"type": "api_error", "message": f"upstream saw {API_KEY}"}}),
        ("responses", {"type": "error", "code": "server_error", "message": f"Authorization: Bearer {API_KEY}"}),
    ],
)
async def test_an_error_event_echoing_the_key_never_shows_it(
    twin: str, api: str, payload: Dict[str, Any], httpx_mock: HTTPXMock, clients: Clients
) -> None:
    add_stream(httpx_mock, [BODIES[api][0], sse(payload, "error"), *BODIES[api][1:]])
    stream = await open_stream(twin, api, clients.get(twin))
    with pytest.raises(errors.APIStatusError) as info:
        await collect(twin, stream)
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert "<redacted>" in str(info.value)
    assert API_KEY.encode() not in pickle.dumps(info.value)


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadError(f"reset by proxy for key {API_KEY}"),
        httpx.RemoteProtocolError(f"bad frame x-api-key: {API_KEY}"),
    ],
    ids=["read", "protocol"],
)
async def test_a_transport_error_mid_stream_never_shows_the_key(
    twin: str, exc: Exception, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    httpx_mock.add_response(method="POST", stream=IteratorStream(_failing(CHAT_BODY[:2], exc)))
    stream = await open_stream(twin, "chat", clients.get(twin))
    with pytest.raises(errors.APIConnectionError) as info:
        await collect(twin, stream)
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert "<redacted>" in str(info.value)
    assert API_KEY.encode() not in pickle.dumps(info.value)


# ---------------------------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("twin", TWINS)
async def test_early_break_closes_the_response(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, CHAT_BODY)
    stream = await open_stream(twin, "chat", clients.get(twin))
    if twin == "async":
        async for _ in stream:
            break
        for _ in range(5):  # the abandoned async generator is finalised by the event loop
            await asyncio.sleep(0)
    else:
        for _ in stream:
            break
    assert stream.response.is_closed
    assert not stream.completed


@pytest.mark.parametrize("twin", TWINS)
async def test_exception_in_the_loop_closes_the_response(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, CHAT_BODY)
    stream = await open_stream(twin, "chat", clients.get(twin))

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        if twin == "async":
            async for _ in stream:
                raise Boom
        else:
            for _ in stream:
                raise Boom
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0)
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
async def test_context_manager_and_close(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, CHAT_BODY)
    stream = await open_stream(twin, "chat", clients.get(twin))
    if twin == "async":
        async with stream as entered:
            assert entered is stream
            assert (await stream.__anext__()).choices[0].delta.role == "assistant"
        assert stream.response.is_closed
        await stream.close()  # idempotent
        await stream.aclose()
        assert [c async for c in stream] == []
    else:
        with stream as entered:
            assert entered is stream
            assert next(stream).choices[0].delta.role == "assistant"
        assert stream.response.is_closed
        stream.close()
        assert not hasattr(stream, "aclose")
        assert list(stream) == []


@pytest.mark.parametrize("twin", TWINS)
async def test_final_result_of_a_stream_closed_early_raises(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    add_stream(httpx_mock, CHAT_BODY)
    stream = await open_stream(twin, "chat", clients.get(twin))
    with pytest.raises(RuntimeError, match="closed before its end"):
        if twin == "async":
            await stream.__anext__()
            await stream.close()
            await stream.get_final_completion()
        else:
            next(stream)
            stream.close()
            stream.get_final_completion()


async def test_cancelling_the_task_closes_the_response(httpx_mock: HTTPXMock, clients: Clients) -> None:
    started = asyncio.Event()

    async def slow_body() -> Any:
        yield CHAT_BODY[0]
        started.set()
        await asyncio.sleep(30)
        yield CHAT_BODY[1]

    class SlowStream(httpx.AsyncByteStream):
        async def __aiter__(self) -> Any:
            async for chunk in slow_body():
                yield chunk

    httpx_mock.add_response(method="POST", stream=SlowStream())
    stream = await open_stream("async", "chat", clients.get("async"))
    received = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)  # noqa: PERF401 (items before the cancellation are kept)

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(received) == 1
    for _ in range(5):
        await asyncio.sleep(0)
    assert stream.response.is_closed


@pytest.mark.parametrize("twin", TWINS)
async def test_ten_thousand_chunks(twin: str, httpx_mock: HTTPXMock, clients: Clients) -> None:
    body = [sse(chat_chunk(str(i % 10))) for i in range(10_000)]
    body.append(b"data: [DONE]\n\n")
    # Re-chunk at odd sizes so events straddle network reads.
    raw = b"".join(body)
    add_stream(httpx_mock, [raw[i : i + 997] for i in range(0, len(raw), 997)])
    stream = await open_stream(twin, "chat", clients.get(twin))
    final_chunks = await collect(twin, stream)
    assert len(final_chunks) == 10_000
    assert "".join(c.choices[0].delta.content for c in final_chunks) == "0123456789" * 1000


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, errors.AuthenticationError), (400, errors.BadRequestError), (429, errors.RateLimitError)],
)
async def test_http_error_before_the_first_byte_raises_like_a_plain_call(
    twin: str,
    api: str,
    status: int,
    cls: Type[errors.APIStatusError],
    httpx_mock: HTTPXMock,
    clients: Clients,
    call: Any,
) -> None:
    body = {"error": {"message": "no way", "type": "invalid_request_error"}}
    httpx_mock.add_response(method="POST", status_code=status, json=body, headers={"x-should-retry": "false"})
    httpx_mock.add_response(method="POST", status_code=status, json=body, headers={"x-should-retry": "false"})
    with pytest.raises(cls, match="no way") as streamed:
        await open_stream(twin, api, clients.get(twin))
    client = clients.get(twin)
    plain = {
        "chat": lambda: client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]),
        "messages": lambda: client.messages.create(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ),
        "responses": lambda: client.responses.create(model="m", input="hi"),
    }[api]
    with pytest.raises(cls) as not_streamed:
        await call(plain)
    assert type(streamed.value) is type(not_streamed.value)
    assert streamed.value.status_code == not_streamed.value.status_code == status
    assert streamed.value.body == not_streamed.value.body
    requests = httpx_mock.get_requests()
    assert requests[0].headers["accept"] == "text/event-stream"
    assert json.loads(requests[0].content)["stream"] is True


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_http_error_before_the_first_byte_is_retried(
    twin: str, api: str, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    httpx_mock.add_response(method="POST", status_code=503, json={"error": {"message": "busy"}})
    httpx_mock.add_response(method="POST", status_code=429, json={"error": {"message": "slow"}})
    add_stream(httpx_mock, BODIES[api])
    cls = apertis.AsyncApertis if twin == "async" else apertis.Apertis
    client = cls(api_key=API_KEY, base_url=BASE_URL, max_retries=2)
    try:
        stream = await open_stream(twin, api, client)
        items = await collect(twin, stream)
    finally:
        await _close_client(client)
    assert len(items) >= 3 and stream.completed
    requests = httpx_mock.get_requests()
    assert len(requests) == 3
    assert [r.headers["x-apertis-retry-count"] for r in requests] == ["0", "1", "2"]
    assert len(sleeps) == 2


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_retries_exhausted_before_the_first_byte_raise_the_status_error(
    twin: str, api: str, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    for _ in range(2):
        httpx_mock.add_response(method="POST", status_code=500, json={"error": {"message": "down"}})
    cls = apertis.AsyncApertis if twin == "async" else apertis.Apertis
    client = cls(api_key=API_KEY, base_url=BASE_URL, max_retries=1)
    try:
        with pytest.raises(errors.InternalServerError, match="down") as info:
            await open_stream(twin, api, client)
    finally:
        await _close_client(client)
    assert info.value.retries_taken == 1
    assert len(httpx_mock.get_requests()) == 2


async def _close_client(client: Any) -> None:
    result = client.close()
    if result is not None:
        await result


# ---------------------------------------------------------------------------------------------- real sockets


class LoopbackSSEServer:
    """A tiny HTTP/1.1 keep-alive server on 127.0.0.1 that streams chunked SSE and counts connections."""

    def __init__(
        self, body: List[bytes], *, pause_before_end: float = 0.0, stall: float = 0.0, hold_open: float = 0.0
    ) -> None:
        self.body = body
        self.pause_before_end = pause_before_end
        self.hold_open = hold_open
        self.stall = stall
        self.connections = 0
        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._closing = False
        self._threads: List[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            # As real servers and proxies do: without it, Nagle's algorithm can hold the body's last bytes back.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not self._closing:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                self.requests += 1
                try:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    )
                    for i, chunk in enumerate(self.body):
                        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        if self.stall and i == 0:
                            time.sleep(self.stall)
                            return
                    if self.pause_before_end:
                        time.sleep(self.pause_before_end)
                    if self.hold_open:
                        # The body stays open after the terminator, then the connection is dropped.
                        deadline = time.monotonic() + self.hold_open
                        while not self._closing and time.monotonic() < deadline:
                            time.sleep(0.02)
                        return
                    conn.sendall(b"0\r\n\r\n")
                except OSError:
                    return

    def close(self) -> None:
        self._closing = True
        self._sock.close()


@pytest.fixture
def server_factory() -> Any:
    servers: List[LoopbackSSEServer] = []

    def make(*args: Any, **kwargs: Any) -> LoopbackSSEServer:
        server = LoopbackSSEServer(*args, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def sdk_client(twin: str, server: LoopbackSSEServer, **kwargs: Any) -> Any:
    cls = apertis.AsyncApertis if twin == "async" else apertis.Apertis
    return cls(api_key=API_KEY, base_url=server.base_url, max_retries=0, **kwargs)


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_connection_is_reused_after_a_full_stream(
    twin: str, api: str, server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The end of the chunked body comes a little after the terminator event, as through a real proxy: closing
    # the response at the terminator, before that end arrived, would throw the connection away. The drain budget
    # is raised because on a loaded machine the server thread can take longer than it to send that end.
    monkeypatch.setattr(stream_events, "DRAIN_BUDGET", 30.0)
    server = server_factory(BODIES[api], pause_before_end=0.05)
    client = sdk_client(twin, server)
    try:
        for _ in range(3):
            stream = await open_stream(twin, api, client)
            assert len(await collect(twin, stream)) >= 3
            assert stream.completed and stream.response.is_closed
    finally:
        await _close_client(client)
    assert server.requests == 3
    assert server.connections == 1  # the second and third calls opened no new connection


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_a_body_kept_open_after_the_terminator_does_not_hold_the_caller(
    twin: str, api: str, server_factory: Any
) -> None:
    server = server_factory(BODIES[api], hold_open=20.0)
    client = sdk_client(twin, server, timeout=30.0)
    try:
        for _ in range(2):
            started = time.monotonic()
            stream = await open_stream(twin, api, client)
            assert len(await collect(twin, stream)) >= 3
            # The drain budget, plus generous room for a loaded machine; far below the 20 s the server holds.
            assert time.monotonic() - started < stream_events.DRAIN_BUDGET + 5.0
            assert stream.completed and stream.response.is_closed
    finally:
        await _close_client(client)
    assert server.requests == 2
    assert server.connections == 2  # the held connection was dropped, not reused


@pytest.mark.parametrize("twin", TWINS)
async def test_a_stalled_stream_raises_a_timeout(twin: str, server_factory: Any) -> None:
    server = server_factory(CHAT_BODY, stall=10.0)
    client = sdk_client(twin, server, timeout=httpx.Timeout(5.0, read=0.3))
    received: List[Any] = []
    started = time.monotonic()
    try:
        stream = await open_stream(twin, "chat", client)
        with pytest.raises(errors.APITimeoutError, match="stalled"):
            if twin == "async":
                async for item in stream:
                    received.append(item)  # noqa: PERF401 (items before the error are kept)
            else:
                for item in stream:
                    received.append(item)  # noqa: PERF402 (items before the error are kept)
    finally:
        await _close_client(client)
    assert len(received) == 1
    assert stream.response.is_closed
    assert time.monotonic() - started < 8.0  # the read timeout fired, not the server's end


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_a_connection_cut_mid_stream_raises_connection_error(twin: str, api: str, server_factory: Any) -> None:
    server = server_factory(BODIES[api], stall=0.01)  # sends one event, then closes without the chunked end
    client = sdk_client(twin, server)
    try:
        stream = await open_stream(twin, api, client)
        with pytest.raises(errors.APIConnectionError) as info:
            await collect(twin, stream)
    finally:
        await _close_client(client)
    assert not isinstance(info.value, errors.APITimeoutError)
    assert not isinstance(info.value, httpx.HTTPError)
    assert stream.response.is_closed


# ------------------------------------------------------------------------------------- JSON instead of a stream


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("api", APIS)
async def test_a_json_error_answering_a_stream_request_raises_the_servers_error(
    twin: str, api: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    error = {"error": {"message": "model xyz is not available", "type": "invalid_request_error", "code": None}}
    httpx_mock.add_response(method="POST", json=error)
    with pytest.raises(apertis.BadRequestError, match="model xyz is not available") as info:
        await open_stream(twin, api, clients.get(twin))
    assert info.value.status_code == 400
    assert info.value.body == error["error"]


@pytest.mark.parametrize("twin", TWINS)
async def test_a_json_document_answering_a_stream_request_is_not_a_broken_connection(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    # A proxy that ignored `stream` and sent the whole completion: the user learns that, with the text.
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": []}
    httpx_mock.add_response(method="POST", json=completion)
    with pytest.raises(apertis.APIResponseValidationError, match="not the event stream that was asked for") as info:
        await open_stream(twin, "chat", clients.get(twin))
    assert info.value.status_code == 200
    assert "chatcmpl-1" in str(info.value)


@pytest.mark.parametrize("twin", TWINS)
async def test_a_broken_json_document_answering_a_stream_request_is_reported_with_its_text(
    twin: str, httpx_mock: HTTPXMock, clients: Clients
) -> None:
    httpx_mock.add_response(
        method="POST", content=b'{"error": {"message": "cut sh', headers={"content-type": "application/json"}
    )
    with pytest.raises(apertis.APIResponseValidationError, match="not the event stream that was asked for") as info:
        await open_stream(twin, "chat", clients.get(twin))
    assert info.value.text == '{"error": {"message": "cut sh'
