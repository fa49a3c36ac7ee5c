"""Typed fakes for unit tests of code that uses the SDK: results, streams and errors, built in memory.

    from unittest import mock
    from apertis.testing import factories

    def test_summarise(monkeypatch):
        client = Apertis(api_key="test")
        monkeypatch.setattr(client.chat.completions, "create", mock.Mock(return_value=factories.chat_completion("Hi")))
        ...

Each factory returns the SDK's own type (`ChatCompletion`, `ChatCompletionStream`, `MessageStream`,
`APIStatusError`), parsed from the JSON the API would send, so the code under test sees what it sees in
production: a stream yields typed events, has `text_stream` and `get_final_*`, and raises like a real one. The
`*_sse` functions give the wire bytes instead, for pytest-httpx or respx. Nothing here opens a connection.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, TypedDict

if TYPE_CHECKING:
    from .. import Apertis, APIStatusError, AsyncApertis
    from .._async._streaming import AsyncChatCompletionStream, AsyncMessageStream
    from .._sync._streaming import ChatCompletionStream, MessageStream
    from ..types import ChatCompletion, Message

__all__ = [
    "FakeToolCall",
    "api_error",
    "async_chat_completion_stream",
    "async_messages_stream",
    "chat_completion",
    "chat_completion_sse",
    "chat_completion_stream",
    "message",
    "messages_sse",
    "messages_stream",
]

# The base URL of the requests the fakes claim to answer (never contacted).
FAKE_BASE_URL = "https://apertis.invalid/v1"
_CHAT_ID = "chatcmpl-fake"
_MESSAGE_ID = "msg_fake"
_CREATED = 1_700_000_000


class FakeToolCall(TypedDict, total=False):
    """A tool call for `chat_completion(tool_calls=...)`: `name`, `arguments` (a JSON string, or any JSON value,
    which is encoded), and optionally `id` (default `call_<n>`)."""

    name: str
    arguments: Any
    id: str


def _tool_call_dicts(tool_calls: Optional[Sequence[FakeToolCall]]) -> List[Dict[str, Any]]:
    calls = []
    for index, call in enumerate(tool_calls or ()):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise TypeError(
                f"`tool_calls[{index}]` must be a dict with a str `name` and `arguments`, such as "
                f'{{"name": "get_weather", "arguments": {{"city": "Paris"}}}}, got {call!r}'
            )
        arguments: Any = call.get("arguments", {})
        calls.append(
            {
                "id": call.get("id", f"call_{index}"),
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return calls


def _usage(prompt_tokens: int, completion_tokens: int) -> Dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(
    content: Optional[str] = "Hello!",
    *,
    tool_calls: Optional[Sequence[FakeToolCall]] = None,
    model: str = "gpt-4.1-mini",
    finish_reason: Optional[str] = None,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
) -> ChatCompletion:
    """A `ChatCompletion` whose first (only) choice says `content` and/or calls `tool_calls`.

    `finish_reason` defaults to `tool_calls` when there are tool calls, else `stop`.

    ```python
    factories.chat_completion(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], content=None)
    ```
    """
    from ..types import ChatCompletion

    calls = _tool_call_dicts(tool_calls)
    message: Dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return ChatCompletion.from_dict(
        {
            "id": _CHAT_ID,
            "object": "chat.completion",
            "created": _CREATED,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason or ("tool_calls" if calls else "stop")}
            ],
            "usage": _usage(prompt_tokens, completion_tokens),
        }
    )


def message(
    content: str = "Hello!",
    *,
    model: str = "claude-sonnet-4.5",
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    output_tokens: int = 5,
) -> Message:
    """A Messages API `Message` with one text block saying `content`."""
    from ..types import Message

    return Message.from_dict(
        {
            "id": _MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    )


def _sse(events: Sequence[Any], *, named: bool = False) -> bytes:
    out = []
    for data in events:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        head = f"event: {data['type']}\n" if named and isinstance(data, dict) else ""
        out.append(f"{head}data: {text}\n\n")
    return "".join(out).encode()


def chat_completion_sse(
    pieces: Sequence[str],
    *,
    tool_calls: Optional[Sequence[FakeToolCall]] = None,
    model: str = "gpt-4.1-mini",
    finish_reason: Optional[str] = None,
) -> bytes:
    """The Server-Sent Events body of a streamed chat completion: a chunk per text piece, each tool call in one
    chunk, a chunk with the finish reason, a usage chunk and `[DONE]`. For pytest-httpx or respx:
    `httpx_mock.add_response(content=chat_completion_sse(["Hel", "lo"]), headers={"content-type":
    "text/event-stream"})`."""
    if isinstance(pieces, str):
        raise TypeError(f"`pieces` must be a list of str (the text deltas), such as ['Hel', 'lo'], got {pieces!r}")
    calls = _tool_call_dicts(tool_calls)

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
        base = {"id": _CHAT_ID, "object": "chat.completion.chunk", "created": _CREATED, "model": model}
        return {**base, "choices": choices, **extra}

    events: List[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in pieces]
    events += [chunk({"tool_calls": [{"index": index, **call}]}) for index, call in enumerate(calls)]
    events.append(chunk({}, finish_reason or ("tool_calls" if calls else "stop")))
    events.append(chunk({}, usage=_usage(10, max(1, len(pieces)))))
    events.append("[DONE]")
    return _sse(events)


def messages_sse(pieces: Sequence[str], *, model: str = "claude-sonnet-4.5", stop_reason: str = "end_turn") -> bytes:
    """The Server-Sent Events body of a streamed Messages call: `message_start`, one text block with a
    `text_delta` per piece, `message_delta` with `stop_reason`, `message_stop`."""
    if isinstance(pieces, str):
        raise TypeError(f"`pieces` must be a list of str (the text deltas), such as ['Hel', 'lo'], got {pieces!r}")
    start: Dict[str, Any] = {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    events: List[Any] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}} for piece in pieces
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
         "usage": {"output_tokens": max(1, len(pieces))}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return _sse(events, named=True)


_clients: Dict[str, Any] = {}
_clients_lock = threading.Lock()


def _offline_client(kind: str) -> Any:
    """A client that never sends anything, which a fake stream belongs to when none is given."""
    with _clients_lock:
        client = _clients.get(kind)
        if client is None:
            from .. import Apertis, AsyncApertis

            client_class = AsyncApertis if kind == "async" else Apertis
            client = _clients[kind] = client_class(api_key="sk-fake", base_url=FAKE_BASE_URL, max_retries=0)
        return client


def _sse_response(body: bytes, path: str) -> Any:
    import httpx

    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=httpx.ByteStream(body),
        request=httpx.Request("POST", FAKE_BASE_URL + path),
    )


def chat_completion_stream(
    pieces: Sequence[str],
    *,
    tool_calls: Optional[Sequence[FakeToolCall]] = None,
    model: str = "gpt-4.1-mini",
    finish_reason: Optional[str] = None,
    client: Optional[Apertis] = None,
) -> ChatCompletionStream:
    """A `ChatCompletionStream` (what `create(stream=True)` returns) over `chat_completion_sse(...)`, in memory.

    `text_stream` yields `pieces`; `get_final_completion()` returns their join. `client` is the client the stream
    belongs to (default: an offline one)."""
    from .._sync._streaming import ChatCompletionStream

    body = chat_completion_sse(pieces, tool_calls=tool_calls, model=model, finish_reason=finish_reason)
    owner = client if client is not None else _offline_client("sync")
    return ChatCompletionStream(_sse_response(body, "/chat/completions"), client=owner)


def async_chat_completion_stream(
    pieces: Sequence[str],
    *,
    tool_calls: Optional[Sequence[FakeToolCall]] = None,
    model: str = "gpt-4.1-mini",
    finish_reason: Optional[str] = None,
    client: Optional[AsyncApertis] = None,
) -> AsyncChatCompletionStream:
    """`chat_completion_stream` for `AsyncApertis`: an `AsyncChatCompletionStream`."""
    from .._async._streaming import AsyncChatCompletionStream

    body = chat_completion_sse(pieces, tool_calls=tool_calls, model=model, finish_reason=finish_reason)
    owner = client if client is not None else _offline_client("async")
    return AsyncChatCompletionStream(_sse_response(body, "/chat/completions"), client=owner)


def messages_stream(
    pieces: Sequence[str],
    *,
    model: str = "claude-sonnet-4.5",
    stop_reason: str = "end_turn",
    client: Optional[Apertis] = None,
) -> MessageStream:
    """A `MessageStream` (what `messages.create(stream=True)` returns) over `messages_sse(...)`, in memory."""
    from .._sync._streaming import MessageStream

    body = messages_sse(pieces, model=model, stop_reason=stop_reason)
    owner = client if client is not None else _offline_client("sync")
    return MessageStream(_sse_response(body, "/messages"), client=owner)


def async_messages_stream(
    pieces: Sequence[str],
    *,
    model: str = "claude-sonnet-4.5",
    stop_reason: str = "end_turn",
    client: Optional[AsyncApertis] = None,
) -> AsyncMessageStream:
    """`messages_stream` for `AsyncApertis`: an `AsyncMessageStream`."""
    from .._async._streaming import AsyncMessageStream

    body = messages_sse(pieces, model=model, stop_reason=stop_reason)
    owner = client if client is not None else _offline_client("async")
    return AsyncMessageStream(_sse_response(body, "/messages"), client=owner)


def api_error(
    status: int,
    message: Optional[str] = None,
    *,
    code: Optional[str] = None,
    param: Optional[str] = None,
    error_type: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    path: str = "/chat/completions",
) -> APIStatusError:
    """The exception the SDK raises for an HTTP `status` answer with the gateway's error body: the subclass of
    the status (`RateLimitError` for 429, `InternalServerError` for 5xx, ...), with `message`, `code`, `param`,
    `status_code`, `response` and `body` set as for a real one. Raise it from a mock:
    `mock.Mock(side_effect=factories.api_error(429, headers={"retry-after": "1"}))`."""
    import httpx

    from .._exceptions import make_status_error
    from ._answers import error_answer

    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise TypeError(f"`status` must be an HTTP error status (an int from 400 to 599), got {status!r}")
    answer = error_answer(status, message, code=code, param=param, error_type=error_type, anthropic=path == "/messages")
    response = httpx.Response(
        status,
        headers={**answer.headers, **(headers or {})},
        content=answer.body,
        request=httpx.Request("POST", FAKE_BASE_URL + path),
    )
    return make_status_error(response)
