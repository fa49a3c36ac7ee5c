"""The client's RateLimiter, through the public API, against the offline server's rate limits (both twins).

Timing checks have generous margins: they tell "waited for the window" from "did not wait", nothing finer.
bench/limiter.py measures throughput and the 429 share under load.
"""

from __future__ import annotations

import asyncio
import email.utils
import pickle
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List

import httpx
import pytest

import apertis

MESSAGES = [{"role": "user", "content": "hi"}]


async def run_together(kind: str, count: int, function: Callable[[], Any]) -> List[Any]:
    """`count` calls of `function` at once: tasks for the async client, threads for the sync one."""
    if kind == "async":
        return list(await asyncio.gather(*(function() for _ in range(count))))
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: function(), range(count)))


def chat(client: Any) -> Callable[[], Any]:
    return lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


async def close(client: Any) -> None:
    result = client.close()
    if asyncio.iscoroutine(result):
        await result


@pytest.mark.fake_apertis(faults=["rate_limit=4;window=1"])
async def test_calls_wait_for_the_window_instead_of_being_refused(
    fake_apertis: Any, make_client: Any, kind: str
) -> None:
    # No retries: without the limiter, every call past the fourth of a window raises RateLimitError.
    client = make_client(base_url=fake_apertis.url, max_retries=0, limiter=True)
    started = time.monotonic()
    # A first call teaches the limiter the window; the rest go together.
    await run_together(kind, 1, chat(client))
    results = await run_together(kind, 10, chat(client))
    elapsed = time.monotonic() - started
    await close(client)
    assert len(results) == 10
    statuses = [request.status for request in fake_apertis.requests]
    assert statuses.count(429) == 0 and len(statuses) == 11
    assert elapsed >= 1.5  # 11 calls at 4 per window span at least three windows


@pytest.mark.fake_apertis(faults=["latency=0.3"])
async def test_max_concurrency_is_shared_by_copies(fake_apertis: Any, make_client: Any, kind: str) -> None:
    client = make_client(base_url=fake_apertis.url, limiter=apertis.RateLimiter(max_concurrency=2))
    copy = client.with_options(timeout=30)
    started = time.monotonic()
    await run_together(kind, 3, chat(client))
    await run_together(kind, 3, chat(copy))
    elapsed = time.monotonic() - started
    await close(client)
    # Two at a time: 3 + 3 calls of 0.3 s take four rounds (1.2 s), unlimited they would take two (0.6 s).
    assert elapsed >= 1.1


async def test_a_429_stops_every_call_until_retry_after(
    fake_apertis: Any, make_client: Any, kind: str, call: Any
) -> None:
    limiter = apertis.RateLimiter()
    client = make_client(base_url=fake_apertis.url, limiter=limiter, max_retries=0)
    throttled = client.with_options(default_headers={"x-fake-fault": "status=429;retry_after=1"})
    with pytest.raises(apertis.RateLimitError):
        await call(chat(throttled))
    started = time.monotonic()
    await call(chat(client))
    elapsed = time.monotonic() - started
    await close(client)
    assert elapsed >= 0.7
    assert limiter.state.rate_limited == 1


def _skewed_transport(server_ahead_by: float) -> Callable[[httpx.Request], httpx.Response]:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        server_now = time.time() + server_ahead_by
        headers = {
            "date": email.utils.formatdate(server_now, usegmt=True),
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(server_now) + 2),
        }
        return httpx.Response(200, json=completion, headers=headers)

    return handler


@pytest.mark.parametrize("server_ahead_by", [-3600.0, 0.0, 3600.0])
async def test_the_reset_time_is_read_on_the_servers_clock(kind: str, call: Any, server_ahead_by: float) -> None:
    limiter = apertis.RateLimiter()
    transport = _skewed_transport(server_ahead_by)
    if kind == "async":
        client: Any = apertis.AsyncApertis(
            api_key="k", http_client=httpx.AsyncClient(transport=httpx.MockTransport(transport)), limiter=limiter
        )
    else:
        client = apertis.Apertis(
            api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(transport)), limiter=limiter
        )
    await call(chat(client))
    state = limiter.state
    assert state.limit == 10 and state.remaining == 0
    # The window resets 1 to 2 s from now whatever the clocks say (an hour off either way, read naively).
    assert state.reset_in is not None and 0.5 <= state.reset_in <= 3.0


async def test_the_token_budget_spaces_large_requests(fake_apertis: Any, make_client: Any, call: Any) -> None:
    # 6,000 tokens a minute (100 a second), full at the start; each call counts a little over 3,100 tokens (its
    # max_tokens and its body), so the second waits for about 250 tokens to flow back in: ~2.5 s.
    client = make_client(base_url=fake_apertis.url, limiter=apertis.RateLimiter(tokens_per_minute=6000))

    def big() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=3100)

    started = time.monotonic()
    await call(big)
    first = time.monotonic() - started
    await call(big)
    second = time.monotonic() - started - first
    await close(client)
    assert first < 1.0
    assert second >= 1.2


def test_bad_settings_are_refused_with_the_parameter_named() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        apertis.RateLimiter(max_concurrency=0)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        apertis.RateLimiter(tokens_per_minute=-1)
    with pytest.raises(ValueError, match="requests_per_minute"):
        apertis.RateLimiter(requests_per_minute=float("nan"))
    with pytest.raises(TypeError, match=r"limiter must be an apertis\.RateLimiter"):
        apertis.Apertis(api_key="k", limiter="yes")  # type: ignore[arg-type]


def test_a_limiter_pickles_as_its_settings() -> None:
    limiter = apertis.RateLimiter(max_concurrency=3, requests_per_minute=500)
    copy = pickle.loads(pickle.dumps(limiter))
    assert repr(copy) == repr(limiter)
    assert copy.state.in_flight == 0


# A window the successful answers do not announce (an IP's, listed first: the key's headers, listed last, are the
# ones a success carries) is learned from its first 429 and kept, though every later success reports the other:
# the calls are counted against it, and once it is spent one call at a time probes it (at most one 429 a window).
@pytest.mark.fake_apertis(faults=["rate_limit=3;window=2", "rate_limit=10;window=1"])
async def test_a_second_window_is_learned_from_its_first_429(fake_apertis: Any, make_client: Any, kind: str) -> None:
    client = make_client(base_url=fake_apertis.url, limiter=True, max_retries=5)
    for _ in range(4):  # rounds of three calls at once: each round spends a window of the first limit
        await run_together(kind, 3, chat(client))
    await close(client)
    statuses = [request.status for request in fake_apertis.requests]
    assert statuses.count(200) == 12
    # The first time the window runs out its calls meet 429s; after that it is counted (unlimited: 3 a round).
    assert statuses.count(429) <= 5
