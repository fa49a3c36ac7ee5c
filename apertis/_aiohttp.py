"""The aiohttp transport: an httpx.AsyncClient that sends through aiohttp, for many concurrent async calls.

```python
client = apertis.AsyncApertis(transport="aiohttp")  # pip install "apertis[aiohttp]"; the SDK creates and closes it
```

httpx's own pool (httpcore) spends most of a call's CPU time on bookkeeping once dozens of calls are in flight;
aiohttp's connector does not. The transport is httpx-aiohttp's; this module adds the SDK's defaults (timeout,
connection limits, no redirects, the deferred TLS context), maps the aiohttp errors httpx-aiohttp passes through
(or labels as a connect timeout) to the httpx errors the request loop retries and reports, so retries, timeouts,
streaming and the error classes are the same as with the default transport, and releases an aiohttp session
nobody closed as quietly as httpx's pool is released (no "Unclosed connector"). What it does not do: HTTP/2, and
proxies other than httpx's (`proxy=`, or the environment's with the default `trust_env=True`, are passed to aiohttp).

`AiohttpClient` is public for those who build their own (a proxy, other limits): `AsyncApertis(http_client=...)`
then leaves closing it to them, as with any `http_client`.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any, AsyncIterator, Optional

import httpx

from . import _fork
from ._constants import DEFAULT_CONNECTION_LIMITS, DEFAULT_TIMEOUT

__all__ = ["AiohttpClient"]

_EXTRA_HINT = 'AiohttpClient needs the aiohttp extra: pip install "apertis[aiohttp]" (it installs httpx-aiohttp)'


def _import_transport() -> Any:
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError as exc:
        raise ImportError(f"{_EXTRA_HINT}; importing it failed: {exc}") from exc
    return AiohttpTransport


def _mapped(exc: BaseException) -> Optional[httpx.TransportError]:
    """The httpx error for an exception out of the aiohttp transport, or None to let it through unchanged."""
    import aiohttp

    if isinstance(exc, httpx.ConnectTimeout) and exc.__cause__ is not None:
        # httpx-aiohttp reports every aiohttp connection error as a connect timeout; only some are.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return httpx.RemoteProtocolError(str(cause) or "the server closed the connection")
        if isinstance(cause, aiohttp.ClientOSError):
            return httpx.ReadError(str(cause))
        if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, asyncio.TimeoutError):
            return httpx.ConnectError(str(cause))
        return None
    if isinstance(exc, httpx.HTTPError):
        return None
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.TimeoutException(str(exc) or "aiohttp timed out")
    if isinstance(exc, aiohttp.ClientResponseError):
        # A response aiohttp could not parse: a protocol error, as httpcore reports it.
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, aiohttp.ClientError):
        return httpx.TransportError(str(exc))
    return None


def _deferred(verify: Any, trust_env: bool) -> Any:
    """The default verification as the SDK's own pools do it: CA certificates loaded at the first TLS handshake.

    Only for the default (`verify=True` with `trust_env`, which is what apertis/_tls.py reproduces); any other
    `verify` goes to httpx-aiohttp as given.
    """
    if verify is True and trust_env:
        from ._tls import default_ssl_context

        return default_ssl_context()
    return verify


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc


def _release_unclosed(session: Any, pid: int) -> None:
    """Release the aiohttp session of a transport collected (or still open at exit) without being closed.

    As httpx's own pool is released then: quietly. aiohttp would instead report "Unclosed client session" and
    "Unclosed connector" through the event loop's exception handler (printed, whatever the warning filters).
    The sockets are closed where their event loop is still open; those of a finished loop are left to asyncio,
    which closes them when collected (with the ResourceWarning it gives any transport collected unclosed). In a
    forked child the session is the parent's (see `_Transport.after_fork`): nothing is touched.
    """
    if os.getpid() != pid or session.closed:
        return
    connector = session.connector
    session.detach()  # the session counts as closed; its connector is released here
    if connector is not None:
        connector._close()  # the synchronous part of `close()`, all there is to do outside a running loop


class _Transport(httpx.AsyncBaseTransport):
    """httpx-aiohttp's transport with every failure reported as an httpx transport error, and its aiohttp
    session released without complaint when nobody closed it (see `_release_unclosed`)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._release: Optional[weakref.finalize[Any, Any]] = None
        # httpx-aiohttp opens its aiohttp session at the first request, in the running loop; it calls this then.
        inner.client = self._open_session
        _fork.track(self)

    def _open_session(self) -> Any:
        inner = self._inner
        inner.client = None
        session = inner.get_client()  # httpx-aiohttp's own session, with its connector (limits, TLS context)
        self._release = weakref.finalize(self, _release_unclosed, session, os.getpid())
        return session

    def after_fork(self) -> None:
        """In a forked child: the session and its connections are the parent's, and stay untouched (the client
        that holds them is kept unclosed by the pool, see apertis/_fork.py). aiohttp would close the connections
        when the child collects them, so they are marked closed without closing anything."""
        session = self._inner.client
        if session is not None and not callable(session) and not session.closed:  # opened, and still open
            connector = session.connector
            session.detach()
            if connector is not None:
                connector._closed = True  # what `_close()` sets first; nothing of the parent's is closed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response: httpx.Response = await self._inner.handle_async_request(request)
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        response.stream = _ResponseStream(stream)
        return response

    async def aclose(self) -> None:
        if self._release is not None:
            self._release.detach()
        await self._inner.aclose()


class AiohttpClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that sends through aiohttp, for `AsyncApertis(http_client=AiohttpClient(...))` when
    `AsyncApertis(transport="aiohttp")` (the SDK's own, which it creates and closes) is not enough.

    Much cheaper per call than httpx's own pool with many calls in flight (see docs/benchmarks.md). Defaults
    are the SDK's: `timeout=apertis.DEFAULT_TIMEOUT`, `limits=apertis.DEFAULT_CONNECTION_LIMITS` (aiohttp uses
    max_connections and keepalive_expiry), no redirects. Other keyword arguments go to `httpx.AsyncClient`
    (`verify`, `cert`, `proxy`, `headers`, ...); `http2=True` is refused, aiohttp speaks HTTP/1.1 only.
    Needs `pip install "apertis[aiohttp]"`; without it the constructor raises ImportError saying so.

    Like any `http_client` you pass, it belongs to the event loop it is first used on, and the SDK does not
    close it: you do (`async with AiohttpClient() as http_client: ...`, or `await http_client.aclose()`); closing
    the apertis client does not. One collected unclosed releases its connections quietly, as httpx's pool does.
    """

    def __init__(
        self,
        *,
        timeout: Any = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_CONNECTION_LIMITS,
        http2: bool = False,
        **kwargs: Any,
    ) -> None:
        if http2:
            raise ValueError("AiohttpClient speaks HTTP/1.1 only (aiohttp has no HTTP/2); drop http2=True")
        if "transport" in kwargs:
            raise TypeError("AiohttpClient makes its own transport; pass transport= to httpx.AsyncClient instead")
        self._aiohttp_transport_class = _import_transport()
        kwargs.setdefault("follow_redirects", False)
        super().__init__(timeout=timeout, limits=limits, **kwargs)

    # httpx calls these two hooks with its own (positional) signature; they must keep it.
    def _init_transport(  # noqa: PLR0917
        self,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_CONNECTION_LIMITS,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        **_: Any,
    ) -> httpx.AsyncBaseTransport:
        inner = self._aiohttp_transport_class(
            verify=_deferred(verify, trust_env), cert=cert, trust_env=trust_env, limits=limits
        )
        return _Transport(inner)

    def _init_proxy_transport(  # noqa: PLR0917
        self,
        proxy: httpx.Proxy,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_CONNECTION_LIMITS,
        **_: Any,
    ) -> httpx.AsyncBaseTransport:
        inner = self._aiohttp_transport_class(
            verify=_deferred(verify, trust_env), cert=cert, trust_env=trust_env, limits=limits, proxy=proxy
        )
        return _Transport(inner)
