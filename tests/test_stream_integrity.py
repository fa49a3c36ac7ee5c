"""Stream integrity, sync and async, through the public API against a raw-socket server (every byte exact).

A stream never skips what it cannot read: data that is not JSON, or JSON that is not an object, raises
APIResponseValidationError carrying the (redacted) data; an `error` event with plain-text data, or a chunk with
an `error` object beside its `choices`, raises the matching status error. What is well-formed but unfamiliar
passes (the `:web` indicator chunk, a trailing `web_sources` chunk, Sora's minimal chunks, unknown event
types). A stream a gateway ends with `[DONE]` before its API's end event gives a final object that claims no
status or stop reason nobody sent.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
from rawserver import API_KEY, LoopbackServer, close, loopback_servers, make, maybe_await, raw, sse_response

import apertis
from apertis.types import UnknownStreamEvent


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


def event(data: Any, name: Optional[str] = None) -> bytes:
    """One SSE event: `data` as JSON unless it is already the exact text to send."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {text}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def chunk(content: str, **extra: Any) -> Dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
        **extra,
    }


def start(api: str, client: Any) -> Any:
    if api == "chat":
        return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    if api == "messages":
        return client.messages.create(
            model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    return client.responses.create(model="m", input="hi", stream=True)


class Run:
    """One stream over the raw server: the text it yielded, then the final object or the exception."""

    def __init__(self) -> None:
        self.texts: List[str] = []
        self.items: List[Any] = []
        self.final: Any = None
        self.error: Optional[BaseException] = None
        self.stream: Any = None


async def run(kind: str, loopback: Any, api: str, events: List[bytes], how: str = "text") -> Run:
    """Stream `events` to a client of `kind` and read them with `text_stream` ("text"), a loop over the events
    ("events") or `get_final_*()` ("final"); the exception, if any, is recorded."""
    server = loopback(raw(sse_response(*events)))
    client = make(kind, server, max_retries=0)
    result = Run()
    try:
        result.stream = stream = await maybe_await(start(api, client))
        try:
            if how == "final":
                final = {"chat": "get_final_completion", "messages": "get_final_message"}.get(api, "get_final_response")
                result.final = await maybe_await(getattr(stream, final)())
            else:
                source = stream.text_stream if how == "text" else stream
                collected = result.texts if how == "text" else result.items
                if kind == "async":
                    async for item in source:
                        collected.append(item)
                else:
                    for item in source:
                        collected.append(item)
        except apertis.APIError as exc:
            result.error = exc
    finally:
        await close(client)
    return result


def redacted(data: str) -> str:
    """`data` as an exception may show it: the key, or the piece of it a cut line ends with, redacted."""
    if API_KEY in data:
        return data.replace(API_KEY, "<redacted>")
    start = data.find(API_KEY[:8])
    return data if start < 0 else data[:start] + "<redacted>"


def assert_never_shows_the_key(error: Any) -> None:
    piece = API_KEY[:16]  # not even most of it
    for shown in (str(error), repr(error), repr(getattr(error, "body", None)), getattr(error, "text", "")):
        assert piece not in shown
    assert piece.encode() not in pickle.dumps(error)


# ------------------------------------------------------------------------------------ data the SDK cannot read

# The data of a broken event, what the message says about it, and whether it quotes the key (to be redacted).
QUOTING_THE_KEY = json.dumps(chunk(f"brave {API_KEY} world"))

BROKEN = [
    # The end of the line lost, right after the key, or inside it (the piece that is left is redacted too).
    pytest.param(QUOTING_THE_KEY[: QUOTING_THE_KEY.index(" world")], "is not valid JSON", True, id="cut-short"),
    pytest.param(
        QUOTING_THE_KEY[: QUOTING_THE_KEY.index(API_KEY) + len(API_KEY) - 3],
        "is not valid JSON",
        True,
        id="cut-inside-the-key",
    ),
    pytest.param(f'["{API_KEY}", 2]', "is a JSON array", True, id="array"),
    pytest.param("[1,2]", "is a JSON array", False, id="array-of-numbers"),
    pytest.param("42", "is a JSON number", False, id="number"),
    pytest.param(json.dumps(f"key {API_KEY}"), "is a JSON string", True, id="string"),
    pytest.param("null", "is JSON null", False, id="null"),
    pytest.param("true", "is a JSON boolean", False, id="boolean"),
]


@pytest.mark.parametrize("how", ["text", "final"])
@pytest.mark.parametrize(("data", "problem", "has_key"), BROKEN)
async def test_a_chat_chunk_the_sdk_cannot_read_raises_with_its_redacted_data(
    kind: str, loopback: Any, how: str, data: str, problem: str, has_key: bool
) -> None:
    events = [event(chunk("Hello ")), event(data), event(chunk("world")), DONE]
    result = await run(kind, loopback, "chat", events, how)
    error = result.error
    assert isinstance(error, apertis.APIResponseValidationError), result.texts or result.final
    assert problem in str(error)
    assert error.status_code == 200
    expected = redacted(data)
    assert error.text == expected
    assert ("<redacted>" in error.text) == has_key
    assert expected[:40] in str(error)  # the message quotes the data it could not read
    assert_never_shows_the_key(error)
    if how == "text":
        assert result.texts == ["Hello "]  # what came before is delivered; "world" is never reached
    assert not result.stream.completed
    assert result.stream.response.is_closed


@pytest.mark.parametrize("api", ["messages", "responses"])
@pytest.mark.parametrize(("data", "problem", "has_key"), BROKEN)
async def test_an_event_the_sdk_cannot_read_raises_in_messages_and_responses(
    kind: str, loopback: Any, api: str, data: str, problem: str, has_key: bool
) -> None:
    name = "content_block_delta" if api == "messages" else "response.output_text.delta"
    result = await run(kind, loopback, api, [event(data, name), DONE], "events")
    error = result.error
    assert isinstance(error, apertis.APIResponseValidationError), result.items
    assert problem in str(error) and repr(name) in str(error)  # names the event it could not read
    assert error.text == redacted(data)
    assert ("<redacted>" in error.text) == has_key
    assert_never_shows_the_key(error)
    assert result.items == []


async def test_the_message_quotes_only_the_start_of_a_long_event(kind: str, loopback: Any) -> None:
    data = '{"choices":[{"delta":{"content":"' + "x" * 100_000  # a large chunk cut short
    result = await run(kind, loopback, "chat", [event(data), DONE])
    assert isinstance(result.error, apertis.APIResponseValidationError)
    assert result.error.text == data  # all of it, for whoever debugs
    assert len(str(result.error)) < 1000


# ------------------------------------------------------------------------------------ errors the server reports


@pytest.mark.parametrize("api", ["chat", "messages", "responses"])
async def test_an_error_event_with_plain_text_raises_a_status_error(kind: str, loopback: Any, api: str) -> None:
    first = {
        "chat": chunk("Hello "),
        "messages": {"type": "ping"},
        "responses": {"type": "response.output_text.delta", "delta": "Hello "},
    }[api]
    text = f"upstream exploded for key {API_KEY}"
    result = await run(kind, loopback, api, [event(first), event(text, "error"), DONE], "events")
    error = result.error
    # Plain text carries no type or code to map: 500, as for a structured error event of an unknown type.
    assert isinstance(error, apertis.InternalServerError), result.items
    assert error.status_code == 500
    assert "upstream exploded for key <redacted>" in str(error)
    assert error.body == {"message": "upstream exploded for key <redacted>"}
    assert_never_shows_the_key(error)
    assert not result.stream.completed


async def test_an_error_event_with_json_that_is_not_an_object_raises_a_status_error(kind: str, loopback: Any) -> None:
    result = await run(kind, loopback, "chat", [event('"overloaded"', "error"), DONE])
    assert isinstance(result.error, apertis.InternalServerError)
    assert '"overloaded"' in str(result.error)


async def test_an_error_event_whose_object_has_no_type_raises_in_responses(kind: str, loopback: Any) -> None:
    # An `event: error` line is an error whatever its JSON looks like; a plain `{"message"}` once passed silently.
    result = await run(kind, loopback, "responses", [event({"message": "gone wrong"}, "error"), DONE], "events")
    assert isinstance(result.error, apertis.InternalServerError), result.items
    assert "gone wrong" in str(result.error)


@pytest.mark.parametrize("how", ["text", "final"])
async def test_a_chunk_with_an_error_object_beside_choices_raises(kind: str, loopback: Any, how: str) -> None:
    failing = chunk("x", error={"message": f"upstream failed, key {API_KEY}", "type": "rate_limit_error"})
    result = await run(kind, loopback, "chat", [event(chunk("Hello ")), event(failing), event(chunk("y")), DONE], how)
    error = result.error
    assert isinstance(error, apertis.RateLimitError), result.texts or result.final
    assert error.status_code == 429
    assert "upstream failed, key <redacted>" in str(error)
    assert error.body == {"message": "upstream failed, key <redacted>", "type": "rate_limit_error"}
    assert_never_shows_the_key(error)
    if how == "text":
        assert result.texts == ["Hello "]


# ------------------------------------------------------------------------- well-formed but unfamiliar: passes


async def test_a_web_search_stream_passes_whole(kind: str, loopback: Any) -> None:
    placeholder = {"message": "", "type": "", "param": "", "code": None}  # the gateway's empty error object
    sources = [{"title": "Apple", "url": "https://investor.apple.com/", "snippet": "Stock price"}]
    events = [
        event(
            {
                "id": "web-search",
                "object": "chat.completion.chunk",
                "created": 1768287477,
                "model": "",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "🔍 Web searching...\n\n"}}],
            }
        ),
        event(chunk("", error=placeholder)),
        event(chunk("The answer [1].", error=placeholder)),
        event({"web_sources": sources}),  # trailing, no choices
        DONE,
    ]
    text = await run(kind, loopback, "chat", events)
    assert text.error is None
    assert "".join(text.texts) == "🔍 Web searching...\n\nThe answer [1]."
    assert text.stream.completed
    final = await run(kind, loopback, "chat", events, "final")
    assert final.error is None
    assert final.final.choices[0].message.content == "The answer [1]."  # the progress note is left out
    assert final.final.to_dict()["web_sources"] == sources


async def test_sora_progress_chunks_pass(kind: str, loopback: Any) -> None:
    lines = ["task_id: sora-2:1234567890-abcdefgh", "progress: 25%", "video_url: https://storage.example.com/v.mp4"]
    events = [*(event({"choices": [{"delta": {"content": line}}]}) for line in lines), DONE]
    text = await run(kind, loopback, "chat", events)
    assert text.error is None and text.texts == lines
    final = await run(kind, loopback, "chat", events, "final")
    assert final.error is None and final.final.choices[0].message.content == "".join(lines)


async def test_a_chat_chunk_with_unknown_fields_passes(kind: str, loopback: Any) -> None:
    events = [event(chunk("Hi", brand_new={"a": [1]}, choices_extra=None)), DONE]
    result = await run(kind, loopback, "chat", events, "events")
    assert result.error is None
    assert result.items[0].to_dict()["brand_new"] == {"a": [1]}


@pytest.mark.parametrize("api", ["messages", "responses"])
async def test_unknown_event_types_pass_as_received(kind: str, loopback: Any, api: str) -> None:
    if api == "messages":
        events = [
            event({"type": "message_start", "message": {"id": "msg_1", "content": [], "stop_reason": None}}),
            event({"type": "brand_new_event", "detail": {"x": 1}}, "brand_new_event"),
            event({"detail": "no type at all"}),
            event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
            event({"type": "message_stop"}),
        ]
    else:
        events = [
            event({"type": "brand_new_event", "detail": {"x": 1}}, "brand_new_event"),
            event({"detail": "no type at all"}),
            event({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"}),
            event({"type": "response.completed", "response": {"id": "r", "status": "completed", "output": []}}),
        ]
    result = await run(kind, loopback, api, events, "events")
    assert result.error is None
    unknown = [item for item in result.items if isinstance(item, UnknownStreamEvent)]
    assert [(item.type, item.unknown_type) for item in unknown] == [("unknown", "brand_new_event"), ("unknown", None)]
    assert unknown[0].detail == {"x": 1} and unknown[1].data == {"detail": "no type at all"}
    assert result.stream.completed


@pytest.mark.parametrize("how", ["events", "final"])
async def test_an_unknown_delta_type_passes_and_the_narrowing_loop_survives_it(
    kind: str, loopback: Any, how: str
) -> None:
    # Anthropic's citations_delta is newer than the spec: `event.delta.type` must still read, not raise.
    citation = {"type": "citations_delta", "citation": {"cited_text": "Paris"}}
    events = [
        event({"type": "message_start", "message": {"id": "msg_1", "content": [], "stop_reason": None}}),
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event({"type": "content_block_delta", "index": 0, "delta": citation}),
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        event({"type": "message_stop"}),
    ]
    result = await run(kind, loopback, "messages", events, how)
    assert result.error is None
    if how == "final":
        assert result.final.content[0].text == "Hi"
        return
    deltas = [item.delta for item in result.items if item.type == "content_block_delta"]
    assert [d.text for d in deltas if d.type == "text_delta"] == ["Hi"]
    unknown = [d for d in deltas if d.type == "unknown"]
    assert [(d.unknown_type, d.citation) for d in unknown] == [("citations_delta", {"cited_text": "Paris"})]
    assert result.items[2].to_dict() == {"type": "content_block_delta", "index": 0, "delta": citation}


# ------------------------------------------------------------------ the end: no status nobody sent


CREATED = {
    "type": "response.created",
    "response": {"id": "resp_1", "object": "response", "model": "m", "status": "in_progress", "output": []},
}


@pytest.mark.parametrize("with_created", [True, False], ids=["snapshot", "deltas-only"])
async def test_a_responses_stream_ended_by_done_claims_no_status(kind: str, loopback: Any, with_created: bool) -> None:
    events = [
        *([event(CREATED, "response.created")] if with_created else []),
        event({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Half an "}),
        event({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "answer"}),
        DONE,
    ]
    result = await run(kind, loopback, "responses", events, "final")
    assert result.error is None
    final = result.final
    assert final.status is None  # not "completed": no response.completed came, so nobody said so
    assert "status" not in final.output[0].to_dict()  # the rebuilt message item claims no status either
    assert final.output_text == "Half an answer"  # what was sent is all there
    if with_created:
        assert final.id == "resp_1" and final.model == "m"
    assert result.stream.completed  # the stream itself reached its end marker


async def test_a_responses_item_keeps_the_status_its_events_gave_it(kind: str, loopback: Any) -> None:
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
    events = [
        event(CREATED),
        event({"type": "response.output_item.added", "output_index": 0, "item": item}),
        event({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"}),
        DONE,
    ]
    result = await run(kind, loopback, "responses", events, "final")
    assert result.error is None
    assert result.final.status is None
    assert result.final.output[0].status == "in_progress"
    assert result.final.output_text == "Hi"


async def test_a_responses_stream_ending_at_eof_before_its_terminal_event_invents_no_status(
    kind: str, loopback: Any
) -> None:
    # Reference 3.5: a Responses stream may end at the end of its body. That is an end, not a failure, and the
    # final response says no more than the events did.
    events = [event(CREATED), event({"type": "response.output_text.delta", "delta": "Half"})]
    result = await run(kind, loopback, "responses", events, "final")
    assert result.error is None
    assert result.final.status is None and result.final.output_text == "Half"
    assert result.stream.completed


async def test_a_responses_stream_with_no_event_at_all_raises(kind: str, loopback: Any) -> None:
    result = await run(kind, loopback, "responses", [b": keep-alive\n\n"], "final")
    assert isinstance(result.error, apertis.APIConnectionError)
    assert result.final is None and not result.stream.completed


@pytest.mark.parametrize("with_delta", [True, False], ids=["message_delta", "no-message_delta"])
async def test_a_messages_stream_ended_by_done_invents_no_stop_reason(
    kind: str, loopback: Any, with_delta: bool
) -> None:
    start_event = {
        "type": "message_start",
        "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "stop_reason": None},
    }
    events = [
        event(start_event, "message_start"),
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Half"}}),
        *([event({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}})] if with_delta else []),
        DONE,  # no message_stop
    ]
    result = await run(kind, loopback, "messages", events, "final")
    assert result.error is None
    assert result.final.stop_reason == ("max_tokens" if with_delta else None)  # only what the server said
    assert result.final.content[0].text == "Half"
    assert result.stream.completed


async def test_a_chat_stream_without_finish_reason_invents_none(kind: str, loopback: Any) -> None:
    result = await run(kind, loopback, "chat", [event(chunk("Half")), DONE], "final")
    assert result.error is None
    assert result.final.choices[0].finish_reason is None
    assert result.final.choices[0].message.content == "Half"
