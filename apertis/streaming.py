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
`unknown_type`). Names load on first use (PEP 562): importing this module imports no stream code and no model.
"""

# The `X as X` imports mark the names as re-exported for type checkers; the lint rule against them is for code.
# ruff: noqa: PLC0414

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

if TYPE_CHECKING:
    from ._async._streaming import AsyncChatCompletionStream as AsyncChatCompletionStream
    from ._async._streaming import AsyncMessageStream as AsyncMessageStream
    from ._async._streaming import AsyncResponseStream as AsyncResponseStream
    from ._async._streaming import AsyncStream as AsyncStream
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
}

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncMessageStream",
    "AsyncResponseStream",
    "AsyncStream",
    "ChatCompletionStream",
    "MessageStream",
    "MessageStreamEvent",
    "ResponseStream",
    "ResponseStreamEvent",
    "Stream",
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
