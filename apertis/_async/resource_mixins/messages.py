"""Hand-written methods of `client.messages` (the generated AsyncMessages inherits AsyncMessagesMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Sequence, overload

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from ..._tools import FunctionTool, ToolRun
    from ...types import Message
    from ...types.params import MessageParam
    from .._stream_helpers import AsyncMessageEventStream, AsyncMessageStreamManager
    from .._streaming import AsyncMessageStream
    from .._tool_runner import AsyncToolRunStream
    from ..resources.messages import AsyncMessages

__all__ = ["AsyncMessagesMixin"]


class AsyncMessagesMixin(AsyncAPIResource):
    """`stream`: anthropic-sdk-python's streaming helper; `run_tools`: the tool runner."""

    @overload
    async def run_tools(
        self,
        *,
        model: str,
        messages: Sequence[MessageParam],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int = 10,
        stream: Literal[False] = False,
        **options: Any,
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
        **options: Any,
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
            stream: Stream each reply: returns an AsyncToolRunStream (ToolRunStream on Apertis) whose turns are
                `messages.stream` event streams; the last one is the answer.
            **options: Any other argument of `messages.create` (`max_tokens`, `system`, `tool_choice`, ...), sent
                with every request.
        """
        from .._tool_runner import messages_tool_loop, start

        return start(
            messages_tool_loop(self, model=model, messages=messages, tools=tools, max_turns=max_turns, options=options),
            stream,
        )

    def stream(self: AsyncMessages, **params: Any) -> AsyncMessageStreamManager:  # type: ignore[misc]
        """Stream a message as anthropic-sdk-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `messages.create` (without `stream`, which is implied). The request is sent when
        the block is entered; the block yields an event stream (every API event, plus `text`, `thinking`,
        `signature` and `input_json` events) with `text_stream`, `get_final_message()`, `get_final_text()`,
        `until_done()` and `current_message_snapshot`; leaving it closes the stream. An `anthropic-version`
        header (in `extra_headers` or the client's `default_headers`) is sent and the gateway ignores it.

        ```python
        with client.messages.stream(model="claude-sonnet-4.5", max_tokens=1024, messages=messages) as stream:
            for text in stream.text_stream:
                print(text, end="")
            message = stream.get_final_message()
        ```
        """
        from .._stream_helpers import AsyncMessageStreamManager

        if "stream" in params:
            raise TypeError("messages.stream() always streams: drop the `stream` argument (or call create(stream=...))")

        async def open_stream() -> AsyncMessageStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncMessageStream = await self.create(**params, stream=True)
            return stream

        return AsyncMessageStreamManager(open_stream)
