"""`UnknownStreamEvent`: an event of a Messages or Responses stream whose `type` this SDK does not know.

Its own module (no httpx, no models) because the generated `MessageStreamEvent` and `ResponseStreamEvent` unions
name it at runtime: importing `apertis.types` must stay light.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Literal, Mapping, Optional

__all__ = ["UnknownStreamEvent"]


class UnknownStreamEvent:
    """An event whose `type` this version of the SDK does not know (from a newer server), passed through as received.

    Also what a part of an event of a union the SDK keeps open arrives as when its type is new: the `delta` of a
    `content_block_delta` (a `citations_delta`, say), so that `event.delta.type == "text_delta"` neither raises
    nor stops narrowing.

    A stream yields it in its loop like any other event, so nothing the server sent is hidden, and its `type`
    is always the literal `"unknown"`, so that `event.type == "content_block_delta"` narrows the event union
    under mypy and pyright (a variant typed `str` would stop that). The type the server sent is `unknown_type`:
    the JSON `type`, or the SSE `event:` name when the payload has none, or None. `data` is the decoded JSON
    object and `event` the SSE `event:` name. Attribute access reaches the payload's other fields, so code
    written for a newer SDK's event can often read it already. (Data that is not a JSON object is not an
    unknown event but a broken one: the streams raise APIResponseValidationError for it.)
    """

    __slots__ = ("data", "event", "unknown_type")

    type: ClassVar[Literal["unknown"]] = "unknown"
    """Always `"unknown"`: what tells this event apart from the ones the SDK knows."""

    def __init__(self, unknown_type: Optional[str], data: Mapping[str, Any], event: Optional[str] = None) -> None:
        self.unknown_type = unknown_type
        self.data = data
        self.event = event

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], event: Optional[str] = None) -> UnknownStreamEvent:
        """The event for a JSON object of no known type (`unknown_type` is its `type`, when that is a string)."""
        kind = data.get("type")
        return cls(kind if isinstance(kind, str) else event, data, event)

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not attributes: the payload's fields. (Looked up without recursion: during
        # unpickling `data` is not set yet.)
        data: Mapping[str, Any] = object.__getattribute__(self, "data")
        if name in data:
            return data[name]
        raise AttributeError(f"{type(self).__name__} of type {self.unknown_type!r} has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnknownStreamEvent):
            return NotImplemented
        return (self.unknown_type, self.data, self.event) == (other.unknown_type, other.data, other.event)

    __hash__ = None  # type: ignore[assignment]  # equal by value and mutable, like the models

    def to_dict(self) -> Dict[str, Any]:
        """The payload as received."""
        return dict(self.data)

    def __repr__(self) -> str:
        return f"UnknownStreamEvent(unknown_type={self.unknown_type!r}, data={self.data!r})"
