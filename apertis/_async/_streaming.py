"""Streamed responses: `AsyncStream` and the stream classes of chat completions, messages and responses.

A stream owns its HTTP response from the moment the request loop hands it over (after a 2xx status, so HTTP
errors before the first byte were already raised and retried like any other call). It decodes the SSE body,
parses each event into the generated model, and guarantees three things:

- it never ends quietly on half an answer: a transport failure mid-stream raises APIConnectionError or
  APITimeoutError, and a body that ends before the API's terminator raises APIConnectionError;
- an error reported inside the stream raises the APIStatusError subclass of the status it stands for;
- the response is always released: a fully read stream drains the body's last bytes (within a size and time
  budget, see `_stream_events.DRAIN_BUDGET`) so the connection goes back to the pool, and breaking out of the
  loop, an exception, a cancelled task or `close()` closes it.
"""

from __future__ import annotations

import logging
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
    Union,
)

import httpx

from .._accumulate import ChatCompletionAccumulator, MessageAccumulator, ResponseAccumulator
from .._exceptions import APIResponseValidationError, attach_response
from .._sse import SSEDecoder
from .._stream_events import (
    AsyncCloseAlias,
    AsyncDrain,
    UnknownStreamEvent,
    is_error_payload,
    loads_event_data,
    stream_error,
    transport_error,
    truncated_stream_error,
)

if TYPE_CHECKING:
    from ..types import (
        ChatCompletion,
        ChatCompletionChunk,
        ContentBlockDeltaEvent,
        ContentBlockStartEvent,
        ContentBlockStopEvent,
        Message,
        MessageDeltaEvent,
        MessageStartEvent,
        MessageStopEvent,
        Response,
        ResponseCompletedEvent,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseCreatedEvent,
        ResponseFailedEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseFunctionCallArgumentsDoneEvent,
        ResponseIncompleteEvent,
        ResponseInProgressEvent,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseOutputTextDeltaEvent,
        ResponseOutputTextDoneEvent,
        ResponseReasoningSummaryTextDeltaEvent,
        ResponseReasoningSummaryTextDoneEvent,
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

log = logging.getLogger("apertis")

_T = TypeVar("_T")

# Returned by an event handler for an event that produces no item (the terminator, a ping, a non-JSON line).
_SKIP: Any = object()

_loads = loads_event_data

# The event models of each API are imported when its first stream is built (see `_event_parsers`), not with this
# module: every resource module imports it, and a chat call has no use for the forty-odd Messages and Responses
# event modules.
_Parser = Callable[[Dict[str, Any]], Any]
_parsers: Dict[str, Dict[str, _Parser]] = {}

if TYPE_CHECKING:
    MessageStreamEvent = Union[
        MessageStartEvent,
        ContentBlockStartEvent,
        ContentBlockDeltaEvent,
        ContentBlockStopEvent,
        MessageDeltaEvent,
        MessageStopEvent,
        UnknownStreamEvent,
    ]
    """An event of a Messages API stream (`ping` keep-alives are skipped; unknown types arrive as
    UnknownStreamEvent)."""

    ResponseStreamEvent = Union[
        ResponseCreatedEvent,
        ResponseInProgressEvent,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseOutputTextDeltaEvent,
        ResponseOutputTextDoneEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseFunctionCallArgumentsDoneEvent,
        ResponseReasoningSummaryTextDeltaEvent,
        ResponseReasoningSummaryTextDoneEvent,
        ResponseCompletedEvent,
        ResponseFailedEvent,
        ResponseIncompleteEvent,
        UnknownStreamEvent,
    ]
    """An event of a Responses API stream (unknown types arrive as UnknownStreamEvent)."""
else:

    def __getattr__(name: str) -> Any:
        # The two unions stay importable from this module at runtime; building them imports their models.
        if name not in ("MessageStreamEvent", "ResponseStreamEvent"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        api = "messages" if name == "MessageStreamEvent" else "responses"
        # Each parser is a classmethod bound to its model class.
        members = (*(parse.__self__ for parse in _event_parsers(api).values()), UnknownStreamEvent)
        value = Union[members]
        globals()[name] = value
        return value


def _event_parsers(api: Literal["chat", "messages", "responses"]) -> Dict[str, _Parser]:
    """The `from_dict` of each event type of `api` ("chat": the chunk under key ""), imported on first use."""
    parsers = _parsers.get(api)
    if parsers is not None:
        return parsers
    from .. import types

    if api == "chat":
        parsers = {"": types.ChatCompletionChunk.from_dict}
    elif api == "messages":
        parsers = {
            "message_start": types.MessageStartEvent.from_dict,
            "content_block_start": types.ContentBlockStartEvent.from_dict,
            "content_block_delta": types.ContentBlockDeltaEvent.from_dict,
            "content_block_stop": types.ContentBlockStopEvent.from_dict,
            "message_delta": types.MessageDeltaEvent.from_dict,
            "message_stop": types.MessageStopEvent.from_dict,
        }
    else:
        parsers = {
            "response.created": types.ResponseCreatedEvent.from_dict,
            "response.in_progress": types.ResponseInProgressEvent.from_dict,
            "response.output_item.added": types.ResponseOutputItemAddedEvent.from_dict,
            "response.output_item.done": types.ResponseOutputItemDoneEvent.from_dict,
            "response.content_part.added": types.ResponseContentPartAddedEvent.from_dict,
            "response.content_part.done": types.ResponseContentPartDoneEvent.from_dict,
            "response.output_text.delta": types.ResponseOutputTextDeltaEvent.from_dict,
            "response.output_text.done": types.ResponseOutputTextDoneEvent.from_dict,
            "response.function_call_arguments.delta": types.ResponseFunctionCallArgumentsDeltaEvent.from_dict,
            "response.function_call_arguments.done": types.ResponseFunctionCallArgumentsDoneEvent.from_dict,
            "response.reasoning_summary_text.delta": types.ResponseReasoningSummaryTextDeltaEvent.from_dict,
            "response.reasoning_summary_text.done": types.ResponseReasoningSummaryTextDoneEvent.from_dict,
            "response.completed": types.ResponseCompletedEvent.from_dict,
            "response.failed": types.ResponseFailedEvent.from_dict,
            "response.incomplete": types.ResponseIncompleteEvent.from_dict,
        }
    # Published whole, in one assignment: a stream built at the same time in another thread sees all or nothing.
    _parsers[api] = parsers
    return parsers


_RESPONSE_TERMINAL = frozenset(("response.completed", "response.failed", "response.incomplete"))


class AsyncStream(AsyncCloseAlias, Generic[_T]):
    """The events of one streamed response: iterate over it, or use it as a context manager that closes it.

    This base class yields each `data:` payload decoded from JSON and ends at `data: [DONE]`; the per-API
    subclasses yield typed events. `response` is the `httpx.Response` (headers, status); `retries_taken` how many
    times the call was retried before the stream opened.
    Breaking out of the loop, an exception in it, a cancelled task and `close()` all release the connection.
    """

    _terminator: ClassVar[str] = "data: [DONE]"

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        self.response = response
        self._client = client
        self._done = False  # the terminator arrived: the answer is complete
        self._text: Optional[str] = None  # the text the last event carried (what text_stream yields)
        self._iterator = self._iter_events()
        self.retries_taken = 0  # set by the request loop: how many retries it took before the stream opened

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        """Turn one SSE event (its data and `event:` type) into the item to yield, `_SKIP`, or an exception; set
        `_done` at the terminator."""
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError:
            log.debug("skipping a stream event that is not JSON: %.200r", data)
            return _SKIP
        if isinstance(payload, dict) and "error" in payload and is_error_payload(payload):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        return payload

    async def _iter_events(self) -> AsyncIterator[_T]:
        response = self.response
        handle = self._handle
        decoder = SSEDecoder()
        single_data = decoder.single_data
        chunks = response.aiter_bytes()
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
            except APIResponseValidationError as exc:
                # Raised by the decoding and accumulating code, which does not know the response.
                raise attach_response(exc, response, redact=self._client.api_key) from None
            if not self._done:
                raise truncated_stream_error(self._terminator, response)
            await AsyncDrain.drain(chunks, response)
        finally:
            await _close_iterator(chunks)
            await response.aclose()

    async def __anext__(self) -> _T:
        return await self._iterator.__anext__()

    async def __aiter__(self) -> AsyncIterator[_T]:
        # A fresh generator per loop, so that leaving the loop early (break, exception, cancellation) finalises
        # it, which closes the response even when the caller never calls close().
        try:
            async for item in self._iterator:
                yield item
        finally:
            await self.close()

    async def __aenter__(self) -> AsyncStream[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the stream and release its connection. Safe to call more than once."""
        await _close_iterator(self._iterator)
        await self.response.aclose()

    @property
    def completed(self) -> bool:
        """True once the stream's terminator arrived, so everything the server sent has been read."""
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


class AsyncChatCompletionStream(AsyncStream["ChatCompletionChunk"]):
    """The `chat.completion.chunk` objects of a streamed chat completion, until `data: [DONE]`.

    `text_stream` yields just the text of the first choice; `get_final_completion()` reads the rest of the stream
    and returns the assembled `ChatCompletion` (content, tool calls with their arguments joined, finish reason,
    usage). A chunk carrying a non-empty `error` object raises the matching APIStatusError.
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
        except ValueError:
            log.debug("skipping a chat stream event that is not JSON: %.200r", data)
            return _SKIP
        if type(payload) is not dict:
            log.debug("skipping a chat stream event that is not an object: %.200r", data)
            return _SKIP
        if "error" in payload and not payload.get("choices") and is_error_payload(payload):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        chunk = self._parse_chunk(payload)
        self._text = self._accumulator.add(chunk)
        return chunk

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text deltas of the first choice, in order (the `:web` progress note included)."""
        return self._iter_text()

    async def get_final_completion(self) -> ChatCompletion:
        """Read the stream to its end and return the whole completion assembled from the chunks."""
        async for _ in self:
            pass
        self._require_complete("get_final_completion")
        from ..types import ChatCompletion

        return ChatCompletion.from_dict(self._accumulator.result())


class AsyncMessageStream(AsyncStream["MessageStreamEvent"]):
    """The events of a streamed Messages API call, until `message_stop`.

    `ping` keep-alives are skipped; an `error` event raises the APIStatusError subclass of its type
    (`overloaded_error` -> 529 InternalServerError, `rate_limit_error` -> RateLimitError, ...). `text_stream`
    yields the text deltas; `get_final_message()` returns the assembled `Message`.
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
        except ValueError:
            return UnknownStreamEvent(event_type, data, event_type)
        if type(payload) is not dict:
            return UnknownStreamEvent(event_type, payload, event_type)
        kind = payload.get("type")
        if kind == "error" or ("error" in payload and kind is None and is_error_payload(payload)):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        self._text = self._accumulator.add(payload)
        if kind == "message_stop":
            self._done = True
        elif kind == "ping":
            return _SKIP
        parse = self._parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            return UnknownStreamEvent(kind if isinstance(kind, str) else event_type, payload, event_type)
        return parse(payload)

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of the `text_delta` events, in order (thinking and tool input left out)."""
        return self._iter_text()

    async def get_final_message(self) -> Message:
        """Read the stream to its end and return the whole message assembled from the events."""
        async for _ in self:
            pass
        self._require_complete("get_final_message")
        from ..types import Message

        return Message.from_dict(self._accumulator.result())


class AsyncResponseStream(AsyncStream["ResponseStreamEvent"]):
    """The events of a streamed Responses API call, until `response.completed` (or `.failed`, `.incomplete`).

    Events are told apart by their JSON `type`; `event:` lines are ignored. An `error` event, or a gateway
    payload with an `error` object, raises the matching APIStatusError. `text_stream` yields the
    `response.output_text.delta` texts; `get_final_response()` returns the final `Response`.
    """

    _terminator: ClassVar[str] = "response.completed"

    def __init__(self, response: httpx.Response, *, client: AsyncAPIClient) -> None:
        super().__init__(response, client=client)
        self._accumulator = ResponseAccumulator()
        self._parsers: Dict[str, Callable[[Dict[str, Any]], ResponseStreamEvent]] = _event_parsers("responses")

    def _handle(self, data: str, event_type: Optional[str]) -> Any:
        if data == "[DONE]":
            self._done = True
            return _SKIP
        try:
            payload = _loads(data)
        except ValueError:
            return UnknownStreamEvent(event_type, data, event_type)
        if type(payload) is not dict:
            return UnknownStreamEvent(event_type, payload, event_type)
        kind = payload.get("type")
        if kind == "error" or ("error" in payload and kind is None and is_error_payload(payload)):
            raise stream_error(payload, self.response, redact=self._client.api_key)
        self._text = self._accumulator.add(payload)
        if kind in _RESPONSE_TERMINAL:
            self._done = True
        parse = self._parsers.get(kind) if isinstance(kind, str) else None
        if parse is None:
            return UnknownStreamEvent(kind if isinstance(kind, str) else event_type, payload, event_type)
        return parse(payload)

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of the `response.output_text.delta` events, in order."""
        return self._iter_text()

    async def get_final_response(self) -> Response:
        """Read the stream to its end and return the final `Response` (`output_text` gives its whole text)."""
        async for _ in self:
            pass
        self._require_complete("get_final_response")
        from ..types import Response

        return Response.from_dict(self._accumulator.result())
