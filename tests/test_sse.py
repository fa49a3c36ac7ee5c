"""The SSE decoder: a table of wire inputs, each fed whole, byte by byte and in odd chunkings."""

from __future__ import annotations

from typing import Iterable, List

import pytest

from apertis._sse import ServerSentEvent, SSEDecoder


def _chunkings(raw: bytes) -> Iterable[List[bytes]]:
    yield [raw]
    yield [raw[i : i + 1] for i in range(len(raw))]
    for size in (2, 3, 5, 7, 13):
        yield [raw[i : i + size] for i in range(0, len(raw), size)]
    # Every split point once: catches CR|LF and UTF-8 sequences cut at any position.
    for cut in range(1, len(raw)):
        yield [raw[:cut], raw[cut:]]
    # Empty chunks interleaved must change nothing.
    yield [b"", *[raw[i : i + 4] for i in range(0, len(raw), 4)], b""]


def _decode(chunks: List[bytes]) -> List[ServerSentEvent]:
    decoder = SSEDecoder()
    events: List[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


E = ServerSentEvent

CASES = {
    "lf": (b"data: a\n\ndata: b\n\n", [E("a"), E("b")]),
    "crlf": (b"data: a\r\n\r\ndata: b\r\n\r\n", [E("a"), E("b")]),
    "cr": (b"data: a\r\rdata: b\r\r", [E("a"), E("b")]),
    "mixed endings": (b"data: a\r\n\ndata: b\r\r\ndata: c\n\r", [E("a"), E("b"), E("c")]),
    "no space after colon": (b"data:a\n\ndata:  two\n\n", [E("a"), E(" two")]),
    "comments and keep-alives": (b": keep-alive\n\n:\n\ndata: x\n: mid\n\n", [E("x")]),
    "multi-line data": (b"data: one\ndata: two\ndata:\ndata: four\n\n", [E("one\ntwo\n\nfour")]),
    "event field": (b"event: message_start\ndata: {}\n\ndata: {}\n\n", [E("{}", "message_start"), E("{}")]),
    "id persists": (b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", [E("a", id="7"), E("b", id="7"), E("c", id="")]),
    "id with NUL ignored": (b"id: 1\n\nid: a\x00b\ndata: x\n\n", [E("x", id="1")]),
    "retry": (b"retry: 1500\ndata: a\n\nretry: soon\ndata: b\n\n", [E("a", retry=1500), E("b", retry=1500)]),
    "empty data skipped": (b"data:\n\nevent: ping\n\nid: 3\n\ndata: \n\ndata: z\n\n", [E("z", id="3")]),
    "unterminated final event dropped": (b"data: a\n\ndata: b\n", [E("a")]),
    "unterminated final line dropped": (b"data: a\n\ndata: b", [E("a")]),
    "utf-8 multibyte": ("data: héllo 🔍 世界\n\n".encode(), [E("héllo 🔍 世界")]),
    "invalid utf-8 replaced": (b"data: \xff\xfe\n\n", [E("\ufffd\ufffd")]),
    "unknown field ignored": (b"foo: bar\ndata: a\nbaz\n\n", [E("a")]),
    "field without colon": (b"data\n\n", []),
    "bom stripped": (b"\xef\xbb\xbfdata: a\n\n", [E("a")]),
    "done sentinel is plain data": (b"data: [DONE]\n\n", [E("[DONE]")]),
    "colon inside value": (b'data: {"a":"b: c"}\n\n', [E('{"a":"b: c"}')]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decoder_table(name: str) -> None:
    raw, expected = CASES[name]
    for chunks in _chunkings(raw):
        assert _decode(chunks) == expected, (name, chunks)


def test_cr_at_chunk_end_and_lf_at_next_start_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # A second blank line here would mean the LF was taken for a new (empty) line, which dispatches.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [E("a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [E("b")]


def test_pending_reports_an_unterminated_event() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n")
    assert not decoder.pending
    decoder.feed(b"data: b\n")
    assert decoder.pending
    decoder.feed(b"\n")
    assert not decoder.pending
    decoder.feed(b"data: partial")
    assert decoder.pending


def test_a_very_large_event_in_many_small_chunks() -> None:
    payload = "x" * 5_000_000 + "é"
    raw = ("data: " + payload + "\n\n").encode()
    decoder = SSEDecoder()
    events: List[ServerSentEvent] = []
    for i in range(0, len(raw), 1_000):
        events.extend(decoder.feed(raw[i : i + 1_000]))
    assert len(events) == 1
    assert events[0].data == payload


def test_many_events_in_one_chunk() -> None:
    raw = b"".join(b"data: %d\n\n" % i for i in range(1000))
    assert [e.data for e in SSEDecoder().feed(raw)] == [str(i) for i in range(1000)]


def test_event_type_resets_after_dispatch_and_after_an_empty_event() -> None:
    raw = b"event: a\n\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n"
    assert _decode([raw]) == [E("1"), E("2", "b"), E("3")]


def test_repr_and_equality() -> None:
    event = E("d", "e", "1", 5)
    assert repr(event) == "ServerSentEvent(event='e', data='d', id='1', retry=5)"
    assert event != E("d")
    assert event.__eq__(object()) is NotImplemented
