"""Property-based fuzzing (hypothesis).

(a) The SSE decoder against a reference decoder written from the WHATWG event-stream interpretation
    (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation) and the WHATWG
    Encoding standard's UTF-8 decoder, over random streams (all three line endings, comments, retry and id lines,
    a byte-order mark, invalid UTF-8) cut into random pieces of 1 byte to 64 KB, fed the way the streams feed it.
(b) `from_dict` of every generated model over random JSON values: a model (for an object) or
    APIResponseValidationError (for anything else), and then to_dict (which gives back what was received), repr,
    copy, deepcopy and a pickle round trip never raise.
(c) The three accumulators over random events: only APIResponseValidationError may come out of them and of the
    final models they assemble.

The example counts are small so that `make test` stays quick; `FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py` runs
a long search (per test, and for (b) per model class).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import pickle
import re
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import apertis.types as types
from apertis import APIResponseValidationError
from apertis._accumulate import ChatCompletionAccumulator, MessageAccumulator, ResponseAccumulator
from apertis._models import BaseModel
from apertis._sse import SSEDecoder

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz_settings(default: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        database=None,
    )


# ------------------------------------------------------------------------------------ (a) the reference decoder


def whatwg_utf8_decode(data: bytes) -> str:
    """The WHATWG Encoding standard's "UTF-8 decode": a leading BOM removed, errors replaced by U+FFFD."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: List[str] = []
    code_point = bytes_needed = bytes_seen = 0
    lower, upper = 0x80, 0xBF
    position = 0
    while position < len(data):
        byte = data[position]
        if bytes_needed == 0:
            position += 1
            if byte <= 0x7F:
                out.append(chr(byte))
            elif 0xC2 <= byte <= 0xDF:
                bytes_needed, code_point = 1, byte & 0x1F
            elif 0xE0 <= byte <= 0xEF:
                lower = 0xA0 if byte == 0xE0 else 0x80
                upper = 0x9F if byte == 0xED else 0xBF
                bytes_needed, code_point = 2, byte & 0x0F
            elif 0xF0 <= byte <= 0xF4:
                lower = 0x90 if byte == 0xF0 else 0x80
                upper = 0x8F if byte == 0xF4 else 0xBF
                bytes_needed, code_point = 3, byte & 0x07
            else:
                out.append("\ufffd")
            continue
        if not lower <= byte <= upper:
            # The byte is "prepended to the stream": it is read again as the start of a sequence.
            code_point = bytes_needed = bytes_seen = 0
            lower, upper = 0x80, 0xBF
            out.append("\ufffd")
            continue
        position += 1
        lower, upper = 0x80, 0xBF
        code_point = (code_point << 6) | (byte & 0x3F)
        bytes_seen += 1
        if bytes_seen == bytes_needed:
            out.append(chr(code_point))
            code_point = bytes_needed = bytes_seen = 0
    if bytes_needed:
        out.append("\ufffd")
    return "".join(out)


# (data, event type, last event id, reconnection time)
Event = Tuple[str, str, str, Optional[int]]


def reference_events(stream: bytes) -> List[Event]:
    """The events a browser's EventSource dispatches for `stream`, in order."""
    lines = re.split("\r\n|\r|\n", whatwg_utf8_decode(stream))
    lines.pop()  # the text after the last line ending is an incomplete line: discarded at the end of the stream
    events: List[Event] = []
    data, event_type, last_event_id, retry = "", "", "", None
    for line in lines:
        if line == "":
            if data == "":
                event_type = ""
                continue
            if data.endswith("\n"):
                data = data[:-1]
            events.append((data, event_type or "message", last_event_id, retry))
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id":
            if "\x00" not in value:
                last_event_id = value
        elif field == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


def expected_sdk_events(stream: bytes) -> List[Event]:
    # The SDK's one documented difference: an event whose data is empty is not dispatched (no JSON to parse).
    return [event for event in reference_events(stream) if event[0] != ""]


def fed(pieces: Iterable[bytes]) -> List[Event]:
    decoder = SSEDecoder()
    events: List[Event] = []
    for piece in pieces:
        events.extend(
            (event.data, event.event or "message", event.id or "", event.retry) for event in decoder.feed(piece)
        )
    return events


def streamed(pieces: Iterable[bytes]) -> List[Tuple[str, str]]:
    """What the stream classes see: `single_data` first, `feed` when it declines (data and event type only)."""
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        data = decoder.single_data(piece)
        if data is not None:
            events.append((data, "message"))
            continue
        events.extend((event.data, event.event or "message") for event in decoder.feed(piece))
    return events


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
INVALID_UTF8 = st.sampled_from(
    [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xc0\xaf", b"\xf5\x80\x80\x80", b"\x80"]
)


@st.composite
def field_values(draw: st.DrawFn) -> bytes:
    value = draw(TEXT).encode()
    if draw(st.integers(0, 4)) == 0:
        value += draw(INVALID_UTF8) + draw(TEXT).encode()
    if draw(st.integers(0, 30)) == 0:  # now and then an event far larger than the largest piece
        value += b"x" * draw(st.integers(1, 70_000))
    return value


@st.composite
def sse_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    separator = draw(st.sampled_from([b": ", b":", b":  "]))
    if kind <= 2:
        return b"data" + separator + draw(field_values())
    if kind == 3:
        return b""  # a blank line dispatches
    if kind == 4:
        name = draw(st.sampled_from([b"event", b"id", b"retry", b"data", b"unknown", b"Data", b"data "]))
        if draw(st.booleans()):
            return name  # a field name alone: its value is empty
        value = draw(st.one_of(field_values(), st.from_regex(rb"\A[0-9]{1,6}\Z"), st.just(b"1\x00")))
        return name + separator + value
    if kind == 5:
        return b":" + draw(field_values())  # a comment
    if kind == 6:
        return b"retry: " + draw(st.sampled_from([b"1000", b"15", b"1e3", b"-5", b" 7", b"", b"\xd9\xa3"]))
    if kind == 7:
        return b"id: " + draw(st.sampled_from([b"42", b"a\x00b", b"", b"\xff"]))
    if kind == 8:
        return draw(st.binary(max_size=12))  # anything at all, line endings included
    return b"data: " + draw(st.sampled_from([b"[DONE]", b'{"a": 1}', b"\xef\xbb\xbf{}"]))


@st.composite
def sse_streams(draw: st.DrawFn) -> Tuple[bytes, List[bytes]]:
    """A random event stream and the pieces it arrives in."""
    lines = draw(st.lists(sse_lines(), max_size=40))
    endings = [draw(st.sampled_from([b"\n", b"\r", b"\r\n"])) for _ in lines]
    stream = b"".join(line + ending for line, ending in zip(lines, endings))
    if draw(st.booleans()):
        stream = b"\xef\xbb\xbf" + stream
    sizes = draw(st.lists(st.one_of(st.integers(1, 8), st.integers(1, 65_536)), min_size=1, max_size=30))
    pieces: List[bytes] = []
    position = 0
    while position < len(stream):
        size = sizes[len(pieces) % len(sizes)]
        pieces.append(stream[position : position + size])
        position += size
    return stream, pieces


@fuzz_settings(300)
@given(sse_streams())
def test_sse_decoder_matches_the_whatwg_reference(case: Tuple[bytes, List[bytes]]) -> None:
    stream, pieces = case
    expected = expected_sdk_events(stream)
    assert fed(pieces) == expected
    assert streamed(pieces) == [(data, event_type) for data, event_type, _, _ in expected]
    assert fed([stream]) == expected


@fuzz_settings(100)
@given(st.lists(st.tuples(st.sampled_from([b"\n", b"\r", b"\r\n"]), field_values()), max_size=20))
def test_sse_decoder_matches_the_reference_one_event_per_piece(events: List[Tuple[bytes, bytes]]) -> None:
    # The usual shape of a stream (one whole event per network chunk), which takes the single-event shortcut.
    pieces = [b"data: " + data + ending + ending for ending, data in events]
    expected = expected_sdk_events(b"".join(pieces))
    assert fed(pieces) == expected
    assert streamed(pieces) == [(data, event_type) for data, event_type, _, _ in expected]


def test_the_reference_utf8_decoder_agrees_with_known_answers() -> None:
    # From the WHATWG Encoding standard's examples and the Unicode "maximal subpart" practice it follows.
    assert whatwg_utf8_decode(b"\xef\xbb\xbfa\xef\xbb\xbf") == "a\ufeff"
    assert whatwg_utf8_decode(b"\xe2\x82\xac") == "\u20ac"
    assert whatwg_utf8_decode(b"\xe2\x82") == "\ufffd"
    assert whatwg_utf8_decode(b"\xed\xa0\x80") == "\ufffd" * 3
    assert whatwg_utf8_decode(b"\xf0\x9f\x98a") == "\ufffda"
    assert whatwg_utf8_decode(b"\xc0\xaf") == "\ufffd\ufffd"
    assert reference_events(b"data: a\r\ndata\rdata:  b\n\nid: 1\x00\nretry: x\nevent: e\ndata: c\n\ndata: lost") == [
        ("a\n\n b", "message", "", None),
        ("c", "e", "", None),
    ]


# ------------------------------------------------------------------------------------ (b) from_dict of every model

# Every generated model class, found in the package (its unions and enums are aliases, not classes).
MODEL_CLASSES = sorted(
    (
        member
        for member in (getattr(types, name) for name in types.__all__)
        # (the hand-written subclasses apertis.types also exports, such as ParsedChatCompletion, are not generated)
        if isinstance(member, type) and issubclass(member, BaseModel) and member.__module__.startswith("apertis.types.")
    ),
    key=lambda cls: cls.__name__,
)


def _known_keys(cls: type) -> List[str]:
    return sorted(sys.modules[cls.__module__]._KNOWN_KEYS)


ALL_KEYS = sorted({key for cls in MODEL_CLASSES for key in _known_keys(cls)})
# The discriminator values of the unions, so that random objects reach their variants.
TAGS = sorted(
    {
        tag
        for module in list(sys.modules.values())
        if module is not None and module.__name__.startswith("apertis.types.")
        for name, table in vars(module).items()
        if re.match(r"_[A-Z_]+_BY_[A-Z_]+$", name) and isinstance(table, dict)
        for tag in table
    }
)

# Built by a function: hypothesis shows its strategies, and Python 3.11+ cannot show a 5,000-digit integer.
HUGE_INTS = st.sampled_from([63, 64, 400, 5000]).map(lambda exponent: (-2) ** exponent + 1)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(),
    TEXT,
    st.sampled_from(TAGS or [""]),
    st.just("\ud800"),  # a lone surrogate, which json.loads produces from "\ud800"
)


def json_values(keys: List[str]) -> st.SearchStrategy[Any]:
    """Random JSON values, mostly objects whose keys are the model's own, any model's, or random text."""
    key_strategy = st.one_of(st.sampled_from(keys), st.sampled_from(ALL_KEYS), TEXT)
    nested = st.recursive(
        LEAVES,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(key_strategy, children, max_size=6)),
        max_leaves=25,
    )
    return st.one_of(st.dictionaries(key_strategy, nested, max_size=12), nested)


def same(a: Any, b: Any) -> bool:
    """Equality of JSON data where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def check_model(cls: Any, value: Any) -> None:
    if not isinstance(value, dict):
        with pytest.raises(APIResponseValidationError):
            cls.from_dict(value)
        return
    model = cls.from_dict(value)
    assert isinstance(model, cls)
    assert same(model.to_dict(), value)
    repr(model)
    assert same(copy.copy(model).to_dict(), value)
    assert same(copy.deepcopy(model).to_dict(), value)
    restored = pickle.loads(pickle.dumps(model))
    assert type(restored) is cls
    assert same(restored.to_dict(), value)
    with contextlib.suppress(APIResponseValidationError):  # an integer past Python's digit limit
        model.to_json()


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_from_dict_of_every_model_over_random_json(cls: Any) -> None:
    @fuzz_settings(8)
    @given(json_values(_known_keys(cls)))
    def run(value: Any) -> None:
        check_model(cls, value)

    run()


# ------------------------------------------------------------------------------------ (c) the accumulators

EVENT_KEYS = [
    "type", "index", "delta", "text", "content", "content_block", "message", "usage", "output_index",
    "content_index", "item", "response", "output", "choices", "tool_calls", "function", "name", "arguments", "id",
    "role", "reasoning_content", "refusal", "finish_reason", "logprobs", "partial_json", "thinking", "signature",
    "citation", "citations", "input", "status", "web_sources",
]  # fmt: skip
EVENT_TYPES = [
    "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
    "message_stop", "text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta",
    "response.created", "response.in_progress", "response.queued", "response.output_item.added",
    "response.output_item.done", "response.output_text.delta", "response.function_call_arguments.delta",
    "response.completed", "response.failed", "response.incomplete", "message", "output_text", "text", "tool_use",
    "function",
]  # fmt: skip
EVENT_LEAVES = st.one_of(LEAVES, st.sampled_from(EVENT_TYPES), st.integers(-1, 3))
EVENT_VALUES = st.recursive(
    EVENT_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(EVENT_KEYS), children, max_size=5)
    ),
    max_leaves=20,
)
EVENTS = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(EVENT_TYPES)}, optional=dict.fromkeys(EVENT_KEYS[1:], EVENT_VALUES)),
    max_size=12,
)


def accumulate(name: str, events: List[Dict[str, Any]]) -> None:
    try:
        if name == "chat":
            chat = ChatCompletionAccumulator()
            for event in events:
                chat.add(types.ChatCompletionChunk.from_dict(event))
            final: Any = types.ChatCompletion.from_dict(chat.result())
        elif name == "messages":
            messages = MessageAccumulator()
            for event in events:
                messages.add(event)
            final = types.Message.from_dict(messages.result())
        else:
            responses = ResponseAccumulator()
            for event in events:
                responses.add(event)
            final = types.Response.from_dict(responses.result())
            final.output_text  # noqa: B018
        final.to_dict()
        pickle.loads(pickle.dumps(final))
    except APIResponseValidationError:
        pass


@pytest.mark.parametrize("name", ["chat", "messages", "responses"])
def test_accumulators_raise_only_validation_errors(name: str) -> None:
    @fuzz_settings(40)
    @given(EVENTS)
    def run(events: List[Dict[str, Any]]) -> None:
        accumulate(name, events)

    run()
