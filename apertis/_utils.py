"""Helpers shared by the async runtime and its generated sync twin.

Blocking primitives come in an async and a sync flavour, for code that unasync turns into its sync twin.

unasync removes `await` but cannot tell that `asyncio.sleep` must become `time.sleep`. So the async sources
never call asyncio directly: they use `AsyncRuntime`, and unasync's built-in `Async<Name>` -> `Sync<Name>` rule
makes the generated sync code use `SyncRuntime`, whose methods have the same names and block instead.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import math
import random
import re
import sys
import time
from types import TracebackType
from typing import (
    Any,
    AsyncContextManager,
    AsyncIterator,
    Awaitable,
    Callable,
    ContextManager,
    Dict,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    get_args,
)

import httpx

from ._types import Transport

T = TypeVar("T")

# A function that fetches something (a task's current state); unasync maps the first to the second.
AsyncFetch = Callable[[], Awaitable[T]]
SyncFetch = Callable[[], T]

__all__ = [
    "AsyncFetch",
    "AsyncGate",
    "AsyncRuntime",
    "SyncFetch",
    "SyncGate",
    "SyncRuntime",
    "backoff_delay",
    "check_header",
    "parse_retry_after",
]


def _check_transport(transport: object, supported: Tuple[str, ...]) -> Transport:
    if transport in supported:
        return transport  # type: ignore[return-value]
    named = " or ".join(repr(name) for name in supported)
    if isinstance(transport, str):
        raise ValueError(f"transport must be {named}, got {transport!r}")
    raise TypeError(
        f"transport names the HTTP library of the pool the SDK creates ({named}), got a "
        f"{type(transport).__name__}; to send through an httpx transport object, pass "
        "http_client=httpx.AsyncClient(transport=...) (httpx.Client for the sync client) instead"
    )


def _lean_pools(client: object) -> None:
    """The linear pool bookkeeping for a client the SDK created (see apertis/_lean_pool.py)."""
    from ._lean_pool import lean_pools

    lean_pools(client)


class AsyncRuntime:
    """The asyncio flavour."""

    interrupts = True
    """`deadline()` bounds any client's reads, whatever its transport (it cancels the task waiting for bytes)."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Suspend the calling task for `seconds`."""
        import asyncio  # only async users pay for importing asyncio

        await asyncio.sleep(seconds)

    @staticmethod
    async def run_blocking(function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker thread, so that blocking reads (a pipe, a big file) do not stop the loop."""
        import asyncio

        return await asyncio.to_thread(function, *args)

    @staticmethod
    def current_loop() -> object:
        """The running asyncio event loop.

        The async client is built on asyncio (its sleeps, gate and deadlines), so under another async library
        (trio) it raises a clear error rather than failing later in the middle of a retry.
        """
        import asyncio

        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AsyncApertis runs on asyncio and no asyncio event loop is running here; under another async "
                "library (such as trio), call the sync Apertis client in a worker thread (trio.to_thread.run_sync)"
            ) from None

    transports: Tuple[str, ...] = get_args(Transport)
    """What the client's `transport=` may name: all there are."""

    @staticmethod
    def check_transport(transport: object) -> Transport:
        """`transport` if the async client can send through it, else a TypeError or ValueError saying what can."""
        return _check_transport(transport, AsyncRuntime.transports)

    @staticmethod
    def open_pool(transport: Transport, timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.AsyncClient:
        """A new, empty HTTP client for a pool the SDK creates, sending through `transport`."""
        if transport == "aiohttp":
            from ._aiohttp import AiohttpClient

            # Its defaults are the SDK's (no redirects, the deferred TLS context); it needs the aiohttp extra.
            return AiohttpClient(timeout=timeout, limits=limits)
        from ._tls import default_ssl_context

        # Redirects are not followed: API endpoints do not redirect, and following one would silently turn a
        # POST into a GET (301/302) or carry the request somewhere the user did not configure.
        # The TLS context loads its CA certificates at the first TLS handshake, not here (see apertis/_tls.py).
        client = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, verify=default_ssl_context())
        _lean_pools(client)
        return client

    @staticmethod
    def bound_reads(client: object) -> bool:
        """Whether `deadline()` bounds the reads of `client`, a pool the SDK created: always, nothing to set up."""
        return True

    @staticmethod
    def adopt_loop(pool: Any, loop: object) -> None:
        """Bind `pool` (the client's `_Pool`) to `loop`, the running event loop: the first time, or after a change.

        Pooled connections belong to the loop they were opened on; reusing them from another one fails deep in
        asyncio ("Event loop is closed", or a hang). A pool the SDK created is renewed for the new loop; the old
        pool's connections cannot be closed from this loop and are released when it is garbage-collected. A
        caller's http_client cannot be renewed: the call raises EventLoopMismatchError.
        """
        if pool.loop is None:
            pool.loop = loop
            return
        if not pool.replaceable:
            from ._exceptions import EventLoopMismatchError

            raise EventLoopMismatchError(
                "This client's http_client was used on another event loop (for example in an earlier "
                "asyncio.run()), and its pooled connections belong to that loop. Create the httpx.AsyncClient and "
                "the apertis client inside the event loop that uses them, or let the SDK create its own pool "
                "(omit http_client): it then opens fresh connections when the loop changes."
            )
        from ._logging import logger

        logger.debug("The event loop changed; this client opens a new connection pool for the new loop")
        pool.renew(loop)

    @staticmethod
    def prepare_to_close(pool: Any) -> None:
        """Make `pool` closable from the running loop: connections opened on another (usually finished) loop
        cannot be closed from this one, so they are dropped (released when collected) for an empty pool."""
        loop = AsyncRuntime.current_loop()
        if pool.replaceable and pool.loop is not None and loop is not pool.loop:
            pool.renew(loop)

    @staticmethod
    def deadline(seconds: Optional[float], sending: Optional[httpx.Request] = None) -> AsyncContextManager[None]:
        """Cancel the awaited work `seconds` from now and raise the builtin TimeoutError (None: no deadline).

        This is what bounds the wait for a response, which httpx only limits per read (a server sending a header
        byte now and then would otherwise hold the call for as long as it likes). With `sending`, a request whose
        body may take a while to write, the clock stops while the body is written and starts again, at
        `seconds`, once its last byte has gone: writing is bounded by the write timeout, per write, and a slow
        upload must not eat the response's time.
        """
        if seconds is None:
            return _NO_ASYNC_DEADLINE
        import asyncio

        loop = asyncio.get_running_loop()
        when = loop.time() + seconds
        deadline: Any
        if sys.version_info >= (3, 11):
            deadline = asyncio.timeout_at(when)
        else:  # pragma: no cover - Python < 3.11 (nox)
            deadline = _LegacyDeadline(loop, when)
        if sending is not None:
            sending.stream = _BodyPausingDeadline(sending.stream, deadline, loop, seconds)
        return deadline  # type: ignore[no-any-return]


class _BodyPausingDeadline(httpx.AsyncByteStream):
    """A request body that stops its response deadline while it is being written and restarts it, in full, once
    the last chunk has been written (the transport asks for the next chunk only after writing the previous one).

    A transport that never reads the body (a mock answering from the request's headers) leaves the deadline as it
    was: counted from the start of the attempt. When a write fails, httpcore still reads what the server may have
    answered early, with the deadline stopped: the connection is broken by then (reset, or closed by the server),
    so that read ends at once, and httpx's read timeout still bounds each wait.
    """

    def __init__(self, body: Any, deadline: Any, loop: Any, seconds: float) -> None:
        self._body = body
        self._deadline = deadline
        self._loop = loop
        self._seconds = seconds

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._deadline.reschedule(None)
        async for chunk in self._body:
            yield chunk
        self._deadline.reschedule(self._loop.time() + self._seconds)

    async def aclose(self) -> None:
        await self._body.aclose()


class _NoAsyncDeadline:
    """An async context manager that does nothing (`contextlib.nullcontext` is async only from Python 3.10)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        return None


_NO_ASYNC_DEADLINE = _NoAsyncDeadline()


class _LegacyDeadline:  # pragma: no cover - Python < 3.11 (nox)
    """`asyncio.timeout_at` for Python 3.9 and 3.10: cancel the task at `when`, turn that cancellation into
    TimeoutError on the way out; `reschedule` moves the deadline (None: no deadline), like asyncio.Timeout's."""

    def __init__(self, loop: Any, when: Optional[float]) -> None:
        self._loop = loop
        self._when = when
        self._expired = False
        self._handle: Any = None
        self._task: Any = None

    async def __aenter__(self) -> None:
        import asyncio

        self._task = asyncio.current_task()
        assert self._task is not None
        self.reschedule(self._when)

    def reschedule(self, when: Optional[float]) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None if when is None else self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        import asyncio

        if self._handle is not None:
            self._handle.cancel()
        if self._expired and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


# What SyncRuntime loads on first use (apertis/_read_deadline.py imports httpcore, which `import apertis` does not
# need), kept here so that a call does not run an import statement.
_loaded: Dict[str, Any] = {}


class SyncRuntime:
    """The blocking flavour, used by the generated sync code."""

    interrupts = False
    """`deadline()` bounds only the reads of a pool prepared by `bound_reads` (the SDK's own)."""

    @staticmethod
    def deadline(seconds: Optional[float], sending: Optional[httpx.Request] = None) -> ContextManager[None]:
        """Reads of a pool prepared by `bound_reads`, in this thread and this block, raise the builtin
        TimeoutError once `seconds` have passed since the request was written (None: no deadline).

        A blocking read cannot be interrupted from its own thread, so each read is given what is left of the
        budget as its timeout (see apertis/_read_deadline.py). The budget starts at the first read after the last
        write whatever the body, so `sending` needs no special treatment here.
        """
        if seconds is None:
            return contextlib.nullcontext()
        read_deadline: Any = _loaded.get("read_deadline")
        if read_deadline is None:
            from ._read_deadline import ReadDeadline

            read_deadline = _loaded["read_deadline"] = ReadDeadline
        deadline: ContextManager[None] = read_deadline(seconds)
        return deadline

    transports: Tuple[str, ...] = ("httpx",)
    """What the client's `transport=` may name: aiohttp is an asyncio library."""

    @staticmethod
    def check_transport(transport: object) -> Transport:
        """`transport` if the sync client can send through it, else a TypeError or ValueError saying what can."""
        if transport == "aiohttp":
            raise ValueError(
                "transport='aiohttp' is for apertis.AsyncApertis only: aiohttp runs on asyncio, and the sync "
                "Apertis sends through httpx; omit transport here, or use AsyncApertis(transport='aiohttp')"
            )
        return _check_transport(transport, SyncRuntime.transports)

    @staticmethod
    def open_pool(transport: Transport, timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.Client:
        """A new, empty httpx client for a pool the SDK creates (see AsyncRuntime.open_pool)."""
        from ._tls import default_ssl_context

        client = httpx.Client(timeout=timeout, limits=limits, follow_redirects=False, verify=default_ssl_context())
        _lean_pools(client)
        return client

    @staticmethod
    def bound_reads(client: object) -> bool:
        """Make `deadline()` bound the reads of `client`, an httpx.Client the SDK created; whether it could."""
        from ._read_deadline import bound_reads

        return bound_reads(client)

    @staticmethod
    def run_blocking(function: Callable[..., T], *args: Any) -> T:
        """`function(*args)`, here: blocking is what a sync call does."""
        return function(*args)

    @staticmethod
    def sleep(seconds: float) -> None:
        """Block the calling thread for `seconds`."""
        time.sleep(seconds)

    @staticmethod
    def current_loop() -> object:
        """Always None: blocking code has no event loop to be bound to."""
        return None

    @staticmethod
    def adopt_loop(pool: Any, loop: object) -> None:
        """Nothing to do: blocking code runs on no event loop, so a pool never changes loops."""

    @staticmethod
    def prepare_to_close(pool: Any) -> None:
        """Nothing to do: a blocking pool can always be closed where it is."""


class AsyncGate:
    """Lets at most `limit` tasks through at once; the others wait in a FIFO queue, at O(1) cost each.

    The request loop holds it around each attempt on a pool the SDK created, sized to the pool's
    max_connections, so that excess calls queue here rather than inside httpcore's pool, whose bookkeeping
    grows with the number of waiting requests on every state change (quadratic under thousands of calls). The
    asyncio semaphore is made on first use, inside the event loop that uses it (a new pool, made for a new
    loop, gets a new gate).
    """

    __slots__ = ("_limit", "_semaphore")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphore: Any = None

    async def acquire(self, timeout: Optional[float]) -> bool:
        """Take a place, waiting at most `timeout` seconds (None: no limit); False when the time ran out."""
        import asyncio

        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._semaphore = asyncio.Semaphore(self._limit)
        if timeout is None or not semaphore.locked():
            await semaphore.acquire()
            return True
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def release(self) -> None:
        """Give the place back."""
        self._semaphore.release()


class SyncGate:
    """The blocking flavour of AsyncGate, for threads sharing a sync client.

    The places are tokens in a queue implemented in C: taking one and giving it back cost a fraction of what
    threading.Semaphore's Python-level condition costs on every call.
    """

    __slots__ = ("_places",)

    def __init__(self, limit: int) -> None:
        import queue

        self._places: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(limit):
            self._places.put(None)

    def acquire(self, timeout: Optional[float]) -> bool:
        """Take a place, waiting at most `timeout` seconds (None: no limit); False when the time ran out."""
        import queue

        try:
            self._places.get(timeout=timeout)
        except queue.Empty:
            return False
        return True

    def release(self) -> None:
        """Give the place back."""
        self._places.put(None)


# Patterns as text: `re` compiles them at their first use (and caches them), not at `import apertis`.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
"""An HTTP field name (RFC 9110 token)."""

_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f]"
"""What a field value may not hold (RFC 9110: control characters other than HTAB); CR and LF would end it."""


def check_header(name: str, value: Optional[str], param: str) -> None:
    """Refuse, before anything is sent, a header that cannot be sent as given: a name that is not an HTTP token,
    or a value holding CR, LF, NUL or another control character (a way to inject headers). `param` names the
    argument it came from."""
    if not re.fullmatch(_TOKEN, name):
        raise ValueError(
            f"{param}: {name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only, no spaces "
            "or colons)"
        )
    if value is not None and re.search(_CONTROL, value):
        raise ValueError(
            f"{param}: the value of header {name!r} contains a line break (CR, LF) or another control character, "
            "which HTTP does not allow (it could inject headers); remove it, or encode the value"
        )


_DELAY = r"[0-9]+(?:\.[0-9]+)?"
"""A delay in Retry-After or retry-after-ms: ASCII digits, with a fraction tolerated (what servers send, and it
cannot be misread); no sign, exponent, underscore or other digits, all of which Python's float() would accept."""


def parse_retry_after(headers: Mapping[str, str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds the server asked us to wait, or None when it did not say (or said something unreadable).

    `retry-after-ms` (openai's extension: milliseconds, fractions allowed) wins over `Retry-After`, which is
    seconds (HTTP says digits; a fraction is tolerated) or an HTTP date. The result may be zero or negative (a date
    in the past): callers treat that as "no advice" and fall back to backoff.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        raw = raw.strip()
        value = float(raw) if re.fullmatch(_DELAY, raw) else math.nan
        if math.isfinite(value):
            return value * scale
        if name == "retry-after":
            return _seconds_until_http_date(raw, now)
    return None


def _seconds_until_http_date(raw: str, now: Optional[float]) -> Optional[float]:
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    current = time.time() if now is None else now
    return when.timestamp() - current


def backoff_delay(retries_taken: int, *, initial: float, maximum: float) -> float:
    """Exponential backoff before retry number `retries_taken + 1`, with jitter that only ever shortens it.

    Full-length sleeps synchronise clients that failed together; shaving up to a quarter spreads them out
    without ever waiting longer than the schedule promises.
    """
    base = min(initial * (2.0 ** min(retries_taken, 62)), maximum)
    return base * (1.0 - 0.25 * random.random())
