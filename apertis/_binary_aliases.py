"""Method names that the async and sync binary responses spell differently, kept out of apertis/_async.

openai-python's async binary response has `iter_bytes()` (an async iterator), the name code ported from it
uses. Written in the async source it would clash: unasync turns `aiter_bytes` into `iter_bytes`, so the sync
twin would get two. The async class inherits `AsyncIterBytesAlias`; unasync makes the sync twin inherit
`SyncIterBytesAlias`, which adds nothing.
"""

from __future__ import annotations

from typing import AsyncIterator, Optional, Protocol

__all__ = ["AsyncIterBytesAlias", "SyncIterBytesAlias"]


class _AsyncChunked(Protocol):
    def aiter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]: ...


class AsyncIterBytesAlias:
    """Gives the async binary response `iter_bytes()`, the same as `aiter_bytes()`."""

    __slots__ = ()

    def iter_bytes(self: _AsyncChunked, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        """The body in chunks of `chunk_size` bytes (one chunk when None): `async for chunk in r.iter_bytes()`."""
        return self.aiter_bytes(chunk_size)


class SyncIterBytesAlias:
    """The sync counterpart of `AsyncIterBytesAlias`: the sync response has `iter_bytes()` itself."""

    __slots__ = ()
