"""Deterministic answers: what the fake server says to each operation, derived from the request."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._gateway_headers import compression_headers, served_model
from ._media import AUDIO_MEDIA_TYPES, audio_bytes, find_embedded_text, mp4_bytes, png_bytes
from ._multipart import FilePart
from ._schema import Resolver, answer_for_schema, synthesize

__all__ = [
    "ERROR_TYPES",
    "MODELS",
    "Answer",
    "FakeRequest",
    "Handler",
    "StreamAnswer",
    "count_tokens",
    "error_answer",
    "handler_for",
]

ERROR_TYPES: Dict[int, Tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("billing_error", "insufficient_balance"),
    403: ("permission_error", "access_denied"),
    404: ("invalid_request_error", "endpoint_not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("timeout", "request_timeout"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "gateway_timeout"),
    529: ("overloaded_error", "overloaded"),
}

_MESSAGES = {
    400: "Invalid request format",
    401: "Invalid API key provided",
    402: "Insufficient account balance",
    403: "Access denied to this resource",
    404: "The requested endpoint does not exist",
    408: "Total request timeout exceeded. Set X-Timeout header to adjust.",
    409: "The request conflicts with the current state of the resource",
    413: "Request too large",
    422: "The request could not be processed",
    429: "Rate limit exceeded. Please wait before making more requests.",
    500: "An internal server error occurred",
    502: "Error communicating with upstream provider",
    503: "Service temporarily unavailable",
    504: "The upstream provider timed out",
    529: "Overloaded",
}

# The catalogue `GET /models` lists: (id, owned_by, created). Ids with a slash exercise path escaping.
MODELS: Tuple[Tuple[str, str, int], ...] = (
    ("gpt-4o-mini", "openai", 1721172741),
    ("gpt-4o", "openai", 1715367049),
    ("gpt-4.1", "openai", 1744316542),
    ("gpt-4.1-mini", "openai", 1744318173),
    ("gpt-5", "openai", 1754425777),
    ("o4-mini", "openai", 1744225351),
    ("claude-sonnet-4.5", "anthropic", 1759104000),
    ("claude-haiku-4.5", "anthropic", 1760486400),
    ("gemini-3-pro-preview", "google", 1763424000),
    ("deepseek-reasoner", "deepseek", 1737331200),
    ("text-embedding-3-small", "openai", 1705948997),
    ("text-embedding-3-large", "openai", 1705953180),
    ("text-embedding-ada-002", "openai", 1671217299),
    ("BAAI/bge-reranker-v2-m3", "baai", 1710460800),
    ("Qwen/Qwen3-Reranker-4B", "qwen", 1749254400),
    ("whisper-1", "openai", 1677532384),
    ("tts-1", "openai", 1681940951),
    ("dall-e-3", "openai", 1698785189),
    ("gpt-image-1", "openai", 1745517030),
    ("veo3", "google", 1747699200),
    ("sora-2", "openai", 1759363200),
)

_EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536, "text-embedding-ada-002": 1536}

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PIECE = re.compile(r"\s*\S+")


def count_tokens(text: str) -> int:
    """A deterministic token estimate: one token per word and per punctuation mark."""
    return len(_TOKEN.findall(text))


class FakeRequest:
    """A parsed request as the answer functions see it."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        query: Dict[str, List[str]],
        headers: Dict[str, str],
        body: bytes,
        json_body: Any = None,
        form: Optional[Dict[str, List[str]]] = None,
        form_values: Optional[Dict[str, Any]] = None,
        files: Optional[List[FilePart]] = None,
        params: Optional[Dict[str, str]] = None,
        operation_id: str = "",
        base_url: str = "",
        api_prefix: str = "/v1",
        seq: int = 0,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.json = json_body
        self.form = form or {}
        self.form_values = form_values or {}
        self.files = files or []
        self.params = params or {}
        self.operation_id = operation_id
        self.base_url = base_url
        self.api_prefix = api_prefix
        self.seq = seq

    def field(self, name: str, default: Any = None) -> Any:
        """A body value: the JSON member, or the (coerced) form field of a multipart request."""
        if isinstance(self.json, dict):
            return self.json.get(name, default)
        return self.form_values.get(name, default)

    def file(self, name: str) -> Optional[FilePart]:
        """The uploaded file of a multipart field."""
        return next((f for f in self.files if f.name == name), None)

    def digest(self, *extra: str) -> str:
        """A hex digest of the request body (and extra strings): the seed of every derived value."""
        hasher = hashlib.sha256(self.body)
        for item in extra:
            hasher.update(item.encode("utf-8"))
        return hasher.hexdigest()


class Answer:
    """A complete answer: status, headers and body bytes."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.status = status
        self.body = body
        self.headers = {"content-type": content_type, **(headers or {})}

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Answer:
        """A JSON answer."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, "application/json", headers)

    @property
    def payload(self) -> Any:
        """The decoded JSON body (for the request log and tests)."""
        return json.loads(self.body) if self.headers["content-type"] == "application/json" else None


Event = Tuple[Optional[str], Any]


class StreamAnswer:
    """A Server-Sent Events answer: `(event name or None, JSON payload or "[DONE]")` pairs, in order.

    `kind` (`chat`, `responses`, `messages`) decides how an injected error event is written.
    """

    def __init__(self, kind: str, events: List[Event], headers: Optional[Dict[str, str]] = None) -> None:
        self.status = 200
        self.kind = kind
        self.events = events
        self.headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            **(headers or {}),
        }

    def error_event(self, error_type: Optional[str], code: Optional[str], message: Optional[str]) -> Event:
        """The mid-stream error event of this stream's wire format."""
        if self.kind == "messages":
            kind = error_type or "overloaded_error"
            return "error", {"type": "error", "error": {"type": kind, "message": message or "Overloaded"}}
        kind = error_type or "server_error"
        text = message or "The upstream provider failed mid-stream"
        if self.kind == "responses":
            return "error", {"type": "error", "code": code or kind, "message": text, "param": None}
        return None, {"error": {"message": text, "type": kind, "code": code or "upstream_error", "param": None}}

    @staticmethod
    def render(event: Event) -> bytes:
        """The SSE bytes of one event."""
        name, data = event
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        head = f"event: {name}\n" if name else ""
        return f"{head}data: {text}\n\n".encode()


def error_answer(
    status: int,
    message: Optional[str] = None,
    *,
    code: Optional[str] = None,
    param: Optional[str] = None,
    error_type: Optional[str] = None,
    anthropic: bool = False,
    headers: Optional[Dict[str, str]] = None,
) -> Answer:
    """A gateway-shaped error: `{"error": {"message", "type", "param", "code"}}` (plus `"type": "error"` for /messages,
    so Anthropic-style readers recognise it too)."""
    default_type, default_code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    error = {
        "message": message or _MESSAGES.get(status, f"HTTP {status}"),
        "type": error_type or default_type,
        "param": param,
        "code": code or default_code,
    }
    payload: Dict[str, Any] = {"type": "error", "error": error} if anthropic else {"error": error}
    return Answer.json(payload, status, headers)


def _ident(prefix: str, request: FakeRequest, length: int = 24, salt: str = "") -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    # The request's sequence number keeps ids unique when the same body is sent twice.
    number = int(request.digest(salt, str(request.seq)), 16)
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return prefix + "".join(chars)


def _text_of(content: Any) -> str:
    """The text of a message `content`: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                for key in ("text", "content"):
                    value = part.get(key)
                    if isinstance(value, str):
                        texts.append(value)
                        break
                    if isinstance(value, list):
                        texts.append(_text_of(value))
                        break
        return " ".join(t for t in texts if t)
    return ""


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reply_text(model: str, prompt: str) -> str:
    if not prompt:
        return f"Hello from the offline Apertis server ({model}). Nothing to answer: the conversation has no text."
    return f'Offline answer from {model}: you said "{_clip(prompt)}".'


def _limit(text: str, max_tokens: Optional[int], stops: Sequence[str]) -> Tuple[List[str], str]:
    """Split the reply into stream pieces, honouring `stop` sequences and a token cap."""
    finish = "stop"
    for stop in stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    pieces = _PIECE.findall(text)
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces = pieces[:max_tokens]
        finish = "length"
    return pieces, finish


def _stops(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str)]
    return []


def _base_model(model: str) -> str:
    return model[: -len(":web")] if model.endswith(":web") else model


# ---------------------------------------------------------------------------------------------------------------
# Chat completions


def _chat(request: FakeRequest, resolver: Resolver) -> Union[Answer, StreamAnswer]:
    body: Dict[str, Any] = request.json
    model = str(body["model"])
    messages: List[Any] = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    user_texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    prompt = user_texts[-1] if user_texts else ""
    prompt_tokens = sum(count_tokens(_text_of(m.get("content"))) + 4 for m in messages if isinstance(m, dict)) + 3
    served, gateway_headers = served_model(body, _base_model(model))
    created = int(time.time())
    ident = _ident("chatcmpl-", request, 29)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    n = int(body.get("n") or 1)

    tool_calls: Optional[List[Dict[str, Any]]] = None
    tools = body.get("tools") or []
    choice = body.get("tool_choice", "auto")
    if tools and choice != "none" and last.get("role") != "tool":
        wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        chosen = next(
            (
                t
                for t in tools
                if isinstance(t, dict) and (wanted is None or t.get("function", {}).get("name") == wanted)
            ),
            tools[0],
        )
        function = chosen.get("function", {}) if isinstance(chosen, dict) else {}
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        arguments = synthesize(parameters, resolver) if isinstance(parameters, dict) else {}
        tool_calls = [
            {
                "id": _ident("call_", request, 24, "tool"),
                "type": "function",
                "function": {"name": function.get("name", "tool"), "arguments": json.dumps(arguments)},
            }
        ]

    if last.get("role") == "tool":
        text = f"Offline answer from {served}: the tool returned {_clip(_text_of(last.get('content')), 160)!r}."
    else:
        text = _reply_text(served, prompt)
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
            text = json.dumps(answer_for_schema(schema) if isinstance(schema, dict) else {})
        elif response_format.get("type") == "json_object":
            text = json.dumps({"answer": text})
    pieces, finish = _limit(text, max_tokens, _stops(body.get("stop")))
    if tool_calls is not None:
        pieces, finish = [], "tool_calls"
    completion_tokens = (len(pieces) or 1) * n if tool_calls is None else 12 * n
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        # Deterministic timings of the size an upstream gives (the gateway adds its own few milliseconds).
        "latency_checkpoint": {
            "engine_ttft_ms": 180 + prompt_tokens,
            "service_ttft_ms": 192 + prompt_tokens,
            "total_duration_ms": 192 + prompt_tokens + 14 * completion_tokens,
        },
    }
    reasoning = f"The user wrote {len(prompt)} characters; answer by echoing them." if "reasoner" in model else None
    fingerprint = "fp_" + request.digest("fp")[:10]
    headers = {"x-actual-model": served, **gateway_headers, **compression_headers(body, prompt_tokens)}
    web_sources = None
    if model.endswith(":web"):
        headers.update({"x-web-search-used": "true", "x-web-search-count": "2", "x-web-search-status": "success"})
        web_sources = [
            {
                "title": f"Result {i} for {_clip(prompt, 40)}",
                "url": f"https://example.com/search/{i}",
                "snippet": _clip(prompt, 80),
            }
            for i in (1, 2)
        ]

    if body.get("stream") is True:
        events: List[Event] = []

        def chunk(delta: Dict[str, Any], finish_reason: Optional[str], index: int = 0) -> Dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": served,
                "system_fingerprint": fingerprint,
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }

        for index in range(n):
            events.append((None, chunk({"role": "assistant", "content": ""}, None, index)))
            if reasoning:
                events.append((None, chunk({"reasoning_content": reasoning}, None, index)))
            if tool_calls is not None:
                call = tool_calls[0]
                first = {
                    "index": 0,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                events.append((None, chunk({"tool_calls": [first]}, None, index)))
                events.append(
                    (
                        None,
                        chunk(
                            {"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]},
                            None,
                            index,
                        ),
                    )
                )
            events.extend((None, chunk({"content": piece}, None, index)) for piece in pieces)
            events.append((None, chunk({}, finish, index)))
        options = body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            final = chunk({}, None)
            final["choices"] = []
            final["usage"] = usage
            events.append((None, final))
        if web_sources is not None:
            events.insert(
                0,
                (
                    None,
                    {
                        "id": "web-search",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": "",
                        "choices": [
                            {"index": 0, "delta": {"role": "assistant", "content": "\U0001f50d Web searching...\n\n"}}
                        ],
                    },
                ),
            )
        events.append((None, "[DONE]"))
        return StreamAnswer("chat", events, headers)

    message: Dict[str, Any] = {"role": "assistant", "content": "".join(pieces) if tool_calls is None else None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    if "audio" in (body.get("modalities") or []):
        audio_format = (body.get("audio") or {}).get("format", "wav")
        fmt = {"pcm16": "pcm"}.get(audio_format, audio_format)
        message["audio"] = {
            "id": _ident("audio_", request, 20),
            "data": base64.b64encode(audio_bytes(message["content"] or "", fmt)).decode("ascii"),
            "expires_at": created + 3600,
            "transcript": message["content"],
        }
    choices = [{"index": index, "message": message, "logprobs": None, "finish_reason": finish} for index in range(n)]
    payload: Dict[str, Any] = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": served,
        "system_fingerprint": fingerprint,
        "choices": choices,
        "usage": usage,
    }
    if web_sources is not None:
        payload["web_sources"] = web_sources
    return Answer.json(payload, headers=headers)


# ---------------------------------------------------------------------------------------------------------------
# Responses


def _responses(request: FakeRequest, resolver: Resolver) -> Union[Answer, StreamAnswer]:
    body: Dict[str, Any] = request.json
    model = str(body["model"])
    source = body.get("input")
    if isinstance(source, str):
        prompt = source
        input_tokens = count_tokens(source) + 7
    else:
        items = [i for i in (source or []) if isinstance(i, dict)]
        users = [_text_of(i.get("content")) for i in items if i.get("role", "user") == "user"]
        prompt = users[-1] if users else ""
        input_tokens = sum(count_tokens(_text_of(i.get("content"))) + 4 for i in items) + 3
    if isinstance(body.get("instructions"), str):
        input_tokens += count_tokens(body["instructions"])
    cap = body.get("max_output_tokens", body.get("max_tokens"))
    pieces, finish = _limit(_structured_text(body.get("text"), "format") or _reply_text(model, prompt), cap, ())
    text = "".join(pieces)
    created = int(time.time())
    ident = _ident("resp_", request, 32)
    item_id = _ident("msg_", request, 32, "item")
    status = "incomplete" if finish == "length" else "completed"
    usage = {"input_tokens": input_tokens, "output_tokens": len(pieces), "total_tokens": input_tokens + len(pieces)}
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": [part]}
    final: Dict[str, Any] = {
        "id": ident,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model,
        "output": [item],
        "usage": usage,
        "error": None,
    }
    if status == "incomplete":
        final["incomplete_details"] = {"reason": "max_output_tokens"}
    if isinstance(body.get("metadata"), dict):
        final["metadata"] = body["metadata"]
    if body.get("stream") is not True:
        return Answer.json(final)

    events: List[Event] = []

    def add(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    start = {**final, "status": "in_progress", "output": []}
    for pending in ("usage", "incomplete_details"):
        start.pop(pending, None)
    add("response.created", response=start)
    add("response.in_progress", response=start)
    add("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "content": []})
    add(
        "response.content_part.added",
        item_id=item_id,
        output_index=0,
        content_index=0,
        part={"type": "output_text", "text": "", "annotations": []},
    )
    for piece in pieces:
        add("response.output_text.delta", item_id=item_id, output_index=0, content_index=0, delta=piece)
    add("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=text)
    add("response.content_part.done", item_id=item_id, output_index=0, content_index=0, part=part)
    add("response.output_item.done", output_index=0, item=item)
    add("response.incomplete" if status == "incomplete" else "response.completed", response=final)
    return StreamAnswer("responses", events)


def _structured_text(options: Any, key: str) -> Optional[str]:
    """The JSON reply to a structured-output request (`options[key]` is `{"type": "json_schema", "schema": ...}`,
    as in Responses' `text.format` and Anthropic's `output_format`), or None when the request asks for none."""
    wanted = options.get(key) if isinstance(options, dict) else None
    if not isinstance(wanted, dict):
        return None
    if wanted.get("type") == "json_schema" and isinstance(wanted.get("schema"), dict):
        return json.dumps(answer_for_schema(wanted["schema"]))
    if wanted.get("type") == "json_object":
        return json.dumps({"answer": "Hello from the offline Apertis server."})
    return None


def _forced_tool(body: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The tool a Messages request forces (`tool_choice` `{"type": "tool", "name": ...}` or `{"type": "any"}`)."""
    choice = body.get("tool_choice")
    tools = [t for t in body.get("tools") or () if isinstance(t, dict)]
    if not isinstance(choice, dict) or not tools:
        return None
    if choice.get("type") == "any":
        return tools[0]
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    return None


def _tool_results(messages: List[Dict[str, Any]]) -> Optional[str]:
    """The text of the tool results the last message carries, or None when it carries none."""
    last = messages[-1].get("content") if messages else None
    if not isinstance(last, list):
        return None
    results = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
    return _text_of(results) if results else None


def _called_tool(body: Dict[str, Any], messages: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The tool the fake model calls: the forced one, else (`tool_choice` auto or left out) the first client tool
    until the last message carries tool results, which the model then answers in text."""
    forced = _forced_tool(body)
    choice = body.get("tool_choice")
    if forced is not None or (isinstance(choice, dict) and choice.get("type") != "auto"):
        return forced
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") in (None, "custom")]
    return tools[0] if tools and _tool_results(messages) is None else None


# ---------------------------------------------------------------------------------------------------------------
# Messages


def _messages(request: FakeRequest, resolver: Resolver) -> Union[Answer, StreamAnswer]:
    body: Dict[str, Any] = request.json
    model = str(body["model"])
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = users[-1] if users else ""
    input_tokens = sum(count_tokens(_text_of(m.get("content"))) + 3 for m in messages)
    if isinstance(body.get("system"), str):
        input_tokens += count_tokens(body["system"])
    stops = _stops(body.get("stop_sequences"))
    results = _tool_results(messages)
    reply = (
        _reply_text(model, prompt)
        if results is None
        else f"Offline answer from {model}: the tool returned {results!r}."
    )
    text = _structured_text(body, "output_format") or reply
    stop_sequence = next((s for s in stops if s and s in text), None)
    pieces, finish = _limit(text, body.get("max_tokens"), stops)
    stop_reason = "max_tokens" if finish == "length" else ("stop_sequence" if stop_sequence else "end_turn")
    tool = _called_tool(body, messages)
    tool_use: Optional[Dict[str, Any]] = None
    if tool is not None:
        # The tool's input is the structured answer: it streams as input_json_delta pieces, and is cut like text.
        schema = tool.get("input_schema")
        pieces, finish = _limit(
            json.dumps(answer_for_schema(schema) if isinstance(schema, dict) else {}), body.get("max_tokens"), ()
        )
        stop_reason = "max_tokens" if finish == "length" else "tool_use"
        stop_sequence = None
        whole = "".join(pieces)
        tool_use = {
            "type": "tool_use",
            "id": _ident("toolu_", request, 24, "tool"),
            "name": tool.get("name", "tool"),
            "input": json.loads(whole) if finish != "length" else {},
        }
    ident = _ident("msg_", request, 24)
    content: List[Dict[str, Any]] = []
    thinking = body.get("thinking")
    thought = (
        f"The user wrote {len(prompt)} characters."
        if isinstance(thinking, dict) and thinking.get("type") == "enabled"
        else None
    )
    signature = "sig_" + request.digest("signature")[:32] if thought else ""
    if thought:
        content.append({"type": "thinking", "thinking": thought, "signature": signature})
    content.append({"type": "text", "text": "".join(pieces)} if tool_use is None else tool_use)
    usage = {"input_tokens": input_tokens, "output_tokens": len(pieces)}
    message = {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": model,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }
    if body.get("stream") is not True:
        return Answer.json(message)

    events: List[Event] = []

    def add(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, **fields}))

    add(
        "message_start",
        message={
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    )
    index = 0
    if thought:
        add("content_block_start", index=index, content_block={"type": "thinking", "thinking": "", "signature": ""})
        add("content_block_delta", index=index, delta={"type": "thinking_delta", "thinking": thought})
        add("content_block_delta", index=index, delta={"type": "signature_delta", "signature": signature})
        add("content_block_stop", index=index)
        index += 1
    if tool_use is None:
        add("content_block_start", index=index, content_block={"type": "text", "text": ""})
    else:
        add("content_block_start", index=index, content_block={**tool_use, "input": {}})
    add("ping")
    for piece in pieces:
        delta = (
            {"type": "text_delta", "text": piece}
            if tool_use is None
            else {"type": "input_json_delta", "partial_json": piece}
        )
        add("content_block_delta", index=index, delta=delta)
    add("content_block_stop", index=index)
    add(
        "message_delta",
        delta={"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        usage={"output_tokens": len(pieces)},
    )
    add("message_stop")
    return StreamAnswer("messages", events, {"anthropic-version": "2023-06-01"})


# ---------------------------------------------------------------------------------------------------------------
# Embeddings and rerank


def _vector(model: str, text: str, dimensions: int) -> List[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}\x00{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    # Round-trip through float32 so JSON floats and base64 payloads carry the same numbers.
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _embeddings(request: FakeRequest, resolver: Resolver) -> Answer:
    body: Dict[str, Any] = request.json
    model = str(body["model"])
    source = body["input"]
    if isinstance(source, str):
        inputs: List[str] = [source]
    elif isinstance(source, list) and source and all(isinstance(t, int) for t in source):
        inputs = [" ".join(str(t) for t in source)]
    elif isinstance(source, list):
        inputs = [s if isinstance(s, str) else " ".join(str(t) for t in s) for s in source]
    else:
        inputs = [str(source)]
    if not inputs:
        return error_answer(400, "'input' must not be empty.", code="invalid_parameter", param="input")
    dimensions = body.get("dimensions") or _EMBEDDING_DIMENSIONS.get(model, 1024 if model.startswith("jina") else 1536)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = _vector(model, text, int(dimensions))
        value: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii") if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(max(1, count_tokens(t)) for t in inputs)
    return Answer.json(
        {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


def _rerank(request: FakeRequest, resolver: Resolver) -> Answer:
    body: Dict[str, Any] = request.json
    query = str(body["query"])
    documents = body["documents"]
    if not documents:
        return error_answer(400, "'documents' must not be empty.", code="invalid_parameter", param="documents")
    words = {w.lower() for w in re.findall(r"\w+", query)}
    scored = []
    for index, document in enumerate(documents):
        text = document if isinstance(document, str) else _text_of([document])
        doc_words = {w.lower() for w in re.findall(r"\w+", text)}
        overlap = len(words & doc_words) / (len(words | doc_words) or 1)
        # A small index-based term breaks ties deterministically (earlier documents first).
        score = round(0.05 + 0.9 * overlap + 0.04 / (index + 1), 6)
        result: Dict[str, Any] = {"index": index, "relevance_score": score}
        if body.get("return_documents"):
            result["document"] = text
        scored.append(result)
    scored.sort(key=lambda r: (-r["relevance_score"], r["index"]))
    top_n = body.get("top_n")
    if isinstance(top_n, int):
        scored = scored[:top_n]
    tokens = count_tokens(query) * len(documents) + sum(count_tokens(str(d)) for d in documents)
    return Answer.json({"object": "list", "model": body["model"], "results": scored, "usage": {"total_tokens": tokens}})


# ---------------------------------------------------------------------------------------------------------------
# Audio


def _speech(request: FakeRequest, resolver: Resolver) -> Answer:
    fmt = str(request.field("response_format") or "mp3")
    media_type = AUDIO_MEDIA_TYPES.get(fmt, "application/octet-stream")
    return Answer(200, audio_bytes(str(request.field("input")), fmt), media_type)


def _srt_time(seconds: float, comma: bool) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{',' if comma else '.'}{millis:03d}"


def _transcribe(request: FakeRequest, task: str) -> Answer:
    upload = request.file("file")
    if upload is None:
        return error_answer(400, "Missing required parameter 'file'.", code="missing_parameter", param="file")
    embedded = find_embedded_text(upload.content)
    text = (
        embedded
        if embedded is not None
        else f"Transcript of {upload.filename or 'upload'} ({len(upload.content)} bytes)."
    )
    if task == "translate":
        language = "english"
    else:
        language = {
            "en": "english",
            "de": "german",
            "fr": "french",
            "es": "spanish",
            "ja": "japanese",
            "zh": "chinese",
        }.get(str(request.field("language") or "en"), str(request.field("language")))
    words = re.findall(r"\S+", text)
    duration = round(max(0.5, 0.35 * len(words)), 2)
    fmt = str(request.field("response_format") or "json")
    half = max(1, len(words) // 2)
    groups = [words[:half], words[half:]] if len(words) > 1 else [words]
    segments = []
    start = 0.0
    for index, group in enumerate(g for g in groups if g):
        end = round(start + 0.35 * len(group), 2)
        segments.append(
            {
                "id": index,
                "seek": 0,
                "start": start,
                "end": end,
                "text": " " + " ".join(group),
                "tokens": [50364 + i for i in range(len(group))],
                "temperature": 0.0,
                "avg_logprob": -0.21,
                "compression_ratio": 1.1,
                "no_speech_prob": 0.01,
            }
        )
        start = end
    if fmt == "text":
        return Answer(200, (text + "\n").encode(), "text/plain; charset=utf-8")
    if fmt in ("srt", "vtt"):
        lines = ["WEBVTT", ""] if fmt == "vtt" else []
        for segment in segments:
            if fmt == "srt":
                lines.append(str(int(segment["id"]) + 1))  # type: ignore[call-overload]
            begin, end = float(segment["start"]), float(segment["end"])  # type: ignore[arg-type]
            arrow = f"{_srt_time(begin, fmt == 'srt')} --> {_srt_time(end, fmt == 'srt')}"
            lines.extend([arrow, str(segment["text"]).strip(), ""])
        return Answer(200, "\n".join(lines).encode(), "text/plain; charset=utf-8")
    if fmt == "verbose_json":
        payload: Dict[str, Any] = {
            "task": task,
            "language": language,
            "duration": duration,
            "text": text,
            "segments": segments,
        }
        granularities = request.form.get("timestamp_granularities[]", []) + request.form.get(
            "timestamp_granularities", []
        )
        if "word" in granularities:
            payload["words"] = [
                {"word": word, "start": round(0.35 * i, 2), "end": round(0.35 * (i + 1), 2)}
                for i, word in enumerate(words)
            ]
        return Answer.json(payload)
    if task == "translate":
        return Answer.json({"text": text})  # reference 7.2: a translation reports no usage
    tokens = count_tokens(text)
    return Answer.json(
        {
            "text": text,
            "usage": {"type": "tokens", "input_tokens": tokens, "output_tokens": tokens, "total_tokens": 2 * tokens},
        }
    )


def _transcriptions(request: FakeRequest, resolver: Resolver) -> Answer:
    return _transcribe(request, "transcribe")


def _translations(request: FakeRequest, resolver: Resolver) -> Answer:
    return _transcribe(request, "translate")


# ---------------------------------------------------------------------------------------------------------------
# Models


def _model_object(model_id: str, owned_by: str, created: int) -> Dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "root": model_id,
        "parent": None,
    }


def _models(request: FakeRequest, resolver: Resolver) -> Answer:
    return Answer.json({"object": "list", "data": [_model_object(*entry) for entry in MODELS]})


def _model(request: FakeRequest, resolver: Resolver) -> Answer:
    wanted = next(iter(request.params.values()), "")
    for entry in MODELS:
        if entry[0] == wanted:
            return Answer.json(_model_object(*entry))
    return error_answer(404, f"The model '{wanted}' does not exist", code="model_not_found", param="model")


def _public_models(request: FakeRequest, resolver: Resolver) -> Answer:
    return Answer.json({"data": [entry[0] for entry in MODELS]})


# ---------------------------------------------------------------------------------------------------------------
# Images


def _size(value: Any) -> Tuple[int, int]:
    found = re.fullmatch(r"(\d+)x(\d+)", str(value or ""))
    if not found:
        return 1024, 1024
    return min(2048, int(found.group(1))), min(2048, int(found.group(2)))


def _images(request: FakeRequest, resolver: Resolver) -> Answer:
    model = str(request.field("model") or "dall-e-2")
    prompt = str(request.field("prompt") or "")
    count = int(request.field("n") or 1)
    width, height = _size(request.field("size"))
    gpt_image = model.startswith("gpt-image")
    as_base64 = gpt_image or request.field("response_format") == "b64_json"
    data = []
    for index in range(count):
        seed = int(request.digest(str(index))[:6], 16)
        entry: Dict[str, Any] = {"revised_prompt": prompt} if not gpt_image else {}
        if as_base64:
            entry["b64_json"] = base64.b64encode(png_bytes(width, height, seed)).decode("ascii")
        else:
            entry["url"] = f"{request.base_url}/fake-assets/image-{seed:06x}-{width}x{height}.png"
        data.append(entry)
    payload: Dict[str, Any] = {"created": int(time.time()), "data": data}
    if gpt_image:
        tokens = count_tokens(prompt)
        payload["usage"] = {"input_tokens": tokens, "output_tokens": 272 * count, "total_tokens": tokens + 272 * count}
    return Answer.json(payload)


def _image_edits(request: FakeRequest, resolver: Resolver) -> Answer:
    if request.file("image") is None and request.file("image[]") is None:
        return error_answer(400, "Missing required parameter 'image'.", code="missing_parameter", param="image")
    return _images(request, resolver)


# ---------------------------------------------------------------------------------------------------------------
# Video tasks


class VideoTasks:
    """The video tasks a server has accepted; each poll moves a task one step towards completion."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._tasks: Dict[str, Dict[str, Any]] = {}
        self._limit = limit

    def add(self, task: Dict[str, Any]) -> Dict[str, Any]:
        """Remember a new task."""
        with self._lock:
            if len(self._tasks) >= self._limit:
                self._tasks.pop(next(iter(self._tasks)))
            self._tasks[task["id"]] = task
        return task

    def poll(self, task_id: str) -> Optional[Dict[str, Any]]:
        """The task after one more step: pending/queued -> processing (50%) -> completed (100%)."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None
            task["polls"] += 1
            if task["polls"] == 1:
                task.update(status="processing" if task["api"] == "legacy" else "in_progress", progress=50)
            else:
                task.update(status="completed", progress=100, video_url=task["final_url"])
            task["status_update_time"] = int(time.time())
            return dict(task)

    def get(self, task_id: str) -> Optional[Dict[str, Any]]:
        """The task as it stands."""
        with self._lock:
            task = self._tasks.get(task_id)
            return dict(task) if task is not None else None

    def clear(self) -> None:
        """Forget every task."""
        with self._lock:
            self._tasks.clear()


_PUBLIC_TASK_FIELDS = {
    # Reference 10.2: the legacy task reports no progress (the /videos API does).
    "legacy": ("id", "status", "status_update_time", "enhanced_prompt", "video_url"),
    "videos": ("id", "object", "model", "status", "progress", "created_at", "seconds", "size", "video_url"),
}


def _task_view(task: Dict[str, Any]) -> Dict[str, Any]:
    return {k: task[k] for k in _PUBLIC_TASK_FIELDS[task["api"]] if k in task}


def _new_task(request: FakeRequest, tasks: VideoTasks, api: str, model: str, prompt: str) -> Dict[str, Any]:
    if api == "legacy" or model.startswith("sora"):
        digits = str(int(request.digest("video")[:12], 16))[:10]
        ident = f"{model}:{digits}-{_ident('', request, 8, 'video-suffix').lower()}"
    else:
        hex_id = request.digest("video-id")[:32]
        ident = f"video_{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:32]}"
    task: Dict[str, Any] = {
        "id": ident,
        "api": api,
        "model": model,
        "polls": 0,
        "status": "pending" if api == "legacy" or model.startswith("sora") else "queued",
        "progress": 0,
        "created_at": int(time.time()),
        "status_update_time": int(time.time()),
        "enhanced_prompt": f"{prompt.strip()}, cinematic lighting, smooth camera motion",
        "video_url": None,
        "final_url": f"{request.base_url}{request.api_prefix}/videos/{ident}/content",
    }
    if api == "videos":
        task["object"] = "video"
    return tasks.add(task)


def _video_create(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    task = _new_task(request, tasks, "legacy", str(request.field("model")), str(request.field("prompt")))
    return Answer.json(_task_view(task))


def _video_query(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    task_id = (request.query.get("id") or [""])[0]
    task = tasks.poll(task_id)
    if task is None:
        return error_answer(404, f"Video task '{task_id}' not found", code="task_not_found", param="id")
    return Answer.json(_task_view(task))


def _videos_create(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    task = _new_task(request, tasks, "videos", str(request.field("model")), str(request.field("prompt")))
    seconds = request.field("seconds")
    task["seconds"] = int(seconds) if str(seconds or "").isdigit() else 8
    task["size"] = str(request.field("size") or "1280x720")
    return Answer.json(_task_view(task))


def _videos_get(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    task_id = next(iter(request.params.values()), "")
    task = tasks.poll(task_id)
    if task is None:
        return error_answer(404, f"Video task '{task_id}' not found", code="task_not_found", param="id")
    return Answer.json(_task_view(task))


def _videos_content(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    task_id = next(iter(request.params.values()), "")
    task = tasks.get(task_id)
    if task is None:
        return error_answer(404, f"Video task '{task_id}' not found", code="task_not_found", param="id")
    if task["status"] != "completed":
        return error_answer(
            404,
            f"Video task '{task_id}' is {task['status']}; poll it until it is completed",
            code="video_not_ready",
            param="id",
        )
    return Answer(200, mp4_bytes(task_id), "video/mp4")


def _videos_remix(request: FakeRequest, resolver: Resolver, tasks: VideoTasks) -> Answer:
    original = tasks.get(next(iter(request.params.values()), ""))
    if original is None:
        return error_answer(404, "Video task not found", code="task_not_found", param="id")
    task = _new_task(request, tasks, "videos", str(original["model"]), str(request.field("prompt")))
    task.update(seconds=original.get("seconds", 8), size=request.field("size") or original.get("size", "1280x720"))
    return Answer.json(_task_view(task))


def _characters(request: FakeRequest, resolver: Resolver) -> Answer:
    name = "character_" + request.digest("character")[:8]
    return Answer.json(
        {
            "id": _ident("char_", request, 12),
            "username": name,
            "permalink": f"{request.base_url}/fake-assets/{name}",
            "profile_picture_url": f"{request.base_url}/fake-assets/{name}.png",
        }
    )


# ---------------------------------------------------------------------------------------------------------------
# Account utilities


def _calling_key(request: FakeRequest) -> str:
    authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    return authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""


def _credits(request: FakeRequest, resolver: Resolver) -> Answer:
    # As the gateway: `payg` always, `subscription` only for subscription (`sk-sub-`) keys.
    if not _calling_key(request).startswith("sk-sub-"):
        return Answer.json(
            {
                "object": "billing_credits",
                "is_subscriber": False,
                "payg": {"remaining_usd": 42.0, "used_usd": 8.0, "total_usd": 50.0, "is_unlimited": False},
            }
        )
    return Answer.json(
        {
            "object": "billing_credits",
            "is_subscriber": True,
            "payg": {"remaining_usd": None, "used_usd": 1.25, "total_usd": None, "is_unlimited": True},
            "subscription": {
                "plan_type": "pro",
                "status": "active",
                "cycle_quota_limit": 2000,
                "cycle_quota_used": 150,
                "cycle_quota_remaining": 1850,
                "cycle_start": "2026-03-01T00:00:00Z",
                "cycle_end": "2026-04-01T00:00:00Z",
                "payg_fallback_enabled": False,
            },
        }
    )


# The offline recommendations: task -> budget -> (model, input and output USD per million tokens, reason).
_RECOMMENDATIONS: Dict[str, Dict[str, Tuple[str, float, float, str]]] = {
    "coding": {
        "low": ("deepseek-chat", 0.27, 1.1, "strong code at a low price"),
        "medium": ("gpt-4.1", 2.0, 8.0, "reliable code edits and tool use"),
        "high": ("claude-sonnet-4.5", 3.0, 15.0, "the strongest agentic coding"),
    },
    "long-context": {
        "low": ("gemini-2.5-flash", 0.3, 2.5, "a million tokens of context, cheaply"),
        "medium": ("gpt-4.1-mini", 0.4, 1.6, "a million tokens of context"),
        "high": ("gemini-3-pro-preview", 2.0, 12.0, "long context with strong reasoning"),
    },
    "fast-chat": {
        "low": ("gpt-4o-mini", 0.15, 0.6, "cheap, fast and good enough for most chat"),
        "medium": ("gpt-4.1-mini", 0.4, 1.6, "fast with better instruction following"),
        "high": ("claude-haiku-4.5", 1.0, 5.0, "fast with strong writing"),
    },
    "reasoning": {
        "low": ("deepseek-reasoner", 0.55, 2.19, "step-by-step reasoning at a low price"),
        "medium": ("o4-mini", 1.1, 4.4, "solid reasoning at moderate cost"),
        "high": ("gpt-5.1", 1.25, 10.0, "the strongest reasoning"),
    },
    "vision": {
        "low": ("gpt-4o-mini", 0.15, 0.6, "cheap image understanding"),
        "medium": ("gpt-4.1-mini", 0.4, 1.6, "good image understanding"),
        "high": ("gpt-4.1", 2.0, 8.0, "the most detailed image understanding"),
    },
}


def _recommend(request: FakeRequest, resolver: Resolver) -> Answer:
    task = (request.query.get("task") or [""])[0]
    budget = (request.query.get("budget") or ["medium"])[0]
    by_budget = _RECOMMENDATIONS.get(task)
    if by_budget is None:
        return error_answer(
            400, f"task must be one of {', '.join(_RECOMMENDATIONS)}, got {task!r}", param="task", code="invalid_task"
        )
    if budget not in by_budget:
        return error_answer(
            400, f"budget must be one of low, medium, high, got {budget!r}", param="budget", code="invalid_budget"
        )
    model, input_price, output_price, reason = by_budget[budget]
    alternatives = [
        {"model": other[0], "input_price_per_1m": other[1], "note": f"{level} budget: {other[3]}"}
        for level, other in by_budget.items()
        if level != budget
    ]
    return Answer.json(
        {
            "model": model,
            "task": task,
            "budget": budget,
            "input_price_per_1m": input_price,
            "output_price_per_1m": output_price,
            "reason": f"Offline recommendation: {reason}.",
            "alternatives": alternatives,
        }
    )


def _user_token(request: FakeRequest, resolver: Resolver) -> Answer:
    return Answer.json({"data": {"remain_quota": 21_000_000, "used_quota": 4_000_000}})


def _user_self(request: FakeRequest, resolver: Resolver) -> Answer:
    return Answer.json({"data": {"quota": 21_000_000}})


Handler = Callable[[FakeRequest, Resolver], Union[Answer, StreamAnswer]]
_TaskHandler = Callable[[FakeRequest, Resolver, VideoTasks], Answer]

_HANDLERS: Dict[str, Handler] = {
    "POST /chat/completions": _chat,
    "POST /responses": _responses,
    "POST /messages": _messages,
    "POST /embeddings": _embeddings,
    "POST /rerank": _rerank,
    "POST /audio/speech": _speech,
    "POST /audio/transcriptions": _transcriptions,
    "POST /audio/translations": _translations,
    "GET /models": _models,
    "GET /api/models": _public_models,
    "POST /images/generations": _images,
    "POST /images/edits": _image_edits,
    "POST /sora/v1/characters": _characters,
    "GET /dashboard/billing/credits": _credits,
    "GET /recommend": _recommend,
    "GET /api/user/token": _user_token,
    "GET /api/user/self": _user_self,
}

_TASK_HANDLERS: Dict[str, _TaskHandler] = {
    "POST /video/create": _video_create,
    "GET /video/query": _video_query,
    "POST /videos": _videos_create,
    "GET /videos/{}": _videos_get,
    "GET /videos/{}/content": _videos_content,
    "POST /videos/{}/remix": _videos_remix,
}


def handler_for(method: str, path_template: str, tasks: VideoTasks) -> Optional[Handler]:
    """The answer function for an operation, or None when only a schema-derived answer is possible."""
    shape = re.sub(r"\{[^}]+\}", "{}", path_template)
    key = f"{method.upper()} {shape}"
    if key == "GET /models/{}":
        return _model
    found = _HANDLERS.get(key)
    if found is not None:
        return found
    task_handler = _TASK_HANDLERS.get(key)
    if task_handler is not None:
        bound = task_handler
        return lambda request, resolver: bound(request, resolver, tasks)
    return None


def synthesized_answer(schema: Optional[Mapping[str, Any]], resolver: Resolver) -> Answer:
    """An answer built from the operation's response schema, for operations without a dedicated handler."""
    return Answer.json(synthesize(schema, resolver) if schema is not None else {})
