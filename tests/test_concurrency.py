"""Cancellation, pool sizing and event loops, over real loopback sockets (the server of rawserver.py)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import httpx
import pytest
from rawserver import (
    API_KEY,
    LoopbackServer,
    busy_connections,
    close,
    loopback_servers,
    make,
    maybe_await,
    ok,
    open_fds,
    pool_connections,
    stall,
)

import apertis

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd")


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """`loopback(behaviour, ...)` starts a LoopbackServer with that script (see rawserver.py)."""
    yield from loopback_servers()


@pytest.fixture
def server() -> Any:
    with LoopbackServer([stall(60)] * 1000 + [ok]) as running:
        yield running


@pytest.mark.slow
async def test_a_thousand_cancelled_calls_leak_nothing(server: LoopbackServer) -> None:
    # The pool allows exactly one batch: a connection leaked by a cancelled call would starve the next batch,
    # whose requests would then never reach the server.
    batch = 100
    client = apertis.AsyncApertis(
        api_key=API_KEY,
        base_url=server.url,
        max_retries=0,
        timeout=httpx.Timeout(60, pool=5),
        connection_limits=httpx.Limits(max_connections=batch, max_keepalive_connections=batch),
    )
    fds = open_fds()
    for round_number in range(1000 // batch):
        tasks = [asyncio.ensure_future(client.models.list()) for _ in range(batch)]
        expected = (round_number + 1) * batch
        while len(server.requests) < expected:
            assert not any(task.done() for task in tasks), [t.exception() for t in tasks if t.done()]
            await asyncio.sleep(0.005)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(result, asyncio.CancelledError) for result in results)
        assert busy_connections(client) == []
    assert len(server.requests) == 1000
    assert await asyncio.to_thread(server.wait_until, lambda: server.open == 0)
    assert busy_connections(client) == []
    assert open_fds() <= fds
    # Still healthy.
    assert await client.get("/models") == {"ok": True}
    await client.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_thousand_concurrent_calls_on_default_limits(loopback: Callable[..., LoopbackServer]) -> None:
    # Twice max_connections: the calls beyond it wait in the client's gate (O(1) each), not in httpcore's pool,
    # whose bookkeeping is quadratic in its waiters (without the gate this did not finish in 230 s).
    calls = 2000
    server = loopback(ok)
    # A generous connect limit: the in-process server accepts a thousand connections at once slowly on a busy
    # 2-core machine, and this test is about queueing, not connect times.
    client = apertis.AsyncApertis(
        api_key=API_KEY, base_url=server.url, max_retries=0, timeout=httpx.Timeout(600, connect=120)
    )
    assert client.connection_limits.max_connections == 1000
    assert client.connection_limits.max_keepalive_connections == 100
    results = await asyncio.gather(*(client.get("/models") for _ in range(calls)), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    assert len(server.requests) == calls
    # The pool really opened many connections at once (an old-style 100-connection pool could not).
    assert 100 < server.accepted <= calls
    assert busy_connections(client) == []
    assert len(pool_connections(client)) <= 100  # idle ones beyond max_keepalive were closed
    await client.close()
    assert await asyncio.to_thread(server.wait_until, lambda: server.open == 0)


async def test_a_connection_is_never_handed_to_two_calls(
    kind: str, loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpcore 1.0's pool may give one idle connection to several waiting requests (it stays idle until the first
    # starts on it); the others then fail with ConnectionNotAvailable and go round the pool's bookkeeping again,
    # which at 64 calls in flight was most of the SDK's CPU per call. The SDK's own pools hand out each once.
    import httpcore

    module = httpcore._async.http11 if kind == "async" else httpcore._sync.http11
    connection_class = module.AsyncHTTP11Connection if kind == "async" else module.HTTP11Connection
    handled = connection_class.handle_async_request if kind == "async" else connection_class.handle_request
    refused: list[object] = []

    async def counting_async(self: Any, request: Any) -> Any:
        try:
            return await handled(self, request)
        except httpcore.ConnectionNotAvailable:
            refused.append(request)
            raise

    def counting_sync(self: Any, request: Any) -> Any:
        try:
            return handled(self, request)
        except httpcore.ConnectionNotAvailable:
            refused.append(request)
            raise

    if kind == "async":
        monkeypatch.setattr(connection_class, "handle_async_request", counting_async)
    else:
        monkeypatch.setattr(connection_class, "handle_request", counting_sync)
    server = loopback(ok)
    client = make(kind, server, max_retries=0)
    calls = 640
    if kind == "async":

        async def worker(todo: Iterator[int]) -> None:
            for _ in todo:
                await client.get("/models")

        todo = iter(range(calls))
        await asyncio.gather(*(worker(todo) for _ in range(64)))
    else:
        with ThreadPoolExecutor(max_workers=32) as threads:
            list(threads.map(lambda _: client.get("/models"), range(calls)))
    assert len(server.requests) == calls
    assert refused == []
    assert busy_connections(client) == []
    await close(client)


def test_sync_client_shared_by_many_threads(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)
    client = apertis.Apertis(api_key=API_KEY, base_url=server.url, max_retries=0)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: client.get("/models"), range(300)))
    assert results == [{"ok": True}] * 300
    assert busy_connections(client) == []
    client.close()
    assert server.wait_until(lambda: server.open == 0)


async def test_connection_limits_are_configurable(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)
    client = make(kind, server, connection_limits=httpx.Limits(max_connections=3, max_keepalive_connections=3))
    if kind == "async":
        await asyncio.gather(*(client.get("/models") for _ in range(60)))
    else:
        with ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(lambda _: client.get("/models"), range(60)))
    assert len(server.requests) >= 60  # a request on a connection the server dropped is retried
    assert server.accepted <= 3
    copy = client.with_options(max_retries=0)
    assert copy.connection_limits == client.connection_limits
    await maybe_await(copy.get("/models"))
    assert server.accepted <= 3  # the copy shares the pool
    await close(client)


def test_connection_limits_are_checked(client_class: Any) -> None:
    with pytest.raises(TypeError, match=r"connection_limits must be an httpx\.Limits"):
        client_class(api_key=API_KEY, connection_limits={"max_connections": 5})
    http_client = httpx.AsyncClient() if client_class is apertis.AsyncApertis else httpx.Client()
    with pytest.raises(ValueError, match="set limits= on that client"):
        client_class(api_key=API_KEY, http_client=http_client, connection_limits=httpx.Limits())


# The first loop's connection cannot be closed once that loop is gone: it is released when collected, with the
# ResourceWarning asyncio gives every transport collected unclosed (ignored by default outside test runs).
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_async_client_across_event_loops(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)

    def scenario() -> None:
        client = apertis.AsyncApertis(api_key=API_KEY, base_url=server.url, max_retries=0, timeout=10)
        copy = client.with_options(max_retries=1)

        async def call(target: Any) -> Any:
            return await target.get("/models")

        # Each asyncio.run makes and closes a loop; the pooled connection of the first belongs to a dead loop.
        assert asyncio.run(call(client)) == {"ok": True}
        assert asyncio.run(call(client)) == {"ok": True}
        assert asyncio.run(call(copy)) == {"ok": True}  # the copy follows the shared pool to the new loop
        assert asyncio.run(call(client)) == {"ok": True}

        async def finish() -> None:
            await client.close()

        asyncio.run(finish())
        assert client.is_closed() and copy.is_closed()

    scenario()
    gc.collect()  # here, under this test's warning filter, not at some later test


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_own_http_client_on_a_second_loop_raises_a_clear_error(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)

    def scenario() -> None:
        http_client = httpx.AsyncClient()
        client = apertis.AsyncApertis(api_key=API_KEY, base_url=server.url, http_client=http_client, max_retries=0)

        async def call() -> Any:
            return await client.get("/models")

        assert asyncio.run(call()) == {"ok": True}
        with pytest.raises(apertis.EventLoopMismatchError, match="used on another event loop") as info:
            asyncio.run(call())
        assert "omit http_client" in str(info.value)
        # An SDK error, still caught by the `except RuntimeError` written for earlier versions.
        assert isinstance(info.value, apertis.ApertisError) and isinstance(info.value, RuntimeError)
        assert type(info.value).__module__ == "apertis"
        del info

    scenario()
    gc.collect()  # here, under this test's warning filter, not at some later test


_GC_SCRIPT = """
import asyncio, gc, sys
sys.path.insert(0, {tests!r})
from rawserver import LoopbackServer, ok
import apertis

with LoopbackServer([ok]) as server:
    client = apertis.AsyncApertis(api_key="sk-gc-SECRET", base_url=server.url, max_retries=0)
    copy = client.with_options(timeout=5)

    async def main():
        return await client.get("/models")

    print(asyncio.run(main()))
    print(asyncio.run(main()))  # a second loop: the first loop's connection is left behind
    if {collect}:
        del client, copy
        gc.collect()
print("done")
"""


@pytest.mark.parametrize("collect", [True, False], ids=["gc-collect", "at-exit"])
def test_an_unclosed_async_client_is_collected_silently(collect: bool) -> None:
    tests = str(__import__("pathlib").Path(__file__).parent)
    script = textwrap.dedent(_GC_SCRIPT).format(tests=tests, collect=collect)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["{'ok':", "True}", "{'ok':", "True}", "done"]
    assert "Event loop is closed" not in proc.stderr
    assert proc.stderr == ""
