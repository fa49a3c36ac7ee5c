"""Pieces of stream handling that both twins share: the unknown event and the errors a stream can raise."""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import weakref
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterator, Mapping, Optional, Protocol, Tuple

import httpx

from . import _json
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    invalid_data_error,
    scrub,
    status_error_class,
)
from ._json import CHECKED_ABOVE as _CHECKED_ABOVE
from ._json import JSONNestingError, text_exceeds_depth
from ._logging import _MIN_BARE_SECRET, _REDACTED, redact_secrets
from ._unknown_event import UnknownStreamEvent

__all__ = [
    "DRAIN_BUDGET",
    "DRAIN_LIMIT",
    "AsyncCloseAlias",
    "AsyncDrain",
    "HeldResponse",
    "StreamConnections",
    "SyncDrain",
    "SyncCloseAlias",
    "UnknownStreamEvent",
    "describe_json",
    "error_event_status",
    "is_error_payload",
    "loads_event_data",
    "stream_error",
    "transport_error",
    "truncated_stream_error",
    "undecodable_event_error",
]


# The C scanner json.loads itself ends up in (the default decoder's), called directly.
# (An attribute the stubs leave out: JSONDecoder sets it in __init__.)
_scan_once: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_event_data(data: str) -> Any:
    """`json.loads(data)` for the data of one stream event: the same value, or the same ValueError; a value nested
    deeper than `_json.MAX_JSON_DEPTH` raises APIResponseValidationError (the stream adds its response).

    json.loads wraps the C scanner in two Python calls and two regular-expression matches (for leading and
    trailing whitespace), which cost about a third of parsing a typical chunk; an event's JSON rarely has
    such whitespace, so the scanner is called directly and json.loads only when it did not consume all of
    `data` (whitespace around the value, extra data, or not JSON at all: json.loads accepts or raises as usual).
    A typical chunk is shorter than `_json.CHECKED_ABOVE`, so the depth check costs it one comparison.
    """
    size = len(data)
    if size > _CHECKED_ABOVE and text_exceeds_depth(data):
        raise _nesting_error(data)
    try:
        value, end = _scan_once(data, 0)
    except (StopIteration, ValueError):  # not JSON at the start, or an integer past Python's limit on digits
        return _loads_whole(data)
    except RecursionError:
        raise _nesting_error(data) from None
    if end != size:
        return _loads_whole(data)
    return value


def _loads_whole(data: str) -> Any:
    try:
        return _json.loads(data)
    except JSONNestingError:
        raise _nesting_error(data) from None


def _nesting_error(data: str) -> APIResponseValidationError:
    return invalid_data_error(f"a stream event {JSONNestingError()}", data[:_EXCERPT])


# How much of an offending event an error quotes.
_EXCERPT = 200


class _AsyncClosable(Protocol):
    async def close(self) -> None: ...


class AsyncCloseAlias:
    """Gives async streams `aclose()`, the name `contextlib.aclosing` and asyncio code expect.

    It lives outside apertis/_async on purpose: unasync turns `aclose` into `close`, so an alias written in the
    async source would become a second, self-recursive `close` in the sync twin. The async source inherits
    this class; unasync's `Async<Name>` -> `Sync<Name>` rule makes the sync twin inherit `SyncCloseAlias`.
    """

    __slots__ = ()

    async def aclose(self: _AsyncClosable) -> None:
        """Close the stream and release its connection; the same as `await stream.close()`."""
        await self.close()


class SyncCloseAlias:
    """The sync counterpart of `AsyncCloseAlias`: sync streams have `close()` only, so it adds nothing."""

    __slots__ = ()


# After its terminator a stream still reads the end of the HTTP body (the last empty chunk of a chunked
# response), so the connection can go back to the pool instead of being torn down (closing at the terminator
# would open a new connection, with its TLS handshake, for every stream). That end follows the last event at once:
# in the same packet, or the next one a few milliseconds later. A body still open after that is held open on
# purpose, or the server keeps sending: past this many bytes or this many seconds the connection is dropped
# instead, so the caller's loop ends about when the answer does.
DRAIN_LIMIT = 64 * 1024
DRAIN_BUDGET = 0.05


async def _drain_async(chunks: AsyncIterator[bytes]) -> None:
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > DRAIN_LIMIT:
            return


class AsyncDrain:
    """Reads what is left of a stream's body after its terminator, within DRAIN_LIMIT and DRAIN_BUDGET.

    Lives outside apertis/_async because the two twins bound the time differently: here the read is cancelled
    after the budget (asyncio), in `SyncDrain` a watchdog shuts the socket down.
    """

    @staticmethod
    async def drain(chunks: AsyncIterator[bytes], response: httpx.Response) -> None:
        """Read the rest of the body so the connection can be reused; give up quietly past the limits."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # another async library (trio): no asyncio timer to bound it with
            with contextlib.suppress(httpx.HTTPError):
                await _drain_async(chunks)
            return
        # On timeout or a transport error the answer is still complete; this connection just cannot be reused.
        with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
            await asyncio.wait_for(_drain_async(chunks), DRAIN_BUDGET)


class _Watchdog:
    """Shuts a socket down when a blocking read on it outlives the drain budget (which wakes the read)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self._stopped = False
        self._timer = threading.Timer(DRAIN_BUDGET, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        import socket

        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            with contextlib.suppress(OSError):  # already closed: nothing left to wake
                self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        # Under the lock, so the timer cannot shut down a socket that has already gone back to the pool.
        with self._lock:
            self._stopped = True
        self._timer.cancel()


class SyncDrain:
    """The blocking counterpart of `AsyncDrain`: the same limits, the time enforced by a watchdog thread."""

    @staticmethod
    def drain(chunks: Iterator[bytes], response: httpx.Response) -> None:
        """Read the rest of the body so the connection can be reused; give up quietly past the limits."""
        sock = None
        network_stream = response.extensions.get("network_stream")
        if network_stream is not None:
            sock = network_stream.get_extra_info("socket")
        watchdog = _Watchdog(sock) if sock is not None else None
        try:
            received = 0
            for chunk in chunks:
                received += len(chunk)
                if received > DRAIN_LIMIT:
                    return
        except httpx.HTTPError:
            pass  # cut by the watchdog, or by the server: the connection just cannot be reused
        finally:
            if watchdog is not None:
                watchdog.stop()


class HeldResponse:
    """The response a stream holds, and the iterator reading its body once the stream has started reading it."""

    __slots__ = ("_ref", "_registry", "chunks", "response")

    def __init__(self, response: httpx.Response, registry: Dict[Any, HeldResponse]) -> None:
        self.response = response
        self.chunks: Any = None  # response.aiter_bytes() / iter_bytes(), set by the stream when it starts reading
        self._registry = registry
        self._ref: Any = None

    def forget(self) -> None:
        """Stop tracking: the stream released the response itself."""
        self._registry.pop(self._ref, None)


class StreamConnections:
    """The responses the streams of one connection pool hold, and those whose stream was dropped unclosed.

    httpx never closes a response by itself: a stream that nobody closes and nobody can reach any more (never
    iterated, or partly read, then dropped) would keep its connection until the process ends, and once every
    connection is taken each call waits for the pool timeout. The release cannot happen where the stream dies:
    the garbage collector runs on any thread at any moment, maybe one holding the pool's lock (which closing a
    response takes), and an async response is closed by awaiting, on its event loop. So a dropped stream's
    response is only queued in `abandoned` (an append, atomic without a lock) and the client releases it at its
    next call, or when it closes.

    The iterator reading the body is held here too, not only by the stream: an unreachable stream then takes
    nothing of the connection down with it, as the garbage collector would otherwise finalize httpx's iterators
    too, whose clean-up closes the response right there. One instance per pool: a pool renewed for another event
    loop or a forked process starts a new one, and the old responses are dropped with the old pool.
    """

    __slots__ = ("_held", "abandoned")

    def __init__(self) -> None:
        self._held: Dict[Any, HeldResponse] = {}
        self.abandoned: Deque[HeldResponse] = collections.deque()

    def hold(self, stream: object, response: httpx.Response) -> HeldResponse:
        """Track `response`, owned by `stream`: when `stream` is collected before releasing it, queue it."""
        held = HeldResponse(response, self._held)
        held._ref = ref = weakref.ref(stream, self._abandon)
        self._held[ref] = held
        return held

    def _abandon(self, ref: Any) -> None:
        # Runs wherever and whenever the stream was collected: no lock, no I/O, only atomic container operations.
        held = self._held.pop(ref, None)
        if held is not None:
            self.abandoned.append(held)

    def pop_abandoned(self) -> Optional[HeldResponse]:
        """The next response to release, or None (another thread may be emptying the queue too)."""
        try:
            return self.abandoned.popleft()
        except IndexError:
            return None


# How the error types and codes of the three APIs map to HTTP statuses, so a mid-stream error raises the same
# class as the same error reported before the stream started.
_ERROR_STATUS: Dict[str, int] = {
    "invalid_request_error": 400,
    "invalid_parameter": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "insufficient_quota": 429,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 529,
}


def error_event_status(error: Mapping[str, Any]) -> int:
    """The HTTP status an error event stands for: by `code` first, then `type`; 500 when neither is known."""
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value in _ERROR_STATUS:
            return _ERROR_STATUS[value]
    return 500


def stream_error(
    payload: Mapping[str, Any], response: httpx.Response, *, redact: Optional[str] = None
) -> APIStatusError:
    """The exception for an error reported inside a 200 stream.

    Handles `{"error": {...}}` (the gateway and OpenAI), `{"type": "error", "error": {...}}` (Anthropic) and
    `{"type": "error", "code": ..., "message": ...}` (the Responses API). The class follows the mapped status,
    `status_code` is that status, `body` the inner error object (or the whole event when there is none).
    `redact` is the API key: neither the message nor the body shows it (nor any credential), as for errors
    before the stream.
    """
    inner = payload.get("error")
    if isinstance(inner, Mapping):
        fields: Mapping[str, Any] = inner
        body: object = dict(inner)
    else:
        fields = payload
        body = dict(payload)
    message = fields.get("message")
    if not isinstance(message, str) or not message:
        message = inner if isinstance(inner, str) and inner else json.dumps(payload, ensure_ascii=False)
    status = error_event_status(fields)
    secrets = [redact] if redact else []
    error = status_error_class(status)(
        scrub(f"Error code: {status} - {message} (reported in the stream)", secrets),
        response=response,
        # The body is what callers log and show: the key the server may have echoed is redacted there too.
        body=scrub(body, secrets),
    )
    # The response itself is a 200; the status the error stands for is what callers branch on.
    error.status_code = status
    return error


# How much of an undecodable event's data its message quotes (the exception's `text` keeps all of it).
_QUOTED_DATA = 500


def undecodable_event_error(
    data: str, event_type: Optional[str], problem: str, response: httpx.Response, *, redact: Optional[str] = None
) -> APIError:
    """The exception for an event whose data the SDK cannot decode (`problem` says why).

    An `event: error` whose data is plain text (or JSON that is not an object) is still the server reporting an
    error: it gets the status error of an error without a type or code (500, InternalServerError, as from
    `stream_error`), the redacted text as its message and `body["message"]`. Any other such event is a broken
    stream (a chunk cut short, a proxy's stray line): APIResponseValidationError, whose `text` is the event's
    data and whose message names the event and quotes the start of its data. Skipping it instead would hand the
    caller an answer with a hole in it, marked complete. `redact` is the API key, never shown.
    """
    if event_type == "error":
        return stream_error({"message": data}, response, redact=redact)
    text = _redact_cut_secret(redact_secrets(data, redact), redact)
    quoted = text if len(text) <= _QUOTED_DATA else text[: _QUOTED_DATA - 3] + "..."
    of_type = f" of type {event_type!r}" if event_type else ""
    return APIResponseValidationError(
        f"The stream sent an event{of_type} whose data {problem}, so the answer cannot be read whole; "
        f"the stream stops here. Data: {quoted!r}",
        response=response,
        text=text,
    )


def _redact_cut_secret(text: str, secret: Optional[str]) -> str:
    """`text` with a trailing piece of `secret` redacted: data cut short may end inside the key it quoted.

    Only a piece as long as the shortest key `redact_secrets` redacts bare, and starting a word, counts.
    """
    if not secret:
        return text
    for length in range(len(secret) - 1, _MIN_BARE_SECRET - 1, -1):
        if text.endswith(secret[:length]):
            start = len(text) - length
            if start == 0 or not text[start - 1].isalnum():
                return text[:start] + _REDACTED
            break
    return text


def describe_json(value: object) -> str:
    """What kind of JSON value `value` is, for messages ("a JSON array", "JSON null", ...)."""
    if value is None:
        return "JSON null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        return "a JSON array"
    return "a JSON object"


def is_error_payload(payload: Mapping[str, Any]) -> bool:
    """True when a chunk is an error report rather than data.

    The web-search gateway sends a placeholder `"error": {"message": "", "type": "", ...}` in good responses, so
    only a non-empty error object (or string) counts.
    """
    inner = payload.get("error")
    if isinstance(inner, Mapping):
        return any(inner.get(key) for key in ("message", "type", "code"))
    return bool(inner)


def transport_error(
    exc: httpx.HTTPError, response: httpx.Response, *, redact: Optional[str] = None
) -> APIConnectionError:
    """The SDK exception for an httpx failure while a stream was being read.

    `redact` is the API key: transport messages can quote a URL or a header a proxy echoed, never show it.
    """
    request = response.request
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"The stream stalled: no data within the read timeout ({type(exc).__name__}). The answer is incomplete.",
            request=request,
            cause=exc,
        )
    detail = redact_secrets(str(exc), redact) or type(exc).__name__
    return APIConnectionError(
        f"The connection broke while the stream was being read ({detail}). The answer is incomplete.",
        request=request,
        cause=exc,
    )


def truncated_stream_error(terminator: str, response: httpx.Response) -> APIConnectionError:
    """The exception for a stream that ended cleanly at the transport level but before its terminator."""
    return APIConnectionError(
        f"The stream ended before its terminator ({terminator}): the connection was closed early and the answer "
        "is incomplete.",
        request=response.request,
    )
