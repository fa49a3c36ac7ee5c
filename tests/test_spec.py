"""Checks of spec/apertis.openapi.yaml: OpenAPI validity and the conventions the SDK generator relies on.

Each convention is a small checker returning a list of problems, so a failure names every offending place, and
each checker is also run against a deliberately broken spec to show that it can fail.
"""

from __future__ import annotations

import builtins
import copy
import json
import keyword
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "spec" / "apertis.openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
REF_PREFIX = "#/components/schemas/"

Spec = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> Spec:
    with SPEC_PATH.open(encoding="utf-8") as f:
        loaded = yaml.safe_load(f)
    assert isinstance(loaded, dict)
    return loaded


def operations(spec: Spec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def schemas(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    return found


def resolve(spec: Spec, node: Any) -> Any:
    """Follow a schema $ref (one level at a time until a non-ref schema)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith(REF_PREFIX), ref
        node = schemas(spec)[ref[len(REF_PREFIX) :]]
        seen += 1
        assert seen < 50, "reference cycle"
    return node


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (json-pointer-ish path, value) pair in the document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def schema_nodes(spec: Spec) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object of the document (components, parameters, bodies, responses), with its location."""

    def sub(path: str, node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        yield path, node
        for key in ("oneOf", "anyOf", "allOf"):
            for i, child in enumerate(node.get(key, [])):
                yield from sub(f"{path}/{key}/{i}", child)
        for name, child in node.get("properties", {}).items():
            yield from sub(f"{path}/properties/{name}", child)
        if isinstance(node.get("items"), dict):
            yield from sub(f"{path}/items", node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            yield from sub(f"{path}/additionalProperties", node["additionalProperties"])

    for name, node in schemas(spec).items():
        yield from sub(f"#/components/schemas/{name}", node)
    for path, value in walk({k: v for k, v in spec.items() if k != "components"}):
        if path.endswith("/schema") and isinstance(value, dict):
            yield from sub(path, value)
    for kind in ("responses", "parameters", "headers", "requestBodies"):
        for path, value in walk(spec.get("components", {}).get(kind, {}), f"#/components/{kind}"):
            if path.endswith("/schema") and isinstance(value, dict):
                yield from sub(path, value)


# ---------------------------------------------------------------------------------------------------------- checkers


def check_operations(spec: Spec) -> list[str]:
    problems: list[str] = []
    seen_ids: dict[str, str] = {}
    seen_methods: dict[tuple[str, str], str] = {}
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId")
        if not op_id:
            problems.append(f"{where}: no operationId")
        elif op_id in seen_ids:
            problems.append(f"{where}: operationId {op_id} also used by {seen_ids[op_id]}")
        else:
            seen_ids[op_id] = where
        required_keys = ("summary", "description", "tags", "x-apertis-resource", "x-apertis-method")
        problems.extend(f"{where}: missing {key}" for key in required_keys if not op.get(key))
        resource, name = op.get("x-apertis-resource"), op.get("x-apertis-method")
        if resource and not re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", resource):
            problems.append(f"{where}: x-apertis-resource {resource!r} is not a dotted lower-case path")
        if name and not re.fullmatch(r"[a-z_]+", name):
            problems.append(f"{where}: x-apertis-method {name!r} is not a Python method name")
        if resource and name:
            if (resource, name) in seen_methods:
                problems.append(f"{where}: {resource}.{name} also used by {seen_methods[(resource, name)]}")
            seen_methods[(resource, name)] = where
        body = op.get("requestBody", {}).get("content", {})
        for media_type, media in body.items():
            if "example" not in media and "examples" not in media:
                problems.append(f"{where}: request {media_type} has no example")
        ok = op.get("responses", {}).get("200", {}).get("content", {})
        if not ok:
            problems.append(f"{where}: no 200 response content")
        elif not any("example" in media or "examples" in media for media in ok.values()):
            problems.append(f"{where}: 200 response has no example")
        error_codes = [code for code in op.get("responses", {}) if code != "200"]
        if not error_codes:
            problems.append(f"{where}: no error responses")
        kind = op.get("x-apertis-response", "json")
        if kind not in ("json", "binary", "text-or-json"):
            problems.append(f"{where}: unknown x-apertis-response {kind!r}")
        if kind == "binary" and not any(media.get("schema", {}).get("format") == "binary" for media in ok.values()):
            problems.append(f"{where}: x-apertis-response binary without a binary 200 content")
        if kind == "text-or-json" and not ("application/json" in ok and "text/plain" in ok):
            problems.append(f"{where}: text-or-json needs application/json and text/plain 200 contents")
        if op.get("x-apertis-host-root") and not op.get("servers"):
            problems.append(f"{where}: host-root operation without a servers override")
    return problems


def check_streams(spec: Spec) -> list[str]:
    """Operations whose body has `stream` declare x-apertis-stream and list JSON before the event stream."""
    problems: list[str] = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        streams = body is not None and "stream" in resolve(spec, body).get("properties", {})
        ext = op.get("x-apertis-stream")
        if streams != bool(ext):
            problems.append(f"{where}: body stream field and x-apertis-stream disagree")
            continue
        if not ext:
            continue
        if set(ext) != {"class", "event"}:
            problems.append(f"{where}: x-apertis-stream must have exactly class and event")
        if ext.get("event") not in schemas(spec):
            problems.append(f"{where}: stream event {ext.get('event')!r} is not a component schema")
        content = list(op["responses"]["200"].get("content", {}))
        if content[:2] != ["application/json", "text/event-stream"]:
            problems.append(f"{where}: 200 content must be application/json first, then text/event-stream")
        else:
            sse = op["responses"]["200"]["content"]["text/event-stream"]["schema"]
            if sse != {"$ref": REF_PREFIX + ext.get("event", "")}:
                problems.append(f"{where}: text/event-stream schema is not the stream event {ext.get('event')}")
    return problems


def check_refs(spec: Spec) -> list[str]:
    problems: list[str] = []
    for path, value in walk(spec):
        if isinstance(value, dict) and isinstance(value.get("$ref"), str):
            parts = value["$ref"].lstrip("#/").split("/")
            node: Any = spec
            for part in parts:
                if not isinstance(node, dict) or part not in node:
                    problems.append(f"{path}: dangling $ref {value['$ref']}")
                    break
                node = node[part]
    return problems


def _const_props(schema: dict[str, Any]) -> dict[str, Any]:
    required = set(schema.get("required", []))
    return {
        name: prop["const"]
        for name, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and "const" in prop and name in required
    }


def check_unions(spec: Spec) -> list[str]:
    """Object variants of a union must be told apart by a required const (the last one may be a catch-all).

    Variants sharing the same const must differ by a required key of the earlier one, or the later one is
    unreachable (the generated parser tries variants in declaration order).
    """
    problems: list[str] = []
    for where, node in schema_nodes(spec):
        for key in ("oneOf", "anyOf"):
            variants = node.get(key)
            if not variants:
                continue
            objects = []
            for variant in variants:
                target = resolve(spec, variant)
                if target.get("type") == "object" or "properties" in target:
                    objects.append((variant.get("$ref", "<inline>"), target))
            if len(objects) < 2:
                continue
            for index, (name, target) in enumerate(objects):
                if not _const_props(target) and index != len(objects) - 1:
                    problems.append(f"{where}/{key}: variant {name} has no required const discriminator")
            for i, (name_a, a) in enumerate(objects):
                for name_b, b in objects[i + 1 :]:
                    consts_a, consts_b = _const_props(a), _const_props(b)
                    if not consts_a or not consts_b:
                        continue
                    shared = set(consts_a) & set(consts_b)
                    same_const = bool(shared) and all(consts_a[k] == consts_b[k] for k in shared)
                    if same_const and not set(a.get("required", [])) - set(b.get("required", [])):
                        problems.append(f"{where}/{key}: {name_b} is shadowed by {name_a} (same const)")
    return problems


def check_named_objects(spec: Spec) -> list[str]:
    """Object schemas live in components/schemas only; no closed objects; no `default:`; documented properties."""
    problems: list[str] = []
    top_level = {id(node) for node in schemas(spec).values()}
    for where, node in schema_nodes(spec):
        if (node.get("type") == "object" or "properties" in node) and id(node) not in top_level:
            problems.append(f"{where}: inline object schema (name it in components/schemas)")
        if node.get("additionalProperties") is False:
            problems.append(f"{where}: additionalProperties false (the generated models keep unknown keys)")
        if isinstance(node.get("additionalProperties"), dict) and node.get("properties"):
            problems.append(f"{where}: typed additionalProperties next to properties")
        if "default" in node:
            problems.append(f"{where}: default {node['default']!r} (state defaults in the description)")
        if "enum" in node and "const" in node:
            problems.append(f"{where}: enum and const together")
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and "$ref" not in prop and not prop.get("description"):
                problems.append(f"{where}/properties/{name}: no description")
        problems.extend(
            f"{where}: required {name!r} is not a property"
            for name in node.get("required", [])
            if name not in node.get("properties", {})
        )
    for name, node in schemas(spec).items():
        if not node.get("description"):
            problems.append(f"#/components/schemas/{name}: no description")
    return problems


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def check_names(spec: Spec) -> list[str]:
    problems: list[str] = []
    modules: dict[str, str] = {}
    for name in schemas(spec):
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
            problems.append(f"{name}: schema names are PascalCase identifiers")
        if name in dir(builtins) or keyword.iskeyword(name) or name.lower() in dir(builtins):
            problems.append(f"{name}: clashes with a Python builtin")
        snake = _snake(name)
        if snake in modules:
            problems.append(f"{name}: same module name as {modules[snake]} ({snake})")
        modules[snake] = name
    return problems


# ---------------------------------------------------------------------------------------------------------- tests


def _takes_null(schema: Any) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema.get("nullable") is True:
        return True
    return any(_takes_null(variant) for key in ("anyOf", "oneOf") for variant in schema.get(key) or [])


def check_request_fields_take_no_null(spec: Spec) -> list[str]:
    """No top-level request body field takes null: the generated methods leave out an argument passed as None
    (apertis 0.4.1's meaning of None), which would be wrong for a field where null means something."""
    problems = []
    for path, method, operation in operations(spec):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            body = resolve(spec, media["schema"])
            for name, prop in (body.get("properties") or {}).items():
                if _takes_null(resolve(spec, prop)):
                    problems.append(f"{method.upper()} {path}: body field {name} takes null")
    return problems


def test_no_request_body_field_takes_null(spec: Spec) -> None:
    assert check_request_fields_take_no_null(spec) == []
    bad = copy.deepcopy(spec)
    bad["components"]["schemas"]["ChatCompletionCreateParams"]["properties"]["temperature"]["type"] = [
        "number",
        "null",
    ]
    assert check_request_fields_take_no_null(bad) == ["POST /chat/completions: body field temperature takes null"]


def test_spec_is_valid_openapi_3_1(spec: Spec) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_operations_follow_the_conventions(spec: Spec) -> None:
    assert check_operations(spec) == []


def test_streaming_operations_declare_stream_and_event(spec: Spec) -> None:
    assert check_streams(spec) == []
    streams = {op["operationId"]: op["x-apertis-stream"] for _, _, op in operations(spec) if "x-apertis-stream" in op}
    assert streams == {
        "createChatCompletion": {"class": "ChatCompletionStream", "event": "ChatCompletionChunk"},
        "createResponse": {"class": "ResponseStream", "event": "ResponseStreamEvent"},
        "createMessage": {"class": "MessageStream", "event": "MessageStreamEvent"},
    }


def test_every_ref_resolves(spec: Spec) -> None:
    assert check_refs(spec) == []


def test_union_variants_are_discriminated(spec: Spec) -> None:
    assert check_unions(spec) == []


def test_objects_are_named_open_and_documented(spec: Spec) -> None:
    assert check_named_objects(spec) == []


def test_schema_names_do_not_clash(spec: Spec) -> None:
    assert check_names(spec) == []


EXPECTED_OPERATIONS = {
    ("post", "/chat/completions"): ("chat.completions", "create", "json"),
    ("post", "/responses"): ("responses", "create", "json"),
    ("post", "/messages"): ("messages", "create", "json"),
    ("post", "/embeddings"): ("embeddings", "create", "json"),
    ("post", "/rerank"): ("rerank", "create", "json"),
    ("post", "/audio/transcriptions"): ("audio.transcriptions", "create", "text-or-json"),
    ("post", "/audio/translations"): ("audio.translations", "create", "text-or-json"),
    ("post", "/audio/speech"): ("audio.speech", "create", "binary"),
    ("post", "/images/generations"): ("images", "generate", "json"),
    ("post", "/images/edits"): ("images", "edit", "json"),
    ("post", "/video/create"): ("video", "create", "json"),
    ("get", "/video/query"): ("video", "query", "json"),
    ("post", "/videos"): ("videos", "create", "json"),
    ("get", "/videos/{video_id}"): ("videos", "retrieve", "json"),
    ("get", "/videos/{video_id}/content"): ("videos", "download_content", "binary"),
    ("post", "/videos/{video_id}/remix"): ("videos", "remix", "json"),
    ("post", "/sora/v1/characters"): ("videos.characters", "create", "json"),
    ("get", "/models"): ("models", "list", "json"),
    ("get", "/models/{model}"): ("models", "retrieve", "json"),
}


def test_every_endpoint_is_described_with_its_resource_and_method(spec: Spec) -> None:
    found = {
        (method, path): (op["x-apertis-resource"], op["x-apertis-method"], op.get("x-apertis-response", "json"))
        for path, method, op in operations(spec)
    }
    assert found == EXPECTED_OPERATIONS


def test_host_root_and_multipart_operations(spec: Spec) -> None:
    host_root = [(path, op) for path, _, op in operations(spec) if op.get("x-apertis-host-root")]
    assert [path for path, _ in host_root] == ["/sora/v1/characters"]
    assert host_root[0][1]["servers"] == [{"url": "https://api.apertis.ai", "description": "Host root (outside /v1)."}]
    multipart = sorted(
        path
        for path, _, op in operations(spec)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    )
    assert multipart == ["/audio/transcriptions", "/audio/translations", "/images/edits", "/videos"]
    content = spec["paths"]["/videos/{video_id}/content"]["get"]["responses"]["200"]["content"]
    assert content["video/mp4"]["schema"] == {"type": "string", "format": "binary"}
    assert content["application/json"]["schema"] == {"$ref": REF_PREFIX + "Video"}


def test_security_accepts_bearer_or_api_key(spec: Spec) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header", "name": "x-api-key"}
    assert spec["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert spec["servers"][0]["url"] == "https://api.apertis.ai/v1"


PUBLIC_NAMES = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionChoice",
    "ChatCompletionChunkChoice",
    "ChatCompletionMessage",
    "ChatCompletionDelta",
    "ToolCall",
    "Function",
    "URLCitation",
    "WebSource",
    "AudioData",
    "Usage",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "Model",
    "ModelList",
    "Response",
    "ResponseOutputMessage",
    "ResponseOutputText",
    "ResponseOutputRefusal",
    "ResponseReasoningItem",
    "ResponseFunctionToolCall",
    "ResponseUsage",
    "Message",
    "MessageUsage",
    "TextBlock",
    "ToolUseBlock",
    "ThinkingBlock",
    "RedactedThinkingBlock",
    "MessageDeltaUsage",
    "RerankResponse",
    "RerankResult",
    "RerankUsage",
    "Transcription",
    "Translation",
    "SystemMessageParam",
    "UserMessageParam",
    "AssistantMessageParam",
    "ToolMessageParam",
    "TextContentPart",
    "ImageURLContentPart",
    "ImageURLDetail",
    "VideoURLContentPart",
    "VideoURLDetail",
    "InputAudioContentPart",
    "InputAudioDetail",
    "ChatCompletionToolParam",
    "FunctionDefinition",
    "AudioConfig",
    "CompressionConfig",
    "WebSearchOptions",
    "UserLocation",
    "ReasoningConfig",
    "ThinkingConfig",
    "StreamOptions",
    "ResponseInputText",
    "ResponseInputImage",
    "ResponseInputFile",
    "ResponseInputItem",
    "MessageParam",
    "ToolDefinition",
    "ChatCompletionMessageParam",
    "ContentPart",
    "ResponseTextContent",
    "ResponseReasoningContent",
    "ResponseOutputItem",
    "ResponseStreamEvent",
    "ContentBlock",
    "MessageStreamEvent",
    "StopReason",
    "TextContent",
    "ImageContent",
    "ImageSource",
    "ToolResultContent",
    "MessageContent",
    "ResponseInputTextContent",
    "ResponseInputImageContent",
    "ResponseInputContent",
    "ResponseContent",
    "GeminiThinkingConfig",
    "ErrorResponse",
    "ErrorObject",
    "AnthropicErrorResponse",
    "ChatCompletionCreateParams",
    "ResponseCreateParams",
    "MessageCreateParams",
    "EmbeddingCreateParams",
    "RerankCreateParams",
    "TranscriptionCreateParams",
    "TranslationCreateParams",
    "SpeechCreateParams",
    "ImageGenerateParams",
    "ImageEditParams",
    "VideoTaskCreateParams",
    "VideoCreateParams",
    "VideoRemixParams",
    "CharacterCreateParams",
]


def test_public_class_names_exist(spec: Spec) -> None:
    assert sorted(set(PUBLIC_NAMES) - set(schemas(spec))) == []


def _union_consts(spec: Spec, union: str, prop: str = "type") -> list[Any]:
    return [resolve(spec, v)["properties"][prop]["const"] for v in schemas(spec)[union]["oneOf"]]


def test_stream_event_unions_cover_every_event_type(spec: Spec) -> None:
    assert _union_consts(spec, "MessageStreamEvent") == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ]
    assert _union_consts(spec, "ContentBlockDelta") == [
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "signature_delta",
    ]
    assert set(_union_consts(spec, "ResponseStreamEvent")) == {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.completed",
        "response.failed",
        "response.incomplete",
        "error",
    }
    assert _union_consts(spec, "ChatCompletionMessageParam", "role") == [
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
    ]


def test_stream_chunks_tolerate_missing_fields(spec: Spec) -> None:
    s = schemas(spec)
    for name in ("ChatCompletionChunk", "ChatCompletionChunkChoice", "ChatCompletionDelta", "FunctionDelta"):
        assert s[name].get("required", []) == [], name
    assert s["ToolCallDelta"]["required"] == ["index"]
    assert {"reasoning_content", "tool_calls", "content", "role"} <= set(s["ChatCompletionDelta"]["properties"])
    assert {"web_sources", "error", "usage"} <= set(s["ChatCompletionChunk"]["properties"])


def test_fields_the_server_may_omit_are_optional(spec: Spec) -> None:
    s = schemas(spec)
    assert not {"id", "object", "created"} & set(s["ChatCompletion"]["required"])
    assert "status" not in s["Response"]["required"]
    assert not {"id", "status"} & set(s["ResponseOutputMessage"]["required"])
    assert s["RerankResponse"]["required"] == ["results"]
    assert "object" not in s["ModelList"]["required"] and "object" not in s["Model"]["required"]
    assert s["ResponseInputItem"]["required"] == ["role", "content"]
    assert s["Image"].get("required", []) == []


CHAT_FIELDS = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "top_k",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "seed",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "modalities",
    "audio",
    "reasoning",
    "reasoning_effort",
    "thinking",
    "web_results_count",
    "web_content_length",
    "web_search_options",
    "fallback_models",
    "fallback_timeout",
    "fallback_enabled",
    "compression",
    "extra_body",
]

BODY_FIELDS = {
    "ChatCompletionCreateParams": CHAT_FIELDS,
    "ResponseCreateParams": [
        "model",
        "input",
        "instructions",
        "stream",
        "temperature",
        "top_p",
        "max_tokens",
        "max_output_tokens",
        "tools",
        "tool_choice",
        "max_tool_calls",
        "parallel_tool_calls",
        "reasoning",
        "text",
        "store",
        "previous_response_id",
        "truncation",
        "metadata",
        "compression",
    ],
    "MessageCreateParams": [
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stream",
        "stop_sequences",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "compression",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "response_format",
        "seed",
    ],
    "EmbeddingCreateParams": ["model", "input", "encoding_format", "dimensions", "user", "task"],
    "RerankCreateParams": ["model", "query", "documents", "top_n", "return_documents"],
    "TranscriptionCreateParams": [
        "file",
        "model",
        "language",
        "prompt",
        "response_format",
        "temperature",
        "timestamp_granularities[]",
    ],
    "TranslationCreateParams": ["file", "model", "prompt", "response_format", "temperature"],
    "SpeechCreateParams": ["model", "input", "voice", "response_format", "speed", "instructions"],
    "ImageGenerateParams": [
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "response_format",
        "style",
        "user",
        "background",
        "moderation",
        "output_format",
        "output_compression",
    ],
    "ImageEditParams": [
        "image",
        "prompt",
        "mask",
        "model",
        "n",
        "size",
        "quality",
        "response_format",
        "user",
        "background",
        "moderation",
        "output_format",
        "output_compression",
        "input_fidelity",
    ],
    "VideoTaskCreateParams": [
        "model",
        "prompt",
        "images",
        "enhance_prompt",
        "enable_upsample",
        "aspect_ratio",
        "orientation",
        "size",
        "duration",
        "watermark",
        "private",
        "character_url",
        "character_timestamps",
    ],
    "VideoCreateParams": [
        "model",
        "prompt",
        "seconds",
        "size",
        "input_reference",
        "watermark",
        "private",
        "style",
        "metadata",
        "character_url",
        "character_timestamps",
        "character_from_task",
        "character_create",
    ],
    "VideoRemixParams": ["prompt", "size"],
    "CharacterCreateParams": ["url", "from_task", "timestamps"],
}


@pytest.mark.parametrize("name", sorted(BODY_FIELDS))
def test_request_bodies_have_every_documented_field(spec: Spec, name: str) -> None:
    assert sorted(schemas(spec)[name]["properties"]) == sorted(BODY_FIELDS[name])


def test_provider_extra_body_cannot_collide_with_the_sdk_argument(spec: Spec) -> None:
    prop = schemas(spec)["ChatCompletionCreateParams"]["properties"]["extra_body"]
    assert prop["x-apertis-argument"] == "provider_extra_body"
    arguments = [
        p.get("x-apertis-argument", name) for s in schemas(spec).values() for name, p in s.get("properties", {}).items()
    ]
    assert "extra_body" not in arguments
    for reserved in ("extra_headers", "extra_query", "timeout"):
        assert reserved not in arguments


def test_web_search_suffix_is_documented_on_model(spec: Spec) -> None:
    description = schemas(spec)["ChatCompletionCreateParams"]["properties"]["model"]["description"]
    assert ":web" in description and "web_sources" in description


def test_base64_embeddings_are_allowed(spec: Spec) -> None:
    variants = schemas(spec)["Embedding"]["properties"]["embedding"]["oneOf"]
    assert variants == [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]


# ------------------------------------------------------------------------------------------ the checkers can fail


def _broken(spec: Spec) -> Spec:
    bad = copy.deepcopy(spec)
    s = bad["components"]["schemas"]
    op = bad["paths"]["/models"]["get"]
    del op["operationId"], op["x-apertis-method"]
    del op["responses"]["200"]["content"]["application/json"]["example"]
    bad["paths"]["/embeddings"]["post"]["x-apertis-response"] = "stream"
    del bad["paths"]["/chat/completions"]["post"]["x-apertis-stream"]
    bad["paths"]["/messages"]["post"]["responses"]["200"]["content"] = {
        "text/event-stream": {"schema": {"$ref": REF_PREFIX + "MessageStreamEvent"}},
        "application/json": {"schema": {"$ref": REF_PREFIX + "Message"}},
    }
    del bad["paths"]["/sora/v1/characters"]["post"]["servers"]
    s["TextBlock"]["required"] = ["text"]
    s["ThinkingBlock"]["required"] = ["type"]
    s["Usage"]["properties"]["nested"] = {"type": "object", "properties": {"x": {"type": "integer"}}}
    s["Usage"]["properties"]["prompt_tokens"]["default"] = 0
    s["Usage"]["properties"]["total_tokens"].pop("description")
    s["Model"]["properties"]["owner"] = {"$ref": REF_PREFIX + "Missing"}
    s["Object"] = {"type": "object", "description": "clashes with a builtin"}
    s["UrlCitation"] = {"type": "object", "description": "same module as URLCitation"}
    return bad


def test_checkers_report_broken_specs(spec: Spec) -> None:
    bad = _broken(spec)
    ops = "\n".join(check_operations(bad))
    assert "GET /models: no operationId" in ops
    assert "GET /models: missing x-apertis-method" in ops
    assert "GET /models: 200 response has no example" in ops
    assert "unknown x-apertis-response 'stream'" in ops
    assert "POST /sora/v1/characters: host-root operation without a servers override" in ops
    streams = "\n".join(check_streams(bad))
    assert "POST /chat/completions: body stream field and x-apertis-stream disagree" in streams
    assert "POST /messages: 200 content must be application/json first" in streams
    unions = "\n".join(check_unions(bad))
    assert "variant #/components/schemas/TextBlock has no required const discriminator" in unions
    assert "ThinkingBlock is shadowed by" not in unions  # only ThinkingBlock lost its key, nothing shares its const
    objects = "\n".join(check_named_objects(bad))
    assert "Usage/properties/nested: inline object schema" in objects
    assert "Usage/properties/prompt_tokens: default 0" in objects
    assert "Usage/properties/total_tokens: no description" in objects
    assert "dangling $ref #/components/schemas/Missing" in "\n".join(check_refs(bad))
    names = "\n".join(check_names(bad))
    assert "Object: clashes with a Python builtin" in names
    assert "UrlCitation: same module name as URLCitation" in names


def test_union_checker_reports_shadowed_variants() -> None:
    tiny: Spec = {
        "components": {
            "schemas": {
                "A": {"type": "object", "required": ["type"], "properties": {"type": {"const": "x"}}},
                "B": {"type": "object", "required": ["type", "b"], "properties": {"type": {"const": "x"}, "b": {}}},
                "U": {"oneOf": [{"$ref": REF_PREFIX + "A"}, {"$ref": REF_PREFIX + "B"}]},
                "Ok": {"oneOf": [{"$ref": REF_PREFIX + "B"}, {"$ref": REF_PREFIX + "A"}]},
            }
        }
    }
    assert check_unions(tiny) == [
        "#/components/schemas/U/oneOf: #/components/schemas/B is shadowed by #/components/schemas/A (same const)"
    ]


# ------------------------------------------------------------------------------------------ the stock generator


def _generate(spec_path: Path, tmp_path: Path) -> str:
    exe = Path(sys.executable).with_name("openapi-python-client")
    if not exe.exists():
        found = shutil.which("openapi-python-client")
        if found is None:
            # The nox test sessions install only the `test` extra; `make test` (the `dev` extra) runs these.
            pytest.skip("openapi-python-client is not installed (it needs Python >= 3.11; pip install -e '.[dev]')")
        exe = Path(found)
    config = tmp_path / "config.yaml"
    config.write_text("literal_enums: true\npost_hooks: []\n", encoding="utf-8")
    result = subprocess.run(
        [
            str(exe),
            "generate",
            "--path",
            str(spec_path),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "out"),
            "--overwrite",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_stock_generator_prints_no_warnings(tmp_path: Path) -> None:
    output = _generate(SPEC_PATH, tmp_path)
    assert "warning" not in output.lower(), output
    models = tmp_path / "out" / "models"
    for module in ("chat_completion", "chat_completion_chunk", "url_citation", "message", "response", "model_list"):
        assert (models / f"{module}.py").exists(), module
    chat = (models / "chat_completion_create_params.py").read_text(encoding="utf-8")
    assert "class ChatCompletionCreateParams" in chat
    message = (models / "message.py").read_text(encoding="utf-8")
    assert "content: list[RedactedThinkingBlock | TextBlock | ThinkingBlock | ToolUseBlock]" in message


@pytest.mark.slow
def test_generator_warning_check_can_fail(spec: Spec, tmp_path: Path) -> None:
    bad = copy.deepcopy(spec)
    bad["components"]["schemas"]["Model"]["properties"]["owner"] = {"$ref": REF_PREFIX + "Missing"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert "warning" in _generate(path, tmp_path).lower()


# ------------------------------------------------------------------------------------------ examples match schemas


def _examples(spec: Spec) -> Iterator[tuple[str, dict[str, Any], Any, str]]:
    named = spec["components"]["responses"]
    for path, method, op in operations(spec):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            yield f"{method.upper()} {path} request", media["schema"], media.get("example"), media_type
        for code, response in op["responses"].items():
            if "$ref" in response:
                response = named[response["$ref"].rsplit("/", 1)[1]]
            for media_type, media in response.get("content", {}).items():
                if "example" in media:
                    yield f"{method.upper()} {path} {code}", media["schema"], media["example"], media_type


def check_examples(spec: Spec) -> list[str]:
    """JSON examples (and each `data:` payload of event-stream examples) validate against their schemas."""
    problems: list[str] = []
    for where, schema, example, media_type in _examples(spec):
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "components": spec["components"]}
        validator = jsonschema.Draft202012Validator(root)
        if media_type == "text/event-stream":
            payloads = [
                json.loads(line[len("data: ") :])
                for line in example.splitlines()
                if line.startswith("data: ") and line != "data: [DONE]"
            ]
            if not payloads:
                problems.append(f"{where} {media_type}: example has no data lines")
        elif media_type == "application/json":
            payloads = [example]
        else:
            continue
        problems.extend(
            f"{where} {media_type}: {error.message[:200]} at {list(error.absolute_path)}"
            for payload in payloads
            for error in validator.iter_errors(payload)
        )
    return problems


def test_examples_match_their_schemas(spec: Spec) -> None:
    assert check_examples(spec) == []


def test_example_checker_can_fail(spec: Spec) -> None:
    bad = copy.deepcopy(spec)
    ok = bad["paths"]["/embeddings"]["post"]["responses"]["200"]["content"]["application/json"]
    ok["example"]["data"][0]["embedding"] = {"not": "a vector"}
    stream = bad["paths"]["/messages"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    stream["example"] = 'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}\n'
    problems = "\n".join(check_examples(bad))
    assert "POST /embeddings 200 application/json" in problems
    assert "POST /messages 200 text/event-stream" in problems
