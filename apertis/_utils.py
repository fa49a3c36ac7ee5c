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
from typing import Mapping, Optional

__all__ = ["AsyncRuntime", "SyncRuntime", "backoff_delay", "parse_retry_after"]


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
