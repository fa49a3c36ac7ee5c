"""Hand-written methods of `client.messages` (the generated AsyncMessages inherits AsyncMessagesMixin).

`stream` is anthropic-sdk-python's streaming helper; `parse` and `stream` with an `output_format` type are
structured outputs (the logic is in apertis/_parse.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, Type, TypeVar, cast, overload

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._parse import MessagesOutputMode
    from ..._parsed_types import ParsedMessage
    from ..._tools import FunctionTool, ToolRun
    from ...types.message import Message
    from ...types.params import MessageParam
    from .._raw_response import AsyncAPIResponse, AsyncResponseContextManager
    from .._stream_helpers import AsyncMessageEventStream, AsyncMessageStreamManager, AsyncParsedMessageStreamManager
    from .._streaming import AsyncMessageStream
    from .._tool_runner import AsyncToolRunStream
    from ..resources.messages import AsyncMessages, MessageRunToolsParams, MessageStreamParams

__all__ = ["AsyncMessagesMixin", "AsyncMessagesRawMixin", "AsyncMessagesStreamingMixin"]

ContentT = TypeVar("ContentT")


class AsyncMessagesMixin(AsyncAPIResource):
    """`stream`: anthropic-sdk-python's streaming helper; `parse`: structured outputs; `run_tools`: the tool runner."""

    @overload
    async def run_tools(
        self,
        *,
        model: str,
        messages: Sequence[MessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: Literal[False] = False,
        **options: Unpack[MessageRunToolsParams],
    ) -> ToolRun[Message, MessageParam]: ...

    @overload
    def run_tools(
        self,
        *,
        model: str,
        messages: Sequence[MessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: Literal[True],
        **options: Unpack[MessageRunToolsParams],
    ) -> AsyncToolRunStream[AsyncMessageEventStream, Message, MessageParam]: ...

    def run_tools(  # type: ignore[misc]
        self: AsyncMessages,
        *,
        model: str,
        messages: Sequence[MessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: bool = False,
        **options: Any,
    ) -> Any:
        """Let the model call Python functions until it answers, as `chat.completions.run_tools` does, in the
        Messages format: the reply's `tool_use` blocks are run (concurrently on an async client), the results go
        back as `tool_result` blocks of one user message (`is_error` for a failure, which the run also keeps in
        `tool_calls` / `errors`), until a reply has no `tool_use` (the answer, `final`, a Message) or `max_turns`
        replies were made (MaxTurnsExceededError, with the run so far).

        ```python
        run = client.messages.run_tools(model="claude-sonnet-4.5", max_tokens=1024, messages=messages, tools=[add])
        print(run.final.content[-1])
        ```

        Args:
            model: The model id.
            messages: The conversation so far (not modified: the run's `messages` is a new list).
            tools: `apertis.function_tool(...)` tools (sent as `input_schema`, strict unless built with
                `strict=False`).
            max_turns: How many replies the model may make, at most (each is one request).
            stream: Stream each reply: returns the run as a stream of turns (with `result` and `until_done()`),
                each a `messages.stream` event stream; the last one is the answer.
            **options: Any other argument of `messages.create` (`max_tokens`, `system`, `tool_choice`, ...), sent
                with every request.
        """
        from .._tool_runner import messages_tool_loop, start

        return start(
            messages_tool_loop(self, model=model, messages=messages, tools=tools, max_turns=max_turns, options=options),
            stream,
        )

    @overload
    def stream(
        self,
        *,
        output_format: Type[ContentT],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> AsyncParsedMessageStreamManager[ContentT]: ...
    @overload
    def stream(self, **params: Unpack[MessageStreamParams]) -> AsyncMessageStreamManager: ...
    def stream(self, **params: Any) -> AsyncMessageStreamManager:
        """Stream a message as anthropic-sdk-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `messages.create` (without `stream`, which is implied). The request is sent when
        the block is entered; the block yields an event stream (every API event, plus `text`, `thinking`,
        `signature` and `input_json` events) with `text_stream`, `get_final_message()`, `get_final_text()`,
        `until_done()` and `current_message_snapshot`; leaving it closes the stream. An `anthropic-version`
        header (in `extra_headers` or the client's `default_headers`) is sent and the gateway ignores it.

        With `output_format` (and `output_mode`, `strict`), as `parse` takes them, the output is structured: it
        grows in the `input_json` events' `snapshot` (`tool` mode) or the `text` events' (`json_schema` mode), and
        `get_final_message()` returns a ParsedMessage with `parsed_output`.

        ```python
        with client.messages.stream(model="claude-sonnet-4.5", max_tokens=1024, messages=messages) as stream:
            for text in stream.text_stream:
                print(text, end="")
            message = stream.get_final_message()
        ```
        """
        from ..._parse import messages_request
        from .._stream_helpers import AsyncMessageStreamManager, AsyncParsedMessageStreamManager

        if "stream" in params:
            raise TypeError("messages.stream() always streams: drop the `stream` argument (or call create(stream=...))")
        mode = params.pop("output_mode", "tool")
        strict = params.pop("strict", True)
        output_format = params.pop("output_format", None)
        fmt = None
        if output_format is not None:
            added, fmt = messages_request(output_format, mode=mode, strict=strict, params=params)
            params.update(added)
        resource = cast("AsyncMessages", self)

        async def open_stream() -> AsyncMessageStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncMessageStream = await resource.create(**params, stream=True)
            return stream

        if fmt is None:
            return AsyncMessageStreamManager(open_stream)
        return AsyncParsedMessageStreamManager(open_stream, fmt, mode)

    @overload
    async def parse(
        self,
        *,
        output_format: Type[ContentT],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> ParsedMessage[ContentT]: ...
    @overload
    async def parse(
        self,
        *,
        output_format: Mapping[str, Any],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> ParsedMessage[Any]: ...
    async def parse(
        self, *, output_format: Any, output_mode: MessagesOutputMode = "tool", strict: bool = True, **params: Any
    ) -> ParsedMessage[Any]:
        """A message whose structured output is read as `output_format`: `parsed_output` is the object.

        `output_format` is a Pydantic model, a dataclass or a TypedDict (read by Pydantic: `apertis[pydantic]`), or
        a JSON-schema dict (`parsed_output` is the decoded JSON, validated when `jsonschema` is installed); its
        schema is made strict unless `strict=False`. `output_mode` says how it is asked for, since the SDK cannot
        tell without a billed call what the model behind the gateway supports:

        - `"tool"` (default): one tool whose input is the object, forced with `tool_choice` (the gateway documents
          `tools` and `tool_choice` for /messages; every Claude model supports it, but not with `thinking`
          enabled). `tools` and `tool_choice` cannot be passed as well.
        - `"json_schema"`: Anthropic's structured outputs, `output_format: {"type": "json_schema", ...}` (a beta,
          sent with its `anthropic-beta` header), which the gateway passes through but does not document; the JSON
          is the text of the reply.

        The other arguments are those of `create` (without `stream`: use `stream(...)`). `parsed_output` is None
        after a refusal (`stop_reason` `refusal`). Raises StructuredOutputValidationError for an output that does
        not validate, LengthFinishReasonError for `stop_reason` `max_tokens`.
        """
        from ..._parse import check_messages_params, messages_request, parsed_message

        check_messages_params(params)
        added, fmt = messages_request(output_format, mode=output_mode, strict=strict, params=params)
        params.update(added)
        resource = cast("AsyncMessages", self)
        message: Message = await resource.create(**params)
        return self._then(message, lambda message: parsed_message(message, fmt, mode=output_mode))


class AsyncMessagesRawMixin:
    """`parse` for `client.messages.with_raw_response` (the generated wrapper inherits it)."""

    _calls: AsyncMessages

    @overload
    async def parse(
        self,
        *,
        output_format: Type[ContentT],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> AsyncAPIResponse[ParsedMessage[ContentT]]: ...
    @overload
    async def parse(
        self,
        *,
        output_format: Mapping[str, Any],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> AsyncAPIResponse[ParsedMessage[Any]]: ...
    async def parse(self, **params: Any) -> AsyncAPIResponse[ParsedMessage[Any]]:
        """`messages.parse`, returning the raw response (`headers`, `status_code`, `request_id`, ...): its
        `parse()` gives the ParsedMessage and raises what the plain `parse` raises."""
        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return await calls.parse(**params)  # type: ignore[no-any-return]


class AsyncMessagesStreamingMixin:
    """`parse` for `client.messages.with_streaming_response` (the generated wrapper inherits it)."""

    _calls: AsyncMessages

    @overload
    def parse(
        self,
        *,
        output_format: Type[ContentT],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedMessage[ContentT]]]: ...
    @overload
    def parse(
        self,
        *,
        output_format: Mapping[str, Any],
        output_mode: MessagesOutputMode = "tool",
        strict: bool = True,
        **params: Unpack[MessageStreamParams],
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedMessage[Any]]]: ...
    def parse(self, **params: Any) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedMessage[Any]]]:
        """`messages.parse` as a context manager: `async with` it to send the call and get the raw response with
        its body unread; its `parse()` gives the ParsedMessage and raises what the plain `parse` raises."""
        from .._raw_response import AsyncResponseContextManager

        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return AsyncResponseContextManager(lambda: calls.parse(**params))
