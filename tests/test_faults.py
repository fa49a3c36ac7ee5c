"""Faults over real sockets: a loopback server misbehaves, the client retries or raises the right error in bounded
time, and nothing leaks (pool connections, file descriptors, server-side sockets).

The server is an asyncio server on 127.0.0.1 running in its own thread, so the sync and the async client talk
to it alike. `tests/test_concurrency.py` reuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, List, Sequence

import httpx
import pytest

import apertis

API_KEY = "sk-loopback-0123456789SECRET"

Behaviour = Callable[["Exchange"], Awaitable[bool]]
"""What the server does with one request; returns whether the connection may serve another one."""


class Exchange:
    """One request as the server saw it, and the means to answer it."""

    def __init__(
        self,
        server: LoopbackServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: bytes,
        body: bytes,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.head = head
        self.body = body

    async def send(self, status: int = 200, body: bytes = b'{"ok":true}', headers: Sequence[str] = ()) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Content-Type: application/json", *headers]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server stops (no test waits for a stalled handler)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.stopping.wait(), seconds)


async def ok(exchange: Exchange) -> bool:
    await exchange.send()
    return True


async def reset(exchange: Exchange) -> bool:
    """Close with a TCP RST before sending anything: the client sees a reset, not a clean close."""
    sock = exchange.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    exchange.writer.transport.abort()
    return False


def stall(seconds: float) -> Behaviour:
    """Answer nothing for `seconds`, or until the client hangs up (so the server counts its socket closed)."""

    async def behaviour(exchange: Exchange) -> bool:
        hang_up = asyncio.ensure_future(exchange.reader.read())
        stop = asyncio.ensure_future(exchange.server.stopping.wait())
        _, pending = await asyncio.wait([hang_up, stop], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        return False

    return behaviour


def slow_ok(seconds: float) -> Behaviour:
    async def behaviour(exchange: Exchange) -> bool:
        await exchange.sleep(seconds)
        await exchange.send()
        return True

    return behaviour


def trickle(body: bytes, interval: float, chunk: int = 1) -> Behaviour:
    """Headers at once, then the body `chunk` bytes at a time every `interval` seconds."""

    async def behaviour(exchange: Exchange) -> bool:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n"
        exchange.writer.write(head.encode())
        for start in range(0, len(body), chunk):
            await exchange.writer.drain()
            await exchange.sleep(interval)
            if exchange.server.stopping.is_set():
                return False
            exchange.writer.write(body[start : start + chunk])
        await exchange.writer.drain()
        return True

    return behaviour


async def close_mid_body(exchange: Exchange) -> bool:
    """Promise 100 bytes, send 10, close."""
    exchange.writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{"ok": tr')
    await exchange.writer.drain()
    return False


class LoopbackServer:
    """An HTTP/1.1 server on 127.0.0.1 whose answer to the n-th request is `script[n]` (the last one repeats)."""

    def __init__(self, script: Sequence[Behaviour]) -> None:
        self.script = list(script)
        self.requests: List[bytes] = []
        self.accepted = 0
        self.open = 0
        self.stopping: asyncio.Event
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self.stopping.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "loopback server did not stop"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self.stopping.wait()
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while not self.stopping.is_set():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                try:
                    body = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                index = len(self.requests)
                self.requests.append(head)
                behaviour = self.script[min(index, len(self.script) - 1)]
                try:
                    keep_alive = await behaviour(Exchange(self, reader, writer, head, body))
                except ConnectionError:
                    return
                if not keep_alive:
                    return
        finally:
            self.open -= 1
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll `condition` (about server state) until true or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return condition()


def open_fds() -> int:
    """File descriptors open in this process (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def pool_connections(client: Any) -> List[Any]:
    """The connections of the client's own httpx pool (httpcore's public `connections` list)."""
    transport = client._client._transport  # the SDK-created httpx client's default transport
    return list(transport._pool.connections)


def busy_connections(client: Any) -> List[Any]:
    """Pool connections that are neither idle nor closed: a connection held by nobody is a leak."""
    return [c for c in pool_connections(client) if not (c.is_idle() or c.is_closed())]


async def maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


def loopback_servers() -> Iterator[Callable[..., LoopbackServer]]:
    """Body of the `loopback` fixture: a factory of started servers, all stopped afterwards."""
    servers: List[LoopbackServer] = []

    def start(*script: Behaviour) -> LoopbackServer:
        server = LoopbackServer(script or (ok,))
        server.__enter__()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.__exit__(None, None, None)


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """`loopback(behaviour, ...)` starts a LoopbackServer with that script."""
    yield from loopback_servers()


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd")


def make(kind: str, server: LoopbackServer, **kwargs: Any) -> Any:
    cls = apertis.AsyncApertis if kind == "async" else apertis.Apertis
    kwargs.setdefault("api_key", API_KEY)
    return cls(base_url=server.url, **kwargs)


async def close(client: Any) -> None:
    await maybe_await(client.close())


# --------------------------------------------------------------------------------------------------- faults


async def test_reset_before_the_headers_is_retried_then_raises_connection_error(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(reset)
    client = make(kind, server, max_retries=2)
    fds = open_fds()
    with pytest.raises(apertis.APIConnectionError) as info:
        await maybe_await(client.models.list())
    assert not isinstance(info.value, apertis.APITimeoutError)
    assert len(server.requests) == 3 and info.value.retries_taken == 2
    assert len(sleeps) == 2
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)
    assert open_fds() <= fds


async def test_a_reset_then_success_returns_the_answer(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(reset, ok)
    client = make(kind, server)
    assert await maybe_await(client.get("/models")) == {"ok": True}
    assert len(server.requests) == 2 and len(sleeps) == 1
    await close(client)


async def test_a_stall_longer_than_the_timeout_raises_timeout_error_in_bounded_time(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # Real sleeps: the bound covers timeout x attempts plus the backoff the loop actually slept.
    server = loopback(stall(30))
    client = make(kind, server, max_retries=1, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.models.list())
    elapsed = time.monotonic() - started
    assert len(server.requests) == 2 and info.value.retries_taken == 1
    # 2 attempts x 0.5 s + one backoff of at most 0.5 s; generous margin for a loaded machine.
    assert 1.0 <= elapsed < 1.5 + 6.0
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_per_call_timeout_overrides_the_clients(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(stall(30))
    client = make(kind, server, max_retries=0, timeout=60)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError):
        await maybe_await(client.models.list(timeout=httpx.Timeout(0.3)))
    assert time.monotonic() - started < 0.3 + 3.0
    await close(client)


async def test_a_trickle_slower_than_the_timeout_raises_timeout_error(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # Each byte arrives well within the read timeout, so only a deadline on the whole body stops this call
    # (without one it would take 200 x 0.1 s = 20 s).
    server = loopback(trickle(b'{"ok": true}' + b" " * 188, 0.1))
    client = make(kind, server, max_retries=0, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.get("/models"))
    assert "1 s read timeout" in str(info.value)
    assert time.monotonic() - started < 1.0 + 4.0
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


def trickled_headers(interval: float) -> Behaviour:
    """The status line and headers one byte every `interval` seconds (each byte well within a read timeout)."""

    async def behaviour(exchange: Exchange) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 200 + b"\r\n"
        for byte in head:
            exchange.writer.write(bytes([byte]))
            await exchange.writer.drain()
            await exchange.sleep(interval)
            if exchange.server.stopping.is_set():
                return False
        exchange.writer.write(b"Content-Length: 11\r\n\r\n" + b'{"ok":true}')
        await exchange.writer.drain()
        return True

    return behaviour


async def test_headers_trickled_slower_than_the_timeout_raise_timeout_error(
    loopback: Callable[..., LoopbackServer],
) -> None:
    # Async only: a blocking read cannot be interrupted from its own thread, so the sync client bounds the wait
    # for headers per read (httpx's read timeout), as documented on SyncRuntime.deadline. Without the deadline
    # this call would take 230 x 0.1 s = 23 s.
    server = loopback(trickled_headers(0.1))
    client = make("async", server, max_retries=1, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await client.get("/models")
    elapsed = time.monotonic() - started
    assert "did not arrive within the 1 s read timeout" in str(info.value)
    assert elapsed < 2 * 1.0 + 1.0 + 6.0  # two attempts, one backoff sleep, a generous margin for a busy machine
    assert len(server.requests) == 2
    assert busy_connections(client) == []
    await client.close()
    assert server.wait_until(lambda: server.open == 0)


async def test_a_body_whose_last_bytes_arrive_after_the_deadline(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The halves arrive 2.5 s and 5 s in: each wait is well within the 4 s read timeout (a generous margin for a
    # busy machine), the second half past the attempt's 4 s deadline. The async client stops the attempt at the
    # deadline; the sync one, which can only look at the clock between reads, keeps a body that arrived whole
    # rather than throwing away (and paying again for) a complete answer.
    server = loopback(trickle(b'{"ok": true}', 2.5, chunk=6))
    client = make(kind, server, max_retries=0, timeout=4.0)
    if kind == "async":
        with pytest.raises(apertis.APITimeoutError):
            await maybe_await(client.get("/models"))
    else:
        assert await maybe_await(client.get("/models")) == {"ok": True}
    assert busy_connections(client) == []
    await close(client)


async def test_a_trickle_within_the_timeout_is_read_whole(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(trickle(b'{"ok": true, "n": 12345}', 0.01, chunk=3))
    client = make(kind, server, max_retries=0, timeout=20)
    assert await maybe_await(client.get("/models")) == {"ok": True, "n": 12345}
    await close(client)


async def test_timeout_none_means_no_limit(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(slow_ok(0.3))
    client = make(kind, server, max_retries=0, timeout=0.1)
    assert await maybe_await(client.get("/models", timeout=None)) == {"ok": True}
    with pytest.raises(apertis.APITimeoutError):
        await maybe_await(client.get("/models"))
    await close(client)


async def test_a_close_mid_body_is_retried_then_raises_connection_error(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(close_mid_body)
    client = make(kind, server, max_retries=2)
    with pytest.raises(apertis.APIConnectionError) as info:
        await maybe_await(client.models.list())
    assert len(server.requests) == 3 and info.value.retries_taken == 2
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_a_close_mid_body_then_success_returns_the_answer(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    server = loopback(close_mid_body, ok)
    client = make(kind, server)
    assert await maybe_await(client.get("/models")) == {"ok": True}
    await close(client)


async def test_no_leak_after_many_faults(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    # One connection allowed: a connection leaked by any fault would make the next call wait for the pool.
    server = loopback(reset, close_mid_body, stall(30), ok)
    client = make(
        kind,
        server,
        max_retries=0,
        timeout=httpx.Timeout(0.5, pool=2.0),
        connection_limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )
    fds = open_fds()
    for expected in (apertis.APIConnectionError, apertis.APIConnectionError, apertis.APITimeoutError):
        with pytest.raises(expected):
            await maybe_await(client.get("/models"))
    for _ in range(20):
        assert await maybe_await(client.get("/models")) == {"ok": True}
    assert busy_connections(client) == []
    assert len(pool_connections(client)) <= 1
    assert open_fds() <= fds + 2  # the kept-alive connection, both ends (the server is in this process)
    await close(client)
    assert server.wait_until(lambda: server.open == 0)
    assert open_fds() <= fds


async def test_retries_then_success_leave_one_idle_connection(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: List[float]
) -> None:
    async def unavailable(exchange: Exchange) -> bool:
        await exchange.send(503, b'{"error": {"message": "busy"}}')
        return True

    server = loopback(unavailable, unavailable, ok)
    client = make(kind, server)
    fds = open_fds()
    assert await maybe_await(client.get("/models")) == {"ok": True}
    assert server.accepted == 1  # error responses were read whole, so the connection was reused
    assert busy_connections(client) == [] and len(pool_connections(client)) == 1
    assert open_fds() <= fds + 2  # the kept-alive connection, both ends (the server is in this process)
    await close(client)
    assert server.wait_until(lambda: server.open == 0)
    assert open_fds() <= fds


_LOG_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_faults import LoopbackServer, reset, close_mid_body, ok
import apertis

with LoopbackServer([reset, close_mid_body, ok]) as server:
    client = apertis.Apertis(api_key={key!r}, base_url=server.url, default_headers={{"x-api-key": {key!r}}})
    print(client.post("/chat/completions", body={{"messages": "PRIVATE-PROMPT"}}))
    print(repr(client))
    client.close()
"""


def test_debug_logs_of_a_retried_call_over_sockets_hold_no_secret() -> None:
    import subprocess
    from pathlib import Path

    script = _LOG_SCRIPT.format(tests=str(Path(__file__).parent), key=API_KEY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    env["APERTIS_LOG"] = "debug"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "{'ok': True}" in proc.stdout
    assert proc.stderr.count("Retrying POST") == 2 and proc.stderr.count("Request: POST") == 3
    assert "<redacted>" in proc.stderr
    assert API_KEY not in proc.stderr + proc.stdout
    assert "PRIVATE-PROMPT" not in proc.stderr
