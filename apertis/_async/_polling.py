"""Waiting for an asynchronous video task: poll its status until it is `completed` or `failed`.

The status values are the spec's (`VideoStatus`): `completed` ends the wait, `failed` raises VideoTaskFailedError,
and every other value (`pending`, `queued`, `processing`, `in_progress`, or one this SDK does not know yet) means
"not finished", so a new waiting status never breaks a waiting program. Sleeps go through `_sleep` (tests make them
instant).
"""

from __future__ import annotations

import inspect
import math
import time
from typing import Callable, Optional, TypeVar, Union

from .._exceptions import VideoTaskFailedError, VideoTaskTimeoutError
from .._utils import AsyncFetch
from .._validation import invalid_argument
from . import _sleep

__all__ = ["DEFAULT_POLL_INTERVAL", "DEFAULT_POLL_TIMEOUT", "check_poll_options", "wait_for_task"]

# The legacy endpoint's documentation asks for about 10 s between polls; 5 s suits the faster /videos models and
# is still far below any rate limit.
DEFAULT_POLL_INTERVAL = 5.0
# Generation takes minutes (Sora 2 Pro up to ~10); past half an hour something is wrong, and the caller hears it.
DEFAULT_POLL_TIMEOUT = 1800.0

_T = TypeVar("_T")


def check_poll_options(poll_interval: float, poll_timeout: Optional[float], on_progress: object) -> None:
    """Reject bad polling options before the task is created (a task created for nothing costs money)."""
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval >= 0:
        raise invalid_argument("poll_interval", poll_interval, "a number of seconds >= 0")
    if poll_timeout is not None and (
        isinstance(poll_timeout, bool) or not isinstance(poll_timeout, (int, float)) or not poll_timeout > 0
    ):
        raise invalid_argument("poll_timeout", poll_timeout, "a number of seconds > 0, or None for no limit")
    if on_progress is not None and (not callable(on_progress) or inspect.iscoroutinefunction(on_progress)):
        # A coroutine function would be called and its coroutine dropped unawaited: the progress never reported.
        raise invalid_argument("on_progress", on_progress, "a plain (not async) function taking the task, or None")


async def wait_for_task(
    fetch: AsyncFetch[_T],
    first: Optional[_T],
    *,
    what: str,
    poll_interval: float,
    poll_timeout: Optional[float],
    on_progress: Optional[Callable[[_T], object]],
) -> _T:
    """Call `fetch` every `poll_interval` seconds until the task it returns is finished; return that task.

    `first` is a state already known (the answer of the create call), reported and checked before any poll.
    """
    check_poll_options(poll_interval, poll_timeout, on_progress)
    deadline = math.inf if poll_timeout is None else time.monotonic() + poll_timeout
    task = first
    while True:
        if task is not None:
            if on_progress is not None:
                on_progress(task)
            status = _status(task)
            if status == "completed":
                return task
            if status == "failed":
                raise VideoTaskFailedError(f"{what} {_task_id(task)!r} failed: {_error_text(task)}", task=task)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise VideoTaskTimeoutError(
                    f"{what} {_task_id(task)!r} is still {status or 'without a status'} after {poll_timeout} s "
                    f"(poll_timeout); it keeps running: poll it again later, or pass a larger poll_timeout",
                    task=task,
                )
            await _sleep.sleep(min(poll_interval, remaining))
        task = await fetch()


def _status(task: object) -> Optional[str]:
    status = getattr(task, "status", None)
    return status if isinstance(status, str) else None


def _task_id(task: object) -> Union[str, None]:
    ident = getattr(task, "id", None)
    return ident if isinstance(ident, str) else None


def _error_text(task: object) -> str:
    error = getattr(task, "error", None)
    if error is None:
        return "the API gave no reason"
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(error)
