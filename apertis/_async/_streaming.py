"""Streamed responses: `AsyncStream` and the stream classes of chat completions, messages and responses.

A stream owns its HTTP response from the moment the request loop hands it over (after a 2xx status, so HTTP
errors before the first byte were already raised and retried like any other call). It decodes the SSE body,
parses each event into the generated model, and guarantees five things:

- it never ends quietly on half an answer: a transport failure mid-stream raises APIConnectionError or
  APITimeoutError, and a body that ends before the API's terminator raises APIConnectionError (except a
  Responses stream, which may end at the end of its body once it carried events: see AsyncResponseStream);
- it never skips what it cannot read: an event whose data is not valid JSON (a chunk cut short), or is JSON but
  not an object where the API sends objects, raises APIResponseValidationError with the (redacted) data. What
  is well-formed but unfamiliar (a chunk without `choices`, an unknown field, an unknown event type) passes as
  received: that is a newer server, not a broken one (an unknown event type arrives as an UnknownStreamEvent,
  whose `type` is the literal "unknown", so that the event union still narrows on `type`);
- an error reported inside the stream raises the APIStatusError subclass of the status it stands for: an
  `error` event (plain-text data included), or a non-empty `error` object in a payload;
- the final object (`get_final_*`) carries only what the server sent: a stream that ended at `[DONE]` without
  the API's own end event (`message_stop`, `response.completed`) has no invented status or stop reason;
- the response is always released: a fully read stream drains the body's last bytes (within a size and time
  budget, see `_stream_events.DRAIN_BUDGET`) so the connection goes back to the pool, and breaking out of the
  loop, an exception, a cancelled task or `close()` closes it. A stream dropped without any of these (never
  iterated, or partly read) has its response released by the client at its next call (see
  `_stream_events.StreamConnections`).
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    ClassVar,
    Dict,
    Generic,
    Literal,
    Optional,
    TypeVar,
)

import httpx

from .._accumulate import ChatCompletionAccumulator, MessageAccumulator, ResponseAccumulator
from .._exceptions import APIResponseValidationError, attach_response
from .._gateway import GatewayInfo
from .._models import BaseModel, record_response
from .._sse import EventTooLarge, SSEDecoder
from .._stream_events import (
    AsyncCloseAlias,
    AsyncDrain,
    HeldResponse,
    describe_json,
    is_error_payload,
    loads_event_data,
    stream_error,
    transport_error,
    truncated_stream_error,
    undecodable_event_error,
)
from .._unknown_event import UnknownStreamEvent

if TYPE_CHECKING:
    from typing_extensions import Self

    from .._exceptions import APIError
    from ..types import (
        ChatCompletion,
        ChatCompletionChunk,
        Message,
        MessageStreamEvent,
        Response,
        ResponseStreamEvent,
    )
    from ._base_client import AsyncAPIClient

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncMessageStream",
    "AsyncResponseStream",
    "AsyncStream",
    "MessageStreamEvent",
    "ResponseStreamEvent",
]

_T = TypeVar("_T")
_M = TypeVar("_M", bound=BaseModel)

# Returned by an event handler for an event that produces no item (the terminator, a ping).
_SKIP: Any = object()

_loads = loads_event_data

# The event models of each API are imported when its first stream is built (see `_event_parsers`), not with this
# module: every resource module imports it, and a chat call has no use for the forty-odd Messages and Responses
# event modules.
_Parser = Callable[[Dict[str, Any]], Any]
_parsers: Dict[str, Dict[str, _Parser]] = {}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        # The two event unions (apertis.types') stay importable from this module; importing them imports their
        # models, so not before they are asked for.
        if name not in ("MessageStreamEvent", "ResponseStreamEvent"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from .. import types

        value = getattr(types, name)
        globals()[name] = value
        return value


def _event_parsers(api: Literal["chat", "messages", "responses"]) -> Dict[str, _Parser]:
    """The `from_dict` of each event type of `api` ("chat": the chunk under key ""), imported on first use.

    The Messages and Responses tables are the generated unions' own (`MESSAGE_STREAM_EVENT_BY_TYPE`,
    `RESPONSE_STREAM_EVENT_BY_TYPE`), with each class's `from_dict` bound once rather than looked up per event.
    Their `ping` and `error` entries are never reached: the streams skip pings and raise errors first.
    """
    parsers = _parsers.get(api)
    if parsers is not None:
        return parsers
    if api == "chat":
        from ..types.chat_completion_chunk import ChatCompletionChunk

        parsers = {"": ChatCompletionChunk.from_dict}
    elif api == "messages":
        from ..types.message_stream_event import MESSAGE_STREAM_EVENT_BY_TYPE

        parsers = {kind: model.from_dict for kind, model in MESSAGE_STREAM_EVENT_BY_TYPE.items()}
    else:
        from ..types.response_stream_event import RESPONSE_STREAM_EVENT_BY_TYPE

        parsers = {kind: model.from_dict for kind, model in RESPONSE_STREAM_EVENT_BY_TYPE.items()}
    # Published whole, in one assignment: a stream built at the same time in another thread sees all or nothing.
    _parsers[api] = parsers
    return parsers


_RESPONSE_TERMINAL = frozenset(("response.completed", "response.failed", "response.incomplete"))


class AsyncStream(AsyncCloseAlias, Generic[_T]):
    """The events of one streamed response: iterate over it, or use it as a context manager that closes it.

    This base class yields each `data:` payload decoded from JSON (any JSON value) and ends at `data: [DONE]`;
    the per-API subclasses yield typed events. Data that is not JSON raises APIResponseValidationError; an
    `error` event or a payload with a non-empty `error` object raises the matching APIStatusError.
    `response` is the `httpx.Response` (headers, status); `retries_taken` how many times the call was retried
    before the stream opened.
    Breaking out of the loop, an exception in it, a cancelled task and `close()` all release the connection.
    """

    _terminator: ClassVar[str] = "data: [DONE]"

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        self.response = response
        self._client = client
        self._done = False  # the end marker arrived: everything the server sent has been read
        self._text: Optional[str] = None  # the text the last event carried (what text_stream yields)
        # Made at the first event: the generator refers to the stream, and without it a stream dropped unread is
        # freed (and its response queued for release) at once, not at the garbage collector's next pass.
        self._iterator: Optional[AsyncIterator[_T]] = None
        self._held = client._pool.streams.hold(self, response)
        self.retries_taken = 0  # set by the request loop: how many retries it took before the stream opened

    def _recorded(self, model: _M) -> _M:
        """The final model assembled from this stream, reporting the stream's `retries_taken`, `_request_id` and
        `_gateway` as a non-streamed result does."""
        record_response(model, retries_taken=self.retries_taken, headers=self.response.headers)
        return model

    @property
    def _request_id(self) -> Optional[str]:
        """The request id of the response (`x-request-id`), for support requests (as on a returned model)."""
        return self._gateway.request_id

    @property
    def _gateway(self) -> GatewayInfo:
        """What the Apertis gateway reported about the call in the response headers (see apertis.GatewayInfo):
        the model that actually serves the stream, fallback, web search, compression, rate limit, request id."""
        return GatewayInfo(self.response.headers, self.retries_taken)

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        """Turn one SSE event (its data and `event:` type) into the item to yield, `_SKIP`, or an exception; set
        `_done` at the terminator."""
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError as exc:
            raise self._undecodable(data, event_type, f"is not valid JSON ({exc})") from None
        if event_type == "error" or (isinstance(payload, dict) and "error" in payload and is_error_payload(payload)):
            raise self._reported_error(payload, data)
        return payload

    def _undecodable(self, data: str, event_type: Optional[str], problem: str) -> APIError:
        """The exception for an event whose data cannot be decoded (see `undecodable_event_error`)."""
        return undecodable_event_error(data, event_type, problem, self.response, redact=self._client.api_key)

    def _reported_error(self, payload: Any, data: str) -> APIError:
        """The exception for an error the server reported in the stream: an `error` event or an error object."""
        if isinstance(payload, dict):
            return stream_error(payload, self.response, redact=self._client.api_key)
        return self._undecodable(data, "error", "is not a JSON object")

    async def _iter_events(self) -> AsyncIterator[_T]:
        response = self.response
        handle = self._handle
        decoder = SSEDecoder()
        single_data = decoder.single_data
        # Held outside the stream too (see StreamConnections), for the client to close if the stream is dropped.
        chunks = self._held.chunks = response.aiter_bytes()
        try:
            try:
                async for chunk in chunks:
                    data = single_data(chunk)
                    if data is not None:
                        # One whole `data:` event in this network chunk, the usual case: no event object.
                        item = handle(data, None)
                        if item is not _SKIP:
                            yield item
                        if self._done:
                            break
                        continue
                    for event in decoder.feed(chunk):
                        item = handle(event.data, event.event)
                        if item is not _SKIP:
                            yield item
                        if self._done:
                            break
                    if self._done:
                        break
            except httpx.HTTPError as exc:
                raise transport_error(exc, response, redact=self._client.api_key) from exc
            except EventTooLarge as exc:
                raise APIResponseValidationError(
                    f"The stream sent more than the SDK accepts for one event: {exc} (the limit is "
                    "apertis._constants.MAX_SSE_EVENT); the stream stops here",
                    response=response,
                    text="",
                ) from None
            except APIResponseValidationError as exc:
                # Raised by the decoding and accumulating code, which does not know the response.
                raise attach_response(exc, response, redact=self._client.api_key) from None
            if not self._done:
                self._end_without_terminator()
            await AsyncDrain.drain(chunks, response)
        except GeneratorExit:
            # Closed from outside: by close(), which releases the response next, or by the garbage collector (the
            # stream was dropped mid-read), where releasing it could take the pool's lock on any thread: the
            # client releases it instead.
            raise
        except BaseException:
            await release_held_response(self._held)
            raise
        await release_held_response(self._held)

    def _end_without_terminator(self) -> None:
        """The body ended (a clean end of the HTTP message) before the API's end marker: by default the answer
        is incomplete, and saying nothing would hand the caller half of it as if it were whole."""
        raise truncated_stream_error(self._terminator, self.response)

    async def __anext__(self) -> _T:
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = self._iter_events()
        return await iterator.__anext__()

    async def __aiter__(self) -> AsyncIterator[_T]:
        # A fresh generator per loop, so that leaving the loop early (break, exception, cancellation) finalises
        # it, which closes the response even when the caller never calls close().
        iterator = self._iterator
        if iterator is None:
            iterator = self._iterator = self._iter_events()
        try:
            async for item in iterator:
                yield item
        finally:
            await self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the stream and release its connection. Safe to call more than once."""
        await _close_iterator(self._iterator)
        await release_held_response(self._held)

    @property
    def completed(self) -> bool:
        """True once the stream reached its end marker (`[DONE]`, or the API's end event): everything the server
        sent has been read.

        It does not say how the answer ended: that is the final object's `finish_reason`, `stop_reason` or
        `status`, which stay None when the server never sent one (a converted model may end a Messages or
        Responses stream with `[DONE]` and no `message_stop` / `response.completed`).
        """
        return self._done

    def _require_complete(self, method: str) -> None:
        if not self._done:
            raise RuntimeError(
                f"{method}() needs the whole stream, but this stream was closed before its end. "
                f"Call {method}() without breaking out of the loop first, or instead of iterating."
            )

    async def _iter_text(self) -> AsyncIterator[str]:
        async for _ in self:
            text = self._text
            if text:
                yield text


async def _close_iterator(iterator: object) -> None:
    # The generator's own close method; unasync maps its name (aclose) for the sync twin.
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


async def release_held_response(held: HeldResponse) -> None:
    """Close a stream's response and what reads its body (its connection goes back to the pool), once."""
    held.forget()
    chunks = held.chunks
    if chunks is not None:
        held.chunks = None
        await _close_iterator(chunks)
    await held.response.aclose()


class AsyncChatCompletionStream(AsyncStream["ChatCompletionChunk"]):
    """The `chat.completion.chunk` objects of a streamed chat completion, until `data: [DONE]`.

    `text_stream` yields just the text of the first choice; `get_final_completion()` reads the rest of the stream
    and returns the assembled `ChatCompletion` (content, tool calls with their arguments joined, finish reason,
    usage). A chunk carrying a non-empty `error` object (even beside `choices`) or an `error` event raises the
    matching APIStatusError; data that is not a JSON object raises APIResponseValidationError. Chunks without
    `choices` (a trailing `web_sources` chunk), without ids (Sora progress) or with unknown fields pass.
    """

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        super().__init__(response, client=client)
        self._accumulator = ChatCompletionAccumulator()
        self._parse_chunk: Callable[[Dict[str, Any]], ChatCompletionChunk] = _event_parsers("chat")[""]

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError as exc:
            raise self._undecodable(data, event_type, f"is not valid JSON ({exc})") from None
        if type(payload) is not dict:
            raise self._undecodable(data, event_type, f"is {describe_json(payload)}, not a chunk object")
        if event_type == "error" or ("error" in payload and is_error_payload(payload)):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        chunk = self._parse_chunk(payload)
        self._text = self._accumulator.add(chunk)
        return chunk

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas of the first choice, in order (the `:web` progress note included)."""
        return self._iter_text()

    async def get_final_completion(self) -> ChatCompletion:
        """Read the stream to its end and return the whole completion assembled from the chunks.

        `finish_reason` is the last one a chunk carried, None when none did."""
        async for _ in self:
            pass
        self._require_complete("get_final_completion")
        from ..types import ChatCompletion

        return self._recorded(ChatCompletion.from_dict(self._accumulator.result()))


class AsyncMessageStream(AsyncStream["MessageStreamEvent"]):
    """The events of a streamed Messages API call, until `message_stop` (or a gateway's `[DONE]`).

    `ping` keep-alives are skipped; an `error` event raises the APIStatusError subclass of its type
    (`overloaded_error` -> 529 InternalServerError, `rate_limit_error` -> RateLimitError, ...), one with
    plain-text data InternalServerError. Data that is not a JSON object raises APIResponseValidationError; an
    event of a type this SDK does not know arrives as an UnknownStreamEvent, whose `type` is "unknown" (the
    server's is its `unknown_type`), so `event.type == "..."` narrows. `text_stream` yields the text deltas;
    `get_final_message()` returns the assembled `Message`.
    """

    _terminator: ClassVar[str] = "message_stop"

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        super().__init__(response, client=client)
        self._accumulator = MessageAccumulator()
        self._parsers: Dict[str, Callable[[Dict[str, Any]], MessageStreamEvent]] = _event_parsers("messages")

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError as exc:
            raise self._undecodable(data, event_type, f"is not valid JSON ({exc})") from None
        if type(payload) is not dict:
            raise self._undecodable(data, event_type, f"is {describe_json(payload)}, not an event object")
        kind = payload.get("type")
        if (
            kind == "error"
            or event_type == "error"
            or ("error" in payload and kind is None and is_error_payload(payload))
        ):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        self._text = self._accumulator.add(payload)
        if kind == "message_stop":
            self._done = True
        elif kind == "ping":
            return _SKIP
        parse = self._parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            return UnknownStreamEvent.from_dict(payload, event_type)
        return parse(payload)

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of the `text_delta` events, in order (thinking and tool input left out)."""
        return self._iter_text()

    async def get_final_message(self) -> Message:
        """Read the stream to its end and return the whole message assembled from the events.

        `stop_reason` is what a `message_delta` said, None when none came (a stream ended by `[DONE]`)."""
        async for _ in self:
            pass
        self._require_complete("get_final_message")
        from ..types import Message

        return self._recorded(Message.from_dict(self._accumulator.result()))


class AsyncResponseStream(AsyncStream["ResponseStreamEvent"]):
    """The events of a streamed Responses API call, until `response.completed` (or `.failed`, `.incomplete`, a
    gateway's `[DONE]`, or the clean end of a body that carried events).

    Events are told apart by their JSON `type`; the `event:` line counts only when it says `error`. An `error`
    event (plain-text data included), or a gateway payload with an `error` object, raises the matching
    APIStatusError; data that is not a JSON object raises APIResponseValidationError; an event of a type this
    SDK does not know arrives as an UnknownStreamEvent (`type` "unknown", the server's in `unknown_type`).
    `text_stream` yields the `response.output_text.delta`
    texts; `get_final_response()` returns the final `Response`.
    """

    _terminator: ClassVar[str] = "response.completed"

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        super().__init__(response, client=client)
        self._accumulator = ResponseAccumulator()
        self._parsers: Dict[str, Callable[[Dict[str, Any]], ResponseStreamEvent]] = _event_parsers("responses")
        self._received_event = False

    def _end_without_terminator(self) -> None:
        # The Responses stream may end at the end of the body with no terminal event and no `[DONE]` (reference
        # 3.5: converted models do). A transport failure mid-body has already raised; a body that ended cleanly
        # after events is the server's end, and the final response then carries no status (see
        # get_final_response). A body with no event at all is not an answer.
        if not self._received_event:
            super()._end_without_terminator()
        self._done = True

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError as exc:
            raise self._undecodable(data, event_type, f"is not valid JSON ({exc})") from None
        if type(payload) is not dict:
            raise self._undecodable(data, event_type, f"is {describe_json(payload)}, not an event object")
        kind = payload.get("type")
        if (
            kind == "error"
            or event_type == "error"
            or ("error" in payload and kind is None and is_error_payload(payload))
        ):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        self._received_event = True
        self._text = self._accumulator.add(payload)
        if kind in _RESPONSE_TERMINAL:
            self._done = True
        parse = self._parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            return UnknownStreamEvent.from_dict(payload, event_type)
        return parse(payload)

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of the `response.output_text.delta` events, in order."""
        return self._iter_text()

    async def get_final_response(self) -> Response:
        """Read the stream to its end and return the final `Response` (`output_text` gives its whole text).

        That is the `response` of the terminal event. A stream that ended with `[DONE]`, or at the end of the
        body, before any (converted models do) gives the response assembled from the events, with `status`
        None: the server never said how it ended, and "completed" would be a guess."""
        async for _ in self:
            pass
        self._require_complete("get_final_response")
        from ..types import Response

        return self._recorded(Response.from_dict(self._accumulator.result()))
