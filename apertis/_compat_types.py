"""Type names of SDK 0.4.1's `apertis.types` that this SDK represents differently, kept so that code written for
0.4.1 still imports and annotates with them (reference section 14.2).

- `MessageStreamDelta`: 0.4.1 had one catch-all model for the `delta` of a Messages stream event. Here a
  `content_block_delta` carries one of the typed deltas (`TextDelta`, `InputJSONDelta`, `ThinkingDelta`,
  `SignatureDelta`, or `UnknownStreamEvent` for a newer kind) and a `message_delta` a `MessageDelta`; the name is
  their union, so `event.delta.text` after narrowing and annotations written for 0.4.1 keep working.
- `ResponseUnknownOutputItem`: 0.4.1's model for an output item of a type it did not know, all fields kept. Here
  such an item stays the JSON object the server sent (see "Malformed and unfamiliar data" in
  docs/ARCHITECTURE.md), so the name is that dict's type.
"""

from __future__ import annotations

from typing import Any, Dict, Union

from .types.content_block_delta import ContentBlockDelta
from .types.message_delta import MessageDelta

__all__ = ["MessageStreamDelta", "ResponseUnknownOutputItem"]

MessageStreamDelta = Union[ContentBlockDelta, MessageDelta]
"""The `delta` of a Messages stream event (SDK 0.4.1's name)."""

ResponseUnknownOutputItem = Dict[str, Any]
"""An output item of a type this SDK does not model: the JSON object as the server sent it (SDK 0.4.1's name)."""
