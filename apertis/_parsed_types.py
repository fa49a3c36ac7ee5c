"""The results of the `parse` methods: the generated models, plus the reply read as the caller's type.

Hand-written subclasses of the generated attrs models (the generator never writes this module; apertis.types
exports the names through `extra_type_exports`). Each is the API's object as received (`to_dict()` gives back exactly
what the server sent, never the parsed value) with one more field: `message.parsed` (chat), `output_parsed`
(Responses), `parsed_output` (Messages). Generic in the parsed type, as openai-python's `ParsedChatCompletion[T]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, List, Mapping, Optional, TypeVar

from attrs import define as _attrs_define

from .types.chat_completion import ChatCompletion
from .types.chat_completion_choice import ChatCompletionChoice
from .types.chat_completion_message import ChatCompletionMessage
from .types.message import Message
from .types.response import Response

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedMessage",
    "ParsedResponse",
]

ContentT = TypeVar("ContentT")


@_attrs_define(repr=False, kw_only=True, getstate_setstate=False)
class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ContentT]):
    """A chat completion's assistant message with `parsed`: its content read as the requested type.

    `parsed` is None when the model refused (`refusal` says why) or answered with tool calls only.
    """

    parsed: Optional[ContentT] = None
    """The content as the type given to `parse` (None on a refusal or a reply without content)."""

    _field_names: ClassVar[tuple[str, ...]] = (*ChatCompletionMessage._field_names, "parsed")

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build the message from JSON data (see ChatCompletionMessage.from_dict); `parsed` starts as None."""
        self = super().from_dict(src_dict)
        self.parsed = None
        return self


class ParsedChoice(ChatCompletionChoice, Generic[ContentT]):
    """A choice whose `message` is a ParsedChatCompletionMessage."""

    __slots__ = ()

    if TYPE_CHECKING:
        message: ParsedChatCompletionMessage[ContentT]


class ParsedChatCompletion(ChatCompletion, Generic[ContentT]):
    """What `chat.completions.parse` returns: the ChatCompletion, each choice's message with `parsed`."""

    __slots__ = ()

    if TYPE_CHECKING:
        choices: List[ParsedChoice[ContentT]]  # type: ignore[assignment]  # narrowed, as openai-python does


@_attrs_define(repr=False, kw_only=True, getstate_setstate=False)
class ParsedResponse(Response, Generic[ContentT]):
    """What `responses.parse` returns: the Response with `output_parsed`, its `output_text` read as the
    requested type (None when the model refused)."""

    output_parsed: Optional[ContentT] = None
    """The output text as the type given to `parse` (None on a refusal)."""

    _field_names: ClassVar[tuple[str, ...]] = (*Response._field_names, "output_parsed")

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build the response from JSON data (see Response.from_dict); `output_parsed` starts as None."""
        self = super().from_dict(src_dict)
        self.output_parsed = None
        return self


@_attrs_define(repr=False, kw_only=True, getstate_setstate=False)
class ParsedMessage(Message, Generic[ContentT]):
    """What `messages.parse` returns: the Message with `parsed_output`, the forced tool's input (or, in
    `json_schema` mode, the text) read as the requested type (None when the model refused)."""

    parsed_output: Optional[ContentT] = None
    """The structured output as the type given to `parse` (None on a refusal)."""

    _field_names: ClassVar[tuple[str, ...]] = (*Message._field_names, "parsed_output")

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build the message from JSON data (see Message.from_dict); `parsed_output` starts as None."""
        self = super().from_dict(src_dict)
        self.parsed_output = None
        return self
