"""The request loop every API call goes through: build, send, retry, map errors, parse.

Written for asyncio; `make codegen` turns this file into apertis/_sync/_base_client.py with unasync, so it
touches asyncio only through `_sleep` and names httpx's async API only where unasync has a mapping.
"""

from __future__ import annotations

import json
import logging
import math
import os
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
)

import httpx

from .._constants import INITIAL_RETRY_DELAY, MAX_RETRY_DELAY
from .._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    EventLoopMismatchError,
    attach_response,
    make_status_error,
    parse_json_body,
    readable_text,
    request_id_of,
)
from .._files import PreparedFiles, prepare_files
from .._json import JSONNestingError
from .._logging import SENSITIVE_HEADERS, logger, redact_headers, redact_secrets
from .._models import BaseModel, record_response, serialize
from .._tls import default_ssl_context
from .._types import NOT_GIVEN, NotGiven
from .._utils import AsyncGate, AsyncRuntime, backoff_delay, parse_retry_after
from .._version import __version__
from . import _sleep
from ._response import AsyncBinaryResponse

# typing_extensions only for the type checker: `import apertis` and a first call do not load it.
if TYPE_CHECKING:
    from typing_extensions import Self

    from .._types import FileTypes

__all__ = ["USER_AGENT", "AsyncAPIClient", "ResponseKind", "coerce_timeout"]

T = TypeVar("T")

ResponseKind = Literal["json", "binary", "text-or-json"]
TimeoutArg = Union[float, httpx.Timeout, None, NotGiven]

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


class _Pool:
    """The HTTP client a client and its `with_options()` copies share, and the event loop it was last used on.

    Shared through this holder (not the httpx client itself) so that when the pool must be replaced, because an
    async client moved to another event loop, the copies move with it.
    """

    __slots__ = ("client", "gate", "loop", "replaceable")

    def __init__(self, client: httpx.AsyncClient, replaceable: bool, gate: Optional[AsyncGate] = None) -> None:
        self.client = client
        self.replaceable = replaceable  # created by the SDK, so the SDK may swap it for a fresh one
        self.loop: object = None
        # Admits at most max_connections attempts into an SDK-created pool at once (see AsyncGate); None for a
        # caller's http_client, whose limits and transport the SDK does not know.
        self.gate = gate


class _DeadlineStream(httpx.AsyncByteStream):
    """A response body that fails with ReadTimeout once the attempt has run past its read timeout.

    httpx's read timeout limits each wait for bytes, so a server trickling a byte now and then could hold a call
    forever; this bounds a whole non-streaming attempt to about the read timeout (plus at most one more wait).
    A body that has arrived whole (all of its Content-Length) is kept, however late: it is paid for.
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


def _content_length(response: httpx.Response) -> Optional[int]:
    value = response.headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)


class _Plan:
    """Everything about one call that stays the same across its attempts (built once, before the first)."""

    __slots__ = ("content", "files", "form", "headers", "method", "params", "removed", "timeout", "url")

    def __init__(
        self,
        *,
        method: str,
        url: str,
        headers: httpx.Headers,
        removed: frozenset[str],
        params: Dict[str, Any],
        content: Optional[bytes],
        form: Optional[Dict[str, Union[str, List[str]]]],
        files: Optional[PreparedFiles],
        timeout: httpx.Timeout,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.removed = removed
        self.params = params
        self.content = content
        self.form = form
        self.files = files
        self.timeout = timeout

    @property
    def replayable(self) -> bool:
        return self.files is None or self.files.replayable


class AsyncAPIClient:
    """The transport half of the client: configuration, the connection pool, and the request loop.

    The public client classes add the resources (`client.chat.completions`, ...) on top. For endpoints the SDK does not
    model, use `get`, `post`, `put`, `patch`, `delete` or `request`: they take a path relative to base_url and
    return the parsed JSON (or `cast_to(json)`), with the same retries and errors as every other call.
    """

    api_key: str
    base_url: str
    timeout: httpx.Timeout
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
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._default_headers: Dict[str, Optional[str]] = dict(default_headers or {})
        self._default_query: Dict[str, object] = dict(default_query or {})
        self._origin = _origin_of(base_url)
        if connection_limits is None:
            from .._constants import DEFAULT_CONNECTION_LIMITS

            connection_limits = DEFAULT_CONNECTION_LIMITS
        self._connection_limits = connection_limits
        if http_client is not None:
            self._pool = _Pool(http_client, replaceable=False)
        else:
            self._pool = _Pool(self._make_http_client(), replaceable=True, gate=self._make_gate())
        self._owns_http_client = owns_http_client

    @property
    def _client(self) -> httpx.AsyncClient:
        return self._pool.client

    @property
    def connection_limits(self) -> httpx.Limits:
        """The limits of the connection pool the SDK creates (ignored when an `http_client` was passed)."""
        return self._connection_limits

    def _make_http_client(self) -> httpx.AsyncClient:
        # Redirects are not followed: API endpoints do not redirect, and following one would silently turn a
        # POST into a GET (301/302) or carry the request somewhere the user did not configure.
        # The TLS context loads its CA certificates at the first TLS handshake, not here (see apertis/_tls.py).
        return httpx.AsyncClient(
            timeout=self.timeout,
            limits=self._connection_limits,
            follow_redirects=False,
            verify=default_ssl_context(),
        )

    def _make_gate(self) -> Optional[AsyncGate]:
        limit = self._connection_limits.max_connections
        return AsyncGate(limit) if limit is not None else None

    def _use_current_loop(self, loop: object) -> None:
        """Called when a request runs on another event loop than the pool's last one (or the first time).

        Pooled connections belong to the loop they were opened on; reusing them from another one fails deep in
        asyncio ("Event loop is closed", or a hang). A pool the SDK created is replaced by a fresh one; the old
        pool's connections cannot be closed from this loop and are released when it is garbage-collected.
        """
        pool = self._pool
        if pool.loop is None:
            pool.loop = loop
            return
        if not pool.replaceable:
            raise EventLoopMismatchError(
                "This client's http_client was used on another event loop (for example in an earlier "
                "asyncio.run()), and its pooled connections belong to that loop. Create the httpx.AsyncClient and "
                "the apertis client inside the event loop that uses them, or let the SDK create its own pool "
                "(omit http_client): it then opens fresh connections when the loop changes."
            )
        logger.debug("The event loop changed; this client opens a new connection pool for the new loop")
        pool.client = self._make_http_client()
        pool.gate = self._make_gate()
        pool.loop = loop

    @property
    def default_headers(self) -> Dict[str, str]:
        """The headers sent on every request (credentials shown redacted), before per-call extra_headers."""
        headers = self._base_headers(_ACCEPT["json"])
        _apply_header_overrides(headers, self._default_headers, set())
        return redact_headers(headers)

    @property
    def default_query(self) -> Dict[str, object]:
        """Query parameters added to every request."""
        return dict(self._default_query)

    def is_closed(self) -> bool:
        """Whether the connection pool has been closed."""
        return self._client.is_closed

    async def close(self) -> None:
        """Close the connection pool, unless it was passed in as `http_client` (then its owner closes it)."""
        if self._owns_http_client:
            pool = self._pool
            loop = AsyncRuntime.current_loop()
            if pool.replaceable and pool.loop is not None and loop is not pool.loop:
                # The connections belong to another (usually finished) event loop and cannot be closed from this
                # one; drop them (they are released when collected) and close an empty pool instead.
                pool.client = self._make_http_client()
                pool.gate = self._make_gate()
                pool.loop = loop
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
    ) -> Any:
        """Call an endpoint the SDK does not model, with the SDK's auth, retries and errors.

        `path` is relative to base_url (or to the host when `host_root` is true; an absolute http(s) URL is
        used as is). `body` is sent as JSON, `data` and `files` as multipart. The result is the parsed JSON,
        `cast_to(json)` when given, a binary response for `response_kind="binary"`, or text for a non-JSON
        `text-or-json` response.
        """
        if not isinstance(method, str) or not method:
            raise TypeError(f"method must be an HTTP method name such as 'GET', got {method!r}")
        return await self._request(
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
    ) -> Any:
        """GET `path`; see `request`."""
        return await self._request(
            "GET",
            path,
            cast_to=cast_to,
            query=query,
            response_kind=response_kind,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
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
    ) -> Any:
        """POST to `path`; see `request`."""
        return await self._request(
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
    ) -> Any:
        """PUT to `path`; see `request`."""
        return await self._request(
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
    ) -> Any:
        """PATCH `path`; see `request`."""
        return await self._request(
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
    ) -> Any:
        """DELETE `path`; see `request`."""
        return await self._request(
            "DELETE",
            path,
            cast_to=cast_to,
            query=query,
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
        )

    # -- the request loop ---------------------------------------------------------------------------------

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
    ) -> Any:
        """Send one API call with retries and return its parsed result (see ARCHITECTURE.md)."""
        if stream and stream_cls is None:
            raise TypeError("stream=True needs a stream_cls to wrap the response in")
        if response_kind not in _ACCEPT:
            raise ValueError(f"response_kind must be 'json', 'binary' or 'text-or-json', got {response_kind!r}")
        plan = self._plan(
            method,
            path,
            body=body,
            data=data,
            files=files,
            query=query,
            accept="text/event-stream" if stream else _ACCEPT[response_kind],
            host_root=host_root,
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
        )
        if self._client.is_closed:
            raise RuntimeError(
                "This client has been closed; create a new one (a client closes at the end of its `with` block)"
            )
        loop = AsyncRuntime.current_loop()
        if loop is not self._pool.loop:
            self._use_current_loop(loop)
        pool = self._pool
        http_client = pool.client
        gate = pool.gate
        max_retries = self.max_retries
        retries_taken = 0
        while True:
            request = self._build_attempt(plan, retries_taken)
            try:
                if gate is None:
                    response = await self._send(http_client, request, plan, stream)
                else:
                    if not await gate.acquire(plan.timeout.pool):
                        raise httpx.PoolTimeout(
                            f"no connection of the pool became free within the {plan.timeout.pool:g} s pool timeout",
                            request=request,
                        )
                    try:
                        response = await self._send(http_client, request, plan, stream)
                    finally:
                        # Held for the whole exchange of a plain call (its body is read by then); a stream keeps
                        # its connection past this point, outside the gate, so a stream nobody closes cannot
                        # starve the other calls of places.
                        gate.release()
            except httpx.HTTPError as exc:
                if not self._is_retryable_transport_error(exc) or retries_taken >= max_retries:
                    raise self._transport_error(exc, request, retries_taken) from exc
                if not plan.replayable:
                    logger.debug("Not retrying %s %s: the upload can be sent only once", plan.method, plan.url)
                    raise self._transport_error(exc, request, retries_taken) from exc
                delay = backoff_delay(retries_taken, initial=INITIAL_RETRY_DELAY, maximum=MAX_RETRY_DELAY)
                self._log_retry(plan, retries_taken, max_retries, delay, self._redact(_describe_exception(exc)))
                await _sleep.sleep(delay)
                retries_taken += 1
                continue

            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "Response: %s %s %s (request id %s)",
                    plan.method,
                    request.url,
                    response.status_code,
                    request_id_of(response),
                )
            if not response.is_success:
                await response.aclose()
                delay_or_none = self._status_retry_delay(response, plan, retries_taken, max_retries)
                if delay_or_none is None:
                    error = make_status_error(response, redact=self.api_key)
                    error.retries_taken = retries_taken
                    raise error
                self._log_retry(plan, retries_taken, max_retries, delay_or_none, f"status {response.status_code}")
                await _sleep.sleep(delay_or_none)
                retries_taken += 1
                continue

            if stream:
                assert stream_cls is not None
                if _is_json_media_type(_content_type(response)):
                    # Asked for a stream, answered with a JSON body (read by _send): an error reported with a
                    # 200, or a proxy that ignored `stream`. Say what the server said rather than report a
                    # stream that ended before its terminator.
                    raise self._json_instead_of_stream(response)
                stream_object = stream_cls(response=response, client=self)
                stream_object.retries_taken = retries_taken
                return stream_object
            await response.aclose()
            return self._parse(response, cast_to, response_kind, retries_taken)

    async def _send(
        self, http_client: httpx.AsyncClient, request: httpx.Request, plan: _Plan, stream: bool
    ) -> httpx.Response:
        """One attempt: send, and read the body unless it is a successful stream.

        The read timeout bounds the whole attempt, not each wait for bytes: the headers must arrive within it
        (in the async client; a blocking read cannot be interrupted from its own thread) and so must the body
        of a plain call. A stream's body is bounded per read only, as its events may come minutes apart.
        """
        read_limit = plan.timeout.read
        deadline = None if read_limit is None else time.monotonic() + read_limit
        response: Optional[httpx.Response] = None
        try:
            async with AsyncRuntime.deadline(deadline):
                response = await http_client.send(request, stream=True)
                if not stream or not response.is_success or _is_json_media_type(_content_type(response)):
                    # Error bodies are small and read now, so the message can quote them; success bodies of
                    # non-streaming calls are read inside the retry loop, so a connection that breaks mid-body
                    # is retried like one that breaks before the headers.
                    if read_limit is not None and deadline is not None and not stream and not AsyncRuntime.interrupts:
                        # Where the runtime cannot interrupt a read, the clock is read between chunks instead.
                        response.stream = _DeadlineStream(
                            response.stream, deadline, read_limit, request, _content_length(response)
                        )
                    await response.aread()
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
        files: Optional[Sequence[Tuple[str, FileTypes]]],
        query: Optional[Mapping[str, Any]],
        accept: str,
        host_root: bool,
        extra_headers: Optional[Mapping[str, Optional[str]]],
        extra_query: Optional[Mapping[str, Any]],
        extra_body: Optional[Mapping[str, Any]],
        timeout: TimeoutArg,
    ) -> _Plan:
        url = self._url(path, host_root)
        resolved_timeout = self.timeout if isinstance(timeout, NotGiven) else coerce_timeout(timeout)
        params = _merge_query(self._default_query, query, extra_query)

        content: Optional[bytes] = None
        form: Optional[Dict[str, Union[str, List[str]]]] = None
        prepared: Optional[PreparedFiles] = None
        content_type: Optional[str] = None
        if files is not None or data is not None:
            fields: Dict[str, Any] = dict(_check_mapping(data, "data"))
            fields.update(_check_mapping(extra_body, "extra_body"))
            form = _form_fields(fields)
            prepared = prepare_files(files) if files is not None else PreparedFiles([], True)
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

        headers = self._base_headers(accept)
        if content_type is not None:
            headers["Content-Type"] = content_type
        removed: set[str] = set()
        _apply_header_overrides(headers, self._default_headers, removed)
        if not url.startswith(self._origin + "/") and _origin_of(url) != self._origin:
            # An absolute URL on another host: the key belongs to the API's host and does not travel there
            # (as a redirect to another host would not carry it either), unless this call passes it itself.
            for name in SENSITIVE_HEADERS:
                if name in headers:
                    del headers[name]
        _apply_header_overrides(headers, _check_mapping(extra_headers, "extra_headers"), removed)
        key_header = _IDEMPOTENCY_HEADER.lower()
        if method != "GET" and key_header not in headers and key_header not in removed:
            # One key for every attempt of this call: a gateway that sees it twice knows the second is a retry.
            headers[_IDEMPOTENCY_HEADER] = f"apertis-{os.urandom(16).hex()}"
        return _Plan(
            method=method,
            url=url,
            headers=headers,
            removed=frozenset(removed),
            params=params,
            content=content,
            form=form,
            files=prepared,
            timeout=resolved_timeout,
        )

    def _base_headers(self, accept: str) -> httpx.Headers:
        return httpx.Headers({"Accept": accept, "Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT})

    def _url(self, path: str, host_root: bool) -> str:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty string such as '/models', got {path!r}")
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        return (self._origin if host_root else self.base_url) + path

    def _build_attempt(self, plan: _Plan, retries_taken: int) -> httpx.Request:
        headers = httpx.Headers(plan.headers)
        if _RETRY_COUNT_HEADER not in plan.removed:
            headers[_RETRY_COUNT_HEADER] = str(retries_taken)
        request = self._client.build_request(
            plan.method,
            plan.url,
            headers=headers,
            params=plan.params or None,
            content=plan.content,
            data=plan.form,
            files=plan.files.fields if plan.files is not None and plan.files.fields else None,
            timeout=plan.timeout,
        )
        # The http client adds its own defaults (httpx's User-Agent, Accept...) when merging: a header the
        # caller removed with a None value must stay removed.
        for name in plan.removed:
            if name in request.headers:
                del request.headers[name]
        if logger.isEnabledFor(logging.DEBUG):
            # Headers only, redacted; request bodies are never logged (prompts are the user's data).
            logger.debug(
                "Request: %s %s (attempt %d) headers=%s",
                plan.method,
                request.url,
                retries_taken + 1,
                redact_headers(dict(request.headers.items())),
            )
        return request

    # -- retries ------------------------------------------------------------------------------------------

    def _status_retry_delay(
        self, response: httpx.Response, plan: _Plan, retries_taken: int, max_retries: int
    ) -> Optional[float]:
        """How long to wait before retrying this error response, or None to raise it now."""
        status = response.status_code
        if retries_taken >= max_retries or status in _NEVER_RETRY:
            return None
        should_retry = response.headers.get("x-should-retry", "").strip().lower()
        if should_retry == "false":
            return None
        if should_retry != "true" and status not in _RETRY_STATUSES and status < 500:
            return None
        if not plan.replayable:
            logger.debug("Not retrying %s %s: the upload can be sent only once", plan.method, plan.url)
            return None
        retry_after = parse_retry_after(response.headers)
        if retry_after is not None and retry_after > self.max_retry_after:
            # A long wait would hang the caller's worker; raise and let the application decide.
            logger.info(
                "Not retrying %s %s: the server asked to wait %.1f seconds, more than max_retry_after=%.1f",
                plan.method,
                plan.url,
                retry_after,
                self.max_retry_after,
            )
            return None
        if retry_after is not None and retry_after > 0:
            return retry_after
        return backoff_delay(retries_taken, initial=INITIAL_RETRY_DELAY, maximum=MAX_RETRY_DELAY)

    @staticmethod
    def _is_retryable_transport_error(exc: httpx.HTTPError) -> bool:
        return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))

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

    @staticmethod
    def _log_retry(plan: _Plan, retries_taken: int, max_retries: int, delay: float, reason: str) -> None:
        logger.info(
            "Retrying %s %s in %.2f seconds (retry %d of %d) after %s",
            plan.method,
            plan.url,
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
            record_response(result, retries_taken=retries_taken, request_id=request_id_of(response))
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
        text = self._redact(readable_text(response))
        message = f"The API returned status {response.status_code} but the body {problem}: {text!r}"
        return APIResponseValidationError(self._redact(message), response=response, text=text)


def _check_mapping(value: Optional[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict), got {type(value).__name__}")
    return value


def _apply_header_overrides(headers: httpx.Headers, overrides: Mapping[str, Optional[str]], removed: set[str]) -> None:
    for name, value in overrides.items():
        if not isinstance(name, str):
            raise TypeError(f"header names must be str, got {name!r}")
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


def _dump_json(body: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except TypeError as exc:
        raise TypeError(f"the request body cannot be sent as JSON: {exc}") from None
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


def _content_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _describe_exception(exc: BaseException) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
