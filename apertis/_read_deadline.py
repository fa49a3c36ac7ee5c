"""The sync client's deadline on reads: a budget for the whole response, not a fresh timeout for each read.

httpx's sync transport reads with httpcore, which passes the read timeout to every socket read: a server that
sends a header byte every half second holds the call for as long as it likes. A blocking read cannot be
interrupted from its own thread, so instead each read is given what is left of the budget. The SDK's own pools get
a network backend whose streams do this (`bound_reads`); httpx's HTTPTransport and httpcore's pool stay as they
are, so libraries that mock them (pytest-httpx, respx) still intercept the SDK's calls.

The budget is per thread (a context variable: sync httpcore reads in the calling thread) and set only around an
attempt (`ReadDeadline`), so reads outside it, a stream's events, keep httpx's timeout per read.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from types import TracebackType
from typing import Any, Iterable, Optional

import httpcore

__all__ = ["ReadDeadline", "bound_reads"]


class ReadDeadline:
    """Within this block, reads on a bound pool raise the builtin TimeoutError once `seconds` have passed since
    the request was written (the first read after the last write).

    Counting from the end of the request rather than from its start means a slow upload, bounded per write by
    the write timeout, does not eat the time the response has. The object is its own budget (one object per
    attempt, not two): the bound streams read `seconds` and `ends` from the context variable.
    """

    __slots__ = ("_token", "ends", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends: Optional[float] = None  # set by the first read after the request was written
        self._token: Optional[contextvars.Token[Optional[ReadDeadline]]] = None

    def __enter__(self) -> None:
        self._token = _BUDGET.set(self)

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        assert self._token is not None
        _BUDGET.reset(self._token)


_BUDGET: contextvars.ContextVar[Optional[ReadDeadline]] = contextvars.ContextVar("apertis_read_budget", default=None)


class _BoundedStream(httpcore.NetworkStream):
    """A connection's stream whose reads get at most what is left of the current thread's budget."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        budget = _BUDGET.get()
        if budget is None:
            return self._inner.read(max_bytes, timeout)
        now = time.monotonic()
        if budget.ends is None:
            budget.ends = now + budget.seconds
        remaining = budget.ends - now
        if timeout is not None and timeout < remaining:
            return self._inner.read(max_bytes, timeout)
        if remaining <= 0:
            # Not a zero timeout: that would make the socket non-blocking, and the read fail as a ReadError.
            raise TimeoutError
        try:
            return self._inner.read(max_bytes, remaining)
        except httpcore.ReadTimeout:
            raise TimeoutError from None

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        budget = _BUDGET.get()
        if budget is not None:
            budget.ends = None
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: Optional[str] = None, timeout: Optional[float] = None
    ) -> httpcore.NetworkStream:
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    """Opens connections through another backend and hands out _BoundedStream wrappers of them."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Optional[Iterable[Any]] = None,
    ) -> httpcore.NetworkStream:
        return _BoundedStream(
            self._inner.connect_tcp(
                host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )
        )

    def connect_unix_socket(
        self, path: str, timeout: Optional[float] = None, socket_options: Optional[Iterable[Any]] = None
    ) -> httpcore.NetworkStream:
        return _BoundedStream(self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_reads(client: object) -> bool:
    """Give the connection pools of `client`, an httpx.Client the SDK created and has not used yet, the bounded
    network backend. Whether every one of them got it (False: httpx or httpcore keep their pools elsewhere than
    in the httpx 0.27 and 0.28 layouts, and the caller falls back to a coarser bound).

    Its own transport and the proxy transports httpx mounts from the environment are covered. The backend is
    swapped before the pool opens any connection, so every connection comes from the bounded one.
    """
    own = getattr(client, "_transport", None)
    mounts = getattr(client, "_mounts", None)
    if own is None or not isinstance(mounts, dict):
        return False
    bound = True
    for transport in (own, *mounts.values()):
        if transport is None:  # a mount with no proxy (NO_PROXY): the client's own transport serves it
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(pool, httpcore.ConnectionPool) and isinstance(backend, httpcore.NetworkBackend):
            if not isinstance(backend, _BoundedBackend):
                pool._network_backend = _BoundedBackend(backend)
        else:
            bound = False
    return bound
