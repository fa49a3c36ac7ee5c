"""AsyncApertis over aiohttp (`http_client=apertis.AiohttpClient()`), against real loopback sockets."""

from __future__ import annotations

import asyncio
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
    raw,
    reset,
    stall,
)

import apertis

httpx_aiohttp = pytest.importorskip("httpx_aiohttp")
import aiohttp  # noqa: E402 - installed with httpx-aiohttp


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
    with pytest.raises(TypeError, match="makes its own transport"):
        apertis.AiohttpClient(transport=httpx.AsyncHTTPTransport())
    async with apertis.AiohttpClient(timeout=3.0, limits=httpx.Limits(max_connections=7)) as http_client:
        assert http_client.timeout == httpx.Timeout(3.0)
        client = apertis.AsyncApertis(api_key=API_KEY, http_client=http_client)
        assert client.timeout == httpx.Timeout(3.0)


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    with pytest.raises(ImportError, match=r'pip install "apertis\[aiohttp\]"'):
        apertis.AiohttpClient()


async def hang_up(exchange: Exchange) -> bool:
    """Close the connection cleanly without answering (a FIN, not a reset): aiohttp's ServerDisconnectedError."""
    exchange.writer.close()
    return False


async def test_a_server_hanging_up_without_an_answer_is_a_retried_connection_error(
    loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(hang_up)
    async with apertis.AiohttpClient() as http_client:
        with pytest.raises(apertis.APIConnectionError) as caught:
            await client_for(server, http_client, max_retries=1).get("/models")
    assert not isinstance(caught.value, apertis.APITimeoutError)  # httpx-aiohttp labels it a connect timeout
    assert caught.value.retries_taken == 1


async def test_a_response_aiohttp_cannot_parse_is_a_connection_error(
    loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(raw(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n"))
    async with apertis.AiohttpClient() as http_client:
        with pytest.raises(apertis.APIConnectionError) as caught:
            await client_for(server, http_client, max_retries=0).get("/models")
    assert not isinstance(caught.value, apertis.APITimeoutError)
    assert "aiohttp" not in type(caught.value.__cause__).__module__  # mapped to httpx's protocol error first


def _connection_error(cause: BaseException) -> BaseException:
    """What httpx-aiohttp raises for an aiohttp connection error: a ConnectTimeout whatever the cause."""
    error = httpx.ConnectTimeout(str(cause))
    error.__cause__ = cause
    return error


# What aiohttp (or httpx-aiohttp's mapping of it) may raise, the SDK error each one must arrive as, and whether
# it is retried (a failure of unknown kind is not: the request may have reached the server).
_AIOHTTP_FAILURES = {
    "connection refused": (lambda: _connection_error(aiohttp.ClientConnectionError("refused")), "connection", True),
    "disconnected": (lambda: _connection_error(aiohttp.ServerDisconnectedError()), "connection", True),
    "connect timeout": (lambda: _connection_error(aiohttp.ConnectionTimeoutError("slow")), "timeout", True),
    "asyncio timeout": (lambda: asyncio.TimeoutError(), "timeout", True),
    "other client error": (lambda: aiohttp.ClientError("odd"), "connection", False),
}


@pytest.fixture
def failing_transport(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], BaseException]], None]:
    """Makes httpx-aiohttp's transport raise what the test gives, as if aiohttp had failed that way."""

    def install(failure: Callable[[], BaseException]) -> None:
        async def fail(self: Any, request: httpx.Request) -> httpx.Response:
            raise failure()

        monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "handle_async_request", fail)

    return install


@pytest.mark.parametrize("name", list(_AIOHTTP_FAILURES))
async def test_each_aiohttp_failure_arrives_as_the_sdk_error(
    name: str, failing_transport: Any, sleeps: List[float]
) -> None:
    failure, expected, retried = _AIOHTTP_FAILURES[name]
    failing_transport(failure)
    async with apertis.AiohttpClient() as http_client:
        client = apertis.AsyncApertis(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", http_client=http_client)
        with pytest.raises(apertis.APIConnectionError) as caught:
            await client.with_options(max_retries=1).get("/models")
    assert isinstance(caught.value, apertis.APITimeoutError) == (expected == "timeout")
    assert caught.value.retries_taken == len(sleeps) == (1 if retried else 0)


async def test_a_bug_inside_the_transport_is_not_disguised_as_a_network_error(
    failing_transport: Any, sleeps: List[float]
) -> None:
    # Not an aiohttp failure: it goes through as raised, and is not retried as if the network had failed.
    failing_transport(lambda: KeyError("bug"))
    async with apertis.AiohttpClient() as http_client:
        client = apertis.AsyncApertis(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", http_client=http_client)
        with pytest.raises(KeyError, match="bug"):
            await client.with_options(max_retries=1).get("/models")
    assert sleeps == []


@pytest.mark.parametrize("stage", ["reading", "closing"])
@pytest.mark.parametrize("failure", [aiohttp.ClientPayloadError("cut"), KeyError("bug")], ids=["aiohttp", "bug"])
async def test_failures_of_the_response_body_are_mapped_like_those_of_the_request(
    loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch, stage: str, failure: Exception
) -> None:
    async def fail_reading(self: Any) -> Any:
        raise failure
        yield b""  # an async generator, as the real one

    async def fail_closing(self: Any) -> None:
        raise failure

    body_stream = httpx_aiohttp.transport.AiohttpResponseStream
    if stage == "reading":
        monkeypatch.setattr(body_stream, "__aiter__", fail_reading)
    else:
        monkeypatch.setattr(body_stream, "aclose", fail_closing)
    server = loopback(ok)
    async with apertis.AiohttpClient() as http_client:
        client = client_for(server, http_client, max_retries=0)
        expected = KeyError if isinstance(failure, KeyError) else apertis.APIConnectionError
        with pytest.raises(expected) as caught:
            await client.get("/models")
    if expected is apertis.APIConnectionError:
        assert not isinstance(caught.value, apertis.APITimeoutError)
        assert isinstance(caught.value.__cause__, httpx.TransportError)  # no aiohttp exception reaches the caller


async def test_a_proxy_is_passed_to_aiohttp(loopback: Callable[..., LoopbackServer]) -> None:
    proxy = loopback(ok)
    async with apertis.AiohttpClient(proxy=proxy.url.rsplit("/v1", 1)[0]) as http_client:
        client = apertis.AsyncApertis(
            api_key=API_KEY, base_url="http://api.example.invalid/v1", http_client=http_client
        )
        assert await client.get("/models") == {"ok": True}
    # A request to a proxy names the whole URL.
    assert proxy.requests[0].startswith(b"GET http://api.example.invalid/v1/models HTTP/1.1")
