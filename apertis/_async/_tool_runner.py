"""The tool runners' loop (`chat.completions.run_tools`, `messages.run_tools`): call the model, run the tools it
asks for, send the results back, until it answers without tool calls or `max_turns` replies were made.

One loop for both APIs: `_ToolLoop` holds it, and `_ChatLoop` / `_MessagesLoop` add what differs (the request,
the stream helper and its final object) to the API's format from apertis/_tools.py (the tool definitions, the
calls a reply asks for, the messages sent back).
"""

from __future__ import annotations

import abc
import functools
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator, Dict, Generic, List, Sequence, TypeVar

from .._exceptions import MaxTurnsExceededError
from .._tools import (
    AsyncToolCalls,
    ChatTools,
    FunctionTool,
    MessagesTools,
    RequestedCall,
    ToolCallResult,
    ToolRun,
    finished_call,
    prepare_call,
    tool_table,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..types import ChatCompletion, Message
    from ..types.params import ChatCompletionMessageParam, ChatCompletionToolParam, MessageParam, ToolParam
    from ._stream_helpers import (
        AsyncChatCompletionEventStream,
        AsyncChatCompletionStreamManager,
        AsyncMessageEventStream,
        AsyncMessageStreamManager,
    )
    from .resources.chat import AsyncCompletions
    from .resources.messages import AsyncMessages

__all__ = ["AsyncToolRunStream", "chat_tool_loop", "messages_tool_loop", "start"]

ReplyT = TypeVar("ReplyT")
ParamT = TypeVar("ParamT")
TurnT = TypeVar("TurnT")


class _ToolLoop(abc.ABC, Generic[ReplyT, ParamT, TurnT]):
    """The loop over one API; subclasses say how to call the model and read its replies."""

    def __init__(
        self,
        *,
        parameter: str,
        messages: Sequence[ParamT],
        tools: Sequence[FunctionTool[Any]],
        max_turns: int,
        options: Dict[str, Any],
    ) -> None:
        self.parameter = parameter
        self.table = tool_table(tools, parameter)
        AsyncToolCalls.check(tools, parameter)
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"{parameter}: `max_turns` must be a positive integer, got {max_turns!r}")
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
            raise TypeError(f"{parameter}: `messages` must be a list of messages, got {type(messages).__name__}")
        self.max_turns = max_turns
        self.options = options
        self.run: ToolRun[ReplyT, ParamT] = ToolRun(messages)
        self.definitions = self.tool_definitions(list(self.table.values()))

    # What each API defines (the format methods come from ChatTools / MessagesTools).
    @abc.abstractmethod
    def tool_definitions(self, tools: Sequence[FunctionTool[Any]]) -> List[Any]:
        """The `tools` argument of each request."""

    @abc.abstractmethod
    def requested(self, reply: ReplyT) -> List[RequestedCall]:
        """The calls a reply asks for."""

    @abc.abstractmethod
    def assistant_turn(self, reply: ReplyT) -> ParamT:
        """The assistant message that sends a reply back."""

    @abc.abstractmethod
    def results(self, calls: Sequence[ToolCallResult]) -> List[ParamT]:
        """The messages that send the calls' outcomes back."""

    @abc.abstractmethod
    async def create(self, params: Dict[str, Any]) -> ReplyT:
        """One reply, not streamed."""

    @abc.abstractmethod
    def open_stream(self, params: Dict[str, Any]) -> Any:
        """The stream helper's context manager of one reply."""

    @abc.abstractmethod
    async def final_reply(self, turn: TurnT) -> ReplyT:
        """A streamed reply's final object, once read."""

    # The loop.
    def params(self) -> Dict[str, Any]:
        """The arguments of the next request: the conversation so far and the tools, plus the caller's options."""
        return {**self.options, "messages": list(self.run.messages), "tools": self.definitions}

    async def complete(self) -> ToolRun[ReplyT, ParamT]:
        """Run to the end without streaming."""
        while True:
            reply = await self.create(self.params())
            if await self.answer(reply):
                return self.run

    async def turns(self) -> AsyncGenerator[TurnT, None]:
        """Run to the end, streaming each reply: yields each turn's event stream while it is read."""
        while True:
            async with self.open_stream(self.params()) as turn:
                yield turn
                reply = await self.final_reply(turn)
            if await self.answer(reply):
                return

    async def answer(self, reply: ReplyT) -> bool:
        """Take a reply: True when it is the answer; otherwise run the calls it asks for and send the results."""
        run = self.run
        run.replies.append(reply)
        requested = self.requested(reply)
        if not requested:
            return True
        if len(run.replies) >= self.max_turns:
            raise MaxTurnsExceededError(
                f"{self.parameter}: the model still asked for tools ({', '.join(c.name for c in requested)}) after "
                f"max_turns={self.max_turns} replies; the run so far is in this error's `run` (raise max_turns, or "
                "call again with run.messages)",
                run=run,
            )
        run.messages.append(self.assistant_turn(reply))
        outcomes = await AsyncToolCalls.run_all([functools.partial(self.execute, call) for call in requested])
        run.tool_calls.extend(outcomes)
        run.messages.extend(self.results(outcomes))
        return False

    async def execute(self, call: RequestedCall) -> ToolCallResult:
        """One call: a failure (unknown tool, invalid arguments, the function raised) is the model's to see."""
        prepared = prepare_call(self.table, call)
        if isinstance(prepared, ToolCallResult):
            return prepared
        tool, arguments = prepared
        try:
            value = await AsyncToolCalls.call(tool, arguments)
        except Exception as error:  # the function's own failure goes to the model, and to the run's errors
            return finished_call(call, error=error)
        return finished_call(call, value)


class _ChatLoop(ChatTools, _ToolLoop["ChatCompletion", "ChatCompletionMessageParam", "AsyncChatCompletionEventStream"]):
    def __init__(self, resource: AsyncCompletions, **kwargs: Any) -> None:
        self.resource = resource
        super().__init__(**kwargs)

    def tool_definitions(self, tools: Sequence[FunctionTool[Any]]) -> List[ChatCompletionToolParam]:
        return self.definitions_of(tools)

    async def create(self, params: Dict[str, Any]) -> ChatCompletion:
        reply: ChatCompletion = await self.resource.create(**params)
        return reply

    def open_stream(self, params: Dict[str, Any]) -> AsyncChatCompletionStreamManager:
        manager: AsyncChatCompletionStreamManager = self.resource.stream(**params)
        return manager

    async def final_reply(self, turn: AsyncChatCompletionEventStream) -> ChatCompletion:
        return await turn.get_final_completion()


class _MessagesLoop(MessagesTools, _ToolLoop["Message", "MessageParam", "AsyncMessageEventStream"]):
    def __init__(self, resource: AsyncMessages, **kwargs: Any) -> None:
        self.resource = resource
        super().__init__(**kwargs)

    def tool_definitions(self, tools: Sequence[FunctionTool[Any]]) -> List[ToolParam]:
        return self.definitions_of(tools)

    async def create(self, params: Dict[str, Any]) -> Message:
        reply: Message = await self.resource.create(**params)
        return reply

    def open_stream(self, params: Dict[str, Any]) -> AsyncMessageStreamManager:
        manager: AsyncMessageStreamManager = self.resource.stream(**params)
        return manager

    async def final_reply(self, turn: AsyncMessageEventStream) -> Message:
        return await turn.get_final_message()


class AsyncToolRunStream(Generic[TurnT, ReplyT, ParamT]):
    """What `run_tools(..., stream=True)` returns: the run, one streamed model reply (a turn) at a time.

    `async for turn in run_stream` yields each turn's event stream (the `chat.completions.stream` /
    `messages.stream` helper's: `content.delta` / `text` events, `get_final_completion()` /
    `get_final_message()`) while it is being read; the tools a turn asks for are run when the loop moves on, and
    the last turn is the answer, streamed as it is written. `until_done()` runs to the end and returns the
    ToolRun, also kept in `result`. Use it as a context manager (`async with`), which closes an open turn when
    the loop is left early.
    """

    def __init__(self, loop: _ToolLoop[ReplyT, ParamT, TurnT]) -> None:
        self._loop = loop
        self._turns = loop.turns()
        self._done = False

    async def __aiter__(self) -> AsyncIterator[TurnT]:
        async for turn in self._turns:
            yield turn
        self._done = True

    @property
    def result(self) -> ToolRun[ReplyT, ParamT]:
        """The run: complete once the turns are read to the end (`until_done()`); so far, before that."""
        return self._loop.run

    @property
    def done(self) -> bool:
        """Whether the model has answered (every turn was read)."""
        return self._done

    async def until_done(self) -> ToolRun[ReplyT, ParamT]:
        """Read the remaining turns to the end (running their tools) and return the run."""
        async for _ in self:
            pass
        return self._loop.run

    async def close(self) -> None:
        """Stop the run, closing the turn being read. Safe to call more than once."""
        await self._turns.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def start(loop: _ToolLoop[Any, Any, Any], stream: bool) -> Any:
    """What `run_tools` returns: the run's stream, or (awaitable, in the async twin) the finished run."""
    return AsyncToolRunStream(loop) if stream else loop.complete()


def chat_tool_loop(
    resource: AsyncCompletions,
    *,
    model: str,
    messages: Sequence[ChatCompletionMessageParam],
    tools: Sequence[FunctionTool[Any]],
    max_turns: int,
    options: Dict[str, Any],
) -> _ChatLoop:
    """The loop of `chat.completions.run_tools`."""
    return _ChatLoop(
        resource,
        parameter="chat.completions.run_tools",
        messages=messages,
        tools=tools,
        max_turns=max_turns,
        options={**options, "model": model},
    )


def messages_tool_loop(
    resource: AsyncMessages,
    *,
    model: str,
    messages: Sequence[MessageParam],
    tools: Sequence[FunctionTool[Any]],
    max_turns: int,
    options: Dict[str, Any],
) -> _MessagesLoop:
    """The loop of `messages.run_tools`."""
    return _MessagesLoop(
        resource,
        parameter="messages.run_tools",
        messages=messages,
        tools=tools,
        max_turns=max_turns,
        options={**options, "model": model},
    )
