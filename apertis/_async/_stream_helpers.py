"""`chat.completions.stream(...)`, `messages.stream(...)` and `responses.stream(...)`: openai-python's and
anthropic-sdk-python's helpers.

Each is a context manager that opens the stream on entry (`create(..., stream=True)`, so retries, errors and
connection handling are those of the plain stream) and closes it on exit. What it yields is a thin layer over the
plain stream: the helper events of `apertis._helper_events`, derived from the chunks and events as they are read,
and the plain stream's accumulator for the final and current objects.
"""

from __future__ import annotations

import json
import weakref
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, Generic, List, Optional, Protocol, Tuple, TypeVar

from .._accumulate import ChatCompletionAccumulator
from .._helper_events import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    InputJsonEvent,
    MessageHelperStreamEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    SignatureEvent,
    TextEvent,
    ThinkingEvent,
)
from .._utils import AsyncFetch

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Self

    from .._helper_events import ParsedChatCompletionStreamEvent
    from .._parsed_types import ParsedChatCompletion, ParsedMessage, ParsedResponse
    from .._structured import OutputFormat
    from ..types import ChatCompletion, ChatCompletionChunk, Message, Response, ResponseStreamEvent
    from ._streaming import AsyncChatCompletionStream, AsyncMessageStream, AsyncResponseStream

__all__ = [
    "AsyncChatCompletionEventStream",
    "AsyncChatCompletionStreamManager",
    "AsyncMessageEventStream",
    "AsyncMessageStreamManager",
    "AsyncParsedChatCompletionEventStream",
    "AsyncParsedChatCompletionStreamManager",
    "AsyncParsedMessageEventStream",
    "AsyncParsedMessageStreamManager",
    "AsyncParsedResponseEventStream",
    "AsyncParsedResponseStreamManager",
    "AsyncResponseEventStream",
    "AsyncResponseStreamManager",
]

ContentT = TypeVar("ContentT")


class _Closable(Protocol):
    async def close(self) -> None: ...


_Raw = TypeVar("_Raw")


class _AsyncStreamManager(Generic[_Raw]):
    """Opens the stream on entry (`open_stream`, the plain stream's create call), closes it on exit."""

    def __init__(self, open_stream: AsyncFetch[_Raw]) -> None:
        self._open_stream = open_stream
        self._stream: Optional[_Closable] = None

    async def __aexit__(self, *exc_info: object) -> None:
        stream = self._stream
        if stream is not None:
            self._stream = None
            await stream.close()


class AsyncChatCompletionStreamManager(_AsyncStreamManager["AsyncChatCompletionStream"]):
    """What `chat.completions.stream(...)` returns: `async with` it to get an AsyncChatCompletionEventStream.

    The request is sent on entry, not before; leaving the block closes the stream (and its connection).
    """

    async def __aenter__(self) -> AsyncChatCompletionEventStream:
        stream = self._stream = AsyncChatCompletionEventStream(await self._open_stream())
        return stream


class AsyncMessageStreamManager(_AsyncStreamManager["AsyncMessageStream"]):
    """What `messages.stream(...)` returns: `async with` it to get an AsyncMessageEventStream.

    The request is sent on entry, not before; leaving the block closes the stream (and its connection).
    """

    async def __aenter__(self) -> AsyncMessageEventStream:
        stream = self._stream = AsyncMessageEventStream(await self._open_stream())
        return stream


class AsyncParsedChatCompletionStreamManager(AsyncChatCompletionStreamManager, Generic[ContentT]):
    """What `chat.completions.stream(..., response_format=T)` returns: its block yields an
    AsyncParsedChatCompletionEventStream[T]."""

    def __init__(self, open_stream: AsyncFetch[AsyncChatCompletionStream], fmt: OutputFormat[ContentT]) -> None:
        super().__init__(open_stream)
        self._format = fmt

    async def __aenter__(self) -> AsyncParsedChatCompletionEventStream[ContentT]:
        stream = self._stream = AsyncParsedChatCompletionEventStream(await self._open_stream(), self._format)
        return stream


class AsyncParsedMessageStreamManager(AsyncMessageStreamManager, Generic[ContentT]):
    """What `messages.stream(..., output_format=T)` returns: its block yields an AsyncParsedMessageEventStream[T]."""

    def __init__(self, open_stream: AsyncFetch[AsyncMessageStream], fmt: OutputFormat[ContentT], mode: str) -> None:
        super().__init__(open_stream)
        self._format = fmt
        self._mode = mode

    async def __aenter__(self) -> AsyncParsedMessageEventStream[ContentT]:
        stream = self._stream = AsyncParsedMessageEventStream(await self._open_stream(), self._format, self._mode)
        return stream


class AsyncResponseStreamManager(_AsyncStreamManager["AsyncResponseStream"]):
    """What `responses.stream(...)` returns: `async with` it to get an AsyncResponseEventStream.

    The request is sent on entry, not before; leaving the block closes the stream (and its connection).
    """

    async def __aenter__(self) -> AsyncResponseEventStream:
        stream = self._stream = AsyncResponseEventStream(await self._open_stream())
        return stream


class AsyncParsedResponseStreamManager(AsyncResponseStreamManager, Generic[ContentT]):
    """What `responses.stream(..., text_format=T)` returns: its block yields an AsyncParsedResponseEventStream[T]."""

    def __init__(self, open_stream: AsyncFetch[AsyncResponseStream], fmt: OutputFormat[ContentT]) -> None:
        super().__init__(open_stream)
        self._format = fmt

    async def __aenter__(self) -> AsyncParsedResponseEventStream[ContentT]:
        stream = self._stream = AsyncParsedResponseEventStream(await self._open_stream(), self._format)
        return stream


class _RawStream(Protocol):
    @property
    def response(self) -> httpx.Response: ...

    async def close(self) -> None: ...


_RawT = TypeVar("_RawT", bound=_RawStream)
_EventT = TypeVar("_EventT")


class _AsyncEventStream(Generic[_RawT, _EventT]):
    """What the helpers' event streams share: one iterator over `_events()` for every loop, reading to the end,
    closing, and an `async with` block that closes."""

    _raw: _RawT
    _iterator: Optional[AsyncIterator[_EventT]]

    @property
    def response(self) -> httpx.Response:
        """The HTTP response (status, headers)."""
        return self._raw.response

    def __aiter__(self) -> Self:
        # One iterator for every loop: breaking out of one leaves the stream open (the block closes it), so
        # get_final_*() or another loop goes on from there, as in the other SDKs' helpers.
        return self

    async def __anext__(self) -> _EventT:
        if self._iterator is None:
            self._iterator = self._events()
        return await self._iterator.__anext__()

    def _events(self) -> AsyncIterator[_EventT]:
        raise NotImplementedError

    async def until_done(self) -> Self:
        """Read the stream to its end (its events are still derived, for the snapshots)."""
        if self._iterator is None:
            self._iterator = self._events()
        async for _ in self._iterator:
            pass
        return self

    async def close(self) -> None:
        """Stop the stream and release its connection. Safe to call more than once."""
        await self._raw.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _ChoiceState:
    __slots__ = ("content", "done", "refusal", "tool_calls")

    def __init__(self) -> None:
        self.content = ""
        self.refusal = ""
        self.done = False
        # index -> [name, arguments so far, finished]
        self.tool_calls: Dict[int, List[object]] = {}


class AsyncChatCompletionEventStream(_AsyncEventStream["AsyncChatCompletionStream", ChatCompletionStreamEvent]):
    """The events of a chat completion stream, as openai-python's `ChatCompletionStream` yields them.

    Iterating yields, per chunk, a `chunk` event and then the `content.delta`, `refusal.delta` and
    `tool_calls.function.arguments.delta` events it carries; a choice's `finish_reason` brings its
    `content.done`, `refusal.done` and `tool_calls.function.arguments.done` events (a tool call's `.done` also
    comes when the next tool call of the choice begins). `get_final_completion()` reads what is left and returns
    the assembled `ChatCompletion`; `until_done()` reads what is left; `current_completion_snapshot` is the
    completion so far. `response` is the HTTP response, `close()` stops the stream.
    """

    def __init__(self, raw: AsyncChatCompletionStream) -> None:
        self._raw = raw
        self._choices: Dict[int, _ChoiceState] = {}
        self._iterator = None
        # The plain stream folds a chunk in before handing it over; this one folds it in after the previous
        # chunk's event has taken its snapshot (see ChunkEvent._freeze).
        self._accumulator = ChatCompletionAccumulator()

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion assembled from the chunks read so far."""
        return self._snapshot()

    def _snapshot(self) -> ChatCompletion:
        from ..types import ChatCompletion

        return ChatCompletion.from_dict(self._accumulator.result())

    async def _events(self) -> AsyncIterator[ChatCompletionStreamEvent]:
        previous: Optional[weakref.ReferenceType[ChunkEvent]] = None
        async for chunk in self._raw:
            held = previous() if previous is not None else None
            if held is not None:
                held._freeze()  # its snapshot must not include this chunk
                del held
            self._accumulator.add(chunk)
            chunk_event = ChunkEvent(chunk, self._snapshot)
            previous = weakref.ref(chunk_event)
            yield chunk_event
            del chunk_event
            for event in self._chunk_events(chunk):
                yield event

    def _chunk_events(self, chunk: ChatCompletionChunk) -> List[ChatCompletionStreamEvent]:
        events: List[ChatCompletionStreamEvent] = []
        for position, choice in enumerate(chunk.choices):
            index = choice.index if choice.index is not None else position
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _ChoiceState()
            delta = choice.delta
            if delta.content:
                state.content += delta.content
                events.append(ContentDeltaEvent(delta.content, state.content, index))
            if delta.refusal:
                state.refusal += delta.refusal
                events.append(RefusalDeltaEvent(delta.refusal, state.refusal, index))
            for call in delta.tool_calls or ():
                entry = state.tool_calls.get(call.index)
                if entry is None:
                    events.extend(_finish_tool_calls(state, index))  # a new call: the previous ones are complete
                    entry = state.tool_calls[call.index] = ["", "", False]
                function = call.function
                if function is not None and function.name:
                    entry[0] = str(entry[0]) + function.name
                piece = function.arguments if function is not None and function.arguments else ""
                entry[1] = str(entry[1]) + piece
                if piece:
                    events.append(
                        FunctionToolCallArgumentsDeltaEvent(str(entry[0]), call.index, str(entry[1]), piece, index)
                    )
            if choice.finish_reason is not None and not state.done:
                state.done = True
                if state.content:
                    events.append(ContentDoneEvent(state.content, index, self._parse_content(state.content, choice)))
                if state.refusal:
                    events.append(RefusalDoneEvent(state.refusal, index))
                events.extend(_finish_tool_calls(state, index))
        return events

    def _parse_content(self, content: str, choice: object) -> Any:
        return None  # the parsed stream reads it as its type

    async def get_final_completion(self) -> ChatCompletion:
        """Read the stream to its end and return the whole completion (see ChatCompletionStream)."""
        await self.until_done()
        return await self._raw.get_final_completion()


class AsyncParsedChatCompletionEventStream(AsyncChatCompletionEventStream, Generic[ContentT]):
    """A chat completion stream asked for a type (`stream(..., response_format=T)`): the events of
    AsyncChatCompletionEventStream, where each `content.delta` event's `snapshot` is the JSON so far and
    `content.done` carries `parsed`; `get_final_completion()` returns a ParsedChatCompletion[T], raising as
    `chat.completions.parse` does (LengthFinishReasonError, StructuredOutputValidationError, ...)."""

    def __init__(self, raw: AsyncChatCompletionStream, fmt: OutputFormat[ContentT]) -> None:
        super().__init__(raw)
        self._format = fmt

    if TYPE_CHECKING:  # the events are the base class's; the type checker learns that `parsed` is a ContentT

        async def __anext__(self) -> ParsedChatCompletionStreamEvent[ContentT]: ...

    def _parse_content(self, content: str, choice: object) -> Any:
        if getattr(choice, "finish_reason", None) in ("length", "content_filter"):
            return None  # get_final_completion() raises the error that says why
        return self._format.parse_json(content)

    async def get_final_completion(self) -> ParsedChatCompletion[ContentT]:
        """Read the stream to its end and return the whole completion, each choice's message with `parsed`."""
        from .._parse import parsed_chat_completion

        return parsed_chat_completion(await super().get_final_completion(), self._format)


def _finish_tool_calls(state: _ChoiceState, choice_index: int) -> List[ChatCompletionStreamEvent]:
    events: List[ChatCompletionStreamEvent] = []
    for call_index, entry in state.tool_calls.items():
        if entry[2]:
            continue
        entry[2] = True
        arguments = str(entry[1])
        try:
            parsed = json.loads(arguments) if arguments else None
        except ValueError:
            parsed = None
        events.append(FunctionToolCallArgumentsDoneEvent(str(entry[0]), call_index, arguments, parsed, choice_index))
    return events


class AsyncMessageEventStream(_AsyncEventStream["AsyncMessageStream", MessageHelperStreamEvent]):
    """The events of a Messages stream, as anthropic-sdk-python's `MessageStream` yields them.

    Iterating yields every event of the API (`message_start`, `content_block_start`, `content_block_delta`, ...,
    `message_stop`), each `content_block_delta` followed by its `text`, `thinking`, `signature` or `input_json`
    event. `text_stream` yields only the text; `get_final_message()` and `get_final_text()` read what is left and
    return the assembled `Message` / its text; `until_done()` reads what is left; `current_message_snapshot` is
    the message so far. `response` is the HTTP response, `close()` stops the stream.
    """

    def __init__(self, raw: AsyncMessageStream) -> None:
        self._raw = raw
        self._blocks: Dict[Tuple[str, int], str] = {}
        self._iterator = None

    @property
    def current_message_snapshot(self) -> Message:
        """The message assembled from the events read so far."""
        from ..types import Message

        return Message.from_dict(self._raw._accumulator.result())

    async def _events(self) -> AsyncIterator[MessageHelperStreamEvent]:
        async for event in self._raw:
            yield event
            if event.type == "content_block_delta":
                derived = self._derived(event.index, event.delta)
                if derived is not None:
                    yield derived

    def _derived(self, index: int, delta: object) -> Optional[MessageHelperStreamEvent]:
        kind = getattr(delta, "type", None)
        if kind == "text_delta":
            text = str(getattr(delta, "text", ""))
            return TextEvent(text, self._append("text", index, text), index)
        if kind == "thinking_delta":
            thinking = str(getattr(delta, "thinking", ""))
            return ThinkingEvent(thinking, self._append("thinking", index, thinking), index)
        if kind == "signature_delta":
            return SignatureEvent(str(getattr(delta, "signature", "")), index)
        if kind == "input_json_delta":
            partial = str(getattr(delta, "partial_json", ""))
            return InputJsonEvent(partial, self._append("input_json", index, partial), index)
        return None

    def _append(self, kind: str, index: int, text: str) -> str:
        snapshot = self._blocks[kind, index] = self._blocks.get((kind, index), "") + text
        return snapshot

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of the text blocks as it arrives (thinking and tool input left out)."""
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for event in self:
            if event.type == "text":
                yield event.text

    async def get_final_message(self) -> Message:
        """Read the stream to its end and return the whole message (see MessageStream.get_final_message)."""
        await self.until_done()
        return await self._raw.get_final_message()

    async def get_final_text(self) -> str:
        """Read the stream to its end and return the text of its text blocks, joined.

        Raises:
            APIResponseValidationError: the message has no text block (a reply of tool calls only).
        """
        message = await self.get_final_message()
        texts = [block.text for block in message.content if block.type == "text"]
        if not texts:
            from .._exceptions import invalid_data_error

            raise invalid_data_error("the message has no text block (read get_final_message() instead)")
        return "".join(texts)


class AsyncParsedMessageEventStream(AsyncMessageEventStream, Generic[ContentT]):
    """A Messages stream asked for a type (`stream(..., output_format=T)`): the events of AsyncMessageEventStream,
    where the structured output grows in the `input_json` events' `snapshot` (`tool` mode) or the `text` events'
    (`json_schema` mode); `get_final_message()` returns a ParsedMessage[T], raising as `messages.parse` does."""

    def __init__(self, raw: AsyncMessageStream, fmt: OutputFormat[ContentT], mode: str) -> None:
        super().__init__(raw)
        self._format = fmt
        self._mode = mode

    async def get_final_message(self) -> ParsedMessage[ContentT]:
        """Read the stream to its end and return the whole message with `parsed_output`."""
        from .._parse import parsed_message

        return parsed_message(await super().get_final_message(), self._format, mode=self._mode)


class AsyncResponseEventStream(_AsyncEventStream["AsyncResponseStream", "ResponseStreamEvent"]):
    """The events of a Responses stream, as openai-python's `responses.stream(...)` helper gives them.

    Iterating yields every event of the API (`ResponseStreamEvent`); `output_text` is the text of the
    `response.output_text.delta` events so far (with a `text_format`, the JSON as it grows). `get_final_response()`
    reads what is left and returns the final `Response`; `until_done()` reads what is left; `response` is the HTTP
    response, `close()` stops the stream.
    """

    def __init__(self, raw: AsyncResponseStream) -> None:
        self._raw = raw
        self._output_text = ""
        self._iterator = None

    @property
    def output_text(self) -> str:
        """The output text read so far."""
        return self._output_text

    async def _events(self) -> AsyncIterator[ResponseStreamEvent]:
        async for event in self._raw:
            if event.type == "response.output_text.delta":
                self._output_text += event.delta or ""
            yield event

    async def get_final_response(self) -> Response:
        """Read the stream to its end and return the final Response (see ResponseStream.get_final_response)."""
        await self.until_done()
        return await self._raw.get_final_response()


class AsyncParsedResponseEventStream(AsyncResponseEventStream, Generic[ContentT]):
    """A Responses stream asked for a type (`stream(..., text_format=T)`): the events of AsyncResponseEventStream,
    the JSON growing in `output_text`; `get_final_response()` returns a ParsedResponse[T] with `output_parsed`,
    raising as `responses.parse` does."""

    def __init__(self, raw: AsyncResponseStream, fmt: OutputFormat[ContentT]) -> None:
        super().__init__(raw)
        self._format = fmt

    async def get_final_response(self) -> ParsedResponse[ContentT]:
        """Read the stream to its end and return the final response with `output_parsed`."""
        from .._parse import parsed_response

        return parsed_response(await super().get_final_response(), self._format)
