"""Streams give their connection back: dropped without being closed, or held open by the server after the
terminator; and a call that finds every connection taken says so. Real sockets (tests/rawserver.py), both twins."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, List

import httpx
import pytest
from rawserver import (
    LoopbackServer,
    busy_connections,
    chunked_events,
    close,
    loopback_servers,
    make,
    maybe_await,
    ok,
    slow_ok,
)

import apertis

CHUNK = (
    b"data: "
    + json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        }
    ).encode()
    + b"\n\n"
)
DONE = b"data: [DONE]\n\n"
LIMITS = httpx.Limits(max_connections=5, max_keepalive_connections=5)


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


def client_for(kind: str, server: LoopbackServer, pool: str, timeout: httpx.Timeout) -> Any:
    """A client on the SDK's own pool, or on a caller's http_client with the same limits."""
    if pool == "sdk":
        return make(kind, server, max_retries=0, timeout=timeout, connection_limits=LIMITS)
    http_client_class = httpx.AsyncClient if kind == "async" else httpx.Client
    http_client = http_client_class(timeout=timeout, limits=LIMITS)
    return make(kind, server, max_retries=0, http_client=http_client)


async def close_all(client: Any) -> None:
    http_client = client._client
    await close(client)
    await maybe_await(http_client.aclose() if isinstance(http_client, httpx.AsyncClient) else http_client.close())


async def open_stream(client: Any) -> Any:
    return await maybe_await(
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], stream=True)
    )


async def read_one(kind: str, stream: Any) -> Any:
    return await stream.__anext__() if kind == "async" else next(stream)


async def read_all(kind: str, stream: Any) -> List[Any]:
    if kind == "async":
        return [chunk async for chunk in stream]
    return list(stream)


# ------------------------------------------------------------------------------------ streams dropped unclosed


@pytest.mark.parametrize("pool", ["sdk", "caller"])
@pytest.mark.parametrize("read_first", [False, True], ids=["unread", "partly-read"])
async def test_streams_dropped_without_closing_give_their_connections_back(
    kind: str, pool: str, read_first: bool, loopback: Callable[..., LoopbackServer]
) -> None:
    # Five connections, twenty streams whose server keeps the body open: each stream dropped unclosed must hand
    # its connection back, or the sixth call waits for the pool and fails.
    server = loopback(*[chunked_events(CHUNK, CHUNK, end=False)] * 20, ok)
    client = client_for(kind, server, pool, httpx.Timeout(5.0, pool=0.5))
    try:
        for _ in range(20):
            stream = await open_stream(client)
            if read_first:
                assert (await read_one(kind, stream)).choices[0].delta.content == "Hi"
            del stream
            gc.collect()
        assert await maybe_await(client.get("/models")) == {"ok": True}
        assert busy_connections(client) == []
        assert server.wait_until(lambda: server.open <= 1)  # the held bodies' connections were closed
    finally:
        await close_all(client)


async def test_a_stream_dropped_unread_is_released_without_the_garbage_collector(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # Nothing refers back to a stream that was never iterated: dropping it queues its release at once.
    server = loopback(chunked_events(CHUNK, end=False), ok)
    client = client_for(kind, server, "sdk", httpx.Timeout(5.0, pool=0.5))
    gc.disable()
    try:
        stream = await open_stream(client)
        del stream
        assert len(client._pool.streams.abandoned) == 1
        assert await maybe_await(client.get("/models")) == {"ok": True}
        assert busy_connections(client) == []
    finally:
        gc.enable()
        await close_all(client)


def test_the_garbage_collector_never_takes_the_pools_lock(loopback: Callable[..., LoopbackServer]) -> None:
    # The collector may run on any thread at any moment, also one inside httpcore's pool holding its lock: a
    # stream dropped mid-read must not be closed there (that takes the lock, a deadlock in that thread).
    server = loopback(chunked_events(CHUNK, CHUNK, end=False), ok)
    client = client_for("sync", server, "sdk", httpx.Timeout(5.0, pool=0.5))
    gc.disable()
    try:
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], stream=True)
        next(stream)
        del stream
        collector = threading.Thread(target=gc.collect)
        with client._client._transport._pool._optional_thread_lock:
            collector.start()
            collector.join(2.0)
            collected_without_the_lock = not collector.is_alive()
        collector.join()
        assert collected_without_the_lock
        assert client.get("/models") == {"ok": True}
        assert busy_connections(client) == []
    finally:
        gc.enable()
        client.close()


async def test_closing_the_client_releases_dropped_streams(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(chunked_events(CHUNK, end=False))
    client = client_for(kind, server, "caller", httpx.Timeout(5.0, pool=0.5))
    stream = await open_stream(client)
    del stream
    gc.collect()
    await close(client)  # the caller's http_client stays open, but the stream's connection goes back
    assert busy_connections(client) == []
    assert server.wait_until(lambda: server.open == 0)
    await close_all(client)


# --------------------------------------------------------------------------------------------- pool exhaustion


@pytest.mark.parametrize("pool", ["sdk", "caller"])
@pytest.mark.parametrize(
    "timeout",
    [httpx.Timeout(5.0, pool=0.5), httpx.Timeout(0.3, pool=1.5)],
    ids=["pool-timeout-first", "read-timeout-first"],
)
async def test_a_call_finding_every_connection_taken_says_the_pool_is_exhausted(
    kind: str, pool: str, timeout: httpx.Timeout, loopback: Callable[..., LoopbackServer]
) -> None:
    # Five streams still referenced (and not closed) hold the five connections. In the async client the read
    # timeout runs from the start of the attempt, so when it is the shorter one it ends the wait for the pool:
    # that is still the pool's fault, not a response that did not arrive.
    server = loopback(*[chunked_events(CHUNK, end=False)] * 5, ok)
    client = client_for(kind, server, pool, timeout)
    try:
        streams = [await open_stream(client) for _ in range(5)]
        with pytest.raises(apertis.APITimeoutError) as info:
            await maybe_await(client.get("/models"))
        message = str(info.value)
        assert "connection pool is exhausted: all 5 connections are in use" in message
        assert "did not arrive" not in message
        assert "max_connections" in message
        for stream in streams:
            await maybe_await(stream.close())
        assert await maybe_await(client.get("/models")) == {"ok": True}
        assert busy_connections(client) == []
    finally:
        await close_all(client)


@pytest.mark.parametrize("pool", ["sdk", "caller"])
async def test_a_call_waiting_behind_busy_calls_says_the_pool_is_exhausted(
    kind: str, pool: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # Five slow calls in flight take the five places (the SDK's gate, or httpcore's pool of a caller's client).
    server = loopback(slow_ok(1.5))
    client = client_for(kind, server, pool, httpx.Timeout(10.0, pool=0.3))
    try:
        if kind == "async":
            busy = [asyncio.ensure_future(client.get("/models")) for _ in range(5)]
            await asyncio.sleep(0.2)
            with pytest.raises(apertis.APITimeoutError) as info:
                await client.get("/models")
            assert await asyncio.gather(*busy) == [{"ok": True}] * 5
        else:
            with ThreadPoolExecutor(5) as executor:
                futures = [executor.submit(client.get, "/models") for _ in range(5)]
                time.sleep(0.2)
                with pytest.raises(apertis.APITimeoutError) as info:
                    client.get("/models")
                assert [future.result() for future in futures] == [{"ok": True}] * 5
        assert "connection pool is exhausted: all 5 connections are in use and none became free within 0.3 s" in str(
            info.value
        )
    finally:
        await close_all(client)


# ------------------------------------------------------------------------------------- the end after [DONE]


async def test_a_body_held_open_after_done_does_not_hold_the_loop(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The server sends the whole answer and its [DONE], then keeps the body open for 30 s.
    server = loopback(chunked_events(CHUNK, CHUNK, DONE, end=False), ok)
    client = client_for(kind, server, "sdk", httpx.Timeout(10.0))
    try:
        stream = await open_stream(client)
        started = time.monotonic()
        assert len(await read_all(kind, stream)) == 2
        elapsed = time.monotonic() - started
        assert elapsed < 0.4  # was 0.5 s and more (the drain budget); now about 0.05 s
        assert stream.completed and stream.response.is_closed
        assert await maybe_await(client.get("/models")) == {"ok": True}
        assert busy_connections(client) == []
    finally:
        await close_all(client)


async def test_a_stream_ending_promptly_after_done_keeps_its_connection(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The end of the chunked body right behind [DONE]: read, not thrown away with the connection (closing at
    # [DONE] would cost every stream a new connection).
    server = loopback(chunked_events(CHUNK, DONE))
    client = client_for(kind, server, "sdk", httpx.Timeout(10.0))
    try:
        for _ in range(2):
            stream = await open_stream(client)
            assert len(await read_all(kind, stream)) == 1
            assert stream.response.is_closed
        assert server.accepted == 1
        assert busy_connections(client) == []
    finally:
        await close_all(client)
