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
        if choices and type(choices) is list:
            for choice in choices:
                # A choice that was not a JSON object stays raw in the model's list: nothing to fold.
                if not isinstance(choice, BaseModel):
                    continue
                index = choice.index
                if index is None:  # absent (or null): the only choice
                    index = 0
                state = self._choices.get(index)
                if state is None:
                    state = self._choices[index] = _Choice()
                delta = choice.delta
                if isinstance(delta, BaseModel):
                    content = delta.content
                    if content:
                        if text is None and index == 0:
                            text = content
                        if not synthetic:
                            state.content.append(content)
                    source = delta._source
                    if source is not None and (content is None or len(source) > 1):
                        self._add_delta_fields(state, source)
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
    def _add_delta_fields(state: _Choice, delta: Mapping[str, Any]) -> None:
        role = delta.get("role")
        if role:
            state.role = role
        for key, parts in (("reasoning_content", state.reasoning), ("refusal", state.refusal)):
            value = delta.get(key)
            if value:
                parts.append(value)
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            for fragment in tool_calls:
                if isinstance(fragment, dict):
                    _merge_tool_call(state.tool_calls, fragment)

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


def _merge_tool_call(calls: List[Dict[str, Any]], fragment: Dict[str, Any]) -> None:
    index = fragment.get("index")
    call_id = fragment.get("id")
    target: Optional[Dict[str, Any]] = None
    if isinstance(index, int):
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
        target = {"index": index if isinstance(index, int) else len(calls), "name": [], "arguments": []}
        calls.append(target)
    if call_id:
        target["id"] = call_id
    kind = fragment.get("type")
    if kind:
        target["type"] = kind
    function = fragment.get("function")
    if isinstance(function, dict):
        name = function.get("name")
        if name:
            target["name"].append(name)
        arguments = function.get("arguments")
        if arguments:
            target["arguments"].append(arguments if isinstance(arguments, str) else json.dumps(arguments))


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
            delta = event.get("delta")
            if not isinstance(delta, dict):
                return None
            block = self._blocks.get(event.get("index", 0))
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                text = delta.get("text")
                if block is not None and isinstance(text, str):
                    block["text"] = block.get("text", "") + text
                return text if isinstance(text, str) else None
            if delta_type == "input_json_delta":
                partial = delta.get("partial_json")
                if isinstance(partial, str):
                    self._json.setdefault(event.get("index", 0), []).append(partial)
            elif delta_type == "thinking_delta":
                if block is not None and isinstance(delta.get("thinking"), str):
                    block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif delta_type == "signature_delta":
                if block is not None and isinstance(delta.get("signature"), str):
                    block["signature"] = block.get("signature", "") + delta["signature"]
            elif delta_type == "citations_delta" and block is not None and delta.get("citation") is not None:
                block.setdefault("citations", []).append(delta["citation"])
        elif kind == "content_block_start":
            block = event.get("content_block")
            if isinstance(block, dict):
                self._blocks[event.get("index", len(self._blocks))] = dict(block)
        elif kind == "content_block_stop":
            self._finish_block(event.get("index", 0))
        elif kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                self._message = dict(message)
                for index, block in enumerate(message.get("content") or ()):
                    if isinstance(block, dict):
                        self._blocks.setdefault(index, dict(block))
        elif kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, dict):
                for key, value in delta.items():
                    if key != "type":
                        self._message[key] = value
            usage = event.get("usage")
            if isinstance(usage, dict):
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
            block["input"] = json.loads(raw) if raw.strip() else {}
        except ValueError:
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
            delta = event.get("delta")
            if not isinstance(delta, str):
                return None
            key = (event.get("output_index", 0), event.get("content_index", 0))
            parts = self._texts.get(key)
            if parts is None:
                parts = self._texts[key] = []
            parts.append(delta)
            return delta
        if kind == "response.function_call_arguments.delta":
            delta = event.get("delta")
            if isinstance(delta, str):
                self._arguments.setdefault(event.get("output_index", 0), []).append(delta)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            if isinstance(item, dict):
                self._items[event.get("output_index", len(self._items))] = dict(item)
        elif kind in ("response.completed", "response.failed", "response.incomplete"):
            response = event.get("response")
            if isinstance(response, dict):
                self._final = response
        elif kind in ("response.created", "response.in_progress", "response.queued"):
            response = event.get("response")
            if isinstance(response, dict):
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
