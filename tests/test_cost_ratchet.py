"""The cost ratchet: a deterministic count of the work the SDK does per call and per streamed chunk.

Not a timed test. While calls run against an in-memory transport (the SDK's own pool and gate, no network), a
profile hook counts every function call, Python or C, in the calling thread: the SDK's own functions and all the
work they cause in httpx, attrs, json, asyncio and the standard library. The figure is the same on every run of
the same code and does not move when the machine is busy. The counts are compared with
tests/cost_budget.json; a change that adds work on the hot path fails here the day it lands.

To accept a new figure (after making the hot path cheaper, or when added work is worth it), run
`COST_RATCHET_UPDATE=1 .venv/bin/python -m pytest tests/test_cost_ratchet.py` and commit the budget file; say
why in the commit message. The budgets hold for the interpreter and the pinned dependencies they were recorded
with (`make test`'s environment); elsewhere the test is skipped, since other versions of Python or httpx take
other paths.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List

import httpx
import pytest

import apertis

BUDGET_FILE = Path(__file__).with_name("cost_budget.json")
MARGIN = 0.03  # a few percent for noise-free but legitimate variation (dict resizes, cached lookups)

_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
_MESSAGES = [{"role": "user", "content": "Say hello."}]


def _chunk_event(index: int) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": f"w{index} "}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


class CallCounter:
    """Counts the function calls (Python and C) made in this thread while it is active, through `sys.setprofile`."""

    def __init__(self) -> None:
        self.count = 0

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            self.count += 1

    def __enter__(self) -> CallCounter:
        # A garbage collection inside the count would add the finalizers of earlier runs' objects, at a moment
        # that moves with any allocation anywhere: collect first, and not during the count.
        gc.collect()
        gc.disable()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.setprofile(None)
        gc.enable()


def _json_handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=_COMPLETION, headers={"x-request-id": "req-1"})


class _EventByEvent(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that arrives one event per read, as a stream does over the network."""

    def __init__(self, events: List[bytes]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._events)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event


def _stream_handler(chunks: int) -> Callable[[httpx.Request], httpx.Response]:
    events = [_chunk_event(i) for i in range(chunks)] + [b"data: [DONE]\n\n"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_EventByEvent(events), headers={"content-type": "text/event-stream"})

    return handler


def _sync_client(handler: Callable[[httpx.Request], httpx.Response]) -> apertis.Apertis:
    client = apertis.Apertis(api_key="sk-ratchet-0123456789abcdef", base_url="https://api.test/v1")
    # The SDK's own pool and gate, with the network replaced: what is measured is the default request path.
    client._client._transport = httpx.MockTransport(handler)
    return client


def _async_client(handler: Callable[[httpx.Request], httpx.Response]) -> apertis.AsyncApertis:
    client = apertis.AsyncApertis(api_key="sk-ratchet-0123456789abcdef", base_url="https://api.test/v1")
    client._client._transport = httpx.MockTransport(handler)
    return client


_WARM_UP = 3
_CALLS = 10


def sync_call() -> float:
    """Counted calls per sync chat completion (after warm-up calls: imports and first-use caches)."""
    with _sync_client(_json_handler) as client:
        for _ in range(_WARM_UP):
            client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)
        with CallCounter() as counter:
            for _ in range(_CALLS):
                client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)
    return counter.count / _CALLS


def async_call() -> float:
    """Counted calls per async chat completion."""

    async def main() -> float:
        async with _async_client(_json_handler) as client:
            for _ in range(_WARM_UP):
                await client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)
            with CallCounter() as counter:
                for _ in range(_CALLS):
                    await client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)
        return counter.count / _CALLS

    return asyncio.run(main())


def _sync_stream_count(chunks: int) -> int:
    with _sync_client(_stream_handler(chunks)) as client:
        for _ in range(_WARM_UP):
            for _chunk in client.chat.completions.create(model="m", messages=_MESSAGES, stream=True):
                pass
        with CallCounter() as counter:
            for _chunk in client.chat.completions.create(model="m", messages=_MESSAGES, stream=True):
                pass
    return counter.count


def _async_stream_count(chunks: int) -> int:
    async def main() -> int:
        async with _async_client(_stream_handler(chunks)) as client:
            for _ in range(_WARM_UP):
                async for _chunk in await client.chat.completions.create(model="m", messages=_MESSAGES, stream=True):
                    pass
            with CallCounter() as counter:
                async for _chunk in await client.chat.completions.create(model="m", messages=_MESSAGES, stream=True):
                    pass
        return counter.count

    return asyncio.run(main())


def _per_chunk(count: Callable[[int], int]) -> float:
    # The difference between two stream lengths leaves out the per-call part (request, headers, the end).
    return (count(200) - count(100)) / 100


MEASURES: Dict[str, Callable[[], float]] = {
    "sync chat completion (per call)": sync_call,
    "async chat completion (per call)": async_call,
    "sync chat stream (per chunk)": lambda: _per_chunk(_sync_stream_count),
    "async chat stream (per chunk)": lambda: _per_chunk(_async_stream_count),
}


def environment() -> Dict[str, str]:
    """What the counts depend on besides the SDK: the interpreter and the libraries on the hot path."""
    return {
        "python": "{}.{}".format(*sys.version_info[:2]),
        "httpx": metadata.version("httpx"),
        "httpcore": metadata.version("httpcore"),
        "attrs": metadata.version("attrs"),
    }


def _load_budget() -> Dict[str, Any]:
    return dict(json.loads(BUDGET_FILE.read_text()))


def _write_budget(counts: Dict[str, float]) -> None:
    document = {"environment": environment(), "margin": MARGIN, "counts": {k: round(v, 1) for k, v in counts.items()}}
    BUDGET_FILE.write_text(json.dumps(document, indent=2) + "\n")


@pytest.fixture(scope="module")
def budget() -> Iterator[Dict[str, Any]]:
    # Logging at DEBUG (which another test may have left on) adds work that the budgets do not cover.
    sdk_logger = logging.getLogger("apertis")
    saved_level = sdk_logger.level
    sdk_logger.setLevel(logging.WARNING)
    try:
        yield from _checked_budget()
    finally:
        sdk_logger.setLevel(saved_level)


def _checked_budget() -> Iterator[Dict[str, Any]]:
    if os.environ.get("COST_RATCHET_UPDATE"):
        _write_budget({name: measure() for name, measure in MEASURES.items()})
    document = _load_budget()
    if document["environment"] != environment():
        pytest.skip(f"budgets recorded for {document['environment']}, this is {environment()}")
    yield document


@pytest.mark.parametrize("name", list(MEASURES))
def test_the_hot_path_costs_no_more_than_its_budget(name: str, budget: Dict[str, Any]) -> None:
    allowed = budget["counts"][name]
    measured = MEASURES[name]()
    limit = allowed * (1 + budget["margin"])
    assert measured <= limit, (
        f"{name}: {measured:.1f} counted calls, budget {allowed} (+{budget['margin']:.0%}). The hot path does more "
        "work than before: make it cheaper, or accept the cost with COST_RATCHET_UPDATE=1 (see this module's "
        "docstring) and say why in the commit."
    )


def test_the_counter_sees_added_work() -> None:
    # The ratchet can fail: one extra call per chunk in the SDK's code is counted.
    from apertis import _stream_events

    original = _stream_events.loads_event_data
    baseline = _per_chunk(_sync_stream_count)

    def slower(data: str) -> Any:
        len(data)
        return original(data)

    try:
        _stream_events.loads_event_data = slower
        sync_streaming = sys.modules["apertis._sync._streaming"]
        saved = sync_streaming.__dict__.get("_loads")
        if saved is not None:
            sync_streaming._loads = slower  # type: ignore[attr-defined]
        heavier = _per_chunk(_sync_stream_count)
    finally:
        _stream_events.loads_event_data = original
        if saved is not None:
            sync_streaming._loads = saved  # type: ignore[attr-defined]
    assert heavier >= baseline + 2  # the wrapper's own call and its len()
