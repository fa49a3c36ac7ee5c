"""Pieces of stream handling that both twins share: the generic event and the errors a stream can raise."""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

import httpx
from typing_extensions import Protocol

from ._exceptions import APIConnectionError, APIStatusError, APITimeoutError, status_error_class

__all__ = [
    "AsyncCloseAlias",
    "SyncCloseAlias",
    "UnknownStreamEvent",
    "error_event_status",
    "is_error_payload",
    "stream_error",
    "transport_error",
    "truncated_stream_error",
]


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


class UnknownStreamEvent:
    """An event whose `type` this version of the SDK does not know, passed through as received.

    `type` is the JSON `type` (or the SSE `event:` name when the payload has none), `data` the decoded JSON
    payload (the raw text when it is not JSON) and `event` the SSE `event:` name. Attribute access reaches the
    payload's fields, so code written for a newer SDK's event can often read it already.
    """

    __slots__ = ("data", "event", "type")

    def __init__(self, type: Optional[str], data: Any, event: Optional[str] = None) -> None:
        self.type = type
        self.data = data
        self.event = event

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "data")
        if isinstance(data, dict) and name in data:
            return data[name]
        raise AttributeError(f"{type(self).__name__} of type {self.type!r} has no field {name!r}")

    def to_dict(self) -> Dict[str, Any]:
        """The payload as received (a `{"data": text}` wrapper when it was not a JSON object)."""
        return dict(self.data) if isinstance(self.data, dict) else {"data": self.data}

    def __repr__(self) -> str:
        return f"UnknownStreamEvent(type={self.type!r}, data={self.data!r})"


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


def stream_error(payload: Mapping[str, Any], response: httpx.Response) -> APIStatusError:
    """The exception for an error reported inside a 200 stream.

    Handles `{"error": {...}}` (the gateway and OpenAI), `{"type": "error", "error": {...}}` (Anthropic) and
    `{"type": "error", "code": ..., "message": ...}` (the Responses API). The class follows the mapped status,
    `status_code` is that status, `body` the inner error object (or the whole event when there is none).
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
    error = status_error_class(status)(
        f"Error code: {status} - {message} (reported in the stream)", response=response, body=body
    )
    # The response itself is a 200; the status the error stands for is what callers branch on.
    error.status_code = status
    return error


def is_error_payload(payload: Mapping[str, Any]) -> bool:
    """True when a chunk is an error report rather than data.

    The web-search gateway sends a placeholder `"error": {"message": "", "type": "", ...}` in good responses, so
    only a non-empty error object (or string) counts.
    """
    inner = payload.get("error")
    if isinstance(inner, Mapping):
        return any(inner.get(key) for key in ("message", "type", "code"))
    return bool(inner)


def transport_error(exc: httpx.HTTPError, response: httpx.Response) -> APIConnectionError:
    """The SDK exception for an httpx failure while a stream was being read."""
    request = response.request
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"The stream stalled: no data within the read timeout ({type(exc).__name__}). The answer is incomplete.",
            request=request,
            cause=exc,
        )
    detail = str(exc) or type(exc).__name__
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
