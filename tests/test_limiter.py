"""The client's RateLimiter, through the public API, against the offline server's rate limits (both twins).

Timing checks have generous margins: they tell "waited for the window" from "did not wait", nothing finer.
bench/limiter.py measures throughput and the 429 share under load.
"""

from __future__ import annotations

import asyncio
import email.utils
import pickle
import re
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


async def run_each(kind: str, functions: List[Callable[[], Any]]) -> List[Any]:
    """Each of `functions` at once (tasks or threads, as `run_together`); an exception is returned, not raised."""

    async def settle_async(function: Callable[[], Any]) -> Any:
        try:
            return await function()
        except Exception as exc:
            return exc

    def settle(function: Callable[[], Any]) -> Any:
        try:
            return function()
        except Exception as exc:
            return exc

    if kind == "async":
        return list(await asyncio.gather(*(settle_async(function) for function in functions)))
    with ThreadPoolExecutor(len(functions)) as pool:
        return list(pool.map(settle, functions))


def chat(client: Any, **options: Any) -> Callable[[], Any]:
    return lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **options)


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
    # A limiter lets one call through until a first answer: past that, for both (shared or not).
    await run_each(kind, [chat(client), chat(copy)])
    started = time.monotonic()
    results = await run_each(kind, [chat(client), chat(client), chat(copy), chat(copy)])
    elapsed = time.monotonic() - started
    await close(client)
    assert not [result for result in results if isinstance(result, Exception)]
    # Two at a time across the client and its copy: 4 calls of 0.3 s take two rounds (0.6 s); with a cap of two
    # each, they would take one.
    assert elapsed >= 0.55


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


async def test_after_a_429_the_pace_slows_and_recovers_gradually(
    fake_apertis: Any, make_client: Any, call: Any
) -> None:
    limiter = apertis.RateLimiter()
    client = make_client(base_url=fake_apertis.url, limiter=limiter, max_retries=0)
    throttled = client.with_options(default_headers={"x-fake-fault": "status=429;retry_after=0"})
    with pytest.raises(apertis.RateLimitError):
        await call(chat(throttled))
    cautions = [limiter.state.caution]
    for _ in range(60):
        await call(chat(client))
        cautions.append(limiter.state.caution)
    await close(client)
    assert cautions[0] == 1.0  # half the announced rate right after the 429
    assert all(later < earlier for earlier, later in zip(cautions, cautions[1:]) if earlier > 0)
    assert cautions[5] > 0.3  # gradually: not all at once
    assert cautions[-1] == 0.0  # and all the way back


# A window no answer reports (an IP's: no X-RateLimit-* headers for it, its 429s carry only Retry-After) is met
# once: its rate is learned from the calls the server let through before that 429, over the time to the reset, and
# kept from then on. Old behaviour: each window's end met a burst of 429s.
@pytest.mark.fake_apertis(faults=["rate_limit=8;window=2;report=none"])
async def test_a_window_no_answer_reports_is_learned_from_its_first_429(
    fake_apertis: Any, make_client: Any, kind: str
) -> None:
    limiter = apertis.RateLimiter()
    client = make_client(base_url=fake_apertis.url, limiter=limiter, max_retries=10)
    # A first call teaches the limiter the pace of the window the answers report (the key's); before any answer,
    # calls go at once (nothing is known), and every one past the window's budget would be refused.
    await run_together(kind, 1, chat(client))
    await run_together(kind, 19, chat(client))
    await close(client)
    statuses = [request.status for request in fake_apertis.requests]
    assert statuses.count(200) == 20
    # Refused: the calls in flight when it first runs out (few, at the pace of the reported window: how many
    # depends on how fast the answers come back), then none: the 429s are one run, in the first window.
    assert re.fullmatch(r"\.+x+\.+", "".join("x" if status == 429 else "." for status in statuses)), statuses
    learned = limiter.state.learned_requests_per_minute
    # The window's rate is 240 a minute (8 per 2 s); the estimate stays under it, by a margin that Retry-After's
    # whole seconds make wide for a window this short (and wider when answers are slow: only the calls answered
    # before the first 429 count as let through).
    assert learned is not None and 60 <= learned <= 240, learned


# With the rate known, requests_per_minute keeps within the window from the first call: at most the rate's worth
# in any window (old behaviour: a second's worth at once on top of it, 429s in the first window).
@pytest.mark.fake_apertis(faults=["rate_limit=5;window=2;report=none"])
async def test_requests_per_minute_keeps_within_a_window_from_the_first_call(
    fake_apertis: Any, make_client: Any, kind: str
) -> None:
    client = make_client(base_url=fake_apertis.url, limiter=apertis.RateLimiter(requests_per_minute=130))
    await run_together(kind, 12, chat(client))
    await close(client)
    statuses = [request.status for request in fake_apertis.requests]
    assert statuses == [200] * 12


async def test_a_wait_for_the_budget_past_total_timeout_raises_a_timeout(
    fake_apertis: Any, make_client: Any, call: Any
) -> None:
    limiter = apertis.RateLimiter(requests_per_minute=1)
    client = make_client(base_url=fake_apertis.url, limiter=limiter)
    await call(chat(client))  # the minute's one request
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError, match=r"rate limit allows this call in .* total_timeout=1 s"):
        await call(chat(client, total_timeout=1))
    # Known at once (the budget comes back in a minute), and the call's place is given back.
    assert time.monotonic() - started < 0.9
    assert (limiter.state.in_flight, limiter.state.waiting) == (0, 0)
    await close(client)


@pytest.mark.fake_apertis(faults=["latency=1"])
async def test_a_wait_for_a_place_is_bounded_by_the_pool_timeout(
    fake_apertis: Any, make_client: Any, kind: str
) -> None:
    limiter = apertis.RateLimiter(max_concurrency=1)
    client = make_client(base_url=fake_apertis.url, limiter=limiter, timeout=httpx.Timeout(30, pool=0.2))
    started = time.monotonic()
    results = await run_each(kind, [chat(client), chat(client), chat(client, total_timeout=0.4)])
    await close(client)
    errors = sorted((str(result) for result in results if isinstance(result, Exception)), key=len)
    assert len(errors) == 2 and time.monotonic() - started < 1.9, errors
    assert all("waiting for a place in the client's RateLimiter" in error for error in errors)
    assert all("max_concurrency=1" in error for error in errors)
    # The setting to change: the pool timeout (0.2 s) for one, total_timeout for the other (0.4 s, but the
    # pool's 0.2 s is the shorter: its budget names the pool too, unless the total ran out first).
    assert any("pool=SECONDS" in error for error in errors)
    assert (limiter.state.in_flight, limiter.state.waiting) == (0, 0)


@pytest.mark.fake_apertis(faults=["latency=0.5"])
async def test_a_call_cancelled_while_waiting_gives_its_place_back(fake_apertis: Any) -> None:
    limiter = apertis.RateLimiter(max_concurrency=1, requests_per_minute=2)
    client = apertis.AsyncApertis(api_key="k", base_url=fake_apertis.url, limiter=limiter)
    holder = asyncio.ensure_future(chat(client)())
    await asyncio.sleep(0.1)
    for_a_place = asyncio.ensure_future(chat(client)())
    await asyncio.sleep(0.1)
    assert (limiter.state.in_flight, limiter.state.waiting) == (1, 1)
    for_a_place.cancel()
    await holder
    # The budget allows one more call now (2 a minute, the second half a minute later): it waits holding a place.
    for_the_budget = asyncio.ensure_future(chat(client)())
    await asyncio.sleep(0.2)
    assert (limiter.state.in_flight, limiter.state.waiting) == (1, 0)
    for_the_budget.cancel()
    await asyncio.gather(for_a_place, for_the_budget, return_exceptions=True)
    assert (limiter.state.in_flight, limiter.state.waiting) == (0, 0)
    await client.close()


# Until a first answer the limiter knows nothing of the windows: it lets one call through, so that a client started
# in a window already spent (a batch resumed at once, another process on the key) meets one 429, not a burst.
@pytest.mark.fake_apertis(faults=["rate_limit=3;window=2"])
async def test_a_new_limiter_sends_one_call_before_it_knows_the_window(
    fake_apertis: Any, make_client: Any, kind: str
) -> None:
    spender = make_client(base_url=fake_apertis.url, max_retries=0)
    await run_together(kind, 3, chat(spender))  # the window's budget, spent by another client
    await close(spender)
    client = make_client(base_url=fake_apertis.url, max_retries=0, limiter=True)
    results = await run_each(kind, [chat(client)] * 6)
    await close(client)
    refused = [result for result in results if isinstance(result, apertis.RateLimitError)]
    assert len(refused) == 1  # the first call; the others waited for its Retry-After, then for the windows
    assert len(results) - len(refused) == 5
