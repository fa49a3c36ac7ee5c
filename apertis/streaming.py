"""The stream classes and event types, for annotations and `isinstance` checks.

```python
from apertis.streaming import MessageStream, MessageStreamEvent

def print_text(stream: MessageStream) -> None:
    event: MessageStreamEvent
    for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            print(event.delta.text, end="")
```

`create(..., stream=True)` returns the per-API class (`ChatCompletionStream`, `MessageStream`,
`ResponseStream`, and their `Async` twins), which `with` / `async with` keep. The Messages and Responses streams
yield the members of `MessageStreamEvent` / `ResponseStreamEvent`, told apart by `type`; an event of a type this
SDK does not know arrives as an `UnknownStreamEvent`, whose `type` is `"unknown"` (the server's type is its
`unknown_type`). `chat.completions.stream(...)` and `messages.stream(...)` (openai-python's and
anthropic-sdk-python's helpers) return a `ChatCompletionStreamManager` / `MessageStreamManager`, whose block yields
a `ChatCompletionEventStream` / `MessageEventStream` of `ChatCompletionStreamEvent` / `MessageHelperStreamEvent`
(`responses.stream(...)`: a `ResponseStreamManager` and `ResponseEventStream` of the API's events);
given a type (`response_format=T`, `output_format=T`), a `Parsed...StreamManager[T]` whose block yields a
`ParsedChatCompletionEventStream[T]` / `ParsedMessageEventStream[T]` / `ParsedResponseEventStream[T]` (the final
object carries the parsed value).
Names load on first use (PEP 562): importing this module imports no stream code and no model.
"""

# The `X as X` imports mark the names as re-exported for type checkers; the lint rule against them is for code.
# ruff: noqa: PLC0414

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

if TYPE_CHECKING:
    from ._async._stream_helpers import AsyncChatCompletionEventStream as AsyncChatCompletionEventStream
    from ._async._stream_helpers import AsyncChatCompletionStreamManager as AsyncChatCompletionStreamManager
    from ._async._stream_helpers import AsyncMessageEventStream as AsyncMessageEventStream
    from ._async._stream_helpers import AsyncMessageStreamManager as AsyncMessageStreamManager
    from ._async._stream_helpers import AsyncParsedChatCompletionEventStream as AsyncParsedChatCompletionEventStream
    from ._async._stream_helpers import AsyncParsedChatCompletionStreamManager as AsyncParsedChatCompletionStreamManager
    from ._async._stream_helpers import AsyncParsedMessageEventStream as AsyncParsedMessageEventStream
    from ._async._stream_helpers import AsyncParsedMessageStreamManager as AsyncParsedMessageStreamManager
    from ._async._stream_helpers import AsyncParsedResponseEventStream as AsyncParsedResponseEventStream
    from ._async._stream_helpers import AsyncParsedResponseStreamManager as AsyncParsedResponseStreamManager
    from ._async._stream_helpers import AsyncResponseEventStream as AsyncResponseEventStream
    from ._async._stream_helpers import AsyncResponseStreamManager as AsyncResponseStreamManager
    from ._async._streaming import AsyncChatCompletionStream as AsyncChatCompletionStream
    from ._async._streaming import AsyncMessageStream as AsyncMessageStream
    from ._async._streaming import AsyncResponseStream as AsyncResponseStream
    from ._async._streaming import AsyncStream as AsyncStream
    from ._helper_events import ChatCompletionStreamEvent as ChatCompletionStreamEvent
    from ._helper_events import ChunkEvent as ChunkEvent
    from ._helper_events import ContentDeltaEvent as ContentDeltaEvent
    from ._helper_events import ContentDoneEvent as ContentDoneEvent
    from ._helper_events import FunctionToolCallArgumentsDeltaEvent as FunctionToolCallArgumentsDeltaEvent
    from ._helper_events import FunctionToolCallArgumentsDoneEvent as FunctionToolCallArgumentsDoneEvent
    from ._helper_events import InputJsonEvent as InputJsonEvent
    from ._helper_events import MessageHelperStreamEvent as MessageHelperStreamEvent
    from ._helper_events import ParsedChatCompletionStreamEvent as ParsedChatCompletionStreamEvent
    from ._helper_events import RefusalDeltaEvent as RefusalDeltaEvent
    from ._helper_events import RefusalDoneEvent as RefusalDoneEvent
    from ._helper_events import SignatureEvent as SignatureEvent
    from ._helper_events import TextEvent as TextEvent
    from ._helper_events import ThinkingEvent as ThinkingEvent
    from ._sync._stream_helpers import ChatCompletionEventStream as ChatCompletionEventStream
    from ._sync._stream_helpers import ChatCompletionStreamManager as ChatCompletionStreamManager
    from ._sync._stream_helpers import MessageEventStream as MessageEventStream
    from ._sync._stream_helpers import MessageStreamManager as MessageStreamManager
    from ._sync._stream_helpers import ParsedChatCompletionEventStream as ParsedChatCompletionEventStream
    from ._sync._stream_helpers import ParsedChatCompletionStreamManager as ParsedChatCompletionStreamManager
    from ._sync._stream_helpers import ParsedMessageEventStream as ParsedMessageEventStream
    from ._sync._stream_helpers import ParsedMessageStreamManager as ParsedMessageStreamManager
    from ._sync._stream_helpers import ParsedResponseEventStream as ParsedResponseEventStream
    from ._sync._stream_helpers import ParsedResponseStreamManager as ParsedResponseStreamManager
    from ._sync._stream_helpers import ResponseEventStream as ResponseEventStream
    from ._sync._stream_helpers import ResponseStreamManager as ResponseStreamManager
    from ._sync._streaming import ChatCompletionStream as ChatCompletionStream
    from ._sync._streaming import MessageStream as MessageStream
    from ._sync._streaming import ResponseStream as ResponseStream
    from ._sync._streaming import Stream as Stream
    from ._unknown_event import UnknownStreamEvent as UnknownStreamEvent
    from .types import MessageStreamEvent as MessageStreamEvent
    from .types import ResponseStreamEvent as ResponseStreamEvent

# name -> (module relative to this package, attribute)
_LAZY: Dict[str, Tuple[str, str]] = {
    "Stream": ("._sync._streaming", "Stream"),
    "AsyncStream": ("._async._streaming", "AsyncStream"),
    "ChatCompletionStream": ("._sync._streaming", "ChatCompletionStream"),
    "AsyncChatCompletionStream": ("._async._streaming", "AsyncChatCompletionStream"),
    "MessageStream": ("._sync._streaming", "MessageStream"),
    "AsyncMessageStream": ("._async._streaming", "AsyncMessageStream"),
    "ResponseStream": ("._sync._streaming", "ResponseStream"),
    "AsyncResponseStream": ("._async._streaming", "AsyncResponseStream"),
    "MessageStreamEvent": (".types", "MessageStreamEvent"),
    "ResponseStreamEvent": (".types", "ResponseStreamEvent"),
    "UnknownStreamEvent": ("._unknown_event", "UnknownStreamEvent"),
    # the helpers `chat.completions.stream(...)` and `messages.stream(...)` and their events
    "ChatCompletionStreamManager": ("._sync._stream_helpers", "ChatCompletionStreamManager"),
    "AsyncChatCompletionStreamManager": ("._async._stream_helpers", "AsyncChatCompletionStreamManager"),
    "ChatCompletionEventStream": ("._sync._stream_helpers", "ChatCompletionEventStream"),
    "AsyncChatCompletionEventStream": ("._async._stream_helpers", "AsyncChatCompletionEventStream"),
    "MessageStreamManager": ("._sync._stream_helpers", "MessageStreamManager"),
    "AsyncMessageStreamManager": ("._async._stream_helpers", "AsyncMessageStreamManager"),
    "MessageEventStream": ("._sync._stream_helpers", "MessageEventStream"),
    "AsyncMessageEventStream": ("._async._stream_helpers", "AsyncMessageEventStream"),
    # ... with a type (`response_format=T`, `output_format=T`): structured outputs
    "ParsedChatCompletionStreamManager": ("._sync._stream_helpers", "ParsedChatCompletionStreamManager"),
    "AsyncParsedChatCompletionStreamManager": ("._async._stream_helpers", "AsyncParsedChatCompletionStreamManager"),
    "ParsedChatCompletionEventStream": ("._sync._stream_helpers", "ParsedChatCompletionEventStream"),
    "AsyncParsedChatCompletionEventStream": ("._async._stream_helpers", "AsyncParsedChatCompletionEventStream"),
    "ParsedMessageStreamManager": ("._sync._stream_helpers", "ParsedMessageStreamManager"),
    "AsyncParsedMessageStreamManager": ("._async._stream_helpers", "AsyncParsedMessageStreamManager"),
    "ParsedMessageEventStream": ("._sync._stream_helpers", "ParsedMessageEventStream"),
    "AsyncParsedMessageEventStream": ("._async._stream_helpers", "AsyncParsedMessageEventStream"),
    "ResponseStreamManager": ("._sync._stream_helpers", "ResponseStreamManager"),
    "AsyncResponseStreamManager": ("._async._stream_helpers", "AsyncResponseStreamManager"),
    "ResponseEventStream": ("._sync._stream_helpers", "ResponseEventStream"),
    "AsyncResponseEventStream": ("._async._stream_helpers", "AsyncResponseEventStream"),
    "ParsedResponseStreamManager": ("._sync._stream_helpers", "ParsedResponseStreamManager"),
    "AsyncParsedResponseStreamManager": ("._async._stream_helpers", "AsyncParsedResponseStreamManager"),
    "ParsedResponseEventStream": ("._sync._stream_helpers", "ParsedResponseEventStream"),
    "AsyncParsedResponseEventStream": ("._async._stream_helpers", "AsyncParsedResponseEventStream"),
    "ChatCompletionStreamEvent": ("._helper_events", "ChatCompletionStreamEvent"),
    "ChunkEvent": ("._helper_events", "ChunkEvent"),
    "ContentDeltaEvent": ("._helper_events", "ContentDeltaEvent"),
    "ContentDoneEvent": ("._helper_events", "ContentDoneEvent"),
    "FunctionToolCallArgumentsDeltaEvent": ("._helper_events", "FunctionToolCallArgumentsDeltaEvent"),
    "FunctionToolCallArgumentsDoneEvent": ("._helper_events", "FunctionToolCallArgumentsDoneEvent"),
    "InputJsonEvent": ("._helper_events", "InputJsonEvent"),
    "ParsedChatCompletionStreamEvent": ("._helper_events", "ParsedChatCompletionStreamEvent"),
    "MessageHelperStreamEvent": ("._helper_events", "MessageHelperStreamEvent"),
    "RefusalDeltaEvent": ("._helper_events", "RefusalDeltaEvent"),
    "RefusalDoneEvent": ("._helper_events", "RefusalDoneEvent"),
    "SignatureEvent": ("._helper_events", "SignatureEvent"),
    "TextEvent": ("._helper_events", "TextEvent"),
    "ThinkingEvent": ("._helper_events", "ThinkingEvent"),
}

__all__ = [
    "AsyncChatCompletionEventStream",
    "AsyncChatCompletionStream",
    "AsyncChatCompletionStreamManager",
    "AsyncMessageEventStream",
    "AsyncMessageStream",
    "AsyncMessageStreamManager",
    "AsyncParsedChatCompletionEventStream",
    "AsyncParsedChatCompletionStreamManager",
    "AsyncParsedMessageEventStream",
    "AsyncParsedMessageStreamManager",
    "AsyncParsedResponseEventStream",
    "AsyncParsedResponseStreamManager",
    "AsyncResponseEventStream",
    "AsyncResponseStream",
    "AsyncResponseStreamManager",
    "AsyncStream",
    "ChatCompletionEventStream",
    "ChatCompletionStream",
    "ChatCompletionStreamEvent",
    "ChatCompletionStreamManager",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "InputJsonEvent",
    "MessageEventStream",
    "MessageHelperStreamEvent",
    "MessageStream",
    "MessageStreamEvent",
    "MessageStreamManager",
    "ParsedChatCompletionEventStream",
    "ParsedChatCompletionStreamEvent",
    "ParsedChatCompletionStreamManager",
    "ParsedMessageEventStream",
    "ParsedMessageStreamManager",
    "ParsedResponseEventStream",
    "ParsedResponseStreamManager",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "ResponseEventStream",
    "ResponseStream",
    "ResponseStreamEvent",
    "ResponseStreamManager",
    "SignatureEvent",
    "Stream",
    "TextEvent",
    "ThinkingEvent",
    "UnknownStreamEvent",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0], __package__), target[1])
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
