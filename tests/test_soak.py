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
from apertis.testing import FakeApertis
from apertis.testing._faults import FAULT_HEADER

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
        self.requests = 0
        self._lock = threading.Lock()
        self._plain = _behaviours(streamed=False)
        self._streamed = _behaviours(streamed=True)

    async def __call__(self, exchange: Exchange) -> bool:
        with self._lock:
            index = self.requests
            self.requests += 1
        streamed = b'"stream":true' in exchange.body.replace(b" ", b"")
        name, behaviour = random.Random(f"{self.seed}:{index}").choice(self._streamed if streamed else self._plain)
        with self._lock:
            self.served[name] += 1
        return bool(await behaviour(exchange))


def _outcome(error: BaseException) -> str:
    # Anything but the SDK's own errors is a failure of the soak: name it so the report shows it.
    return type(error).__name__ if isinstance(error, apertis.APIError) else f"ESCAPED {type(error).__name__}: {error}"


Call = Tuple[str, bool, Dict[str, str]]
"""One call of the soak: the API (`chat`, `responses`, `messages`), whether it streams, extra headers."""


def _start(client: Any, call: Call) -> Any:
    api, streamed, headers = call
    options: Dict[str, Any] = {"extra_headers": headers} if headers else {}
    if streamed:
        options["stream"] = True
    if api == "responses":
        return client.responses.create(model="gpt-4o-mini", input="hi", **options)
    if api == "messages":
        return client.messages.create(model="claude-haiku-4.5", max_tokens=8, messages=MESSAGES, **options)
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **options)


def _sync_call(client: apertis.Apertis, call: Call) -> Tuple[str, float]:
    started = time.monotonic()
    try:
        result = _start(client, call)
        if call[1]:
            with result as stream:
                for _ in stream:
                    pass
        outcome = "ok"
    except BaseException as error:
        outcome = _outcome(error)
    return outcome, time.monotonic() - started


async def _async_call(client: apertis.AsyncApertis, call: Call, gate: asyncio.Semaphore) -> Tuple[str, float]:
    async with gate:
        started = time.monotonic()
        try:
            result = await _start(client, call)
            if call[1]:
                async with result as stream:
                    async for _ in stream:
                        pass
            outcome = "ok"
        except Exception as error:
            outcome = _outcome(error)
        return outcome, time.monotonic() - started


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class Soak:
    """Runs rounds of calls, half on a sync client in threads and half on an async one, and what they gave."""

    def __init__(self, base_url: str) -> None:
        options: Dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": base_url,
            "timeout": TIMEOUT,
            "total_timeout": TOTAL_TIMEOUT,
            "max_retries": MAX_RETRIES,
        }
        self.sync_client = apertis.Apertis(**options)
        self.async_client = apertis.AsyncApertis(**options)
        self.outcomes: Counter[str] = collections.Counter()
        self.slowest = 0.0
        self.over_budget: List[str] = []
        self.rss: List[float] = []
        self.busy: List[Any] = []
        self.busy_after_close: List[Any] = []
        self._gate = asyncio.Semaphore(ASYNC_CONCURRENCY)

    async def run(self, rounds: List[List[Call]], between_rounds: Callable[[], None] = lambda: None) -> None:
        """Run every round, then close both clients (whatever happened), noting busy connections before and after."""
        try:
            with ThreadPoolExecutor(THREADS) as threads:
                loop = asyncio.get_running_loop()
                for calls in rounds:
                    half = len(calls) // 2
                    sync_results = asyncio.gather(
                        *(loop.run_in_executor(threads, _sync_call, self.sync_client, call) for call in calls[:half])
                    )
                    async_results = asyncio.gather(
                        *(_async_call(self.async_client, call, self._gate) for call in calls[half:])
                    )
                    for outcome, seconds in [*await sync_results, *await async_results]:
                        self.outcomes[outcome] += 1
                        self.slowest = max(self.slowest, seconds)
                        if seconds > BUDGET:
                            self.over_budget.append(f"{outcome} took {seconds:.1f} s")
                    between_rounds()
                    self.rss.append(_rss_mb())
            self.busy = busy_connections(self.sync_client) + busy_connections(self.async_client)
        finally:
            self.sync_client.close()
            await self.async_client.close()
        self.busy_after_close = busy_connections(self.sync_client) + busy_connections(self.async_client)

    def report(self, seed: int, wall: float, served: Counter[str], fds: Tuple[int, int]) -> str:
        return (
            f"soak seed={seed} (SOAK_SEED={seed} replays the draws): {sum(self.outcomes.values())} calls in "
            f"{wall:.1f} s, slowest {self.slowest:.2f} s (budget {BUDGET:.1f} s); outcomes "
            f"{dict(self.outcomes.most_common())}; server answers {dict(served.most_common())}; RSS MB per round "
            f"{[round(x, 1) for x in self.rss]}; fds {fds[0]} -> {fds[1]}"
        )

    def check(self, report: str) -> None:
        """Every call ended in a result or an SDK error within its budget, and no connection is left busy."""
        escaped = [outcome for outcome in self.outcomes if outcome.startswith("ESCAPED")]
        assert not escaped, report
        assert not self.over_budget, f"{self.over_budget[:5]}; {report}"
        assert not self.busy, f"busy connections after every call ended: {self.busy}; {report}"
        assert not self.busy_after_close, report
        assert self.outcomes["ok"] and len(self.outcomes) > 2, f"the mix should give results and errors; {report}"


BUDGET = TOTAL_TIMEOUT + TIMEOUT + BUDGET_MARGIN


async def test_calls_under_random_faults_end_in_a_result_or_an_api_error_and_leave_nothing_open() -> None:
    rng = random.Random(SEED)
    mix = FaultMix(SEED)
    per_round = CALLS // ROUNDS
    rounds: List[List[Call]] = [[("chat", rng.random() < 0.5, {}) for _ in range(per_round)] for _ in range(ROUNDS)]
    started = time.monotonic()
    fds_before = open_fds()
    with LoopbackServer([mix]) as server:
        soak = Soak(server.url)
        # The server keeps every request's head; the soak measures the clients' memory, not that.
        await soak.run(rounds, between_rounds=server.requests.clear)
        server_closed = server.wait_until(lambda: server.open == 0)
        server_open = server.open
    fds_after = open_fds()
    report = soak.report(SEED, time.monotonic() - started, mix.served, (fds_before, fds_after))
    print(report)
    soak.check(report)
    assert server_closed, f"{server_open} server-side sockets still open; {report}"
    assert fds_after == fds_before, report
    if ROUNDS >= 4:
        # Warm-up is the first round: the pools, the parsed models' classes, the allocator's arenas.
        growth = soak.rss[-1] - soak.rss[0]
        assert growth <= RSS_SLACK_MB, f"RSS grew {growth:.1f} MB after warm-up (slack {RSS_SLACK_MB} MB); {report}"


OFFLINE_FAULTS = [
    "",
    "",
    "status=429;times=1;retry_after=0",
    "status=503;times=1",
    "status=500",
    "reset;times=1",
    "reset",
    "stall",
    "cut=2",
    "error_event=1;error_type=overloaded_error",
    "latency=0.2",
]
"""Per-request faults of the offline server (the `x-fake-fault` header), drawn for each call ("": none)."""


async def test_the_three_apis_under_the_offline_servers_faults_end_in_a_result_or_an_api_error() -> None:
    rng = random.Random(SEED)
    served: Counter[str] = collections.Counter()
    calls: List[Call] = []
    for _ in range(max(60, CALLS // 4)):
        fault = rng.choice(OFFLINE_FAULTS)
        served[fault or "none"] += 1
        api = rng.choice(["chat", "responses", "messages"])
        calls.append((api, rng.random() < 0.5, {FAULT_HEADER: fault} if fault else {}))
    started = time.monotonic()
    fds_before = open_fds()
    with FakeApertis() as server:
        soak = Soak(server.url)
        await soak.run([calls])
    fds_after = open_fds()
    report = soak.report(SEED, time.monotonic() - started, served, (fds_before, fds_after))
    print(report)
    soak.check(report)
    assert fds_after == fds_before, report
