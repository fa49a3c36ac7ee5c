"""AsyncApertis over aiohttp (`http_client=apertis.AiohttpClient()`), against real loopback sockets."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Iterator, List

import httpx
import pytest
from rawserver import (
    API_KEY,
    Exchange,
    LoopbackServer,
    close_mid_body,
    loopback_servers,
    ok,
    reset,
    stall,
)

import apertis

httpx_aiohttp = pytest.importorskip("httpx_aiohttp")


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


@pytest.fixture
def transport_calls(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Records every request that went through httpx-aiohttp's transport (proof that aiohttp sent it)."""
    calls: List[str] = []
    original = httpx_aiohttp.AiohttpTransport.handle_async_request

    async def spy(self: Any, request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        response: httpx.Response = await original(self, request)
        return response

    monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "handle_async_request", spy)
    return calls


def chunk(content: str) -> bytes:
    event = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def sse(exchange: Exchange) -> bool:
    exchange.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in [chunk("Hel"), chunk("lo"), b"data: [DONE]\n\n"]:
        exchange.writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await exchange.writer.drain()
    exchange.writer.write(b"0\r\n\r\n")
    await exchange.writer.drain()
    return True


async def unavailable(exchange: Exchange) -> bool:
    await exchange.send(503, b'{"error": {"message": "busy"}}')
    return True


def client_for(server: LoopbackServer, http_client: httpx.AsyncClient, **kwargs: Any) -> apertis.AsyncApertis:
    return apertis.AsyncApertis(api_key=API_KEY, base_url=server.url, http_client=http_client, **kwargs)


async def test_a_plain_call_goes_through_aiohttp(
    loopback: Callable[..., LoopbackServer], transport_calls: List[str]
) -> None:
    server = loopback(ok)
    async with apertis.AiohttpClient() as http_client:
        assert http_client.timeout == apertis.DEFAULT_TIMEOUT
        client = client_for(server, http_client)
        assert client.timeout == apertis.DEFAULT_TIMEOUT
        assert await client.get("/models") == {"ok": True}
        assert await client.get("/models") == {"ok": True}
    assert transport_calls == ["/v1/models", "/v1/models"]
    assert server.accepted == 1  # the connection was kept alive and reused
    head = server.requests[0].decode("latin-1").lower()
    assert f"authorization: bearer {API_KEY.lower()}" in head


async def test_a_stream_through_aiohttp(loopback: Callable[..., LoopbackServer], transport_calls: List[str]) -> None:
    server = loopback(sse)
    async with apertis.AiohttpClient() as http_client:
        client = client_for(server, http_client)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        texts = [event.choices[0].delta.content async for event in stream]
    assert texts == ["Hel", "lo"]
    assert transport_calls == ["/v1/chat/completions"]


async def test_a_503_is_retried_through_aiohttp(
    loopback: Callable[..., LoopbackServer], transport_calls: List[str], sleeps: List[float]
) -> None:
    server = loopback(unavailable, unavailable, ok)
    async with apertis.AiohttpClient() as http_client:
        assert await client_for(server, http_client, max_retries=2).get("/models") == {"ok": True}
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert len(transport_calls) == 3


async def test_a_503_beyond_the_retries_raises_the_status_error(
    loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(unavailable)
    async with apertis.AiohttpClient() as http_client:
        with pytest.raises(apertis.APIStatusError) as caught:
            await client_for(server, http_client, max_retries=1).get("/models")
    assert caught.value.status_code == 503
    assert caught.value.retries_taken == 1


async def test_a_stall_raises_timeout_error_in_bounded_time(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(stall(30))
    async with apertis.AiohttpClient() as http_client:
        client = client_for(server, http_client, max_retries=0, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(apertis.APITimeoutError):
            await client.get("/models")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("fault", [reset, close_mid_body], ids=["reset", "close_mid_body"])
async def test_broken_connections_are_retried_and_raise_connection_errors(
    loopback: Callable[..., LoopbackServer], sleeps: List[float], fault: Any
) -> None:
    server = loopback(fault)
    async with apertis.AiohttpClient() as http_client:
        with pytest.raises(apertis.APIConnectionError) as caught:
            await client_for(server, http_client, max_retries=1).get("/models")
    # An SDK error (not an aiohttp or httpx one), retried like a broken connection of httpx's own pool.
    assert not isinstance(caught.value, apertis.APITimeoutError)
    assert caught.value.retries_taken == 1
    # aiohttp itself resends an idempotent request once after a reset, so each attempt may be two requests.
    assert 2 <= len(server.requests) <= 4


async def test_a_fault_then_success_returns_the_answer(
    loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(close_mid_body, ok)
    async with apertis.AiohttpClient() as http_client:
        assert await client_for(server, http_client, max_retries=1).get("/models") == {"ok": True}


def test_the_sync_client_is_unaffected(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)
    with apertis.Apertis(api_key=API_KEY, base_url=server.url) as client:
        assert client.get("/models") == {"ok": True}
    with pytest.raises(TypeError, match=r"httpx\.Client"):
        apertis.Apertis(api_key=API_KEY, base_url=server.url, http_client=apertis.AiohttpClient())  # type: ignore[arg-type]


async def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"HTTP/1\.1 only"):
        apertis.AiohttpClient(http2=True)
    async with apertis.AiohttpClient(timeout=3.0, limits=httpx.Limits(max_connections=7)) as http_client:
        assert http_client.timeout == httpx.Timeout(3.0)
        client = apertis.AsyncApertis(api_key=API_KEY, http_client=http_client)
        assert client.timeout == httpx.Timeout(3.0)


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    with pytest.raises(ImportError, match=r'pip install "apertis\[aiohttp\]"'):
        apertis.AiohttpClient()
