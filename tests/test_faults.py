"""Faults over real sockets: a loopback server misbehaves, the client retries or raises the right error in bounded
time, and nothing leaks (pool connections, file descriptors, server-side sockets).

The server is an asyncio server on 127.0.0.1 running in its own thread, so the sync and the async client talk
to it alike (tests/rawserver.py).
"""

from __future__ import annotations

import io
import os
import sys
import time
import types
from typing import Callable, Iterator, List

import httpx
import pytest
from rawserver import (
    API_KEY,
    Behaviour,
    Exchange,
    LoopbackServer,
    busy_connections,
    close,
    close_mid_body,
    loopback_servers,
    make,
    maybe_await,
    ok,
    open_fds,
    pool_connections,
    reset,
    slow_ok,
    stall,
    trickle,
)

import apertis
import apertis._utils


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    """`loopback(behaviour, ...)` starts a LoopbackServer with that script."""
    yield from loopback_servers()


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts fds in /proc/self/fd")


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


def trickled_headers(interval: float, padding: int = 200) -> Behaviour:
    """The status line and headers one byte every `interval` seconds (each byte well within a read timeout)."""

    async def behaviour(exchange: Exchange) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * padding + b"\r\n"
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
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # Each header byte arrives well within the read timeout; without a deadline on the whole wait this call
    # would take 2 attempts x 230 x 0.1 s = 46 s.
    server = loopback(trickled_headers(0.1))
    client = make(kind, server, max_retries=1, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.get("/models"))
    elapsed = time.monotonic() - started
    assert "did not arrive within the 1 s read timeout" in str(info.value)
    assert elapsed < 2 * 1.0 + 1.0 + 6.0  # two attempts, one backoff sleep, a generous margin for a busy machine
    assert len(server.requests) == 2
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_headers_a_byte_every_half_second_are_cut_at_the_timeout(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The case: 70 bytes of headers at one every 0.5 s would hold the call 35 s; timeout=2 ends it at 2 s.
    server = loopback(trickled_headers(0.5, padding=1))
    client = make(kind, server, max_retries=0, timeout=2)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.models.list())
    elapsed = time.monotonic() - started
    assert "did not arrive within the 2 s read timeout" in str(info.value)
    assert 1.5 <= elapsed < 2.0 + 4.0  # a generous margin for a busy machine, far below the 35 s of the trickle
    assert busy_connections(client) == []
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_headers_trickled_through_an_environment_proxy_are_cut_at_the_timeout(
    kind: str, loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx sends through HTTP_PROXY on a pool of its own (a mounted transport): it is bounded like the default.
    server = loopback(trickled_headers(0.1))
    for name in ("ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    cls = apertis.AsyncApertis if kind == "async" else apertis.Apertis
    client = cls(api_key=API_KEY, base_url="http://api.proxied.test/v1", max_retries=0, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.get("/models"))
    assert "did not arrive within the 1 s read timeout" in str(info.value)
    assert time.monotonic() - started < 1.0 + 4.0  # 230 x 0.1 s = 23 s without the deadline
    assert server.requests[0].startswith(b"GET http://api.proxied.test/v1/models ")
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_a_host_excluded_by_no_proxy_is_reached_directly_and_keeps_the_deadline(
    kind: str, loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # NO_PROXY gives the host a mount of its own with no transport (httpx then uses the client's own pool): the
    # call goes straight to the server (the proxy's port is closed), and its reads are bounded all the same.
    server = loopback(trickled_headers(0.1))
    for name in ("ALL_PROXY", "all_proxy", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = make(kind, server, max_retries=0, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.get("/models"))
    assert "did not arrive within the 1 s read timeout" in str(info.value)
    assert time.monotonic() - started < 1.0 + 4.0  # 230 x 0.1 s = 23 s without the deadline
    assert server.requests[0].startswith(b"GET /v1/models ")
    await close(client)
    assert server.wait_until(lambda: server.open == 0)


async def test_a_body_whose_last_bytes_arrive_after_the_deadline(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The halves arrive 2.5 s and 5 s in: each wait is well within the 4 s read timeout (a generous margin for a
    # busy machine), the second half past the attempt's 4 s deadline, which stops the attempt in both twins.
    server = loopback(trickle(b'{"ok": true}', 2.5, chunk=6))
    client = make(kind, server, max_retries=0, timeout=4.0)
    with pytest.raises(apertis.APITimeoutError) as info:
        await maybe_await(client.get("/models"))
    assert "did not arrive within the 4 s read timeout" in str(info.value)
    assert busy_connections(client) == []
    await close(client)


async def test_a_slow_upload_does_not_eat_the_read_timeout(kind: str, loopback: Callable[..., LoopbackServer]) -> None:
    # The server reads nothing of the body for 2.5 s: a 32 MB body (more than the loopback socket buffers hold)
    # takes that long to write, each write well within the 10 s write timeout. The 1 s read timeout counts from
    # the end of the request, so the answer that then comes at once is read.
    server = loopback(ok)
    server.body_delay = 2.5
    client = make(kind, server, max_retries=0, timeout=httpx.Timeout(10.0, read=1.0))
    started = time.monotonic()
    assert await maybe_await(client.post("/uploads", body={"blob": "x" * 32_000_000})) == {"ok": True}
    assert time.monotonic() - started >= 2.5
    await close(client)


async def test_a_slow_file_upload_does_not_eat_the_read_timeout(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The same through the multipart encoder, which hands the transport the file chunk by chunk.
    server = loopback(ok)
    server.body_delay = 2.5
    client = make(kind, server, max_retries=0, timeout=httpx.Timeout(10.0, read=1.0))
    upload = io.BytesIO(os.urandom(1 << 20) * 32)
    result = await maybe_await(client.post("/uploads", files=[("file", ("a.wav", upload))], data={"model": "m"}))
    assert result == {"ok": True}
    assert server.bodies[0].endswith(b"\r\n") and len(server.bodies[0]) > 32 << 20
    await close(client)


async def test_the_read_timeout_runs_once_a_big_body_has_been_written(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # The clock restarts at the end of the body: a server that then answers nothing is stopped by the read timeout.
    server = loopback(stall(30))
    client = make(kind, server, max_retries=0, timeout=httpx.Timeout(10.0, read=1.0))
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError, match="read timeout"):
        await maybe_await(client.post("/uploads", body={"blob": "x" * 1_000_000}))
    assert 0.9 < time.monotonic() - started < 5.0
    await close(client)


async def test_the_deadline_of_python_3_9_and_3_10_also_pauses_while_the_body_is_written(
    loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in for asyncio.timeout on Python < 3.11, run here on any version.
    monkeypatch.setattr(apertis._utils, "sys", types.SimpleNamespace(version_info=(3, 10)))
    server = loopback(ok, stall(30))
    server.body_delay = 2.5
    client = make("async", server, max_retries=0, timeout=httpx.Timeout(10.0, read=1.0))
    assert await client.post("/uploads", body={"blob": "x" * 32_000_000}) == {"ok": True}
    server.body_delay = 0
    started = time.monotonic()
    with pytest.raises(apertis.APITimeoutError, match="read timeout"):
        await client.post("/uploads", body={"blob": "x" * 1_000_000})
    assert 0.9 < time.monotonic() - started < 5.0
    await client.close()


def test_a_callers_sync_client_keeps_a_body_that_arrived_whole_after_the_deadline(
    loopback: Callable[..., LoopbackServer],
) -> None:
    # The SDK leaves the transport of a caller's http_client alone, so it can only look at the clock between
    # reads: it keeps a body that arrived whole rather than throwing away (and paying again for) a complete
    # answer, and stops one still arriving (tests above: the async twin and the SDK's own pools stop both).
    server = loopback(trickle(b'{"ok": true}', 2.5, chunk=6), trickle(b'{"ok": true}' + b" " * 24, 2.5, chunk=12))
    with httpx.Client() as http_client:
        client = apertis.Apertis(
            api_key=API_KEY, base_url=server.url, http_client=http_client, max_retries=0, timeout=4.0
        )
        assert client.get("/models") == {"ok": True}
        with pytest.raises(apertis.APITimeoutError) as info:
            client.get("/models")
        assert "read timeout" in str(info.value)


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
from rawserver import LoopbackServer, reset, close_mid_body, ok
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
