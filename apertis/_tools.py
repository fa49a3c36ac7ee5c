"""Function tools and what the tool runners share (both twins): `function_tool`, `FunctionTool`, the record of a
run (`ToolRun`, `ToolCallResult`), and the two API formats the runners speak (chat completions, Messages).

The loop itself is apertis/_async/_tool_runner.py (its sync twin is generated). The argument schema and its
validation come from Pydantic, the optional extra (`pip install "apertis[pydantic]"`), through
apertis/_structured.py; nothing here imports Pydantic at module level.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from ._exceptions import (
    ApertisError,
    MissingDependencyError,
    StructuredOutputValidationError,
    ToolArgumentsError,
    UnknownToolError,
)
from ._utils import AsyncRuntime

if TYPE_CHECKING:
    from ._structured import OutputFormat
    from .types import ChatCompletion, Message
    from .types.params import (
        ChatCompletionMessageParam,
        ChatCompletionToolParam,
        FunctionDefinitionParam,
        FunctionToolParam,
        MessageParam,
        ToolParam,
    )

__all__ = [
    "AsyncToolCalls",
    "ChatTools",
    "FunctionTool",
    "MessagesTools",
    "SyncToolCalls",
    "ToolCallResult",
    "ToolRun",
    "function_tool",
]

R = TypeVar("R")
ReplyT = TypeVar("ReplyT")
ParamT = TypeVar("ParamT")

# The headers that end the summary of a Google-style docstring (and open its sections).
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|Attributes):\s*$")
_ARGUMENT = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring_parts(function: Callable[..., Any]) -> tuple[Optional[str], Dict[str, str]]:
    """The summary of a Google-style docstring and one line per argument of its `Args:` section."""
    doc = inspect.getdoc(function)
    if not doc:
        return None, {}
    summary: List[str] = []
    arguments: Dict[str, str] = {}
    section: Optional[str] = None
    current: Optional[str] = None
    indent = 0
    for line in doc.splitlines():
        header = _SECTION.match(line.strip())
        if header is not None and not line.startswith(" "):
            section, current = header.group(1), None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters", "Params") and line.strip():
            depth = len(line) - len(line.lstrip())
            found = _ARGUMENT.match(line.strip())
            if found is not None and (current is None or depth <= indent):
                current, indent = found.group(1).lstrip("*"), depth
                arguments[current] = found.group(2).strip()
            elif current is not None:
                arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    text = "\n".join(summary).strip()
    return (text or None), arguments


class FunctionTool(Generic[R]):
    """A Python function the model may call: its name, description and JSON schema of arguments, rendered for the
    API it is sent to (`chat_tool()`, `responses_tool()`, `messages_tool()`), and `call_arguments()`, which turns
    what the model sent into validated keyword arguments. Built by `apertis.function_tool`; calling the tool
    calls the function.

    `parameters` is the schema sent: strict (every property required, no others allowed) when `strict` is true.
    """

    def __init__(
        self,
        function: Callable[..., R],
        *,
        name: str,
        description: Optional[str],
        arguments: OutputFormat[Any],
    ) -> None:
        self.function = function
        self.name = name
        self.description = description
        self.parameters: Dict[str, Any] = {k: v for k, v in arguments.schema.items() if k != "title"}
        self.strict = arguments.strict
        self._arguments = arguments
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool(name={self.name!r}, strict={self.strict})"

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function (the async runner awaits it; others run in a thread)."""
        return inspect.iscoroutinefunction(self.function)

    def chat_tool(self) -> ChatCompletionToolParam:
        """The definition for `chat.completions.create(tools=[...])`: `{"type": "function", "function": {...}}`."""
        function: FunctionDefinitionParam = {"name": self.name, "parameters": self.parameters, "strict": self.strict}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def responses_tool(self) -> FunctionToolParam:
        """The definition for `responses.create(tools=[...])`: the flat `{"type": "function", "name", ...}`."""
        tool: FunctionToolParam = {
            "type": "function",
            "name": self.name,
            "parameters": self.parameters,
            "strict": self.strict,
        }
        if self.description:
            tool["description"] = self.description
        return tool

    def messages_tool(self) -> ToolParam:
        """The definition for `messages.create(tools=[...])`: `{"name", "description", "input_schema"}`."""
        tool: ToolParam = {"name": self.name, "input_schema": self.parameters}
        if self.description:
            tool["description"] = self.description
        return tool

    def call_arguments(self, arguments: Union[str, Mapping[str, Any], None]) -> Dict[str, Any]:
        """The keyword arguments of the function from what the model sent (a JSON text on chat completions, an
        object on Messages), validated; a ToolArgumentsError (naming the tool, with the validation errors) when
        they do not validate."""
        text = arguments if isinstance(arguments, str) else json.dumps(arguments if arguments is not None else {})
        try:
            value = self._arguments.parse_json(text or "{}")
        except StructuredOutputValidationError as error:
            raise ToolArgumentsError(
                f"the arguments of tool {self.name!r} do not validate: {_problems(error.errors)}",
                tool_name=self.name,
                arguments=text,
                errors=error.errors,
            ) from error
        fields = getattr(type(value), "model_fields", None)
        if fields is not None:
            return {key: getattr(value, key) for key in fields}
        if not isinstance(value, dict):
            problem = {"loc": [], "msg": "the arguments must be a JSON object", "type": "dict_type", "input": value}
            raise ToolArgumentsError(
                f"the arguments of tool {self.name!r} must be a JSON object, got {text[:100]}",
                tool_name=self.name,
                arguments=text,
                errors=[problem],
            )
        return value


def _problems(errors: Sequence[Mapping[str, Any]]) -> str:
    shown = [f"{'.'.join(str(p) for p in e.get('loc') or ()) or '(all)'}: {e.get('msg')}" for e in errors[:5]]
    return "; ".join(shown) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")


@overload
def function_tool(function: Callable[..., R], /) -> FunctionTool[R]: ...


@overload
def function_tool(
    function: Callable[..., R],
    /,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    strict: bool = True,
    parameters: Optional[Mapping[str, Any]] = None,
) -> FunctionTool[R]: ...


@overload
def function_tool(
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    strict: bool = True,
    parameters: Optional[Mapping[str, Any]] = None,
) -> Callable[[Callable[..., R]], FunctionTool[R]]: ...


def function_tool(
    function: Optional[Callable[..., R]] = None,
    /,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    strict: bool = True,
    parameters: Optional[Mapping[str, Any]] = None,
) -> Union[FunctionTool[R], Callable[[Callable[..., R]], FunctionTool[R]]]:
    """A tool the model may call, built from a Python function (sync or async); usable as a decorator
    (`@function_tool`, or `@function_tool(strict=False)`). Give it to `run_tools`, or send its definition yourself
    (`tool.chat_tool()`, `tool.responses_tool()`, `tool.messages_tool()`).

    The arguments' JSON schema comes from the function's signature and annotations, through Pydantic's
    TypeAdapter (defaults, `Optional`, `Literal` and enums, dataclasses, TypedDicts and nested Pydantic models all
    work), which needs the extra: `pip install "apertis[pydantic]"`. The description is the docstring's summary,
    each argument's description its line in a Google-style `Args:` section. What the model sends is validated
    against the same types before the function is called.

    Args:
        function: The function. Its parameters must be named (no `*args`, `**kwargs` or positional-only ones).
        name: The tool's name (1 to 64 letters, digits, `_`, `-`); by default the function's `__name__`, with any
            other character made `_`.
        description: What the tool does; by default the docstring's summary.
        strict: Send a strict schema (every property required, optional ones nullable, no others allowed, and
            `strict: true`): OpenAI models then always send arguments that match. Models behind the chat endpoint
            that are not OpenAI's may reject a strict schema or ignore the flag: `strict=False` sends the schema
            as Pydantic writes it (optional arguments may then be left out and take their defaults).
        parameters: The arguments' JSON schema, written by you, instead of the one built from the signature:
            no Pydantic needed; the function gets the decoded JSON object as keyword arguments (validated against
            the schema when `jsonschema` is installed).
    """

    def build(target: Callable[..., R]) -> FunctionTool[R]:
        return _build_tool(target, name=name, description=description, strict=strict, parameters=parameters)

    if function is None:
        return build
    return build(function)


def _build_tool(
    function: Callable[..., R],
    *,
    name: Optional[str],
    description: Optional[str],
    strict: bool,
    parameters: Optional[Mapping[str, Any]],
) -> FunctionTool[R]:
    from ._structured import output_format, sanitize_name

    if not callable(function):
        raise TypeError(f"function_tool: `function` must be a function, got {type(function).__name__}")
    # A function's own name is made a valid tool name; one you choose must be one.
    tool_name = name if name is not None else sanitize_name(str(getattr(function, "__name__", "")), fallback="tool")
    if not isinstance(tool_name, str) or sanitize_name(tool_name) != tool_name:
        raise ValueError(f"function_tool: `name` must be 1 to 64 letters, digits, `_` or `-`, got {tool_name!r}")
    summary, argument_docs = _docstring_parts(function)
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TypeError(f"function_tool: `parameters` must be a JSON-schema dict, got {type(parameters).__name__}")
    source = parameters if parameters is not None else _arguments_model(function, tool_name, argument_docs)
    return FunctionTool(
        function,
        name=tool_name,
        description=description if description is not None else summary,
        arguments=output_format(source, parameter="function_tool", strict=strict, name=tool_name),
    )


def _arguments_model(function: Callable[..., Any], tool_name: str, argument_docs: Mapping[str, str]) -> Any:
    """A Pydantic model whose fields are the function's parameters (annotations, defaults, descriptions)."""
    from ._structured import PYDANTIC_EXTRA

    try:
        import pydantic
    except ImportError:
        raise MissingDependencyError(
            f"function_tool({tool_name}) needs Pydantic to build the arguments' schema from the signature and "
            f"validate what the model sends: {PYDANTIC_EXTRA}, or write the schema yourself: "
            "function_tool(function, parameters={...})"
        ) from None
    import typing

    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function, include_extras=True)
    except (TypeError, ValueError, NameError) as error:
        raise TypeError(f"function_tool: cannot read the signature of {tool_name!r}: {error}") from None
    fields: Dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise TypeError(
                f"function_tool: {tool_name!r} takes {parameter}; the runner passes a tool's arguments by name, "
                "so every parameter must be a named one"
            )
        default = ... if parameter.default is parameter.empty else parameter.default
        field = pydantic.Field(default, description=argument_docs.get(parameter.name))
        fields[parameter.name] = (hints.get(parameter.name, Any), field)
    try:
        return pydantic.create_model(f"{tool_name}_arguments", **fields)
    except (TypeError, ValueError, NameError, pydantic.PydanticUserError) as error:
        raise TypeError(f"function_tool: cannot build the arguments of {tool_name!r}: {error}") from None


# --------------------------------------------------------------------------------------------------------------
# What a run records


class ToolCallResult:
    """One tool call the model asked for, and what came of it.

    `output` is the text the model was sent back; `value` what the function returned (None when it failed);
    `error` the exception when it failed: the function's own, a ToolArgumentsError (the arguments did not
    validate) or an UnknownToolError (no tool of that name). A failure is sent to the model as an error result
    (`is_error` on Messages, the text `Error: ...` on chat completions), and the run goes on.
    """

    def __init__(
        self,
        *,
        id: str,
        name: str,
        arguments: Union[str, Mapping[str, Any], None],
        output: str,
        value: Any = None,
        error: Optional[BaseException] = None,
    ) -> None:
        self.id = id
        self.name = name
        self.arguments = arguments
        self.output = output
        self.value = value
        self.error = error

    @property
    def is_error(self) -> bool:
        """Whether the call failed (its `error` is set)."""
        return self.error is not None

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else f"output={self.output!r}"
        return f"ToolCallResult(id={self.id!r}, name={self.name!r}, {outcome})"


class ToolRun(Generic[ReplyT, ParamT]):
    """What a tool runner did: every model reply (`replies`, the last one is `final`), every tool call with its
    outcome (`tool_calls`, the failed ones in `errors`), and the whole conversation (`messages`: the messages given,
    then each assistant turn that asked for tools and the tool results sent back; the final reply is in `final`),
    ready to be sent again with a follow-up question.
    """

    def __init__(self, messages: Sequence[ParamT]) -> None:
        self.messages: List[ParamT] = list(messages)
        self.replies: List[ReplyT] = []
        self.tool_calls: List[ToolCallResult] = []

    @property
    def final(self) -> ReplyT:
        """The model's last reply: its answer (or, on a MaxTurnsExceededError, the reply that still asked for tools)."""
        if not self.replies:
            raise ApertisError("the tool run has no reply yet: read its turns (or until_done()) first")
        return self.replies[-1]

    @property
    def errors(self) -> List[ToolCallResult]:
        """The tool calls that failed (their `error` says why)."""
        return [call for call in self.tool_calls if call.error is not None]

    def __repr__(self) -> str:
        return (
            f"ToolRun(replies={len(self.replies)}, tool_calls={len(self.tool_calls)}, errors={len(self.errors)}, "
            f"messages={len(self.messages)})"
        )


# --------------------------------------------------------------------------------------------------------------
# Executing one call


class RequestedCall(NamedTuple):
    """A tool call as the model asked for it, whatever the API."""

    id: str
    name: str
    arguments: Union[str, Mapping[str, Any], None]


def _output_text(value: Any) -> str:
    """What the model is sent for a function's return value: a string as is, anything else as JSON (Pydantic's
    encoder when installed: models, dataclasses, dates, enums; `str()` for what neither encoder takes)."""
    if isinstance(value, str):
        return value
    try:
        import pydantic_core
    except ImportError:
        pass
    else:
        try:
            return pydantic_core.to_json(value, fallback=str).decode("utf-8")
        except ValueError:  # a value that contains itself
            return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        return str(value)


def _error_text(error: BaseException) -> str:
    # The runner's own errors are written for the model to act on; a tool's exception is named.
    if isinstance(error, (ToolArgumentsError, UnknownToolError)):
        return f"Error: {error}"
    return f"Error: {type(error).__name__}: {error}"


def prepare_call(
    tools: Mapping[str, FunctionTool[Any]], call: RequestedCall
) -> Union[ToolCallResult, tuple[FunctionTool[Any], Dict[str, Any]]]:
    """The tool and its validated arguments, or the failed ToolCallResult when there is no such tool or the
    arguments do not validate."""
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        message = f"the model called tool {call.name!r}, which is not among the tools given (known: {known})"
        return finished_call(call, error=UnknownToolError(message, tool_name=call.name))
    try:
        return tool, tool.call_arguments(call.arguments)
    except ToolArgumentsError as failure:
        return finished_call(call, error=failure)


def finished_call(call: RequestedCall, value: Any = None, error: Optional[BaseException] = None) -> ToolCallResult:
    """The record of a call whose function returned `value` or raised `error`."""
    output = _error_text(error) if error is not None else _output_text(value)
    return ToolCallResult(id=call.id, name=call.name, arguments=call.arguments, output=output, value=value, error=error)


def tool_table(tools: Sequence[FunctionTool[Any]], parameter: str) -> Dict[str, FunctionTool[Any]]:
    """The tools by name; a clear error for something that is not a FunctionTool or a name given twice."""
    table: Dict[str, FunctionTool[Any]] = {}
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise TypeError(f"{parameter}: `tools` must be a list of apertis.function_tool(...) tools")
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise TypeError(
                f"{parameter}: every tool must be an apertis.function_tool(...) (the runner calls it), got "
                f"{type(tool).__name__}; wrap the function with function_tool, or call create() for tool "
                "definitions the runner cannot execute"
            )
        if tool.name in table:
            raise ValueError(f"{parameter}: two tools are named {tool.name!r}; pass name=... to function_tool")
        table[tool.name] = tool
    return table


class AsyncToolCalls:
    """How the async runner executes the calls of one turn: all at once, coroutine functions awaited on the loop,
    plain functions in worker threads."""

    @staticmethod
    def check(tools: Sequence[FunctionTool[Any]], parameter: str) -> None:
        """Every function can be run (any kind can, by the async runner)."""

    @staticmethod
    async def run_all(calls: Sequence[Callable[[], Awaitable[ToolCallResult]]]) -> List[ToolCallResult]:
        """Run every call concurrently; the results in the order of the calls."""
        import asyncio

        return list(await asyncio.gather(*(call() for call in calls)))

    @staticmethod
    async def call(tool: FunctionTool[Any], arguments: Dict[str, Any]) -> Any:
        """The function's result: awaited, or run in a worker thread so it does not stop the loop."""
        if tool.is_async:
            return await tool.function(**arguments)
        return await AsyncRuntime.run_blocking(functools.partial(tool.function, **arguments))


class SyncToolCalls:
    """How the sync runner executes the calls of one turn: one after the other, in the calling thread."""

    @staticmethod
    def check(tools: Sequence[FunctionTool[Any]], parameter: str) -> None:
        """Coroutine functions need the async client."""
        for tool in tools:
            if tool.is_async:
                raise TypeError(
                    f"{parameter}: tool {tool.name!r} is an async function, which the sync client cannot await; "
                    "use AsyncApertis, or make the function a plain def"
                )

    @staticmethod
    def run_all(calls: Sequence[Callable[[], ToolCallResult]]) -> List[ToolCallResult]:
        """Run the calls in order."""
        return [call() for call in calls]

    @staticmethod
    def call(tool: FunctionTool[Any], arguments: Dict[str, Any]) -> Any:
        """The function's result."""
        return tool.function(**arguments)


# --------------------------------------------------------------------------------------------------------------
# The two API formats


class ChatTools:
    """Chat completions: tools as `{"type": "function", "function": ...}`, calls in `message.tool_calls`, each
    result a `tool` message answering its `tool_call_id`."""

    @staticmethod
    def definitions_of(tools: Sequence[FunctionTool[Any]]) -> List[ChatCompletionToolParam]:
        """The `tools` argument."""
        return [tool.chat_tool() for tool in tools]

    @staticmethod
    def requested(reply: ChatCompletion) -> List[RequestedCall]:
        """The calls the reply asks for (of its first choice)."""
        if not reply.choices:
            return []
        calls = reply.choices[0].message.tool_calls or []
        return [
            RequestedCall(call.id, call.function.name, call.function.arguments)
            for call in calls
            if getattr(call, "function", None) is not None
        ]

    @staticmethod
    def assistant_turn(reply: ChatCompletion) -> ChatCompletionMessageParam:
        """The assistant message to send back."""
        return reply.choices[0].message

    @staticmethod
    def results(calls: Sequence[ToolCallResult]) -> List[ChatCompletionMessageParam]:
        """One `tool` message per call."""
        return [{"role": "tool", "tool_call_id": call.id, "content": call.output} for call in calls]


class MessagesTools:
    """Messages: tools as `{"name", "description", "input_schema"}`, calls as `tool_use` blocks, the results as
    `tool_result` blocks (with `is_error` for a failure) of one user message."""

    @staticmethod
    def definitions_of(tools: Sequence[FunctionTool[Any]]) -> List[ToolParam]:
        """The `tools` argument."""
        return [tool.messages_tool() for tool in tools]

    @staticmethod
    def requested(reply: Message) -> List[RequestedCall]:
        """The reply's `tool_use` blocks."""
        from .types.tool_use_block import ToolUseBlock

        return [
            RequestedCall(block.id, block.name, block.input)
            for block in reply.content
            if isinstance(block, ToolUseBlock)
        ]

    @staticmethod
    def assistant_turn(reply: Message) -> MessageParam:
        """The assistant message to send back: the reply's content blocks."""
        return {"role": "assistant", "content": reply.content}

    @staticmethod
    def results(calls: Sequence[ToolCallResult]) -> List[MessageParam]:
        """One user message with a `tool_result` block per call."""
        blocks: List[Any] = []
        for call in calls:
            block: Dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": call.output}
            if call.is_error:
                block["is_error"] = True
            blocks.append(block)
        return [{"role": "user", "content": blocks}]
