"""The shared raw-socket HTTP/1.1 server of the tests: every byte on the wire is what the test says.

An asyncio server on 127.0.0.1 running in its own thread, so the sync and the async client talk to it alike.
A test gives it a script: the n-th request gets `script[n]` (the last entry repeats), a `Behaviour` that writes
whatever it likes to the socket. `raw(bytes)` answers with exactly those bytes; the other behaviours here are
the faults the suites share (resets, stalls, trickles, a close mid-body).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, List, Sequence

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


def stall(seconds: float, first: bytes = b"") -> Behaviour:
    """Answer nothing (or only the bytes `first`: a head, part of a body) for `seconds`, or until the client hangs
    up (so the server counts its socket closed)."""

    async def behaviour(exchange: Exchange) -> bool:
        if first:
            exchange.writer.write(first)
            await exchange.writer.drain()
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
        self.bodies: List[bytes] = []
        """The body of each request in `requests` (a Content-Length body; a chunked one is not read)."""
        self.body_delay = 0.0
        """Seconds to wait after a request's headers before reading its body (a slow upload, for a big body)."""
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
                if self.body_delay:
                    await asyncio.sleep(self.body_delay)
                try:
                    body = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                index = len(self.requests)
                self.requests.append(head)
                self.bodies.append(body)
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


def raw(*pieces: bytes, interval: float = 0.0, keep_alive: bool = False) -> Behaviour:
    """Answer with exactly these bytes (a status line, headers, a body: whatever the test writes), one piece at a
    time `interval` seconds apart; then close the connection unless `keep_alive`."""

    async def behaviour(exchange: Exchange) -> bool:
        for index, piece in enumerate(pieces):
            if index and interval:
                await exchange.sleep(interval)
                if exchange.server.stopping.is_set():
                    return False
            exchange.writer.write(piece)
            await exchange.writer.drain()
        return keep_alive

    return behaviour


def chunked_events(*events: bytes, end: bool = True, hold: float = 30.0) -> Behaviour:
    """A chunked event stream: these events at once, then the body's end (the connection stays open for the next
    request); or, when not `end`, nothing more for `hold` seconds or until the client hangs up."""

    async def behaviour(exchange: Exchange) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events)
        exchange.writer.write(head + body + (b"0\r\n\r\n" if end else b""))
        await exchange.writer.drain()
        if end:
            return True
        await stall(hold)(exchange)
        return False

    return behaviour


def sse_response(*events: bytes, content_type: str = "text/event-stream") -> bytes:
    """A complete HTTP/1.1 response whose body is the given event-stream bytes (the connection closes after)."""
    body = b"".join(events)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def make(kind: str, server: LoopbackServer, **kwargs: Any) -> Any:
    cls = apertis.AsyncApertis if kind == "async" else apertis.Apertis
    kwargs.setdefault("api_key", API_KEY)
    return cls(base_url=server.url, **kwargs)


async def close(client: Any) -> None:
    await maybe_await(client.close())
