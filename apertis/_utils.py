"""Helpers shared by the async runtime and its generated sync twin.

Blocking primitives come in an async and a sync flavour, for code that unasync turns into its sync twin.

unasync removes `await` but cannot tell that `asyncio.sleep` must become `time.sleep`. So the async sources
never call asyncio directly: they use `AsyncRuntime`, and unasync's built-in `Async<Name>` -> `Sync<Name>` rule
makes the generated sync code use `SyncRuntime`, whose methods have the same names and block instead.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from typing import Any, Mapping, Optional

__all__ = ["AsyncGate", "AsyncRuntime", "SyncGate", "SyncRuntime", "backoff_delay", "parse_retry_after"]


class AsyncRuntime:
    """The asyncio flavour."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        """Suspend the calling task for `seconds`."""
        import asyncio  # only async users pay for importing asyncio

        await asyncio.sleep(seconds)

    @staticmethod
    def current_loop() -> object:
        """The running asyncio event loop, or None under another async library (trio), where none is tracked."""
        import asyncio

        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None


class SyncRuntime:
    """The blocking flavour, used by the generated sync code."""

    @staticmethod
    def sleep(seconds: float) -> None:
        """Block the calling thread for `seconds`."""
        time.sleep(seconds)

    @staticmethod
    def current_loop() -> object:
        """Always None: blocking code has no event loop to be bound to."""
        return None


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
    """The blocking flavour of AsyncGate, for threads sharing a sync client."""

    __slots__ = ("_semaphore",)

    def __init__(self, limit: int) -> None:
        import threading

        self._semaphore = threading.Semaphore(limit)

    def acquire(self, timeout: Optional[float]) -> bool:
        """Take a place, waiting at most `timeout` seconds (None: no limit); False when the time ran out."""
        return self._semaphore.acquire(timeout=timeout)

    def release(self) -> None:
        """Give the place back."""
        self._semaphore.release()


def parse_retry_after(headers: Mapping[str, str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds the server asked us to wait, or None when it did not say (or said something unreadable).

    `retry-after-ms` (milliseconds, fractions allowed) wins over `Retry-After`, which is seconds (fractions
    allowed) or an HTTP date. The result may be zero or negative (a date in the past): callers treat that as
    "no advice" and fall back to backoff.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        raw = raw.strip()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
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
