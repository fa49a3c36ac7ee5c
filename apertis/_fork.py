"""Fork safety: a forked child never uses the connections, locks or gates it inherited from its parent.

After `os.fork()` (gunicorn --preload, Celery's prefork pool, multiprocessing's "fork" start method) the child
holds copies of the parent's sockets. A keep-alive connection that both processes use mixes their exchanges: each
may read the other's answer, with no error. A lock or gate another thread held at the fork stays held in the
child, where that thread does not exist. So one hook, run in the child right after the fork (while it has a
single thread), gives every pool the SDK created a fresh start: a new, empty httpx client and a new gate. A
caller's own `http_client` cannot be rebuilt by the SDK; its pool is marked `INHERITED`, so that its next use
raises ForkedHTTPClientError instead of talking over the parent's connections.

The parent's connections are never closed in the child: closing one could send a TLS close_notify or an HTTP/2
GOAWAY over the connection the parent is still using. The child keeps their objects referenced for as long as it
lives, so they are never finalised either (no ResourceWarning, nothing written); their descriptors go when the
child exits.

Shared by both twins; imports nothing heavy (no asyncio, no httpx), as `_base_client` imports it at start-up.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, List

if TYPE_CHECKING:
    from typing import Protocol

    class _ForkAware(Protocol):
        def after_fork(self) -> None: ...


__all__ = ["INHERITED", "keep_unclosed", "on_fork_in_child", "track"]


class _Inherited:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<inherited from the parent process>"


INHERITED: Any = _Inherited()
"""The `loop` of a caller's pool in a forked child: no event loop, and no process, may use it any more."""

_pools: weakref.WeakSet[_ForkAware] = weakref.WeakSet()  # weak: the registry never keeps a client alive
_process_resets: List[Callable[[], None]] = []
_inherited_objects: List[object] = []


def track(pool: _ForkAware) -> None:
    """Have `pool.after_fork()` called in every child forked from now on, for as long as the pool lives."""
    _pools.add(pool)


def on_fork_in_child(reset: Callable[[], None]) -> None:
    """Call `reset` in every forked child, before the pools are renewed (for process-wide state they use)."""
    _process_resets.append(reset)


def keep_unclosed(inherited: object) -> None:
    """Keep an object the parent still uses alive, unclosed and unfinalised, for the rest of this process."""
    _inherited_objects.append(inherited)


def _after_fork_in_child() -> None:
    for reset in _process_resets:
        reset()
    for pool in list(_pools):
        pool.after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
