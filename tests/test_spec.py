"""Checks of spec/apertis.openapi.yaml: OpenAPI validity, the generator's rules, and the API facts users rely on.

The rules live in codegen/spec_rules.py, where `python -m codegen` runs them before anything else; here the real
spec must pass each one, and each is run against a deliberately broken copy to show that it can fail. The facts
below (operations, request fields, event types) are floors: what 0.4.1 and the API reference promise must stay,
while an operation, field or event the spec adds needs no edit here.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from apertis.testing._refs import SCHEMA_PREFIX as REF_PREFIX
from apertis.testing._refs import Resolver
from codegen.spec_rules import (
    check_examples,
    check_named_objects,
    check_names,
    check_operations,
    check_refs,
    check_request_fields_take_no_null,
    check_spec,
    check_streams,
    check_unions,
    operations,
    schemas,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "spec" / "apertis.openapi.yaml"

Spec = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> Spec:
    with SPEC_PATH.open(encoding="utf-8") as f:
        loaded = yaml.safe_load(f)
    assert isinstance(loaded, dict)
    return loaded


def resolve(spec: Spec, node: Any) -> Any:
    return Resolver(spec).resolve(node)


def test_the_spec_follows_every_rule_of_the_generator(spec: Spec) -> None:
    assert check_spec(spec) == []


def test_no_request_body_field_takes_null(spec: Spec) -> None:
    assert check_request_fields_take_no_null(spec) == []
    bad = copy.deepcopy(spec)
    bad["components"]["schemas"]["ChatCompletionCreateParams"]["properties"]["temperature"]["type"] = [
        "number",
        "null",
    ]
    [problem] = check_request_fields_take_no_null(bad)
    assert problem.startswith("POST /chat/completions: body field temperature takes null (")


def test_spec_is_valid_openapi_3_1(spec: Spec) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_operations_follow_the_conventions(spec: Spec) -> None:
    assert check_operations(spec) == []


def test_streaming_operations_declare_stream_and_event(spec: Spec) -> None:
    assert check_streams(spec) == []
    streams = {op["operationId"]: op["x-apertis-stream"] for _, _, op in operations(spec) if "x-apertis-stream" in op}
    promised = {
        "createChatCompletion": {"class": "ChatCompletionStream", "event": "ChatCompletionChunk"},
        "createResponse": {"class": "ResponseStream", "event": "ResponseStreamEvent"},
        "createMessage": {"class": "MessageStream", "event": "MessageStreamEvent"},
    }
    assert {key: streams.get(key) for key in promised} == promised


def test_every_ref_resolves(spec: Spec) -> None:
    assert check_refs(spec) == []


def test_union_variants_are_discriminated(spec: Spec) -> None:
    assert check_unions(spec) == []


def test_objects_are_named_open_and_documented(spec: Spec) -> None:
    assert check_named_objects(spec) == []


def test_schema_names_do_not_clash(spec: Spec) -> None:
    assert check_names(spec) == []


# The client methods 0.4.1 and the API reference promise; the spec may add more.
KEPT_OPERATIONS = {
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


def test_the_promised_operations_keep_their_resource_and_method(spec: Spec) -> None:
    found = {
        (method, path): (op["x-apertis-resource"], op["x-apertis-method"], op.get("x-apertis-response", "json"))
        for path, method, op in operations(spec)
    }
    assert {key: found.get(key) for key in KEPT_OPERATIONS} == KEPT_OPERATIONS


def test_host_root_and_multipart_operations(spec: Spec) -> None:
    host_root = [(path, op) for path, _, op in operations(spec) if op.get("x-apertis-host-root")]
    assert "/sora/v1/characters" in [path for path, _ in host_root]
    for _, op in host_root:
        assert op["servers"] == [{"url": "https://api.apertis.ai", "description": "Host root (outside /v1)."}]
    multipart = sorted(
        path
        for path, _, op in operations(spec)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    )
    assert {"/audio/transcriptions", "/audio/translations", "/images/edits", "/videos"} <= set(multipart)
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


def test_stream_event_unions_cover_every_documented_event_type(spec: Spec) -> None:
    # Floors: a union may gain a variant without an edit here.
    assert set(_union_consts(spec, "MessageStreamEvent")) >= {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
    assert set(_union_consts(spec, "ContentBlockDelta")) >= {
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "signature_delta",
    }
    assert set(_union_consts(spec, "ResponseStreamEvent")) >= {
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
    assert set(_union_consts(spec, "ChatCompletionMessageParam", "role")) >= {
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
    }


def test_stream_chunks_tolerate_missing_fields(spec: Spec) -> None:
    s = schemas(spec)
    # Only what `chunk.choices[0].delta.content` walks through is required (typed without Optional); parsing
    # stays lenient: a chunk without choices reads [] (usage-only and error chunks), a choice without delta None.
    assert s["ChatCompletionChunk"]["required"] == ["choices"]
    assert s["ChatCompletionChunkChoice"]["required"] == ["delta"]
    for name in ("ChatCompletionDelta", "FunctionDelta"):
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


# The request fields the API reference documents, per body schema (a floor, see the module docstring).
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
def test_request_bodies_keep_every_documented_field(spec: Spec, name: str) -> None:
    # A floor: the spec may document a field the reference does not list yet.
    assert sorted(set(BODY_FIELDS[name]) - set(schemas(spec)[name]["properties"])) == []


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
    assert "GET /models: no operationId (add a unique camelCase `operationId:`" in ops
    assert "GET /models: missing x-apertis-method (add `x-apertis-method:`" in ops
    assert "GET /models: the 200 response has no example (add `example:`" in ops
    assert "unknown x-apertis-response 'stream'" in ops
    assert "POST /sora/v1/characters: host-root operation without a servers override" in ops
    streams = "\n".join(check_streams(bad))
    assert "POST /chat/completions: the body's `stream` field and x-apertis-stream disagree" in streams
    assert "POST /messages: the 2xx content must list application/json first" in streams
    unions = "\n".join(check_unions(bad))
    assert "/oneOf: variant TextBlock has no required const discriminator (add" in unions
    assert "ThinkingBlock is shadowed by" not in unions  # only ThinkingBlock lost its key, nothing shares its const
    objects = "\n".join(check_named_objects(bad))
    assert "Usage/properties/nested: inline object schema" in objects
    assert "Usage/properties/prompt_tokens: default 0" in objects
    assert "Usage/properties/total_tokens: no description" in objects
    assert (
        "#/components/schemas/Model/properties/owner: $ref '#/components/schemas/Missing' points at nothing: "
        "components/schemas has no `Missing`"
    ) in "\n".join(check_refs(bad))
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
        "#/components/schemas/U/oneOf: B is shadowed by A (same const; list B first or give A a required key B lacks)"
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
    request = bad["paths"]["/rerank"]["post"]["requestBody"]["content"]["application/json"]
    request["example"]["topn"] = 2  # would reach the method as an unknown keyword argument
    assert (
        "POST /rerank request application/json: example field 'topn' is not a property of the body schema"
    ) in "\n".join(check_examples(bad))


def test_a_dangling_ref_is_reported_alone(spec: Spec) -> None:
    # The other rules follow references: with a dangling one they would report its consequences, not its cause.
    bad = copy.deepcopy(spec)
    bad["components"]["schemas"]["Model"]["properties"]["owner"] = {"$ref": REF_PREFIX + "Missing"}
    del bad["paths"]["/models"]["get"]["summary"]
    [problem] = check_spec(bad)
    assert problem.startswith("#/components/schemas/Model/properties/owner: $ref '#/components/schemas/Missing'")
