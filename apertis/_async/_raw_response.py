"""Raw responses: what `client.<resource>.with_raw_response.<method>(...)` and `.with_streaming_response` return.

`AsyncAPIResponse` holds the `httpx.Response` of a successful call (after its retries; an error status still
raises the usual APIStatusError) and parses it only when asked, through the request loop's own `_finish`, so
`parse()` gives exactly what the plain method returns (the stream, for a streamed call). The generated wrapper
classes (apertis/_async/resources/_raw_<top>.py) call the ordinary resource methods through `_RawCalls`, a view
of the client whose `_request` asks for the raw response: one request path, no duplicated method bodies.

This module is imported by the first raw call only (the resource modules load it inside `with_raw_response`).
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Callable, Generic, Optional, TypeVar, cast

import httpx

from .._exceptions import APIResponseValidationError
from .._gateway import GatewayInfo
from ._base_client import AsyncAPIClient, RawMode

__all__ = ["AsyncAPIResponse", "AsyncResponseContextManager", "raw_calls"]

R_co = TypeVar("R_co", covariant=True)


class AsyncAPIResponse(Generic[R_co]):
    """The raw response of one call: headers, status and body, with `parse()` for the result the method returns.

    From `with_raw_response` the body is already read (a plain call's) or unread (a streamed call's: `parse()`
    gives the stream, which then owns the response). From `with_streaming_response` it is unread until
    `read()`, `text()`, `json()`, `parse()` or one of the `iter_*` methods asks for it, and the `async with`
    block closes it.
    """

    def __init__(
        self,
        http_response: httpx.Response,
        *,
        parse: Callable[[], Any],
        client: AsyncAPIClient,
        retries_taken: int,
        stream_call: bool,
    ) -> None:
        self.http_response = http_response
        """The `httpx.Response`."""
        self.retries_taken = retries_taken
        """How many times the SDK retried the call before this response (0: the first attempt succeeded)."""
        self._parse = parse
        self._client = client
        self._stream_call = stream_call  # parse() gives the stream, which reads the body itself
        self._parsed: Optional[R_co] = None
        self._is_parsed = False

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        """The HTTP status code (a success: an error status raises instead)."""
        return self.http_response.status_code

    @property
    def url(self) -> httpx.URL:
        """The URL the request was sent to."""
        return self.http_response.url

    @property
    def request_id(self) -> Optional[str]:
        """The request id (`x-request-id`, or an Anthropic upstream's `request-id`), for support requests."""
        return self.gateway.request_id

    @property
    def gateway(self) -> GatewayInfo:
        """What the Apertis gateway reported about the call (actual model, fallback, web search, compression,
        rate limit), read from the headers: see apertis.GatewayInfo."""
        return GatewayInfo(self.http_response.headers, self.retries_taken)

    @property
    def is_closed(self) -> bool:
        """Whether the response is closed (its connection given back to the pool)."""
        return self.http_response.is_closed

    async def parse(self) -> R_co:
        """The result the method returns without `with_raw_response`: the model, the text, the binary response,
        or, for a streamed call, the stream (iterate over it; it closes the response). Parsed once."""
        if not self._is_parsed:
            if not self._stream_call:
                await self.read()
            self._parsed = await self._parse()
            self._is_parsed = True
        return self._parsed  # type: ignore[return-value]  # None only until parsed, and R_co may be Optional

    def _then(self, finish: Callable[[Any], Any]) -> None:
        """Make `parse()` give `finish(<what it gave>)` (AsyncAPIResource._then: a hand-written method's work on
        the generated method's result, such as `parse`'s Parsed* object; its errors are raised by `parse()`)."""
        parse = self._parse

        async def parse_then_finish() -> Any:
            return finish(await parse())

        self._parse = parse_then_finish

    async def read(self) -> bytes:
        """The whole body (read now if it was not yet)."""
        try:
            return await self.http_response.aread()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except httpx.StreamConsumed:
            raise self._consumed() from None

    async def text(self) -> str:
        """The whole body as text (decoded with the response's charset)."""
        await self.read()
        return self.http_response.text

    async def json(self) -> Any:
        """The whole body decoded from JSON (without building the model: `parse()` does that)."""
        content = await self.read()
        try:
            return json.loads(content)
        except ValueError:
            raise APIResponseValidationError(
                f"The API returned status {self.status_code} but the body is not valid JSON",
                response=self.http_response,
                text=self.http_response.text[:1000],
            ) from None

    async def iter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        """The body in chunks as it arrives (of `chunk_size` bytes, when given)."""
        try:
            async for chunk in self.http_response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except httpx.StreamConsumed:
            raise self._consumed() from None

    async def iter_text(self, chunk_size: Optional[int] = None) -> AsyncIterator[str]:
        """The body decoded to text, in chunks as it arrives."""
        try:
            async for chunk in self.http_response.aiter_text(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except httpx.StreamConsumed:
            raise self._consumed() from None

    async def iter_lines(self) -> AsyncIterator[str]:
        """The body decoded to text, line by line as it arrives (without the line endings)."""
        try:
            async for line in self.http_response.aiter_lines():
                yield line
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except httpx.StreamConsumed:
            raise self._consumed() from None

    async def close(self) -> None:
        """Close the response and give its connection back (the `async with` block of
        `with_streaming_response` does it on exit)."""
        await self.http_response.aclose()

    def _transport_error(self, exc: httpx.HTTPError) -> Exception:
        return self._client._transport_error(exc, self.http_response.request, self.retries_taken)

    def _consumed(self) -> Exception:
        return RuntimeError(
            "The body of this response was already read by iter_bytes(), iter_text() or iter_lines(), which do "
            "not keep it: read it with one of read(), text(), json(), parse() instead (they keep it)"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code}] {self.http_response.request.method} {self.url}>"


class AsyncResponseContextManager(Generic[R_co]):
    """What a `with_streaming_response` method returns: `async with` it to send the call and get the raw
    response (its body unread); the response is closed when the block ends."""

    def __init__(self, send: Callable[[], Any]) -> None:
        self._send = send
        self._response: Optional[R_co] = None

    async def __aenter__(self) -> R_co:
        response: R_co = await self._send()
        self._response = response
        return response

    async def __aexit__(self, *exc_info: object) -> None:
        response = self._response
        self._response = None
        if isinstance(response, AsyncAPIResponse):
            await response.close()


class _RawCalls:
    """A view of a client whose calls return the raw response: the resource methods run unchanged (their checks,
    their request), and only the result differs. Everything else is the client's own."""

    def __init__(self, client: AsyncAPIClient, mode: RawMode) -> None:
        self._target = client
        self._raw_mode = mode

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    async def _request(self, method: str, path: str, **options: Any) -> Any:
        return await self._target._request_untyped(method, path, raw=self._raw_mode, **options)


def raw_calls(client: AsyncAPIClient, mode: RawMode) -> AsyncAPIClient:
    """The client as resource classes take it, with calls that return `AsyncAPIResponse` (`mode` "read": body
    read as for the plain call; "stream": body unread)."""
    return cast(AsyncAPIClient, _RawCalls(client, mode))
