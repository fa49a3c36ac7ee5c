"""`total_timeout`: one budget for a whole call, across its attempts and the waits between them, forwarded to the
gateway as `X-Timeout`; and the gateway's 408 when that budget runs out on its side."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator, List

import httpx
import pytest
from pytest_httpx import HTTPXMock
from rawserver import LoopbackServer, close, loopback_servers, make, maybe_await, raw, stall

import apertis

MODELS = {"object": "list", "data": []}


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


def budgets_sent(httpx_mock: HTTPXMock) -> List[int]:
    return [int(request.headers["x-timeout"]) for request in httpx_mock.get_requests()]


# ---------------------------------------------------------------------------------------------- the budget


async def test_retries_stop_when_the_next_one_would_start_past_the_budget(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "0.8"}, json={}, is_reusable=True)
    client = make_client(max_retries=10, total_timeout=2.0)
    started = time.monotonic()
    with pytest.raises(apertis.InternalServerError) as info:
        await call(client.models.list)
    elapsed = time.monotonic() - started
    # Attempts at about 0, 0.8 and 1.6 s; the next one would start at 2.4 s, past the budget, so it is not made.
    assert len(httpx_mock.get_requests()) == 3
    assert info.value.retries_taken == 2
    assert 1.4 < elapsed < 2.0 + 1.0
    assert "total_timeout=2 s" in str(info.value)
    assert "Not retried" in str(info.value)


async def test_backoff_retries_stop_inside_the_budget(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=502, json={}, is_reusable=True)
    client = make_client(max_retries=10, total_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(apertis.InternalServerError) as info:
        await call(client.models.list)
    elapsed = time.monotonic() - started
    # Backoff waits of at most 0.5 s then 1 s: two or three attempts fit, never the eleven max_retries allows.
    assert 2 <= len(httpx_mock.get_requests()) <= 3
    assert info.value.retries_taken == len(httpx_mock.get_requests()) - 1
    assert elapsed < 1.5 + 1.0
    assert "total_timeout=1.5 s" in str(info.value)


async def test_a_retry_after_longer_than_the_budget_left_raises_at_once(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "5"}, json={})
    client = make_client(max_retries=2, total_timeout=3)
    with pytest.raises(apertis.RateLimitError) as info:
        await call(client.models.list)
    assert sleeps == []
    assert info.value.retries_taken == 0
    assert "due in 5.00 s" in str(info.value)


async def test_without_a_budget_the_retries_are_unchanged(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "5"}, json={})
    httpx_mock.add_response(json=MODELS)
    client = make_client(max_retries=2)
    await call(client.models.list)
    assert sleeps == [5.0]
    assert all("x-timeout" not in request.headers for request in httpx_mock.get_requests())


async def test_the_last_attempt_is_cut_at_the_end_of_the_budget(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    server = loopback(raw(b"HTTP/1.1 503 X\r\nRetry-After: 0.5\r\nContent-Length: 2\r\n\r\n{}"), stall(30))
    client = make(kind, server, max_retries=5, timeout=60, total_timeout=2)
    started = time.monotonic()
    try:
        with pytest.raises(apertis.APITimeoutError) as info:
            await maybe_await(client.models.list())
    finally:
        await close(client)
    elapsed = time.monotonic() - started
    assert 1.8 < elapsed < 2 + 1.5
    assert len(server.requests) == 2
    assert info.value.retries_taken == 1
    assert "total_timeout=2 s" in str(info.value)


async def test_a_stream_budget_covers_its_opening_not_its_events(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    def chunk(text: str) -> bytes:
        payload = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    events = [chunk("late "), chunk("but whole"), b"data: [DONE]\n\n"]
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {len(b''.join(events))}\r\n\r\n"
    # The events come 1 s apart, the last one well after the 0.8 s budget; the stream's read timeout is 10 s.
    server = loopback(raw(head.encode(), *events, interval=1.0))
    client = make(kind, server, max_retries=0, timeout=10, total_timeout=0.8)
    try:
        stream = await maybe_await(
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
        )
        if kind == "async":
            texts = [text async for text in stream.text_stream]
        else:
            texts = list(stream.text_stream)
    finally:
        await close(client)
    assert "".join(texts) == "late but whole"
    assert server.requests[0].lower().count(b"x-timeout: 5000") == 1


# ----------------------------------------------------------------------------------------------- X-Timeout


async def test_x_timeout_carries_the_remaining_budget_of_each_attempt(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "0.5"}, json={})
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "0.5"}, json={})
    httpx_mock.add_response(json=MODELS)
    client = make_client(max_retries=2, total_timeout=8)
    await call(client.models.list)
    first, second, third = budgets_sent(httpx_mock)
    assert 7_500 < first <= 8_000
    assert 6_800 < second <= first - 500
    assert 6_000 < third <= second - 500


@pytest.mark.parametrize(("total_timeout", "expected"), [(1, 5_000), (0.2, 5_000), (301, 300_000), (1e6, 300_000)])
async def test_x_timeout_is_kept_in_the_range_the_gateway_accepts(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, total_timeout: float, expected: int
) -> None:
    httpx_mock.add_response(json=MODELS)
    await call(make_client(total_timeout=total_timeout).models.list)
    assert budgets_sent(httpx_mock) == [expected]


async def test_the_callers_x_timeout_header_is_sent_as_given(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=MODELS, is_reusable=True)
    client = make_client(total_timeout=10, default_headers={"X-Timeout": "250000"})
    await call(client.models.list)
    await call(client.models.list, extra_headers={"x-timeout": "30000"})
    await call(client.with_options(default_headers={"X-Timeout": None}).models.list)
    requests = httpx_mock.get_requests()
    assert [request.headers.get("x-timeout") for request in requests] == ["250000", "30000", None]


async def test_the_budget_is_set_on_the_client_with_options_or_one_call(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=MODELS, is_reusable=True)
    client = make_client(total_timeout=100)
    assert client.total_timeout == 100.0
    await call(client.models.list)
    await call(client.models.list, total_timeout=None)
    await call(client.with_options(total_timeout=20).models.list)
    await call(client.with_options(total_timeout=20).models.list, total_timeout=50)
    await call(client.get, "/models", total_timeout=30)
    await call(client.models.exists, "gpt-4o", total_timeout=40)
    sent = [request.headers.get("x-timeout") for request in httpx_mock.get_requests()]
    assert [value and round(int(value), -3) for value in sent] == [100_000, None, 20_000, 50_000, 30_000, 40_000]
    assert client.with_options(max_retries=0).total_timeout == 100.0


# ------------------------------------------------------------------------------------- the gateway's 408


async def test_a_408_from_the_gateways_budget_is_raised_clearly_and_not_retried(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    message = "Total request timeout (20000ms) exceeded after 3 channel attempts. Set X-Timeout header to adjust."
    httpx_mock.add_response(
        status_code=408,
        headers={"X-Timeout-Attempts": "3", "X-Timeout-Elapsed-Ms": "20013"},
        json={"error": {"message": message, "type": "timeout", "code": "request_timeout"}},
    )
    client = make_client(max_retries=2, total_timeout=20)
    with pytest.raises(apertis.RequestTimeoutError) as info:
        await call(client.models.list)
    error = info.value
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []
    assert error.retries_taken == 0
    assert (error.gateway_elapsed_ms, error.gateway_attempts) == (20013, 3)
    text = str(error)
    assert "The gateway's time budget for this request ran out" in text
    assert "X-Timeout: 20000 ms" in text
    assert "X-Timeout-Elapsed-Ms: 20013" in text
    assert "X-Timeout-Attempts: 3" in text
    assert message in text


async def test_a_408_from_the_gateways_default_budget_says_none_was_sent(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=408, headers={"X-Timeout-Elapsed-Ms": "60002"}, json={})
    with pytest.raises(apertis.RequestTimeoutError) as info:
        await call(make_client(max_retries=2).models.list)
    assert len(httpx_mock.get_requests()) == 1
    assert "no X-Timeout sent, so the gateway's default of 60000 ms" in str(info.value)
    assert info.value.gateway_attempts is None


async def test_a_408_without_the_gateways_headers_is_still_retried(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: List[float]
) -> None:
    httpx_mock.add_response(status_code=408, json={})
    httpx_mock.add_response(json=MODELS)
    await call(make_client(max_retries=2).models.list)
    assert len(sleeps) == 1


# ------------------------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, TypeError),
        ("30", TypeError),
        (httpx.Timeout(5.0), TypeError),
    ],
)
async def test_a_bad_total_timeout_is_refused_naming_it(
    make_client: Callable[..., Any], call: Any, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="total_timeout"):
        make_client(total_timeout=value)
    client = make_client()
    with pytest.raises(error, match="total_timeout"):
        client.with_options(total_timeout=value)
    with pytest.raises(error, match="total_timeout"):
        await call(client.models.list, total_timeout=value)
    with pytest.raises(error, match="total_timeout"):
        await call(client.post, "/anything", body={}, total_timeout=value)
