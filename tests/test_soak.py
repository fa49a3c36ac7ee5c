"""A fault soak: many calls, sync and async, streamed and not, against a server that misbehaves at random.

Every call must end, within its budget, in a result or an `apertis.APIError` (nothing else escapes), and once the
clients are closed no pool connection is busy, the server has seen every socket closed and the process holds the
file descriptors it held before. The mix is drawn from `random.Random(seed)`: a failure prints the seed, and
`SOAK_SEED=<seed>` replays the same draws (the interleaving of concurrent calls still varies).

`make test` runs a few hundred calls; `nox -s soak` runs 5,000 (`SOAK_CALLS`) and also checks that the resident
memory stays flat once warm, printing the figures.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Counter, Dict, List, Tuple

from rawserver import API_KEY, Exchange, LoopbackServer, busy_connections, open_fds, raw, reset, stall

import apertis

CALLS = int(os.environ.get("SOAK_CALLS", "400"))
SEED = int(os.environ.get("SOAK_SEED", str(random.SystemRandom().randrange(2**32))))
ROUNDS = max(2, CALLS // 250)
"""Calls run in rounds (half sync, half async) so memory can be sampled between them."""
RSS_SLACK_MB = float(os.environ.get("SOAK_RSS_SLACK_MB", "24"))
THREADS = 8
ASYNC_CONCURRENCY = 16

TIMEOUT = 0.5
"""Each attempt's connect/read/write timeout: a stalled answer ends after this long."""
TOTAL_TIMEOUT = 2.0
"""The budget of a whole call, across its attempts and the waits between them."""
MAX_RETRIES = 1
BUDGET_MARGIN = 4.0
"""Seconds a call may run past `TOTAL_TIMEOUT` plus one read timeout (a stream stalling after its headers is
bounded by the read timeout, not by the call's budget) on a noisy shared machine."""

MESSAGES = [{"role": "user", "content": "hi"}]
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-soak",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
).encode()


def _chunk(text: str) -> bytes:
    body = {
        "id": "chatcmpl-soak",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _response(status: int, body: bytes, *headers: str, content_type: str = "application/json") -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _chunked(*pieces: bytes) -> bytes:
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
ERROR_BODY = b'{"error": {"message": "soak", "type": "server_error"}}'


def _behaviours(streamed: bool) -> List[Tuple[str, Callable[[Exchange], Any]]]:
    """The answers the server draws from, by name; a streamed request gets event streams where that matters."""
    if streamed:
        good = raw(SSE_HEAD, _chunked(_chunk("a")), _chunked(_chunk("b"), b"data: [DONE]\n\n") + b"0\r\n\r\n")
        cut = raw(SSE_HEAD, _chunked(_chunk("a")), b'3f\r\ndata: {"id')  # the connection closes mid-chunk
        malformed = raw(SSE_HEAD, _chunked(_chunk("a"), b"data: {not json\n\n") + b"0\r\n\r\n")
        stalled_body = stall(30, first=SSE_HEAD + _chunked(_chunk("a")))
    else:
        good = raw(_response(200, COMPLETION), keep_alive=True)
        cut = raw(_response(200, COMPLETION)[:-20])
        malformed = raw(_response(200, b'{"id": "chatcmpl-soak", "choices": [{'), keep_alive=True)
        stalled_body = stall(30, first=_response(200, COMPLETION)[:-20])
    return [
        ("ok", good),
        ("ok", good),
        ("ok", good),
        ("429", raw(_response(429, ERROR_BODY, "Retry-After: 0"), keep_alive=True)),
        ("429-no-retry-after", raw(_response(429, ERROR_BODY), keep_alive=True)),
        ("500", raw(_response(500, ERROR_BODY), keep_alive=True)),
        ("503", raw(_response(503, ERROR_BODY, "Retry-After: 0.1"))),
        ("reset", reset),
        ("stall", stall(30)),
        ("stalled-body", stalled_body),
        ("cut", cut),
        ("malformed", malformed),
    ]


class FaultMix:
    """The server's answers: the n-th request gets the behaviour `Random(f"{seed}:{n}")` draws."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.served: Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._plain = _behaviours(streamed=False)
        self._streamed = _behaviours(streamed=True)

    async def __call__(self, exchange: Exchange) -> bool:
        index = len(exchange.server.requests)
        streamed = b'"stream":true' in exchange.body.replace(b" ", b"")
        name, behaviour = random.Random(f"{self.seed}:{index}").choice(self._streamed if streamed else self._plain)
        with self._lock:
            self.served[name] += 1
        return bool(await behaviour(exchange))


def _outcome(error: BaseException) -> str:
    # Anything but the SDK's own errors is a failure of the soak: name it so the report shows it.
    return type(error).__name__ if isinstance(error, apertis.APIError) else f"ESCAPED {type(error).__name__}: {error}"


def _sync_call(client: apertis.Apertis, streamed: bool) -> Tuple[str, float]:
    started = time.monotonic()
    try:
        if streamed:
            with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
                for _ in stream:
                    pass
        else:
            client.chat.completions.create(model="m", messages=MESSAGES)
        outcome = "ok"
    except BaseException as error:
        outcome = _outcome(error)
    return outcome, time.monotonic() - started


async def _async_call(client: apertis.AsyncApertis, streamed: bool, gate: asyncio.Semaphore) -> Tuple[str, float]:
    async with gate:
        started = time.monotonic()
        try:
            if streamed:
                stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                async with stream:
                    async for _ in stream:
                        pass
            else:
                await client.chat.completions.create(model="m", messages=MESSAGES)
            outcome = "ok"
        except Exception as error:
            outcome = _outcome(error)
        return outcome, time.monotonic() - started


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


async def test_calls_under_random_faults_end_in_a_result_or_an_api_error_and_leave_nothing_open() -> None:
    rng = random.Random(SEED)
    mix = FaultMix(SEED)
    outcomes: Counter[str] = collections.Counter()
    slowest = 0.0
    over_budget: List[str] = []
    budget = TOTAL_TIMEOUT + TIMEOUT + BUDGET_MARGIN
    rss: List[float] = []
    per_round = CALLS // ROUNDS
    started = time.monotonic()

    fds_before = open_fds()
    with LoopbackServer([mix]) as server:
        options: Dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": server.url,
            "timeout": TIMEOUT,
            "total_timeout": TOTAL_TIMEOUT,
            "max_retries": MAX_RETRIES,
        }
        sync_client = apertis.Apertis(**options)
        async_client = apertis.AsyncApertis(**options)
        gate = asyncio.Semaphore(ASYNC_CONCURRENCY)
        try:
            with ThreadPoolExecutor(THREADS) as threads:
                for _ in range(ROUNDS):
                    streamed = [rng.random() < 0.5 for _ in range(per_round)]
                    half = per_round // 2
                    sync_results = asyncio.gather(
                        *(
                            asyncio.get_running_loop().run_in_executor(threads, _sync_call, sync_client, flag)
                            for flag in streamed[:half]
                        )
                    )
                    async_results = asyncio.gather(*(_async_call(async_client, flag, gate) for flag in streamed[half:]))
                    for outcome, seconds in [*await sync_results, *await async_results]:
                        outcomes[outcome] += 1
                        slowest = max(slowest, seconds)
                        if seconds > budget:
                            over_budget.append(f"{outcome} took {seconds:.1f} s")
                    rss.append(_rss_mb())
            busy = busy_connections(sync_client) + busy_connections(async_client)
        finally:
            sync_client.close()
            await async_client.close()
        busy_after_close = busy_connections(sync_client) + busy_connections(async_client)
        server_closed = server.wait_until(lambda: server.open == 0)
        server_open = server.open
    fds_after = open_fds()
    wall = time.monotonic() - started

    report = (
        f"soak seed={SEED} (SOAK_SEED={SEED} replays the draws): {sum(outcomes.values())} calls in {wall:.1f} s, "
        f"slowest {slowest:.2f} s (budget {budget:.1f} s); outcomes {dict(outcomes.most_common())}; "
        f"server answers {dict(mix.served.most_common())}; RSS MB per round "
        f"{[round(x, 1) for x in rss]}; fds {fds_before} -> {fds_after}"
    )
    print(report)
    escaped = [outcome for outcome in outcomes if outcome.startswith("ESCAPED")]
    assert not escaped, report
    assert not over_budget, f"{over_budget[:5]}; {report}"
    assert not busy, f"busy connections after every call ended: {busy}; {report}"
    assert not busy_after_close, report
    assert server_closed, f"{server_open} server-side sockets still open; {report}"
    assert fds_after == fds_before, report
    assert outcomes["ok"] and len(outcomes) > 2, f"the mix should give results and several errors; {report}"
    if ROUNDS >= 4:
        # Warm-up is the first round: the pools, the parsed models' classes, the allocator's arenas.
        growth = rss[-1] - rss[0]
        assert growth <= RSS_SLACK_MB, f"RSS grew {growth:.1f} MB after warm-up (slack {RSS_SLACK_MB} MB); {report}"
