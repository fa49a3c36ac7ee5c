"""CPU per chunk of a streamed chat completion: the SDK's stream against raw httpx iter_lines + json.loads.

Both read the same 20,000-chunk SSE body from an in-memory transport (one network chunk per event, as servers
flush them), so the figure is client CPU only. Run: `.venv/bin/python bench/stream_cpu.py [--chunks N]`.
It also times `ChatCompletion.from_dict` on a 100-choice completion (the non-streaming parse cost).

Timings are best-of-N process time, which a busy machine still skews. For exact figures count instructions:
`--only raw|sdk|none` runs one pass and nothing else, so under
`valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/stream_cpu.py --only sdk`
the difference between `sdk` (or `raw`) and `none` is the cost of reading the stream.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Dict, Iterator, List

import httpx

import apertis
from apertis._sync._streaming import ChatCompletionStream
from apertis.types import ChatCompletion


def make_body(n: int) -> List[bytes]:
    events = []
    for i in range(n):
        chunk = {
            "id": "chatcmpl-abc123",
            "object": "chat.completion.chunk",
            "created": 1704067200,
            "model": "gpt-4.1-mini",
            "system_fingerprint": "fp_abc123",
            "choices": [{"index": 0, "delta": {"content": f"tok{i % 97} "}, "finish_reason": None}],
        }
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


class _Body(httpx.SyncByteStream):
    def __init__(self, events: List[bytes]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.events)


def client_for(events: List[bytes]) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Body(events))
        )
    )


def raw_httpx(client: httpx.Client) -> int:
    count = 0
    with client.stream("POST", "http://bench.invalid/v1/chat/completions") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = line[6:]
                if data == "[DONE]":
                    break
                json.loads(data)
                count += 1
    return count


def sdk(client: httpx.Client) -> int:
    owner = apertis.Apertis(api_key="sk-bench", base_url="http://bench.invalid/v1", http_client=client)
    response = client.send(client.build_request("POST", "http://bench.invalid/v1/chat/completions"), stream=True)
    count = 0
    for _ in ChatCompletionStream(response, client=owner):
        count += 1
    return count


def measure(fn: Callable[[httpx.Client], int], client: httpx.Client, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn(client)
        best = min(best, time.process_time() - started)
    return best


def completion_with_choices(n: int) -> Dict[str, Any]:
    choice = {"message": {"role": "assistant", "content": "Hello there.", "refusal": None}, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1704067200,
        "model": "gpt-4.1-mini",
        "choices": [{"index": i, **choice, "logprobs": None} for i in range(n)],
        "usage": {"prompt_tokens": 10, "completion_tokens": 300, "total_tokens": 310},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["raw", "sdk", "none"], help="one pass of one side, for callgrind")
    args = parser.parse_args()
    events = make_body(args.chunks)
    client = client_for(events)
    if args.only is not None:
        if args.only != "none":
            assert (raw_httpx if args.only == "raw" else sdk)(client) == args.chunks
        return
    assert raw_httpx(client) == sdk(client) == args.chunks
    raw = measure(raw_httpx, client, args.repeats)
    ours = measure(sdk, client, args.repeats)
    per = 1e6 / args.chunks
    print(f"raw httpx iter_lines + json.loads: {raw * per:6.2f} us/chunk")
    print(f"apertis ChatCompletionStream:      {ours * per:6.2f} us/chunk")
    print(f"ratio: {ours / raw:.2f}x")
    data = completion_with_choices(100)
    best = float("inf")
    for _ in range(args.repeats):
        started = time.process_time()
        for _ in range(100):
            ChatCompletion.from_dict(data)
        best = min(best, time.process_time() - started)
    print(f"ChatCompletion.from_dict, 100 choices: {best * 1e4:6.1f} us")


if __name__ == "__main__":
    main()
