"""The events of the streaming helpers `chat.completions.stream(...)` and `messages.stream(...)`.

Named and shaped as openai-python's `openai.lib.streaming.chat` events and anthropic-sdk-python's `MessageStream`
events, so code written against those helpers reads the same here. Each class's `type` is a Literal, so
`event.type == "content.delta"` narrows a `ChatCompletionStreamEvent` to its class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Literal, Optional, TypeVar, Union

if TYPE_CHECKING:
    from typing_extensions import TypeAlias

    from .types import ChatCompletion, ChatCompletionChunk, MessageStreamEvent

__all__ = [
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "InputJsonEvent",
    "MessageHelperStreamEvent",
    "ParsedChatCompletionStreamEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "SignatureEvent",
    "TextEvent",
    "ThinkingEvent",
]


ContentT = TypeVar("ContentT")


class _Event:
    __slots__ = ()
    type: ClassVar[str]

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names if name[0] != "_")
        return f"{type(self).__name__}(type={self.type!r}, {fields})"


class ChunkEvent(_Event):
    """Every chunk, first of the events it produces: `chunk`, and `snapshot`, the completion assembled up to and
    including this chunk."""

    __slots__ = ("__weakref__", "_snapshot", "chunk")
    type: ClassVar[Literal["chunk"]] = "chunk"

    def __init__(self, chunk: ChatCompletionChunk, snapshot: Callable[[], ChatCompletion]) -> None:
        self.chunk = chunk
        self._snapshot: Union[ChatCompletion, Callable[[], ChatCompletion]] = snapshot

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion assembled from the chunks up to this one (built on first read)."""
        snapshot = self._snapshot
        if callable(snapshot):
            snapshot = self._snapshot = snapshot()
        return snapshot

    def _freeze(self) -> None:
        """Build the snapshot now: the stream is about to read the next chunk (called only for an event someone
        still holds, so a loop that never reads `snapshot` never pays for it)."""
        _ = self.snapshot


class ContentDeltaEvent(_Event):
    """Text added to a choice's content: `delta`, and `snapshot`, the choice's whole content so far."""

    __slots__ = ("choice_index", "delta", "snapshot")
    type: ClassVar[Literal["content.delta"]] = "content.delta"

    def __init__(self, delta: str, snapshot: str, choice_index: int) -> None:
        self.delta = delta
        self.snapshot = snapshot
        self.choice_index = choice_index


class ContentDoneEvent(_Event, Generic[ContentT]):
    """A choice's content is complete (its `finish_reason` arrived): `content`, and `parsed`, the content read as
    the `response_format` type given to `stream` (None without one, or when the choice was cut short): a
    `ContentDoneEvent[T]` from `stream(..., response_format=T)`."""

    __slots__ = ("choice_index", "content", "parsed")
    type: ClassVar[Literal["content.done"]] = "content.done"

    def __init__(self, content: str, choice_index: int, parsed: Optional[ContentT] = None) -> None:
        self.content = content
        self.choice_index = choice_index
        self.parsed = parsed


class RefusalDeltaEvent(_Event):
    """Text added to a choice's refusal: `delta`, and `snapshot`, the refusal so far."""

    __slots__ = ("choice_index", "delta", "snapshot")
    type: ClassVar[Literal["refusal.delta"]] = "refusal.delta"

    def __init__(self, delta: str, snapshot: str, choice_index: int) -> None:
        self.delta = delta
        self.snapshot = snapshot
        self.choice_index = choice_index


class RefusalDoneEvent(_Event):
    """A choice's refusal is complete: `refusal`."""

    __slots__ = ("choice_index", "refusal")
    type: ClassVar[Literal["refusal.done"]] = "refusal.done"

    def __init__(self, refusal: str, choice_index: int) -> None:
        self.refusal = refusal
        self.choice_index = choice_index


class FunctionToolCallArgumentsDeltaEvent(_Event):
    """A piece of a tool call's arguments: `arguments_delta`, and `arguments`, the JSON text so far; `name` and
    `index` (the tool call's position in the message)."""

    __slots__ = ("arguments", "arguments_delta", "choice_index", "index", "name")
    type: ClassVar[Literal["tool_calls.function.arguments.delta"]] = "tool_calls.function.arguments.delta"

    def __init__(self, name: str, index: int, arguments: str, arguments_delta: str, choice_index: int) -> None:
        self.name = name
        self.index = index
        self.arguments = arguments
        self.arguments_delta = arguments_delta
        self.choice_index = choice_index


class FunctionToolCallArgumentsDoneEvent(_Event):
    """A tool call's arguments are complete (the next tool call began, or the choice finished): `name`,
    `index`, `arguments` (the JSON text; `parsed_arguments` is its parse, None when it is not valid JSON)."""

    __slots__ = ("arguments", "choice_index", "index", "name", "parsed_arguments")
    type: ClassVar[Literal["tool_calls.function.arguments.done"]] = "tool_calls.function.arguments.done"

    def __init__(self, name: str, index: int, arguments: str, parsed_arguments: Any, choice_index: int) -> None:
        self.name = name
        self.index = index
        self.arguments = arguments
        self.parsed_arguments = parsed_arguments
        self.choice_index = choice_index


ParsedChatCompletionStreamEvent: TypeAlias = Union[
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent[ContentT],
    RefusalDeltaEvent,
    RefusalDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
]
"""What iterating `chat.completions.stream(..., response_format=T)` yields: `content.done` carries a `T`
(openai-python's `ChatCompletionStreamEvent[T]`)."""

# Any: the parsed streams narrow it (their `parsed` is a T), and a ContentDoneEvent[T] is one of these events.
ChatCompletionStreamEvent: TypeAlias = ParsedChatCompletionStreamEvent[Any]
"""What iterating `chat.completions.stream(...)` yields (openai-python's `ChatCompletionStreamEvent`)."""


class TextEvent(_Event):
    """Text added to a text block (after its `content_block_delta`): `text`, and `snapshot`, the block so far."""

    __slots__ = ("index", "snapshot", "text")
    type: ClassVar[Literal["text"]] = "text"

    def __init__(self, text: str, snapshot: str, index: int) -> None:
        self.text = text
        self.snapshot = snapshot
        self.index = index


class ThinkingEvent(_Event):
    """Text added to a thinking block: `thinking`, and `snapshot`, the block's thinking so far."""

    __slots__ = ("index", "snapshot", "thinking")
    type: ClassVar[Literal["thinking"]] = "thinking"

    def __init__(self, thinking: str, snapshot: str, index: int) -> None:
        self.thinking = thinking
        self.snapshot = snapshot
        self.index = index


class SignatureEvent(_Event):
    """The signature of a thinking block: `signature`."""

    __slots__ = ("index", "signature")
    type: ClassVar[Literal["signature"]] = "signature"

    def __init__(self, signature: str, index: int) -> None:
        self.signature = signature
        self.index = index


class InputJsonEvent(_Event):
    """A piece of a tool_use block's input: `partial_json`, and `snapshot`, the JSON text so far (anthropic's
    helper parses partial JSON into an object here; the parsed input is in `get_final_message()`)."""

    __slots__ = ("index", "partial_json", "snapshot")
    type: ClassVar[Literal["input_json"]] = "input_json"

    def __init__(self, partial_json: str, snapshot: str, index: int) -> None:
        self.partial_json = partial_json
        self.snapshot = snapshot
        self.index = index


MessageHelperStreamEvent: TypeAlias = Union[
    "MessageStreamEvent", TextEvent, ThinkingEvent, SignatureEvent, InputJsonEvent
]
"""What iterating `messages.stream(...)` yields: every event of the API, each `content_block_delta` followed by
its `text`, `thinking`, `signature` or `input_json` event (anthropic-sdk-python's `MessageStreamEvent`)."""
