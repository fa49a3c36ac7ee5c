"""What the `parse` methods and the structured streams do, for the three APIs (the resource mixins stay thin).

Each API has a request side (the arguments that ask for the caller's type: a chat `response_format`, a Responses
`text.format`, a Messages forced tool or `output_format`) and a result side (the returned object as its Parsed*
subclass, with the reply read as the type, or the error that says why it cannot be). No HTTP here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Tuple, TypeVar

from ._exceptions import ContentFilterFinishReasonError, LengthFinishReasonError, StructuredOutputValidationError
from ._structured import OutputFormat, output_format

if TYPE_CHECKING:
    from ._models import BaseModel
    from ._parsed_types import ParsedChatCompletion, ParsedMessage, ParsedResponse
    from .types import ChatCompletion, Message, Response

__all__ = [
    "MESSAGES_OUTPUT_MODES",
    "MessagesOutputMode",
    "chat_request",
    "messages_request",
    "parsed_chat_completion",
    "parsed_message",
    "parsed_response",
    "responses_request",
]

T = TypeVar("T")

MessagesOutputMode = Literal["tool", "json_schema"]
MESSAGES_OUTPUT_MODES: Tuple[str, ...] = ("tool", "json_schema")

# The `type`s of a whole chat `response_format` (as opposed to a JSON schema, whose `type` is `object`).
_RESPONSE_FORMAT_TYPES = ("json_schema", "json_object", "text")
# Anthropic's structured outputs (the `output_format` request field) are a beta behind this header.
_STRUCTURED_OUTPUTS_BETA = "structured-outputs-2025-11-13"


def _copy_meta(source: BaseModel, target: BaseModel) -> None:
    # What the request loop recorded (retries_taken, _request_id, _gateway) stays on the object the caller gets.
    for name in ("_meta_headers", "_meta_retries_taken"):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))


def _no_stream(params: Mapping[str, Any], method: str, streaming: str) -> None:
    if "stream" in params:
        raise TypeError(f"{method}() does not stream: drop the `stream` argument, or use {streaming} for a stream")


def is_response_format(value: Any) -> bool:
    """Whether `value` is a whole chat `response_format` (`{"type": "json_schema", ...}`), not a schema or type."""
    return isinstance(value, Mapping) and value.get("type") in _RESPONSE_FORMAT_TYPES


# -- chat completions ----------------------------------------------------------------------------------------------


def chat_request(response_format: Any, *, strict: bool) -> Tuple[Dict[str, Any], OutputFormat[Any]]:
    """The `response_format` to send for `response_format` (a type, a JSON-schema dict, or a whole response_format
    dict, which is sent as it is), and the OutputFormat that reads the reply."""
    if is_response_format(response_format):
        kind = response_format["type"]
        if kind == "text":
            raise TypeError(
                'response_format={"type": "text"} asks for plain text: there is nothing to parse; call create(), or '
                "pass the type (or JSON schema) the reply should have"
            )
        if kind == "json_object":
            return dict(response_format), output_format({}, parameter="response_format", strict=False, name="json")
        described = response_format.get("json_schema")
        if not isinstance(described, Mapping) or not isinstance(described.get("schema", {}), Mapping):
            raise TypeError('response_format={"type": "json_schema", ...} needs a `json_schema` object with a `schema`')
        fmt = output_format(
            described.get("schema") or {},
            parameter="response_format",
            strict=False,  # sent as the caller wrote it: their `strict`, their schema
            name=str(described.get("name") or "response"),
        )
        return dict(response_format), fmt
    fmt = output_format(response_format, parameter="response_format", strict=strict)
    json_schema: Dict[str, Any] = {"name": fmt.name, "schema": fmt.schema, "strict": strict}
    if fmt.description:
        json_schema["description"] = fmt.description
    return {"type": "json_schema", "json_schema": json_schema}, fmt


def check_chat_params(params: Mapping[str, Any]) -> None:
    """The arguments `chat.completions.parse` forwards to `create`, checked."""
    _no_stream(params, "chat.completions.parse", "chat.completions.stream(..., response_format=...)")


def parsed_chat_completion(completion: ChatCompletion, fmt: OutputFormat[T]) -> ParsedChatCompletion[T]:
    """`completion` as a ParsedChatCompletion: each choice's content read as the type.

    Raises LengthFinishReasonError or ContentFilterFinishReasonError when a choice was cut short, and
    StructuredOutputValidationError when a content does not validate.
    """
    from ._parsed_types import ParsedChatCompletion, ParsedChatCompletionMessage, ParsedChoice

    data = completion.to_dict()
    result: ParsedChatCompletion[T] = ParsedChatCompletion.from_dict(data)
    _copy_meta(completion, result)
    choices: List[ParsedChoice[T]] = []
    for position, choice_data in enumerate(data.get("choices") or []):
        choice: ParsedChoice[T] = ParsedChoice.from_dict(choice_data)
        if choice.finish_reason == "length":
            usage = completion.usage
            tokens = f" after {usage.completion_tokens} completion tokens" if usage is not None else ""
            raise LengthFinishReasonError(
                f"choices[{position}] was cut at the token limit (finish_reason 'length'){tokens}, so its JSON is "
                "incomplete: raise max_tokens (or max_completion_tokens) and retry",
                completion=result,
            )
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(
                f"choices[{position}] was stopped by the content filter (finish_reason 'content_filter'): there is "
                "no reply to parse",
                completion=result,
            )
        message_data = choice_data.get("message") if isinstance(choice_data, Mapping) else None
        if isinstance(message_data, Mapping):
            message: ParsedChatCompletionMessage[T] = ParsedChatCompletionMessage.from_dict(message_data)
            if message.content is not None and not message.refusal:
                message.parsed = fmt.parse_json(message.content)
            choice.message = message
        choices.append(choice)
    result.choices = choices
    return result


# -- responses -----------------------------------------------------------------------------------------------------


def responses_request(text_format: Any, *, strict: bool, text: Any) -> Tuple[Dict[str, Any], OutputFormat[Any]]:
    """The Responses `text` argument asking for `text_format` (the caller's `text` options, such as `verbosity`,
    kept), and the OutputFormat that reads the reply."""
    options: Dict[str, Any] = {}
    if text is not None:
        if not isinstance(text, Mapping):
            raise TypeError(f"text must be a dict of text options, got {type(text).__name__}")
        if "format" in text:
            raise TypeError("responses.parse() sets text.format from text_format: drop `format` from `text`")
        options = dict(text)
    fmt = output_format(text_format, parameter="text_format", strict=strict)
    wire: Dict[str, Any] = {"type": "json_schema", "name": fmt.name, "schema": fmt.schema, "strict": strict}
    if fmt.description:
        wire["description"] = fmt.description
    return {**options, "format": wire}, fmt


def check_responses_params(params: Mapping[str, Any]) -> None:
    """The arguments `responses.parse` forwards to `create`, checked."""
    _no_stream(params, "responses.parse", "responses.create(..., stream=True) with the text format of parse")


def parsed_response(response: Response, fmt: OutputFormat[T]) -> ParsedResponse[T]:
    """`response` as a ParsedResponse: its output text read as the type (None after a refusal).

    Raises LengthFinishReasonError / ContentFilterFinishReasonError for a response left incomplete for those
    reasons, StructuredOutputValidationError when the text does not validate.
    """
    from ._parsed_types import ParsedResponse

    result: ParsedResponse[T] = ParsedResponse.from_dict(response.to_dict())
    _copy_meta(response, result)
    details = result.incomplete_details
    reason = getattr(details, "reason", None) if result.status == "incomplete" else None
    if reason == "max_output_tokens":
        raise LengthFinishReasonError(
            "the response was cut at the token limit (incomplete: max_output_tokens), so its JSON is incomplete: "
            "raise max_output_tokens and retry",
            completion=result,
        )
    if reason == "content_filter":
        raise ContentFilterFinishReasonError(
            "the response was stopped by the content filter (incomplete: content_filter): there is no reply to parse",
            completion=result,
        )
    if not _refused(result):
        result.output_parsed = fmt.parse_json(result.output_text)
    return result


def _refused(response: Response) -> bool:
    for item in response.output:
        for part in getattr(item, "content", None) or ():
            if getattr(part, "type", None) == "refusal":
                return True
    return False


# -- messages ------------------------------------------------------------------------------------------------------


def messages_request(
    output_format_: Any, *, mode: str, strict: bool, params: Mapping[str, Any]
) -> Tuple[Dict[str, Any], OutputFormat[Any]]:
    """The arguments to add to a Messages call asking for `output_format_` in `mode`, and the OutputFormat.

    `tool` (the default) forces one tool whose input is the object: `tools` and `tool_choice`, both documented by
    the gateway. `json_schema` sends Anthropic's `output_format` (a beta, with its `anthropic-beta` header), which
    the gateway passes to Anthropic but does not document.
    """
    if mode not in MESSAGES_OUTPUT_MODES:
        raise ValueError(f"output_mode must be 'tool' or 'json_schema', got {mode!r}")
    fmt = output_format(output_format_, parameter="output_format", strict=strict)
    if mode == "tool":
        for taken in ("tools", "tool_choice"):
            if taken in params:
                raise TypeError(
                    f"messages.parse(output_mode='tool') sends its own `tools` and `tool_choice` (one tool, forced): "
                    f"drop `{taken}`, or use output_mode='json_schema'"
                )
        description = fmt.description or f"Give the answer as the {fmt.name} object: the tool's input is the answer."
        tool = {"name": fmt.name, "description": description, "input_schema": fmt.schema}
        return {"tools": [tool], "tool_choice": {"type": "tool", "name": fmt.name}}, fmt
    extra_body = dict(params.get("extra_body") or {})
    extra_body["output_format"] = {"type": "json_schema", "schema": fmt.schema}
    extra_headers = dict(params.get("extra_headers") or {})
    extra_headers.setdefault("anthropic-beta", _STRUCTURED_OUTPUTS_BETA)
    return {"extra_body": extra_body, "extra_headers": extra_headers}, fmt


def check_messages_params(params: Mapping[str, Any]) -> None:
    """The arguments `messages.parse` forwards to `create`, checked."""
    _no_stream(params, "messages.parse", "messages.stream(..., output_format=...)")


def parsed_message(message: Message, fmt: OutputFormat[T], *, mode: str) -> ParsedMessage[T]:
    """`message` as a ParsedMessage: the forced tool's input (`tool` mode) or the text (`json_schema` mode) read
    as the type; None after a refusal (`stop_reason` `refusal`).

    Raises LengthFinishReasonError for `stop_reason` `max_tokens`, StructuredOutputValidationError when the
    output does not validate (or, in `tool` mode, the model did not call the tool).
    """
    from ._parsed_types import ParsedMessage

    result: ParsedMessage[T] = ParsedMessage.from_dict(message.to_dict())
    _copy_meta(message, result)
    if result.stop_reason == "max_tokens":
        tokens = f" after {result.usage.output_tokens} output tokens" if result.usage is not None else ""
        raise LengthFinishReasonError(
            f"the message was cut at the token limit (stop_reason 'max_tokens'){tokens}, so its output is "
            "incomplete: raise max_tokens and retry",
            completion=result,
        )
    if result.stop_reason == "refusal":
        return result
    texts = [str(getattr(block, "text", "")) for block in result.content if getattr(block, "type", None) == "text"]
    if mode == "json_schema":
        result.parsed_output = fmt.parse_json("".join(texts))
        return result
    for block in result.content:
        if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == fmt.name:
            result.parsed_output = fmt.parse_value(getattr(block, "input", None))
            return result
    raise StructuredOutputValidationError(
        f"the model did not call the {fmt.name} tool that carries the structured output (stop_reason "
        f"{result.stop_reason!r}); its text is in `text`",
        text="".join(texts),
        errors=[{"loc": [], "msg": f"no tool_use block named {fmt.name}", "type": "missing_tool_use", "input": None}],
    )
