"""The request loop every API call goes through: build, send, retry, map errors, parse.

Written for asyncio; `make codegen` turns this file into apertis/_sync/_base_client.py with unasync, so it
touches asyncio only through `_sleep` and names httpx's async API only where unasync has a mapping.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import math
import os
import ssl
import time
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)

import httpx

from .. import _fork
from .._constants import (
    INITIAL_RETRY_DELAY,
    MAX_DECOMPRESSION_RATIO,
    MAX_ERROR_BODY,
    MAX_RETRY_DELAY,
    UNCHECKED_BODY_SIZE,
)
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ForkedHTTPClientError,
    attach_response,
    gateway_budget_report,
    make_status_error,
    parse_json_body,
    readable_text,
    request_id_of,
)
from .._json import JSONNestingError
from .._logging import SENSITIVE_HEADERS, logger, redact_headers, redact_request_headers, redact_secrets
from .._models import BaseModel, record_response, serialize
from .._stream_events import StreamConnections
from .._types import NOT_GIVEN, NotGiven, Transport
from .._utils import AsyncGate, AsyncRuntime, backoff_delay, check_header, parse_retry_after
from .._version import __version__
from . import _sleep
from ._response import AsyncBinaryResponse

# typing_extensions only for the type checker: `import apertis` and a first call do not load it.
# Loaded on first use, not with the client: hooks and tracing (_observe), the RateLimiter (_limiter) and uploads
# (_files) are opt-in, and the attrs classes they define cost more to create than the rest of `import apertis`.
if TYPE_CHECKING:
    from typing import TypedDict

    from typing_extensions import Self, Unpack

    from .._files import PreparedFiles
    from .._limiter import RateLimiter
    from .._observe import Observers
    from .._types import FileTypes
    from ._observe import CallObserver

    class _RequestOptions(TypedDict, total=False):
        """The options of `_request` that do not decide its return type."""

        body: Optional[Mapping[str, Any]]
        data: Optional[Mapping[str, Any]]
        files: Optional[Sequence[Tuple[str, FileTypes]]]
        query: Optional[Mapping[str, Any]]
        host_root: bool
        extra_headers: Optional[Mapping[str, Optional[str]]]
        extra_query: Optional[Mapping[str, Any]]
        extra_body: Optional[Mapping[str, Any]]
        timeout: TimeoutArg
        total_timeout: TotalTimeoutArg


__all__ = ["USER_AGENT", "AsyncAPIClient", "ResponseKind", "coerce_timeout", "coerce_total_timeout"]

T = TypeVar("T")
S = TypeVar("S")

ResponseKind = Literal["json", "binary", "text-or-json"]
# What a call returns instead of its parsed result: None (the result), "read" (the raw response, its body read
# as for the result: `with_raw_response`), "stream" (the raw response, its body unread: `with_streaming_response`).
RawMode = Optional[Literal["read", "stream"]]
TimeoutArg = Union[float, httpx.Timeout, None, NotGiven]
TotalTimeoutArg = Union[float, None, NotGiven]

USER_AGENT = f"apertis-python/{__version__}"

# Statuses that mean "this request is wrong": sending it again cannot help, whatever the server's headers say.
_NEVER_RETRY = frozenset({400, 401, 403, 404, 422})
_RETRY_STATUSES = frozenset({408, 409, 429})
_ACCEPT = {
    "json": "application/json",
    "binary": "*/*",
    "text-or-json": "application/json, text/plain;q=0.9, */*;q=0.8",
}
_RETRY_COUNT_HEADER = "x-apertis-retry-count"
# The gateway's own budget for a request, across its channel retries and fallbacks (reference §1.4, §12.4): sent
# only for a call with a total_timeout, within the range the gateway accepts.
_GATEWAY_BUDGET_HEADER = "X-Timeout"
_GATEWAY_BUDGET_MS_RANGE = (5_000, 300_000)
_IDEMPOTENCY_HEADER = "Idempotency-Key"


def coerce_timeout(value: object, *, name: str = "timeout") -> httpx.Timeout:
    """A `timeout` argument as an httpx.Timeout: seconds (int or float > 0), an httpx.Timeout, or None (no limit)."""
    if value is None:
        return httpx.Timeout(None)
    if isinstance(value, httpx.Timeout):
        for phase in ("connect", "read", "write", "pool"):
            limit = getattr(value, phase)
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit <= 0
            ):
                raise ValueError(
                    f"{name}: the {phase} limit of an httpx.Timeout must be a positive number of seconds or None "
                    f"(no limit), got {limit!r}"
                )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds, an httpx.Timeout, or None for no limit; got {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds (or None for no limit); got {value!r}")
    return httpx.Timeout(float(value))


def coerce_total_timeout(value: object, *, name: str = "total_timeout") -> Optional[float]:
    """A `total_timeout` argument as seconds (int or float > 0), or None (no budget for the whole call)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds for the whole call (all attempts and the waits between them), "
            f"or None for no such budget; got {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds (or None for no budget); got {value!r}")
    return float(value)


class _Pool:
    """The HTTP client a client and its `with_options()` copies share, and the event loop it was last used on.

    Shared through this holder (not the httpx client itself) so that when the pool must be replaced, because an
    async client moved to another event loop or the process forked, the copies move with it.
    """

    __slots__ = (
        "__weakref__",
        "client",
        "gate",
        "limits",
        "loop",
        "reads_bounded",
        "replaceable",
        "streams",
        "timeout",
        "transport",
    )

    client: httpx.AsyncClient
    gate: Optional[AsyncGate]
    loop: object
    streams: StreamConnections

    def __init__(
        self,
        http_client: Optional[httpx.AsyncClient],
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        transport: Transport = "httpx",
    ) -> None:
        """A pool on the caller's `http_client`, or on one the SDK creates (and may replace) when it is None, sending
        through `transport`."""
        self.timeout = timeout
        self.limits = limits
        self.transport = transport
        self.replaceable = http_client is None
        self.loop = None
        if http_client is None:
            self.renew(None)
        else:
            self.client = http_client
            # Admits attempts into an SDK-created pool only (see AsyncGate): the SDK does not know the limits
            # and transport of a caller's http_client.
            self.gate = None
            # Whether AsyncRuntime.deadline() stops this pool's reads (see _send): the SDK does not reach into the
            # transport of a caller's client.
            self.reads_bounded = AsyncRuntime.interrupts
            self.streams = StreamConnections()
        _fork.track(self)

    def renew(self, loop: object) -> None:
        """Switch to a new, empty httpx client and gate for use on `loop`; the old ones are left as they are."""
        self.client = AsyncRuntime.open_pool(self.transport, self.timeout, self.limits)
        # At most max_connections attempts at once: excess calls queue in the gate, not in httpcore's pool.
        limit = self.limits.max_connections
        self.gate = AsyncGate(limit) if limit is not None else None
        # The SDK prepares its own pools so that AsyncRuntime.deadline() stops their reads (see _send).
        self.reads_bounded = AsyncRuntime.bound_reads(self.client)
        # The responses of the old pool's streams belong to it (and to its event loop): they go with it.
        self.streams = StreamConnections()
        self.loop = loop

    def after_fork(self) -> None:
        """In a forked child (see apertis/_fork.py): stop using what the parent process uses."""
        if not self.replaceable:
            if _may_hold_connections(self.client):
                self.loop = _fork.INHERITED  # the next call raises ForkedHTTPClientError
        elif not self.client.is_closed:
            _fork.keep_unclosed(self.client)
            self.renew(None)


def _may_hold_connections(http_client: httpx.AsyncClient) -> bool:
    """Whether a caller's http_client may hold connections (or locks) that a forked child must not use.

    A client created before the fork but never used (gunicorn --preload imports the application, and with it a
    module-level client) holds nothing, and keeps working in the child. Anything the SDK cannot inspect (another
    transport, mounted proxies) counts as holding connections.
    """
    if http_client.is_closed or http_client._mounts:
        return not http_client.is_closed
    pool = getattr(http_client._transport, "_pool", None)
    connections = getattr(pool, "connections", None)
    return not (isinstance(connections, list) and not connections)


def _inherited_http_client_error() -> ForkedHTTPClientError:
    """The error of a call through a caller's http_client that this process inherited through a fork."""
    return ForkedHTTPClientError(
        f"This client and its http_client were created before os.fork(), in a parent of this process "
        f"(pid {os.getpid()}), and the http_client's pooled connections are shared with that parent: calls "
        "from both would read each other's answers. Create the httpx.AsyncClient and the apertis client "
        "after the fork (in each worker process), or let the SDK create its own pool (omit http_client): "
        "the SDK gives its own pools a fresh start in a forked child."
    )


class _DeadlineStream(httpx.AsyncByteStream):
    """A response body that fails with ReadTimeout once the attempt has run past its read timeout.

    For a pool whose reads the runtime's deadline cannot stop (a caller's sync http_client, whose transport the
    SDK leaves alone): httpx's read timeout limits each wait for bytes, so a server trickling a byte now and then
    could hold a call forever; this bounds the body of a non-streaming attempt to about the read timeout (plus at
    most one more wait). A body that has arrived whole (all of its Content-Length) is kept, however late: it is
    paid for.
    """

    def __init__(
        self, inner: Any, deadline: float, limit: float, request: httpx.Request, expected_length: Optional[int]
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._limit = limit
        self._request = request
        self._expected_length = expected_length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if time.monotonic() > self._deadline and received != self._expected_length:
                raise httpx.ReadTimeout(
                    f"the response was still arriving when the {self._limit:g} s read timeout ran out",
                    request=self._request,
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _read_body(response: httpx.Response) -> None:
    """Read the (decoded) body into memory, within bounds: an error body only up to MAX_ERROR_BODY (the rest is
    dropped with the connection), a success body only while its decoding stays within MAX_DECOMPRESSION_RATIO of
    the bytes received (a compression bomb raises APIResponseValidationError before it fills the memory)."""
    success = response.is_success
    pieces: List[bytes] = []
    size = 0
    chunks = response.aiter_bytes()
    async for piece in chunks:
        size += len(piece)
        pieces.append(piece)
        if success:
            if size > UNCHECKED_BODY_SIZE and size > MAX_DECOMPRESSION_RATIO * response.num_bytes_downloaded:
                received = response.num_bytes_downloaded
                await _stop_reading(chunks, response, b"")
                raise _decompression_bomb(response, received, size)
        elif size > MAX_ERROR_BODY:
            await _stop_reading(chunks, response, b"".join(pieces)[:MAX_ERROR_BODY])
            return
    response._content = b"".join(pieces)


async def _stop_reading(chunks: AsyncIterator[bytes], response: httpx.Response, kept: bytes) -> None:
    """Leave a body unread past this point: close its reader and the response (the connection goes, not back to
    the pool), and keep `kept` as its content."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
    response._content = kept
    await response.aclose()


def _decompression_bomb(response: httpx.Response, received: int, decoded: int) -> APIResponseValidationError:
    encoding = response.headers.get("content-encoding", "none")
    return APIResponseValidationError(
        f"The API returned status {response.status_code} with a body that decoded (Content-Encoding {encoding!r}) "
        f"to more than {decoded:,} bytes from {received:,} received, past the SDK's limit of "
        f"{MAX_DECOMPRESSION_RATIO} times the bytes received for bodies over {UNCHECKED_BODY_SIZE:,} bytes "
        "(apertis._constants.MAX_DECOMPRESSION_RATIO): refused as a compression bomb, and the rest was not read",
        response=response,
        text="",
    )


async def _release_abandoned(streams: StreamConnections) -> None:
    """Release the responses of the streams dropped without being closed (see StreamConnections)."""
    from ._streaming import release_held_response

    held = streams.pop_abandoned()
    while held is not None:
        logger.debug("Releasing the connection of a stream that was dropped without being read to its end or closed")
        with contextlib.suppress(httpx.HTTPError):  # the connection broke meanwhile: it is closed all the same
            await release_held_response(held)
        held = streams.pop_abandoned()


class _ConnectionWait:
    """A request's trace hook (httpcore's `trace` extension) noting that the request got its connection.

    httpcore's pool traces nothing while a request waits for a connection; the first event comes from the
    connection (connecting, or sending the request on a pooled one). The hook then removes itself.
    """

    __slots__ = ("connected", "extensions")

    def __init__(self, request: httpx.Request) -> None:
        self.connected = False
        self.extensions = request.extensions
        request.extensions["trace"] = self

    async def __call__(self, event: str, info: Dict[str, Any]) -> None:
        self.connected = True
        self.extensions.pop("trace", None)


def _connections_in_use(http_client: httpx.AsyncClient, request: httpx.Request) -> Optional[int]:
    """How many connections the httpcore pool serving `request` has in use, when that is all it may open; None when
    it has room (or the SDK cannot tell: another transport)."""
    pool = getattr(http_client._transport_for_url(request.url), "_pool", None)
    connections = getattr(pool, "connections", None)
    limit = getattr(pool, "_max_connections", None)
    if not isinstance(connections, list) or not isinstance(limit, int):
        return None
    in_use = sum(1 for connection in connections if not (connection.is_idle() or connection.is_closed()))
    return in_use if in_use >= limit else None


def _pool_exhausted(
    request: httpx.Request, in_use: Optional[int], waited: Optional[float], own_pool: bool
) -> httpx.PoolTimeout:
    """The error of an attempt that found every connection of the pool taken."""
    count = f"all {in_use} connections" if in_use is not None else "all connections"
    within = f" within {waited:g} s" if waited is not None else ""
    more = (
        "connection_limits=httpx.Limits(max_connections=...)"
        if own_pool
        else "the httpx.Limits(max_connections=...) of your http_client"
    )
    return httpx.PoolTimeout(
        f"the connection pool is exhausted: {count} are in use and none became free{within}. Streams hold "
        f"their connection until they are read to the end or closed: close those you no longer read (a `with` "
        f"block does), or allow more connections ({more})",
        request=request,
    )


def _content_length(response: httpx.Response) -> Optional[int]:
    value = response.headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


# What a template of the SDK's own headers depends on: the Accept header, the body's content type, the API key.
_TemplateKey = Tuple[str, Optional[str], str]


class _Plan:
    """Everything about one call that stays the same across its attempts (built once, before the first).

    A plain slotted class rather than an attrs one: one is built per call, and creating an attrs class costs
    `import apertis` more than the rest of this module."""

    __slots__ = (
        "caller_headers",
        "content",
        "deadline",
        "files",
        "form",
        "headers",
        "idempotency_key",
        "method",
        "params",
        "removed",
        "sdk_headers",
        "timeout",
        "total_timeout",
        "url",
    )

    def __init__(
        self,
        *,
        method: str,
        url: str,
        headers: httpx.Headers,
        removed: frozenset[str],
        caller_headers: frozenset[str],
        params: Dict[str, Any],
        content: Optional[bytes],
        form: Optional[Dict[str, Union[str, List[str]]]],
        files: Optional[PreparedFiles],
        timeout: httpx.Timeout,
        total_timeout: Optional[float],
        sdk_headers: Optional[_TemplateKey] = None,
        idempotency_key: Optional[str] = None,
        deadline: Optional[float] = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.removed = removed  # the (lower-case) names of the headers the caller removed with None
        self.caller_headers = caller_headers  # the (lower-case) names of the headers whose value the caller supplied
        self.params = params
        self.content = content
        self.form = form
        self.files = files
        self.timeout = timeout
        self.total_timeout = total_timeout  # seconds for all attempts and the waits between them; None: no budget
        # When `headers` are the SDK's own (the template of this key) and the idempotency key only, nothing of the
        # caller's: the attempts' headers are then copied from a template already merged with the http client's.
        self.sdk_headers = sdk_headers
        self.idempotency_key = idempotency_key
        self.deadline = deadline  # the time.monotonic() the total budget ends, in the plan of an attempt

    def evolve(
        self, timeout: httpx.Timeout, headers: Optional[httpx.Headers] = None, deadline: Optional[float] = None
    ) -> _Plan:
        """A copy with another timeout (and headers): the plan of one attempt within the call's total budget."""
        copied = copy.copy(self)
        copied.timeout = timeout
        copied.deadline = deadline
        if headers is not None:
            copied.headers = headers
            copied.sdk_headers = None
        return copied


# What httpx's clients do in build_request, which _build_attempt does in fewer steps (unless a subclass changed it).
_BUILD_REQUEST = httpx.AsyncClient.build_request
# How many header templates and parsed URLs a client keeps (see AsyncAPIClient.__init__).
_TEMPLATES_KEPT = 16
# The content types of the bodies whose headers have a template (a multipart one names its body's boundary).
_TEMPLATE_CONTENT_TYPES = (None, "application/json")
_URLS_KEPT = 256

_QUICK_TO_SEND = 64 * 1024
"""Bytes of a body in memory that one write hands to the socket's buffers at once: the response deadline of such a
request may count from the start of the attempt, which spares the common call (a JSON body) any extra work."""


def _may_take_time_to_send(plan: _Plan) -> bool:
    """Whether writing the request body may take long enough to matter to the response deadline."""
    if plan.content is not None:
        return len(plan.content) > _QUICK_TO_SEND
    return plan.files is not None and bool(plan.files.fields)


class AsyncAPIClient:
    """The transport half of the client: configuration, the connection pool, and the request loop.

    The public client classes add the resources (`client.chat.completions`, ...) on top. For endpoints the SDK does not
    model, use `get`, `post`, `put`, `patch`, `delete` or `request`: they take a path relative to base_url and
    return the parsed JSON (or `cast_to(json)`), with the same retries and errors as every other call.
    """

    api_key: str
    base_url: str
    timeout: httpx.Timeout
    total_timeout: Optional[float]
    max_retries: int
    max_retry_after: float

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: httpx.Timeout,
        max_retries: int,
        max_retry_after: float,
        default_headers: Optional[Mapping[str, Optional[str]]],
        default_query: Optional[Mapping[str, object]],
        http_client: Optional[httpx.AsyncClient],
        owns_http_client: bool,
        connection_limits: Optional[httpx.Limits] = None,
        total_timeout: Optional[float] = None,
        observers: Optional[Observers] = None,
        limiter: Optional[RateLimiter] = None,
        transport: Transport = "httpx",
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._default_headers: Dict[str, Optional[str]] = dict(default_headers or {})
        self._default_query: Dict[str, object] = dict(default_query or {})
        self._origin = _origin_of(base_url)
        # Built once, copied per call: the SDK's own headers for each Accept (and JSON body or none), and the
        # parsed form of each URL called (httpx would parse the string again on every request).
        self._header_templates: Dict[_TemplateKey, httpx.Headers] = {}
        # The templates merged with the http client's own headers (and Host) for one request, by template, host
        # and the client's headers (which a caller's http_client may change between calls).
        self._merged_templates: Dict[Tuple[_TemplateKey, bytes, Tuple[Tuple[bytes, bytes], ...]], httpx.Headers] = {}
        self._parsed_urls: Dict[str, httpx.URL] = {}
        if connection_limits is None:
            from .._constants import DEFAULT_CONNECTION_LIMITS

            connection_limits = DEFAULT_CONNECTION_LIMITS
        self._connection_limits = connection_limits
        self._pool = _Pool(http_client, timeout, connection_limits, transport)
        self._owns_http_client = owns_http_client
        # The hooks and tracer (None when there are neither: then a call checks this attribute and nothing more).
        self._observers = observers
        self._limiter = limiter

    @property
    def _client(self) -> httpx.AsyncClient:
        return self._pool.client

    @property
    def connection_limits(self) -> httpx.Limits:
        """The limits of the connection pool the SDK creates (ignored when an `http_client` was passed)."""
        return self._connection_limits

    @property
    def default_headers(self) -> Dict[str, str]:
        """The headers sent on every request (credentials shown redacted), before per-call extra_headers."""
        headers = self._base_headers(_ACCEPT["json"])
        _apply_header_overrides(headers, self._default_headers, set(), "default_headers")
        return redact_headers(headers)

    @property
    def default_query(self) -> Dict[str, object]:
        """Query parameters added to every request."""
        return dict(self._default_query)

    def is_closed(self) -> bool:
        """Whether the connection pool has been closed."""
        return self._client.is_closed

    async def close(self) -> None:
        """Close the connection pool, unless it was passed in as `http_client` (then its owner closes it).

        Either way, the connections of streams dropped without being closed are released."""
        pool = self._pool
        if self._owns_http_client:
            AsyncRuntime.prepare_to_close(pool)  # may renew the pool, dropping what belongs to another loop
        if pool.streams.abandoned and pool.loop is AsyncRuntime.current_loop():
            await _release_abandoned(pool.streams)
        if self._owns_http_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, max_retries={self.max_retries}, "
            f"timeout={self.timeout!r})"
        )

    # -- public low-level calls ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        data: Optional[Mapping[str, Any]] = None,
        files: Optional[Sequence[Tuple[str, FileTypes]]] = None,
        query: Optional[Mapping[str, Any]] = None,
        response_kind: ResponseKind = "json",
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Call an endpoint the SDK does not model, with the SDK's auth, retries and errors.

        `path` is relative to base_url (or to the host when `host_root` is true; an absolute http(s) URL is
        used as is). `body` is sent as JSON, `data` and `files` as multipart. The result is the parsed JSON,
        `cast_to(json)` when given, a binary response for `response_kind="binary"`, or text for a non-JSON
        `text-or-json` response. `timeout` bounds each attempt, `total_timeout` the whole call (see the client).
        """
        if not isinstance(method, str) or not method:
            raise TypeError(f"method must be an HTTP method name such as 'GET', got {method!r}")
        return await self._request_untyped(
            method.upper(),
            path,
            cast_to=cast_to,
            body=body,
            data=data,
            files=files,
            query=query,
            response_kind=response_kind,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    async def get(
        self,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        response_kind: ResponseKind = "json",
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """GET `path`; see `request`."""
        return await self._request_untyped(
            "GET",
            path,
            cast_to=cast_to,
            query=query,
            response_kind=response_kind,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    async def post(
        self,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        data: Optional[Mapping[str, Any]] = None,
        files: Optional[Sequence[Tuple[str, FileTypes]]] = None,
        query: Optional[Mapping[str, Any]] = None,
        response_kind: ResponseKind = "json",
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """POST to `path`; see `request`."""
        return await self._request_untyped(
            "POST",
            path,
            cast_to=cast_to,
            body=body,
            data=data,
            files=files,
            query=query,
            response_kind=response_kind,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    async def put(
        self,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """PUT to `path`; see `request`."""
        return await self._request_untyped(
            "PUT",
            path,
            cast_to=cast_to,
            body=body,
            query=query,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    async def patch(
        self,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        body: Optional[Mapping[str, Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """PATCH `path`; see `request`."""
        return await self._request_untyped(
            "PATCH",
            path,
            cast_to=cast_to,
            body=body,
            query=query,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    async def delete(
        self,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        host_root: bool = False,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
    ) -> Any:
        """DELETE `path`; see `request`."""
        return await self._request_untyped(
            "DELETE",
            path,
            cast_to=cast_to,
            query=query,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            total_timeout=total_timeout,
        )

    # -- the request loop ---------------------------------------------------------------------------------

    async def _request_untyped(self, method: str, path: str, **options: Any) -> Any:
        """`_request` for the helpers (`request`, `get`, `post`, ...), whose cast_to and response_kind are known at
        runtime only: no overload of `_request` has to accept every combination (which would make mypy answer Any
        for the generated calls too)."""
        return await self._request(method, path, **options)

    # The overloads carry cast_to's and stream_cls's types to the result, so that a generated method returning
    # the wrong type fails mypy.
    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: Callable[[Any], T],
        response_kind: Literal["json"] = "json",
        stream: Literal[False] = False,
        stream_cls: None = None,
        **options: Unpack[_RequestOptions],
    ) -> T: ...

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: Callable[[Any], T],
        response_kind: Literal["text-or-json"],
        stream: Literal[False] = False,
        stream_cls: None = None,
        **options: Unpack[_RequestOptions],
    ) -> Union[T, str]: ...

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: Callable[[Any], T],
        response_kind: Literal["json"] = "json",
        stream: bool,
        stream_cls: Optional[type[S]],
        **options: Unpack[_RequestOptions],
    ) -> Union[T, S]: ...

    @overload
    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: None = None,
        response_kind: Literal["binary"],
        stream: Literal[False] = False,
        stream_cls: None = None,
        **options: Unpack[_RequestOptions],
    ) -> AsyncBinaryResponse: ...

    async def _request(
        self,
        method: str,
        path: str,
        *,
        cast_to: Optional[Callable[[Any], T]] = None,
        body: Optional[Mapping[str, Any]] = None,
        data: Optional[Mapping[str, Any]] = None,
        files: Optional[Sequence[Tuple[str, FileTypes]]] = None,
        query: Optional[Mapping[str, Any]] = None,
        response_kind: ResponseKind = "json",
        host_root: bool = False,
        stream: bool = False,
        stream_cls: Optional[type[Any]] = None,
        extra_headers: Optional[Mapping[str, Optional[str]]] = None,
        extra_query: Optional[Mapping[str, Any]] = None,
        extra_body: Optional[Mapping[str, Any]] = None,
        timeout: TimeoutArg = NOT_GIVEN,
        total_timeout: TotalTimeoutArg = NOT_GIVEN,
        raw: RawMode = None,
    ) -> Any:
        """Send one API call with retries and return its parsed result, or with `raw` its raw response
        (see ARCHITECTURE.md)."""
        if stream and stream_cls is None:
            raise TypeError("stream=True needs a stream_cls to wrap the response in")
        if response_kind not in _ACCEPT:
            raise ValueError(f"response_kind must be 'json', 'binary' or 'text-or-json', got {response_kind!r}")
        # Reading the uploads blocks (a pipe is read to its end): the async client does it in a worker thread.
        prepared = None
        if files is not None:
            from .._files import prepare_files

            prepared = await AsyncRuntime.run_blocking(prepare_files, files)
        try:
            plan = self._plan(
                method,
                path,
                body=body,
                data=data,
                files=prepared,
                query=query,
                accept="text/event-stream" if stream else _ACCEPT[response_kind],
                host_root=host_root,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                total_timeout=total_timeout,
            )
            observers = self._observers
            if observers is None:
                return await self._send_with_retries(
                    plan, cast_to, response_kind, stream_cls if stream else None, raw=raw
                )
            from ._observe import CallObserver

            call = CallObserver(observers, self.api_key, method, plan.url, body)
            return await self._observed(call, plan, cast_to, response_kind, stream_cls if stream else None, raw=raw)
        finally:
            if prepared is not None:
                prepared.close()

    async def _observed(
        self,
        call: CallObserver,
        plan: _Plan,
        cast_to: Optional[Callable[[Any], Any]],
        response_kind: ResponseKind,
        stream_cls: Optional[type[Any]],
        *,
        raw: RawMode,
    ) -> Any:
        """`_send_with_retries` for a client with hooks or tracing, observing how the call ends (result or error)."""
        try:
            result = await self._send_with_retries(plan, cast_to, response_kind, stream_cls, raw=raw, call=call)
        except BaseException as exc:
            await call.failed(exc)
            raise
        await call.finished(result, stream_cls is not None)
        return result

    async def _send_with_retries(
        self,
        plan: _Plan,
        cast_to: Optional[Callable[[Any], Any]],
        response_kind: ResponseKind,
        stream_cls: Optional[type[Any]],
        *,
        raw: RawMode = None,
        call: Optional[CallObserver] = None,
    ) -> Any:
        """The retry loop: one attempt, then finish, raise, or wait and go again (within the total budget)."""
        stream = stream_cls is not None or raw == "stream"
        pool = self._pool_for_this_call()
        deadline = None if plan.total_timeout is None else time.monotonic() + plan.total_timeout
        retries_taken = 0
        send = self._send_admitted if self._limiter is None else self._send_limited
        while True:
            attempt = plan if deadline is None else _within_budget(plan, deadline)
            request = self._build_attempt(attempt, retries_taken)
            if call is not None:
                await call.attempt(request, plan.caller_headers, retries_taken)
            try:
                response = await send(pool, request, attempt, stream)
            except httpx.HTTPError as exc:
                delay = self._transport_retry_delay(exc, request, retries_taken)
                if _past_deadline(deadline, delay):
                    error = self._transport_error(exc, request, retries_taken)
                    raise _budget_spent(error, plan, delay) from exc
                reason = self._redact(_describe_exception(exc))
            else:
                self._log_response(plan, request, response)
                if call is not None:
                    await call.response(response)
                if response.is_success:
                    if attempt is not plan and stream:
                        # The budget covers the wait for the stream to open; its events are read with the call's
                        # own read timeout (httpcore looks it up at the first read of the body, after this).
                        request.extensions["timeout"] = plan.timeout.as_dict()
                    return await self._finish(response, cast_to, response_kind, stream_cls, retries_taken, raw=raw)
                await response.aclose()
                delay_or_none = self._status_retry_delay(response, plan, retries_taken, self.max_retries)
                if delay_or_none is None:
                    raise self._status_error(response, retries_taken)
                if _past_deadline(deadline, delay_or_none):
                    raise _budget_spent(self._status_error(response, retries_taken), plan, delay_or_none)
                delay, reason = delay_or_none, f"status {response.status_code}"
            self._log_retry(plan, retries_taken, self.max_retries, delay, reason)
            if call is not None:
                await call.retry(reason, delay, retries_taken)
            await _sleep.sleep(delay)
            retries_taken += 1

    def _pool_for_this_call(self) -> _Pool:
        """The pool this call uses: open, and bound to the running event loop (a new one when the loop changed)."""
        if self._client.is_closed:
            raise RuntimeError(
                "This client has been closed; create a new one (a client closes at the end of its `with` block)"
            )
        pool = self._pool
        loop = AsyncRuntime.current_loop()
        if loop is not pool.loop:
            if pool.loop is _fork.INHERITED:
                raise _inherited_http_client_error()
            # Only the async client has event loops (the sync one's `current_loop()` is always None).
            AsyncRuntime.adopt_loop(pool, loop)
        return pool

    async def _send_limited(self, pool: _Pool, request: httpx.Request, plan: _Plan, stream: bool) -> httpx.Response:
        """`_send_admitted` within the client's RateLimiter: a place and the budget before, learning after."""
        from .._limiter import AsyncRateLimiting

        limiter = self._limiter
        assert limiter is not None
        # The wait for a place is bounded like the wait for a pooled connection, every wait by the total budget.
        ticket = await AsyncRateLimiting.acquire(limiter, request, plan.timeout.pool, plan.deadline, plan.total_timeout)
        response: Optional[httpx.Response] = None
        try:
            response = await self._send_admitted(pool, request, plan, stream)
        finally:
            limiter.finish(ticket, response)
        return response

    async def _send_admitted(self, pool: _Pool, request: httpx.Request, plan: _Plan, stream: bool) -> httpx.Response:
        """One attempt, once the pool's gate admits it (the seam where per-attempt behaviour plugs in).

        A pool with no connection free raises PoolTimeout saying so: in the gate, in httpcore's pool, or when
        the read deadline (which runs from the start of the attempt) ran out while the request still waited there.
        """
        if pool.streams.abandoned:
            await _release_abandoned(pool.streams)
        gate = pool.gate
        if gate is not None and not await gate.acquire(plan.timeout.pool):
            raise _pool_exhausted(request, pool.limits.max_connections, plan.timeout.pool, pool.replaceable)
        # Where the deadline also covers the wait for a connection (asyncio's), note when the connection came.
        waiting = _ConnectionWait(request) if AsyncRuntime.interrupts else None
        try:
            return await self._send(pool.client, request, plan, stream, pool.reads_bounded)
        except httpx.PoolTimeout as exc:
            in_use = _connections_in_use(pool.client, request)
            raise _pool_exhausted(request, in_use, plan.timeout.pool, pool.replaceable) from exc
        except httpx.ReadTimeout as exc:
            if waiting is None or waiting.connected:
                raise
            in_use = _connections_in_use(pool.client, request)
            if in_use is None:
                raise
            raise _pool_exhausted(request, in_use, plan.timeout.read, pool.replaceable) from exc
        finally:
            if gate is not None:
                # Held for the whole exchange of a plain call (its body is read by then); a stream keeps its
                # connection past this point, outside the gate, so a stream nobody closes cannot starve the other
                # calls of places.
                gate.release()

    def _log_response(self, plan: _Plan, request: httpx.Request, response: httpx.Response) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            # Server text (the request id) can echo the key too.
            logger.debug(
                "Response: %s %s %s (request id %s)",
                plan.method,
                self._redact(str(request.url)),
                response.status_code,
                self._redact(str(request_id_of(response))),
            )

    async def _finish(
        self,
        response: httpx.Response,
        cast_to: Optional[Callable[[Any], T]],
        response_kind: ResponseKind,
        stream_cls: Optional[type[Any]],
        retries_taken: int,
        *,
        raw: RawMode = None,
    ) -> Any:
        """The result of a call from its successful response: the stream (which owns the response from here on),
        or the parsed body; with `raw`, the raw response, whose `parse()` comes back here."""
        if raw is not None:
            from ._raw_response import AsyncAPIResponse

            parse = functools.partial(self._finish, response, cast_to, response_kind, stream_cls, retries_taken)
            return AsyncAPIResponse(
                response, parse=parse, client=self, retries_taken=retries_taken, stream_call=stream_cls is not None
            )
        if stream_cls is not None:
            if _is_json_media_type(_content_type(response)):
                # Asked for a stream, answered with a JSON body (read by _send): an error reported with a 200, or
                # a proxy that ignored `stream`. Say what the server said rather than report a stream that ended
                # before its terminator.
                try:
                    await response.aread()  # already read, unless extra_headers replaced the Accept header
                except httpx.HTTPError as exc:
                    raise self._transport_error(exc, response.request, retries_taken) from exc
                raise self._json_instead_of_stream(response)
            stream_object = stream_cls(response=response, client=self)
            stream_object.retries_taken = retries_taken
            return stream_object
        await response.aclose()
        return self._parse(response, cast_to, response_kind, retries_taken)

    async def _send(
        self, http_client: httpx.AsyncClient, request: httpx.Request, plan: _Plan, stream: bool, reads_bounded: bool
    ) -> httpx.Response:
        """One attempt: send, and read the body unless it is a successful stream.

        The read timeout bounds the whole response, not each wait for bytes: the headers must arrive within it,
        and so must the body of a plain call. A stream's body is bounded per read only, as its events may come
        minutes apart. The time counts from the end of the request: its writes are bounded by the write timeout,
        per write, and a slow upload does not eat the response's time.
        """
        read_limit = plan.timeout.read
        started = time.monotonic()
        response: Optional[httpx.Response] = None
        try:
            async with AsyncRuntime.deadline(read_limit, request if _may_take_time_to_send(plan) else None):
                response = await http_client.send(request, stream=True)
                if not stream or not response.is_success or _json_instead_of_events(request, response):
                    # Error bodies are small and read now, so the message can quote them (a JSON answer to a call
                    # that asked for events is one); success bodies of non-streaming calls are read inside the
                    # retry loop, so a connection that breaks mid-body is retried like one that breaks before the
                    # headers. The body of a streamed raw response (`with_streaming_response`) waits for its reader.
                    if read_limit is not None and not stream and not reads_bounded:
                        # Where the deadline cannot stop a read, the clock is read between chunks instead.
                        response.stream = _DeadlineStream(
                            response.stream, started + read_limit, read_limit, request, _content_length(response)
                        )
                    await _read_body(response)
        except BaseException as exc:
            # A failed read, a cancellation, the deadline: give the connection back before leaving. This runs
            # outside the deadline's scope, so the clean-up itself is never cut short (which would leave the
            # connection marked busy in the pool and its socket open).
            if response is not None:
                await response.aclose()
            if isinstance(exc, TimeoutError):
                raise httpx.ReadTimeout(
                    f"the response did not arrive within the {read_limit:g} s read timeout", request=request
                ) from None
            raise
        return response

    # -- building -----------------------------------------------------------------------------------------

    def _plan(
        self,
        method: str,
        path: str,
        *,
        body: Optional[Mapping[str, Any]],
        data: Optional[Mapping[str, Any]],
        files: Optional[PreparedFiles],
        query: Optional[Mapping[str, Any]],
        accept: str,
        host_root: bool,
        extra_headers: Optional[Mapping[str, Optional[str]]],
        extra_query: Optional[Mapping[str, Any]],
        extra_body: Optional[Mapping[str, Any]],
        timeout: TimeoutArg,
        total_timeout: TotalTimeoutArg,
    ) -> _Plan:
        url = self._url(path, host_root)
        resolved_timeout = self.timeout if isinstance(timeout, NotGiven) else coerce_timeout(timeout)
        resolved_total = (
            self.total_timeout if isinstance(total_timeout, NotGiven) else coerce_total_timeout(total_timeout)
        )
        params = _merge_query(self._default_query, query, extra_query)

        content: Optional[bytes] = None
        form: Optional[Dict[str, Union[str, List[str]]]] = None
        prepared: Optional[PreparedFiles] = None
        content_type: Optional[str] = None
        if files is not None or data is not None:
            fields: Dict[str, Any] = dict(_check_mapping(data, "data"))
            fields.update(_check_mapping(extra_body, "extra_body"))
            form = _form_fields(fields)
            if files is None:
                from .._files import PreparedFiles

                files = PreparedFiles([])
            prepared = files
            if not prepared.fields:
                # httpx form-encodes a body without files; these endpoints only speak multipart.
                content, content_type = _multipart_without_files(form)
                form = None
        elif body is not None or extra_body:
            merged = dict(_check_mapping(body, "body"))
            merged.update(
                (key, serialize(value))
                for key, value in _check_mapping(extra_body, "extra_body").items()
                if value is not NOT_GIVEN
            )
            content = _dump_json(merged)
            content_type = "application/json"

        headers = self._base_headers(accept, content_type)
        removed: set[str] = set()
        default_headers: Mapping[str, Optional[str]] = self._default_headers
        if not url.startswith(self._origin + "/") and _origin_of(url) != self._origin:
            # An absolute URL on another host: the key belongs to the API's host and does not travel there
            # (as a redirect to another host would not carry it either), nor does any default_headers value (an
            # X-Goog-Api-Key, a Cookie: the SDK cannot tell which are credentials). Only the removals apply.
            # This call's own extra_headers do travel: passing them with an absolute URL is choosing to send them.
            for name in SENSITIVE_HEADERS:
                if name in headers:
                    del headers[name]
            default_headers = {name: value for name, value in default_headers.items() if not isinstance(value, str)}
            other_host = True
        else:
            other_host = False
        checked_extra_headers = _check_mapping(extra_headers, "extra_headers")
        _apply_header_overrides(headers, default_headers, removed, "default_headers")
        _apply_header_overrides(headers, checked_extra_headers, removed, "extra_headers")
        caller_headers = frozenset(
            name.lower()
            for overrides in (default_headers, checked_extra_headers)
            for name, value in overrides.items()
            if isinstance(value, str)
        )
        key_header = _IDEMPOTENCY_HEADER.lower()
        idempotency_key = None
        # Only the caller's headers can have set it (or removed it): the SDK's own do not include it.
        if method != "GET" and key_header not in caller_headers and key_header not in removed:
            # One key for every attempt of this call: a gateway that sees it twice knows the second is a retry.
            idempotency_key = f"apertis-{os.urandom(16).hex()}"
            headers[_IDEMPOTENCY_HEADER] = idempotency_key
        sdk_headers = None
        if not (default_headers or checked_extra_headers or other_host) and content_type in _TEMPLATE_CONTENT_TYPES:
            sdk_headers = (accept, content_type, self.api_key)
        return _Plan(
            sdk_headers=sdk_headers,
            idempotency_key=idempotency_key,
            method=method,
            url=url,
            headers=headers,
            removed=frozenset(removed),
            caller_headers=caller_headers,
            params=params,
            content=content,
            form=form,
            files=prepared,
            timeout=resolved_timeout,
            total_timeout=resolved_total,
        )

    def _base_headers(self, accept: str, content_type: Optional[str] = None) -> httpx.Headers:
        """The SDK's own headers of a request (a copy the caller may change)."""
        key = (accept, content_type, self.api_key)
        template = self._header_templates.get(key)
        if template is None:
            template = httpx.Headers(
                {"Accept": accept, "Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}
            )
            if content_type is not None:
                template["Content-Type"] = content_type
            if content_type in _TEMPLATE_CONTENT_TYPES and len(self._header_templates) < _TEMPLATES_KEPT:
                # A multipart content type carries its body's boundary: it is never the same twice.
                self._header_templates[key] = template
        return httpx.Headers(template)

    def _build_sdk_attempt(self, client: httpx.AsyncClient, plan: _Plan, retries_taken: int) -> httpx.Request:
        """`_build_attempt` for the common call: a body in memory, only the SDK's own headers, no cookies.

        The request httpx would build, header for header in the same order (Host, the client's headers, the SDK's,
        Content-Length), from a template merged once: httpx would merge and normalise every header again, and look
        up Host and Content-Length by raising KeyError."""
        assert plan.sdk_headers is not None and plan.content is not None
        url = self._parsed_url(plan.url)
        client_headers = tuple(client.headers.raw)
        key = (plan.sdk_headers, url.netloc, client_headers)
        merged = self._merged_templates.get(key)
        if merged is None:
            own = self._base_headers(*plan.sdk_headers[:2]).raw
            names = {name.lower() for name, _ in own}
            names.update((b"idempotency-key", _RETRY_COUNT_HEADER.encode(), b"content-length"))
            pairs = [pair for pair in client_headers if pair[0].lower() not in names]
            if url.host and not any(name.lower() == b"host" for name, _ in pairs):
                pairs.insert(0, (b"Host", url.netloc))
            merged = httpx.Headers([*pairs, *own])
            if len(self._merged_templates) < _TEMPLATES_KEPT:
                self._merged_templates[key] = merged
        headers = httpx.Headers(merged)
        if plan.idempotency_key is not None:
            headers[_IDEMPOTENCY_HEADER] = plan.idempotency_key
        headers[_RETRY_COUNT_HEADER] = str(retries_taken)
        headers["Content-Length"] = str(len(plan.content))
        params: Any = plan.params or None
        if client.params:
            params = client.params.merge(params)
        request = httpx.Request(
            plan.method,
            url,
            params=params,
            headers=headers,
            content=plan.content,
            extensions={"timeout": plan.timeout.as_dict()},
        )
        if logger.isEnabledFor(logging.DEBUG):
            self._log_request(plan, request, retries_taken)
        return request

    def _parsed_url(self, url: str) -> httpx.URL:
        parsed = self._parsed_urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._parsed_urls) < _URLS_KEPT:  # paths with ids in them (/files/{id}) are not kept forever
                self._parsed_urls[url] = parsed
        return parsed

    def _url(self, path: str, host_root: bool) -> str:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty string such as '/models', got {path!r}")
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        return (self._origin if host_root else self.base_url) + path

    def _build_attempt(self, plan: _Plan, retries_taken: int) -> httpx.Request:
        client = self._client
        if plan.sdk_headers is not None and plan.content and type(client).build_request is _BUILD_REQUEST:
            cookies = client.cookies
            if not cookies:
                return self._build_sdk_attempt(client, plan, retries_taken)
        headers = httpx.Headers(plan.headers)
        if _RETRY_COUNT_HEADER not in plan.removed:
            headers[_RETRY_COUNT_HEADER] = str(retries_taken)
        files = plan.files.fields if plan.files is not None and plan.files.fields else None
        if type(client).build_request is not _BUILD_REQUEST:
            # A subclass of the http client that builds its requests its own way.
            request = client.build_request(
                plan.method,
                plan.url,
                headers=headers,
                params=plan.params or None,
                content=plan.content,
                data=plan.form,
                files=files,
                timeout=plan.timeout,
            )
        else:
            # What the http client's build_request does, without its costly parts: the URL comes parsed (and is
            # absolute: the client's base_url never applies), and the client's headers are merged as raw bytes
            # (Headers.update decodes every header to compare names).
            own = headers.raw
            names = {name.lower() for name, _ in own}
            merged = [pair for pair in client.headers.raw if pair[0].lower() not in names]
            merged.extend(own)
            params: Any = plan.params or None
            if client.params:
                params = client.params.merge(params)
            cookies = client.cookies
            request = httpx.Request(
                plan.method,
                self._parsed_url(plan.url),
                params=params,
                headers=merged,
                cookies=cookies if cookies else None,
                content=plan.content,
                data=plan.form,
                files=files,
                extensions={"timeout": plan.timeout.as_dict()},
            )
        # The http client adds its own defaults (httpx's User-Agent, Accept...) when merging: a header the
        # caller removed with a None value must stay removed.
        for name in plan.removed:
            if name in request.headers:
                del request.headers[name]
        if logger.isEnabledFor(logging.DEBUG):
            self._log_request(plan, request, retries_taken)
        return request

    def _log_request(self, plan: _Plan, request: httpx.Request, retries_taken: int) -> None:
        # Headers only, and only the values the SDK set itself; request bodies are never logged (prompts are the
        # user's data).
        logger.debug(
            "Request: %s %s (attempt %d) headers=%s",
            plan.method,
            self._redact(str(request.url)),
            retries_taken + 1,
            redact_request_headers(request.headers, plan.caller_headers),
        )

    # -- retries ------------------------------------------------------------------------------------------

    def _status_retry_delay(
        self, response: httpx.Response, plan: _Plan, retries_taken: int, max_retries: int
    ) -> Optional[float]:
        """How long to wait before retrying this error response, or None to raise it now."""
        status = response.status_code
        if retries_taken >= max_retries or status in _NEVER_RETRY:
            return None
        if status == 408 and gateway_budget_report(response):
            # The gateway already spent the request's whole X-Timeout budget on its own channel retries and
            # fallbacks (and billed them): sending it again would start all of that over.
            return None
        should_retry = response.headers.get("x-should-retry", "").strip().lower()
        if should_retry == "false":
            return None
        if should_retry != "true" and status not in _RETRY_STATUSES and status < 500:
            return None
        retry_after = parse_retry_after(response.headers)
        if retry_after is not None and retry_after > self.max_retry_after:
            # A long wait would hang the caller's worker; raise and let the application decide.
            logger.info(
                "Not retrying %s %s: the server asked to wait %.1f seconds, more than max_retry_after=%.1f",
                plan.method,
                self._redact(plan.url),
                retry_after,
                self.max_retry_after,
            )
            return None
        if retry_after is not None and retry_after > 0:
            return retry_after
        return backoff_delay(retries_taken, initial=INITIAL_RETRY_DELAY, maximum=MAX_RETRY_DELAY)

    def _transport_retry_delay(self, exc: httpx.HTTPError, request: httpx.Request, retries_taken: int) -> float:
        """How long to wait before retrying after this transport failure; raises the SDK's error when the call
        must not be retried (the failure is not transient, or the retries are used up)."""
        retryable = isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))
        if not retryable or retries_taken >= self.max_retries or _certificate_rejected(exc):
            raise self._transport_error(exc, request, retries_taken) from exc
        return backoff_delay(retries_taken, initial=INITIAL_RETRY_DELAY, maximum=MAX_RETRY_DELAY)

    def _status_error(self, response: httpx.Response, retries_taken: int) -> APIStatusError:
        error = make_status_error(response, redact=self.api_key)
        error.retries_taken = retries_taken
        return error

    def _transport_error(self, exc: httpx.HTTPError, request: httpx.Request, retries_taken: int) -> APIConnectionError:
        error: APIConnectionError
        # Transport messages can quote a URL or a header the server or a proxy echoed: never the key.
        detail = self._redact(_describe_exception(exc))
        if isinstance(exc, httpx.TimeoutException):
            error = APITimeoutError(f"Request timed out ({detail}).", request=request, cause=exc)
        else:
            error = APIConnectionError(f"Connection error: {detail}.", request=request, cause=exc)
        error.retries_taken = retries_taken
        return error

    def _redact(self, text: str) -> str:
        return redact_secrets(text, self.api_key)

    def _log_retry(self, plan: _Plan, retries_taken: int, max_retries: int, delay: float, reason: str) -> None:
        logger.info(
            "Retrying %s %s in %.2f seconds (retry %d of %d) after %s",
            plan.method,
            self._redact(plan.url),
            delay,
            retries_taken + 1,
            max_retries,
            reason,
        )

    # -- parsing ------------------------------------------------------------------------------------------

    def _parse(
        self, response: httpx.Response, cast_to: Optional[Callable[[Any], T]], kind: str, retries_taken: int
    ) -> Any:
        if kind == "binary":
            return AsyncBinaryResponse(response, retries_taken=retries_taken)
        if kind == "text-or-json" and not _is_json_media_type(response.headers.get("content-type", "")):
            return response.text
        if not response.content and cast_to is None:
            return None
        try:
            value = parse_json_body(response.content)
        except JSONNestingError as exc:
            raise self._validation_error(response, f"is not usable: {exc}") from None
        except ValueError:
            raise self._validation_error(response, "is not valid JSON") from None
        if cast_to is None:
            return value
        try:
            result = cast_to(value)
        except APIResponseValidationError as exc:
            # Raised by a model or a post-processing helper, which does not know the response.
            raise attach_response(exc, response, redact=self.api_key) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise self._validation_error(response, f"does not have the expected shape ({exc})") from exc
        if isinstance(result, BaseModel):
            record_response(result, retries_taken=retries_taken, headers=response.headers)
        return result

    def _json_instead_of_stream(self, response: httpx.Response) -> Exception:
        from .._stream_events import is_error_payload, stream_error

        try:
            payload = parse_json_body(response.content)
        except ValueError:
            payload = None
        if isinstance(payload, Mapping) and is_error_payload(payload):
            return stream_error(payload, response, redact=self.api_key)
        return self._validation_error(response, "is a JSON document, not the event stream that was asked for")

    def _validation_error(self, response: httpx.Response, problem: str) -> APIResponseValidationError:
        text = readable_text(response, [self.api_key])
        message = f"The API returned status {response.status_code} but the body {problem}: {text!r}"
        return APIResponseValidationError(self._redact(message), response=response, text=text)


def _within_budget(plan: _Plan, deadline: float) -> _Plan:
    """The plan of one attempt of a call with a total budget: every phase of the attempt ends by the deadline,
    and the gateway is told (X-Timeout) how much of the budget is left, unless the caller set that header."""
    # Never zero: httpx and the runtime's deadline take that as "no time at all", which is what is meant, but
    # a zero would read as "no limit" in places that test for a falsy timeout.
    remaining = max(deadline - time.monotonic(), 0.001)
    limits = plan.timeout
    timeout = httpx.Timeout(
        connect=_at_most(limits.connect, remaining),
        read=_at_most(limits.read, remaining),
        write=_at_most(limits.write, remaining),
        pool=_at_most(limits.pool, remaining),
    )
    name = _GATEWAY_BUDGET_HEADER.lower()
    if name in plan.headers or name in plan.removed:
        return plan.evolve(timeout, deadline=deadline)
    headers = httpx.Headers(plan.headers)
    low, high = _GATEWAY_BUDGET_MS_RANGE
    headers[_GATEWAY_BUDGET_HEADER] = str(min(max(math.ceil(remaining * 1000), low), high))
    return plan.evolve(timeout, headers, deadline=deadline)


def _at_most(limit: Optional[float], remaining: float) -> float:
    return remaining if limit is None else min(limit, remaining)


def _past_deadline(deadline: Optional[float], delay: float) -> bool:
    """Whether a retry after waiting `delay` seconds would start at or past the call's deadline (if it has one)."""
    return deadline is not None and time.monotonic() + delay >= deadline


def _budget_spent(error: APIError, plan: _Plan, delay: float) -> APIError:
    """`error` (the last attempt's) with a note that the call's total budget left no room for the retry."""
    error.message += (
        f" Not retried: the next attempt was due in {delay:.2f} s, past the end of this call's "
        f"total_timeout={plan.total_timeout:g} s ({error.retries_taken} retries taken)."
    )
    error.args = (error.message,)
    return error


def _check_mapping(value: Optional[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    # A dict first: the check against typing's Mapping alias goes through three layers of __instancecheck__.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict), got {type(value).__name__}")
    return value


def _apply_header_overrides(
    headers: httpx.Headers, overrides: Mapping[str, Optional[str]], removed: set[str], param: str
) -> None:
    for name, value in overrides.items():
        if not isinstance(name, str):
            raise TypeError(f"header names must be str, got {name!r}")
        check_header(name, value if isinstance(value, str) else None, param)
        if value is None or isinstance(value, NotGiven):
            if name in headers:
                del headers[name]
            removed.add(name.lower())
            continue
        if not isinstance(value, str):
            raise TypeError(f"the value of header {name!r} must be a str (or None to remove it), got {value!r}")
        headers[name] = value
        removed.discard(name.lower())


def _merge_query(*layers: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Any] = {}
    for index, layer in enumerate(layers):
        for key, value in _check_mapping(layer, ("default_query", "query", "extra_query")[index]).items():
            if value is None or value is NOT_GIVEN:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


# One encoder for every body (json.dumps would build it again on each call, for these non-default options).
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _dump_json(body: Mapping[str, Any]) -> bytes:
    try:
        return _JSON_ENCODER.encode(body).encode("utf-8")
    except TypeError as exc:
        from .._structured import class_in_body  # the error path only

        raise TypeError(class_in_body(body) or f"the request body cannot be sent as JSON: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"the request body cannot be sent as JSON (NaN and infinity are not JSON): {exc}") from None


def _form_value(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name}: bytes cannot be sent as a form field; pass them as a file upload")
    return _dump_json_text(serialize(value), name)


def _dump_json_text(value: Any, name: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} cannot be sent as a form field: {exc}") from None


def _form_fields(fields: Mapping[str, Any]) -> Dict[str, Union[str, List[str]]]:
    form: Dict[str, Union[str, List[str]]] = {}
    for name, value in fields.items():
        if value is None or value is NOT_GIVEN:
            continue
        if isinstance(value, (list, tuple)):
            # Repeated `name[]` fields: how the OpenAI-style audio endpoints read arrays from a form.
            key = name if name.endswith("[]") else f"{name}[]"
            form[key] = [_form_value(item, name) for item in value]
        else:
            form[name] = _form_value(value, name)
    return form


def _multipart_without_files(form: Mapping[str, Union[str, List[str]]]) -> Tuple[bytes, str]:
    boundary = os.urandom(16).hex()
    parts: List[bytes] = []
    for name, value in form.items():
        for item in value if isinstance(value, list) else [value]:
            quoted = name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted}"\r\n\r\n'.encode()
                + item.encode("utf-8")
                + b"\r\n"
            )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _json_instead_of_events(request: httpx.Request, response: httpx.Response) -> bool:
    """A JSON body answering a call that asked for an event stream (an error reported with a 200)."""
    return request.headers.get("accept") == "text/event-stream" and _is_json_media_type(_content_type(response))


def _content_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _certificate_rejected(exc: BaseException) -> bool:
    """Whether the failure is the server's certificate failing verification (httpx and httpcore keep the
    ssl error as a cause): the same certificate fails again on every retry."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _describe_exception(exc: BaseException) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
