"""Assembling a whole answer from the events of a stream (behind get_final_completion / _message / _response).

The Messages and Responses accumulators work on the decoded JSON dicts; the chat one reads the parsed chunk
(attribute reads are cheaper than dict lookups, and it runs on every chunk) and takes the raw JSON values it keeps
from the dicts the models were parsed from. Each `add` returns the text the event carried (or None), which is what
`text_stream` yields. `result()` returns the JSON dict of the assembled object, which the stream turns into the
generated model with its lenient `from_dict`.

The result holds only what the server sent, assembled: how the answer ended (`finish_reason`, `stop_reason`,
`status`) comes from the events that say so, and stays absent (None in the model) when a stream ended without
them. A Messages or Responses stream that a gateway ends with `[DONE]` before `message_stop` /
`response.completed` is complete as a stream (nothing was lost in transit) but says nothing about how the answer
ended; writing "completed" there would be a guess.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from ._exceptions import type_error
from ._json import loads as _loads_json
from ._models import BaseModel

if TYPE_CHECKING:
    from .types import ChatCompletionChunk

__all__ = ["ChatCompletionAccumulator", "MessageAccumulator", "ResponseAccumulator", "WEB_SEARCH_CHUNK_ID"]

WEB_SEARCH_CHUNK_ID = "web-search"
"""The id of the synthetic first chunk of `:web` chat streams (its text is a progress note, not the answer)."""

_CHUNK_META = ("id", "created", "model", "system_fingerprint", "service_tier")


class _Choice:
    __slots__ = ("content", "finish_reason", "logprobs", "reasoning", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.content: List[str] = []
        self.reasoning: List[str] = []
        self.refusal: List[str] = []
        self.role: Optional[str] = None
        self.finish_reason: Optional[str] = None
        self.logprobs: List[Any] = []
        self.tool_calls: List[Dict[str, Any]] = []


class ChatCompletionAccumulator:
    """Joins parsed `chat.completion.chunk` objects into one `chat.completion` dict.

    Content, reasoning and refusal deltas are concatenated per choice; tool-call fragments are merged by their
    `index` (the first fragment brings `id` and `name`, later ones pieces of `arguments`); the last
    `finish_reason`, `usage` and `web_sources` seen win. The `:web` progress chunk is left out of the content.
    """

    __slots__ = ("_choices", "_meta", "_usage", "_web_sources")

    def __init__(self) -> None:
        self._choices: Dict[int, _Choice] = {}
        self._meta: Dict[str, Any] = {}
        self._usage: Any = None
        self._web_sources: Any = None

    def add(self, chunk: ChatCompletionChunk) -> Optional[str]:
        """Fold one chunk in (parsed, with its JSON dict as `_source`); return the text it added to the first choice.

        The chunk's fields are read from the model's slots, which costs a fraction of the dict lookups of its JSON
        (this runs on every chunk of every stream); the raw JSON values that go into the result (usage, logprobs,
        web sources, the less common delta fields) are read from the dicts the models were parsed from.
        """
        text: Optional[str] = None
        synthetic = chunk.id == WEB_SEARCH_CHUNK_ID
        if not self._meta and not synthetic:
            for key in _CHUNK_META:
                value = getattr(chunk, key)
                if value is not None and value != "":
                    self._meta[key] = value
        choices = chunk.choices
        if choices:
            if type(choices) is not list:
                raise type_error("choices", "an array", choices)
            for choice in choices:
                if not isinstance(choice, BaseModel):  # kept raw by from_dict: it was not a JSON object
                    raise type_error(_where(choices, choice), "an object", choice)
                index = choice.index
                if index is None:  # absent (or null): the only choice
                    index = 0
                try:
                    state = self._choices.get(index)
                except TypeError:  # unhashable
                    state = None
                if state is None:
                    # Checked only when a choice first appears: later chunks of it passed the lookup above.
                    if type(index) is not int:
                        raise type_error(f"{_where(choices, choice)}.index", "an integer", index)
                    state = self._choices[index] = _Choice()
                delta = choice.delta
                if isinstance(delta, BaseModel):
                    content = delta.content
                    if content:
                        if type(content) is not str:
                            raise type_error(f"{_where(choices, choice)}.delta.content", "a string", content)
                        if text is None and index == 0:
                            text = content
                        if not synthetic:
                            state.content.append(content)
                    source = delta._source
                    if source is not None and (content is None or len(source) > 1):
                        self._add_delta_fields(state, source, choices, choice)
                elif delta is not None:
                    raise type_error(f"{_where(choices, choice)}.delta", "an object", delta)
                if choice.finish_reason:
                    state.finish_reason = choice.finish_reason
                if choice.logprobs is not None and choice._source is not None:
                    logprobs = choice._source.get("logprobs")
                    if logprobs:
                        state.logprobs.append(logprobs)
        source = chunk._source
        if source is not None:
            if chunk.usage is not None:
                usage = source.get("usage")
                if usage:
                    self._usage = usage
            if chunk.web_sources is not None:
                web_sources = source.get("web_sources")
                if web_sources:
                    self._web_sources = web_sources
        return text

    @staticmethod
    def _add_delta_fields(state: _Choice, delta: Mapping[str, Any], choices: List[Any], choice: Any) -> None:
        role = delta.get("role")
        if role:
            state.role = role
        for key, parts in (("reasoning_content", state.reasoning), ("refusal", state.refusal)):
            value = delta.get(key)
            if value:
                if type(value) is not str:
                    raise type_error(f"{_where(choices, choice)}.delta.{key}", "a string", value)
                parts.append(value)
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            if type(tool_calls) is not list:
                raise type_error(f"{_where(choices, choice)}.delta.tool_calls", "an array", tool_calls)
            for position, fragment in enumerate(tool_calls):
                where = f"{_where(choices, choice)}.delta.tool_calls[{position}]"
                if not isinstance(fragment, dict):
                    raise type_error(where, "an object", fragment)
                _merge_tool_call(state.tool_calls, fragment, where)

    def result(self) -> Dict[str, Any]:
        """The assembled `chat.completion` as a JSON dict."""
        completion: Dict[str, Any] = {"object": "chat.completion", **self._meta}
        completion.setdefault("id", "")
        completion.setdefault("model", "")
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: Dict[str, Any] = {
                "role": state.role or "assistant",
                "content": "".join(state.content) if state.content or not state.tool_calls else None,
            }
            if state.reasoning:
                message["reasoning_content"] = "".join(state.reasoning)
            if state.refusal:
                message["refusal"] = "".join(state.refusal)
            if state.tool_calls:
                message["tool_calls"] = [_finish_tool_call(call) for call in state.tool_calls]
            choice: Dict[str, Any] = {"index": index, "message": message, "finish_reason": state.finish_reason}
            if state.logprobs:
                choice["logprobs"] = _join_logprobs(state.logprobs)
            choices.append(choice)
        completion["choices"] = choices
        if self._usage is not None:
            completion["usage"] = self._usage
        if self._web_sources is not None:
            completion["web_sources"] = self._web_sources
        return completion


def _merge_tool_call(calls: List[Dict[str, Any]], fragment: Dict[str, Any], where: str) -> None:
    index = fragment.get("index")
    call_id = _text(fragment, "id", where)
    if index is not None and (type(index) is not int):
        raise type_error(f"{where}.index", "an integer", index)
    target: Optional[Dict[str, Any]] = None
    if index is not None:
        for call in calls:
            if call["index"] == index:
                target = call
                break
    elif call_id:
        # Some upstreams send whole tool calls without an index: one per id.
        for call in calls:
            if call.get("id") == call_id:
                target = call
                break
    elif calls:
        target = calls[-1]  # an unindexed fragment without id continues the last call
    if target is None:
        target = {"index": index if index is not None else len(calls), "name": [], "arguments": []}
        calls.append(target)
    if call_id:
        target["id"] = call_id
    kind = _text(fragment, "type", where)
    if kind:
        target["type"] = kind
    function = fragment.get("function")
    if function is None:
        return
    if not isinstance(function, dict):
        raise type_error(f"{where}.function", "an object", function)
    name = _text(function, "name", f"{where}.function")
    if name:
        target["name"].append(name)
    arguments = function.get("arguments")
    if arguments:
        # Some upstreams send the arguments as a JSON value rather than its text.
        target["arguments"].append(arguments if isinstance(arguments, str) else json.dumps(arguments))


def _text(data: Mapping[str, Any], key: str, where: str) -> Optional[str]:
    """`data[key]` when it is a string; None when absent or null; APIResponseValidationError for another type."""
    value = data.get(key)
    if value is None or type(value) is str:
        return value
    raise type_error(f"{where}.{key}", "a string", value)


def _index(data: Mapping[str, Any], key: str, where: str, default: int) -> int:
    """`data[key]` as an index (`default` when absent or null); APIResponseValidationError unless an integer >= 0."""
    value = data.get(key)
    if value is None:
        return default
    if type(value) is not int or value < 0:
        raise type_error(f"{where}.{key}", "a non-negative integer", value)
    return value


def _object(data: Mapping[str, Any], key: str, where: str) -> Optional[Dict[str, Any]]:
    """`data[key]` when it is an object; None when absent or null; APIResponseValidationError for another type."""
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise type_error(f"{where}.{key}", "an object", value)


def _append_text(block: Dict[str, Any], key: str, text: str, index: int) -> None:
    existing = block.get(key)
    if existing is None:
        block[key] = text
    elif type(existing) is str:
        block[key] = existing + text
    else:
        raise type_error(f"content block {index}'s {key}", "a string", existing)


def _check_output_item(item: Dict[str, Any], where: str) -> None:
    # What ResponseAccumulator.result reads of an output item when it assembles the response from deltas.
    content = item.get("content")
    if content is None:
        return
    if type(content) is not list:
        raise type_error(f"{where}.content", "an array", content)
    for position, part in enumerate(content):
        if not isinstance(part, dict):
            raise type_error(f"{where}.content[{position}]", "an object", part)


def _where(items: List[Any], item: Any) -> str:
    # The position of a choice, for error messages only (so not counted on the hot path).
    position = next(i for i, candidate in enumerate(items) if candidate is item)
    return f"choices[{position}]"


def _finish_tool_call(call: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "id": call.get("id", ""),
        "type": call.get("type", "function"),
        "function": {"name": "".join(call["name"]), "arguments": "".join(call["arguments"])},
    }


def _join_logprobs(parts: List[Any]) -> Any:
    joined: Dict[str, List[Any]] = {}
    for part in parts:
        if not isinstance(part, dict):
            return parts[-1]
        for key, value in part.items():
            if isinstance(value, list):
                joined.setdefault(key, []).extend(value)
    return joined


class MessageAccumulator:
    """Rebuilds the Messages API `message` from `message_start`, content block and `message_delta` events.

    Text, thinking and partial JSON deltas are appended to their block (by `index`); the tool input's JSON is
    parsed when its block stops (kept as the raw string under `input` if it is not valid JSON, so nothing the
    model produced is lost); `message_delta` sets the stop reason and merges the cumulative usage. Without a
    `message_delta` the stop reason stays what `message_start` said (null).
    """

    __slots__ = ("_blocks", "_json", "_message")

    def __init__(self) -> None:
        self._message: Dict[str, Any] = {}
        self._blocks: Dict[int, Dict[str, Any]] = {}
        self._json: Dict[int, List[str]] = {}

    def add(self, event: Dict[str, Any]) -> Optional[str]:
        """Fold one event in; return the text of a `text_delta`."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = _object(event, "delta", kind)
            if delta is None:
                return None
            index = _index(event, "index", kind, 0)
            block = self._blocks.get(index)
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                text = _text(delta, "text", f"{kind}.delta")
                if block is not None and text is not None:
                    _append_text(block, "text", text, index)
                return text
            if delta_type == "input_json_delta":
                partial = _text(delta, "partial_json", f"{kind}.delta")
                if partial is not None:
                    self._json.setdefault(index, []).append(partial)
            elif delta_type in ("thinking_delta", "signature_delta"):
                key = "thinking" if delta_type == "thinking_delta" else "signature"
                value = _text(delta, key, f"{kind}.delta")
                if block is not None and value is not None:
                    _append_text(block, key, value, index)
            elif delta_type == "citations_delta" and block is not None and delta.get("citation") is not None:
                citations = block.setdefault("citations", [])
                if type(citations) is not list:
                    raise type_error(f"content block {index}'s citations", "an array", citations)
                citations.append(delta["citation"])
        elif kind == "content_block_start":
            block = _object(event, "content_block", kind)
            if block is not None:
                self._blocks[_index(event, "index", kind, len(self._blocks))] = dict(block)
        elif kind == "content_block_stop":
            self._finish_block(_index(event, "index", kind, 0))
        elif kind == "message_start":
            message = _object(event, "message", kind)
            if message is not None:
                _object(message, "usage", f"{kind}.message")
                content = message.get("content")
                if content is not None and type(content) is not list:
                    raise type_error(f"{kind}.message.content", "an array", content)
                self._message = dict(message)
                for index, block in enumerate(content or ()):
                    if not isinstance(block, dict):
                        raise type_error(f"{kind}.message.content[{index}]", "an object", block)
                    self._blocks.setdefault(index, dict(block))
        elif kind == "message_delta":
            delta = _object(event, "delta", kind)
            if delta is not None:
                _object(delta, "usage", f"{kind}.delta")
                for key, value in delta.items():
                    if key != "type":
                        self._message[key] = value
            usage = _object(event, "usage", kind)
            if usage is not None:
                merged = dict(self._message.get("usage") or {})
                merged.update({key: value for key, value in usage.items() if value is not None})
                self._message["usage"] = merged
        return None

    def _finish_block(self, index: int) -> None:
        parts = self._json.pop(index, None)
        block = self._blocks.get(index)
        if parts is None or block is None:
            return
        raw = "".join(parts)
        try:
            block["input"] = _loads_json(raw) if raw.strip() else {}
        except ValueError:  # not JSON, or nested deeper than the cap: kept as the model wrote it
            block["input"] = raw

    def result(self) -> Dict[str, Any]:
        """The assembled `message` as a JSON dict."""
        for index in list(self._json):  # blocks the stream never stopped
            self._finish_block(index)
        message = {"type": "message", "role": "assistant", **self._message}
        message["content"] = [self._blocks[index] for index in sorted(self._blocks)]
        return message


class ResponseAccumulator:
    """The Responses API result: the `response` of the terminal event when there is one, else rebuilt.

    `response.completed` (and `.failed` / `.incomplete`) carry the whole response. Gateways converting other
    models may end with `[DONE]` instead, so the accumulator also keeps the latest response snapshot, the output
    items, and the text and argument deltas, and assembles the response from those when needed. Such a response
    has no `status`: the snapshot's (`in_progress`, from `response.created`) described the response when it
    started, and no event said how it ended. Output items keep the status their own events gave them; an item
    rebuilt from text deltas alone has none.
    """

    __slots__ = ("_arguments", "_final", "_items", "_snapshot", "_texts")

    def __init__(self) -> None:
        self._final: Optional[Dict[str, Any]] = None
        self._snapshot: Dict[str, Any] = {}
        self._items: Dict[int, Dict[str, Any]] = {}
        self._texts: Dict[tuple[int, int], List[str]] = {}
        self._arguments: Dict[int, List[str]] = {}

    def add(self, event: Dict[str, Any]) -> Optional[str]:
        """Fold one event in; return the text of a `response.output_text.delta`."""
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = _text(event, "delta", kind)
            if delta is None:
                return None
            key = (_index(event, "output_index", kind, 0), _index(event, "content_index", kind, 0))
            parts = self._texts.get(key)
            if parts is None:
                parts = self._texts[key] = []
            parts.append(delta)
            return delta
        if kind == "response.function_call_arguments.delta":
            delta = _text(event, "delta", kind)
            if delta is not None:
                self._arguments.setdefault(_index(event, "output_index", kind, 0), []).append(delta)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = _object(event, "item", kind)
            if item is not None:
                _check_output_item(item, f"{kind}.item")
                self._items[_index(event, "output_index", kind, len(self._items))] = dict(item)
        elif kind in ("response.completed", "response.failed", "response.incomplete"):
            response = _object(event, "response", kind)
            if response is not None:
                self._final = response
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            response = _object(event, "response", kind)
            if response is not None:
                output = response.get("output")
                if output is not None and type(output) is not list:
                    raise type_error(f"{kind}.response.output", "an array", output)
                for position, item in enumerate(output or ()):
                    if not isinstance(item, dict):
                        raise type_error(f"{kind}.response.output[{position}]", "an object", item)
                    _check_output_item(item, f"{kind}.response.output[{position}]")
                self._snapshot = response
        return None

    def result(self) -> Dict[str, Any]:
        """The response as a JSON dict."""
        if self._final is not None:
            return self._final
        response = {"object": "response", "output": [], **self._snapshot}
        response.pop("status", None)  # see the class docstring: no terminal event, no final status
        output: Dict[int, Dict[str, Any]] = dict(enumerate(response.get("output") or ()))
        output.update(self._items)
        for (output_index, content_index), parts in self._texts.items():
            item = output.get(output_index)
            if item is None:
                item = output[output_index] = {"type": "message", "role": "assistant"}
            if item.get("type") != "message":
                continue
            content = list(item.get("content") or [])
            while len(content) <= content_index:
                content.append({"type": "output_text", "text": "", "annotations": []})
            part = dict(content[content_index])
            if not part.get("text"):  # a finished item already holds the whole text
                part["text"] = "".join(parts)
            content[content_index] = part
            item["content"] = content
        for output_index, parts in self._arguments.items():
            item = output.get(output_index)
            if item is not None and not item.get("arguments"):
                item["arguments"] = "".join(parts)
        response["output"] = [output[index] for index in sorted(output)]
        return response
