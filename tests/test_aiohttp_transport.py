"""`AsyncApertis(transport="aiohttp")`: an aiohttp-backed pool the SDK creates, owns and closes, against real
loopback sockets; the same SDK errors as the default transport (run side by side) for every hostile peer, and no
"Unclosed client session" / "Unclosed connector" however the client ends (closed, `async with`, copies dropped,
collected unclosed, a new event loop, a fork)."""

from __future__ import annotations

import asyncio
import gc
import json
import pickle
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import httpx
import pytest
from rawserver import (
    API_KEY,
    Exchange,
    LoopbackServer,
    close_mid_body,
    loopback_servers,
    make,
    ok,
    raw,
    reset,
    sse_response,
    stall,
)

import apertis

httpx_aiohttp = pytest.importorskip("httpx_aiohttp")

TRANSPORTS = ["httpx", "aiohttp"]
MESSAGES = [{"role": "user", "content": "hi"}]
TESTS = str(Path(__file__).parent)


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


@pytest.fixture
def aiohttp_requests(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The path of every request httpx-aiohttp's transport sent (proof that aiohttp, not httpcore, sent it)."""
    paths: List[str] = []
    original = httpx_aiohttp.AiohttpTransport.handle_async_request

    async def spy(self: Any, request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        response: httpx.Response = await original(self, request)
        return response

    monkeypatch.setattr(httpx_aiohttp.AiohttpTransport, "handle_async_request", spy)
    return paths


# -- the switch -----------------------------------------------------------------------------------------------


async def test_the_sdk_creates_an_aiohttp_pool_and_closes_it(
    loopback: Callable[..., LoopbackServer], aiohttp_requests: List[str]
) -> None:
    server = loopback(ok)
    async with make("async", server, transport="aiohttp") as client:
        assert isinstance(client._client, apertis.AiohttpClient)
        assert client._client.timeout == apertis.DEFAULT_TIMEOUT
        copy = client.with_options(max_retries=0)
        assert await client.get("/models") == {"ok": True}
        assert await copy.get("/models") == {"ok": True}  # the copy shares the aiohttp pool
    assert aiohttp_requests == ["/v1/models", "/v1/models"]
    assert server.accepted == 1
    assert client.is_closed() and copy.is_closed()
    assert server.wait_until(lambda: server.open == 0)  # the SDK closed aiohttp's connection


async def test_the_sdk_settings_reach_the_aiohttp_pool(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(ok)
    limits = httpx.Limits(max_connections=7, keepalive_expiry=3)
    async with make("async", server, transport="aiohttp", timeout=9.0, connection_limits=limits) as client:
        assert await client.get("/models", extra_headers={"x-extra": "1"}) == {"ok": True}
        session = client._client._transport._inner.client
        assert session.connector.limit == 7
        assert session.connector._keepalive_timeout == 3  # no public reader in aiohttp
    assert client._client.timeout == httpx.Timeout(9.0)
    head = server.requests[0].decode("latin-1").lower()
    assert f"authorization: bearer {API_KEY.lower()}" in head
    assert "x-extra: 1" in head and "user-agent: apertis" in head


def test_bad_transports_are_refused_clearly(kind: str) -> None:
    client_class = apertis.AsyncApertis if kind == "async" else apertis.Apertis
    with pytest.raises(ValueError, match=r"transport must be 'httpx'"):
        client_class(api_key=API_KEY, transport="requests")
    with pytest.raises(TypeError, match=r"http_client=httpx\.AsyncClient\(transport=\.\.\.\)"):
        client_class(api_key=API_KEY, transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    assert client_class(api_key=API_KEY, transport="httpx")._pool.transport == "httpx"


def test_the_sync_client_refuses_aiohttp() -> None:
    with pytest.raises(ValueError, match=r"transport='aiohttp' is for apertis\.AsyncApertis only"):
        apertis.Apertis(api_key=API_KEY, transport="aiohttp")


async def test_aiohttp_with_a_callers_http_client_is_refused() -> None:
    async with httpx.AsyncClient() as http_client:
        with pytest.raises(ValueError, match="omit transport"):
            apertis.AsyncApertis(api_key=API_KEY, transport="aiohttp", http_client=http_client)


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    with pytest.raises(ImportError, match=r'pip install "apertis\[aiohttp\]"'):
        apertis.AsyncApertis(api_key=API_KEY, transport="aiohttp")


async def test_a_pickled_client_keeps_its_transport(
    loopback: Callable[..., LoopbackServer], aiohttp_requests: List[str]
) -> None:
    server = loopback(ok)
    original = make("async", server, transport="aiohttp", max_retries=4)
    async with pickle.loads(pickle.dumps(original.with_options(max_retries=3))) as copy:
        assert copy.max_retries == 3
        assert await copy.get("/models") == {"ok": True}
    await original.close()
    assert aiohttp_requests == ["/v1/models"]


# -- calls through it ---------------------------------------------------------------------------------------


def chunk(content: str) -> bytes:
    event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    event["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def test_a_stream(loopback: Callable[..., LoopbackServer], aiohttp_requests: List[str]) -> None:
    server = loopback(raw(sse_response(chunk("Hel"), chunk("lo"), b"data: [DONE]\n\n")))
    async with make("async", server, transport="aiohttp") as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            texts = [event.choices[0].delta.content async for event in stream]
    assert texts == ["Hel", "lo"]
    assert aiohttp_requests == ["/v1/chat/completions"]


async def unavailable(exchange: Exchange) -> bool:
    await exchange.send(503, b'{"error": {"message": "busy"}}')
    return True


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_retries_after_503_and_a_broken_connection(
    loopback: Callable[..., LoopbackServer], sleeps: List[float], transport: str
) -> None:
    server = loopback(unavailable, close_mid_body, ok)
    async with make("async", server, transport=transport, max_retries=2) as client:
        assert await client.get("/models") == {"ok": True}
    assert len(sleeps) == 2


async def reset_mid_body(exchange: Exchange) -> bool:
    """Headers and part of the body, then a TCP RST."""
    exchange.writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{"ok": t')
    await exchange.writer.drain()
    await exchange.sleep(0.05)
    sock = exchange.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    exchange.writer.transport.abort()
    return False


# A chunked body whose connection closes before its last chunk.
truncated_chunked = raw(
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"ok":\r\n'
)
FAULTS = {"reset": reset, "reset mid-body": reset_mid_body, "truncated chunked body": truncated_chunked}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_hostile_peers_raise_the_sdks_connection_error(
    loopback: Callable[..., LoopbackServer], sleeps: List[float], transport: str, fault: str
) -> None:
    server = loopback(FAULTS[fault])
    async with make("async", server, transport=transport, max_retries=1) as client:
        with pytest.raises(apertis.APIConnectionError) as caught:
            await client.get("/models")
    assert type(caught.value) is apertis.APIConnectionError  # not a timeout, not an aiohttp or httpx exception
    assert caught.value.retries_taken == 1 and len(sleeps) == 1
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "peer",
    [
        # Each header line arrives well within a read's timeout; the whole head does not.
        raw(b"HTTP/1.1 200 OK\r\n", *[b"X-Slow: 1\r\n"] * 40, b"Content-Length: 2\r\n\r\n{}", interval=0.1),
        stall(30),
    ],
    ids=["slow headers", "silence"],
)
async def test_slow_peers_raise_the_sdks_timeout_in_bounded_time(
    loopback: Callable[..., LoopbackServer], transport: str, peer: Any
) -> None:
    server = loopback(peer)
    async with make("async", server, transport=transport, max_retries=0, timeout=1.0) as client:
        started = time.monotonic()
        with pytest.raises(apertis.APITimeoutError) as caught:
            await client.get("/models")
    assert time.monotonic() - started < 3.5  # 1 s asked; the slow head takes 4 s in all
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_a_connection_refused_is_the_sdks_connection_error(sleeps: List[float]) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    client = apertis.AsyncApertis(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", transport="aiohttp")
    async with client.with_options(max_retries=1) as copy:
        with pytest.raises(apertis.APIConnectionError) as caught:
            await copy.get("/models")
    await client.close()
    assert type(caught.value) is apertis.APIConnectionError and caught.value.retries_taken == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_cancelled_call_leaves_a_usable_client_and_no_connection_behind(
    loopback: Callable[..., LoopbackServer], transport: str
) -> None:
    loop = asyncio.get_running_loop()
    problems: List[str] = []  # what reaches the loop's exception handler (where aiohttp reports an unclosed session)
    loop.set_exception_handler(lambda _loop, context: problems.append(str(context.get("message"))))
    server = loopback(stall(30), ok)
    client = make("async", server, transport=transport)
    task = asyncio.ensure_future(client.get("/models"))
    assert await loop.run_in_executor(None, server.wait_until, lambda: len(server.requests) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.wait_until(lambda: server.open == 0)  # the stalled connection was dropped, not pooled
    assert await client.get("/models") == {"ok": True}
    await client.close()
    del client, task
    gc.collect()
    loop.set_exception_handler(None)
    assert problems == []


def test_the_decompression_cap_holds(loopback: Callable[..., LoopbackServer]) -> None:
    from test_bounded_memory import gzipped, response_bytes

    bomb = gzipped(b'{"object":"list","data":[]}', b" " * 1024 * 1024, repeat_last=256)
    server = loopback(raw(response_bytes(bomb, encoding="gzip")))

    async def scenario() -> None:
        async with make("async", server, transport="aiohttp", max_retries=0) as client:
            with pytest.raises(apertis.APIResponseValidationError, match="compression bomb"):
                await client.models.list()

    asyncio.run(scenario())


# -- the end of a client: nothing reported, whatever the way ---------------------------------------------------

_LIFECYCLE = """
import asyncio, gc, sys
sys.path.insert(0, {tests!r})
from rawserver import LoopbackServer, ok
import apertis

with LoopbackServer([ok]) as server:
    client = apertis.AsyncApertis(api_key="sk-end", base_url=server.url, max_retries=0, transport={transport!r})

    async def main():
        if {ending!r} == "async with":
            async with client:
                return await client.get("/models")
        if {ending!r} == "copy dropped":
            copy = client.with_options(timeout=5)
            answer = await copy.get("/models")
            del copy
            gc.collect()
            answer = await client.get("/models")  # the pool is still the original's, and open
            await client.close()
            return answer
        answer = await client.get("/models")
        if {ending!r} == "close":
            await client.close()
        if {ending!r} == "collected in the loop":
            del globals()["client"]
            gc.collect()
        return answer

    print(asyncio.run(main()))
    if {ending!r} == "two loops, collected":
        print(asyncio.run(main()))  # a new event loop: a new pool; the first one is left to the collector
        del client
        gc.collect()
print("done")
"""

ENDINGS = ["close", "async with", "copy dropped", "collected in the loop", "two loops, collected", "at exit"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_however_a_client_ends_nothing_is_reported(transport: str, ending: str) -> None:
    script = textwrap.dedent(_LIFECYCLE).format(tests=TESTS, transport=transport, ending=ending)
    # ResourceWarnings shown where the client was closed: closing released every socket. An unclosed client's
    # sockets are left to asyncio, whose ResourceWarning (ignored by default) the default transport gives too.
    warnings = ["-W", "always::ResourceWarning"] if ending in {"close", "async with", "copy dropped"} else []
    proc = subprocess.run(
        [sys.executable, *warnings, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "done"
    assert proc.stderr == ""


_FORK = """
import asyncio, os, sys
sys.path.insert(0, {tests!r})
from rawserver import LoopbackServer, ok
import apertis

with LoopbackServer([ok]) as server:
    client = apertis.AsyncApertis(api_key="sk-fork", base_url=server.url, max_retries=0, transport="aiohttp")
    loop = asyncio.new_event_loop()
    print("parent", loop.run_until_complete(client.get("/models"))["ok"], flush=True)
    pid = os.fork()
    if pid == 0:
        # The child's calls use a pool of its own; it ends normally (interpreter shutdown, collection and all).
        print("child", asyncio.run(client.get("/models"))["ok"], flush=True)
        sys.exit(0)
    os.waitpid(pid, 0)
    # The parent's connection survived the child: still open, still used.
    print("parent", loop.run_until_complete(client.get("/models"))["ok"], server.accepted, flush=True)
    loop.run_until_complete(client.close())
    loop.close()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork semantics are tested on Linux")
def test_a_forked_child_leaves_the_parents_aiohttp_connections_alone() -> None:
    script = textwrap.dedent(_FORK).format(tests=TESTS)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["parent True", "child True", "parent True 2"]
    assert proc.stderr == ""


_OWN_CLIENT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from rawserver import LoopbackServer, ok
import apertis

with LoopbackServer([ok]) as server:
    # The README's way before transport="aiohttp": the caller's AiohttpClient, never closed by its owner.
    client = apertis.AsyncApertis(api_key="sk-own", base_url=server.url, http_client=apertis.AiohttpClient())

    async def main():
        async with client:
            return await client.get("/models")

    print(asyncio.run(main()))
print("done")
"""


def test_an_own_aiohttp_client_left_unclosed_is_released_quietly_at_exit() -> None:
    script = textwrap.dedent(_OWN_CLIENT).format(tests=TESTS)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Unclosed" not in proc.stderr  # aiohttp's "Unclosed client session" / "Unclosed connector"
    assert proc.stderr == ""
