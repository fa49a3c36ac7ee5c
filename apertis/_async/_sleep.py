"""The one place the request loop sleeps (between retries).

Tests patch `sleep` in this module (and in its generated sync twin) to run instantly and record the delays.
"""

from __future__ import annotations

from .._utils import AsyncRuntime

__all__ = ["sleep"]


async def sleep(seconds: float) -> None:
    """Wait `seconds` without blocking other tasks (the sync twin blocks the thread)."""
    await AsyncRuntime.sleep(seconds)
