"""apertis.testing: the offline server, its spec validator and its faults, exercised over real sockets with httpx."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

from apertis.testing import FakeApertis, Fault, FaultError
from apertis.testing._schema import Resolver, SchemaError, synthesize, validate
from apertis.testing._spec import Operation, Spec, load_spec

AUTH = {"Authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApertis]:
    with FakeApertis() as running:
        yield running


@pytest.fixture
def http(server: FakeApertis) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec()


def sse_events(text: str) -> List[Tuple[Optional[str], str]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


# -- the schema subset -------------------------------------------------------------------------------------------

DOC: Dict[str, Any] = {
    "components": {
        "schemas": {
            "User": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {"role": {"const": "user"}, "content": {"type": "string"}},
            },
            "Tool": {
                "type": "object",
                "required": ["role", "tool_call_id"],
                "properties": {"role": {"const": "tool"}, "tool_call_id": {"type": "string"}},
            },
            "Body": {
                "type": "object",
                "required": ["model", "messages"],
                "properties": {
                    "model": {"type": "string", "minLength": 1},
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "oneOf": [{"$ref": "#/components/schemas/User"}, {"$ref": "#/components/schemas/Tool"}]
                        },
                    },
                    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                    "n": {"type": "integer"},
                    "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "mode": {"type": ["string", "null"], "enum": ["a", "b", None]},
                    "strict": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"x": {"type": "boolean"}},
                    },
                },
            },
        }
    }
}
BODY_REF = {"$ref": "#/components/schemas/Body"}


def check(value: Any) -> None:
    validate(value, BODY_REF, Resolver(DOC))


def test_the_validator_accepts_a_conforming_body_and_unknown_fields() -> None:
    check({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["x"], "mode": None, "extra": 1})
    check({"model": "m", "messages": [{"role": "tool", "tool_call_id": "c"}], "temperature": 2, "n": 3.0})


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "missing_parameter"),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model", "invalid_parameter"),
        ({"model": "", "messages": [{"role": "user", "content": "x"}]}, "model", "invalid_parameter"),
        ({"model": "m", "messages": []}, "messages", "invalid_parameter"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_parameter"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "missing_parameter"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_parameter"),
        ({"model": "m", "messages": [{"role": "tool"}]}, "messages[0].tool_call_id", "missing_parameter"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 2.5}, "temperature", None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": True}, "temperature", None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 1.5}, "n", None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop[0]", None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "mode": "c"}, "mode", None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "strict": {"y": 1}}, "strict.y", None),
    ],
)
def test_the_validator_names_the_offending_field(body: Dict[str, Any], param: str, code: Optional[str]) -> None:
    with pytest.raises(SchemaError) as caught:
        check(body)
    assert caught.value.param == param
    assert param in caught.value.message
    if code is not None:
        assert caught.value.code == code


def test_synthesized_values_conform_to_their_schema(spec: Spec) -> None:
    for name in spec.document["components"]["schemas"]:
        schema = {"$ref": f"#/components/schemas/{name}"}
        validate(synthesize(schema, spec.resolver), schema, spec.resolver)


# -- faults ------------------------------------------------------------------------------------------------------


def test_fault_parsing() -> None:
    fault = Fault.parse("status=503; times=2; retry_after=1.5")
    assert (fault.status, fault.times, fault.retry_after) == (503, 2, 1.5)
    assert Fault.parse("stall").stall == float("inf")
    assert Fault.parse("reset;every=3").reset
    assert Fault.parse("rate_limit=5;window=2").is_rate_limit
    assert Fault.parse("status=500").source == "status=500"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("status=200", "between 400 and 599"),
        ("status=abc", "not a number"),
        ("times=2", "does nothing"),
        ("status=500;reset", "choose one"),
        ("colour=red", "unknown fault item"),
        ("times", "needs a value"),
        ("latency=-1", "0 or more"),
        ("scope=world;status=500", "scope=key or scope=global"),
    ],
)
def test_bad_fault_descriptions_are_explained(text: str, hint: str) -> None:
    with pytest.raises(FaultError, match=hint):
        Fault.parse(text)


# -- lifecycle, auth, routing ------------------------------------------------------------------------------------


def test_the_server_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeApertis(host="0.0.0.0")


def test_context_manager_url_and_stop() -> None:
    with FakeApertis() as running:
        assert running.url.startswith("http://127.0.0.1:") and running.url.endswith("/v1")
        port = running.port
        assert httpx.get(running.url + "/models", headers=AUTH).status_code == 200
    assert not running.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=AUTH)


async def test_async_context_manager() -> None:
    async with FakeApertis() as running, httpx.AsyncClient(headers=AUTH) as client:
        response = await client.post(running.url + "/chat/completions", json=CHAT)
        assert response.status_code == 200
    assert not running.running


def test_the_pytest_fixture_serves(fake_apertis: FakeApertis) -> None:
    assert httpx.post(fake_apertis.url + "/chat/completions", json=CHAT, headers=AUTH).status_code == 200


@pytest.mark.fake_apertis(faults=["status=418"], api_key="sk-only")
def test_the_fixture_marker_configures_the_server(fake_apertis: FakeApertis) -> None:
    assert fake_apertis.api_key == "sk-only"
    assert [f.status for f in fake_apertis.faults] == [418]


def test_authentication(server: FakeApertis) -> None:
    missing = httpx.post(server.url + "/chat/completions", json=CHAT)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert httpx.post(server.url + "/chat/completions", json=CHAT, headers={"x-api-key": "k"}).status_code == 200
    assert (
        httpx.post(server.url + "/chat/completions", json=CHAT, headers={"Authorization": "Basic x"}).status_code == 401
    )
    with FakeApertis(api_key="sk-right") as strict:
        wrong = httpx.post(strict.url + "/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-wrong"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        right = httpx.post(strict.url + "/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-right"})
        assert right.status_code == 200


def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    missing = http.get("/no/such/thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "endpoint_not_found"
    assert http.get("/chat/completions").status_code == 405


def test_requests_are_recorded_and_reset() -> None:
    with FakeApertis() as running:
        httpx.post(running.url + "/chat/completions", json=CHAT, headers=AUTH)
        (recorded,) = running.requests
        assert recorded.operation_id == "createChatCompletion"
        assert recorded.json == CHAT and recorded.status == 200
        running.reset()
        assert running.requests == []


# -- validation against the spec ---------------------------------------------------------------------------------


def json_operations(spec: Spec) -> List[Operation]:
    return [op for op in spec.operations if op.json_schema is not None]


def test_every_json_operation_rejects_a_body_missing_a_required_field(server: FakeApertis, spec: Spec) -> None:
    checked = 0
    for op in json_operations(spec):
        schema = spec.resolver.resolve(op.json_schema or {})
        required = schema.get("required") or []
        if not required:
            continue
        url = (server.root_url if op.host_root else server.url) + op.path.replace("{video_id}", "video_x")
        response = httpx.request(op.method, url, json={}, headers=AUTH)
        assert response.status_code == 400, op
        error = response.json()["error"]
        assert error["param"] == required[0] and error["code"] == "missing_parameter", op
        assert error["type"] == "invalid_request_error"
        checked += 1
    assert checked >= 8


def test_a_wrong_type_or_enum_value_is_named(http: httpx.Client) -> None:
    bad_type = http.post("/chat/completions", json={**CHAT, "messages": "hello"})
    assert bad_type.status_code == 400 and bad_type.json()["error"]["param"] == "messages"
    bad_role = http.post("/chat/completions", json={**CHAT, "messages": [{"role": "robot", "content": "x"}]})
    assert bad_role.json()["error"]["param"] == "messages[0].role"
    bad_voice = http.post("/audio/speech", json={"model": "tts-1", "input": "x", "voice": 7})
    assert bad_voice.status_code == 400 and bad_voice.json()["error"]["param"] == "voice"


def test_malformed_bodies(http: httpx.Client) -> None:
    broken = http.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "parse" in broken.json()["error"]["message"]
    form = http.post("/chat/completions", data={"model": "x"})
    assert form.status_code == 400 and "application/json" in form.json()["error"]["message"]
    no_file = http.post("/audio/transcriptions", data={"model": "whisper-1"}, files={"other": ("a.txt", b"x")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    as_text = http.post(
        "/audio/transcriptions", data={"model": "whisper-1", "file": "not a file"}, files={"other": ("a.txt", b"x")}
    )
    assert as_text.status_code == 400 and as_text.json()["error"]["param"] == "file"


def test_messages_errors_are_readable_in_both_shapes(http: httpx.Client) -> None:
    response = http.post("/messages", json={"model": "claude-sonnet-4.5", "messages": []})
    body = response.json()
    assert response.status_code == 400 and body["type"] == "error"
    assert body["error"]["param"] == "max_tokens" and body["error"]["message"]


def test_a_query_parameter_is_required(http: httpx.Client) -> None:
    response = http.get("/video/query")
    assert response.status_code == 400 and response.json()["error"]["param"] == "id"


# -- every operation answers in the spec's shape -----------------------------------------------------------------


def _request_for(op: Operation, spec: Spec, video_id: str) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {}
    if op.json_schema is not None:
        body = synthesize(op.json_schema, spec.resolver)
        validate(body, op.json_schema, spec.resolver)
        kwargs["json"] = body
    elif op.form_schema is not None:
        schema = spec.resolver.resolve(op.form_schema)
        data: Dict[str, Any] = {}
        files = []
        for name, prop in (schema.get("properties") or {}).items():
            prop = spec.resolver.resolve(prop)
            if prop.get("format") == "binary" or "contentMediaType" in prop:
                files.append((name, (f"{name}.wav", b"RIFF....WAVE")))
            elif name in (schema.get("required") or []):
                data[name] = str(synthesize(prop, spec.resolver, name=name))
        kwargs.update(data=data, files=files)
    params = {}
    for param in op.parameters:
        if param.get("in") == "query" and param.get("required"):
            # The video task's id is live state; any other query parameter is made from its schema (an enum's value).
            name = param["name"]
            params[name] = video_id if name == "id" else str(synthesize(param["schema"], spec.resolver, name=name))
    kwargs["params"] = params
    return kwargs


def test_every_operation_answers_in_the_shape_the_spec_declares(server: FakeApertis, spec: Spec) -> None:
    with httpx.Client(headers=AUTH, timeout=30) as http:
        legacy = http.post(server.url + "/video/create", json={"model": "veo3", "prompt": "a lake"}).json()["id"]
        video = http.post(
            server.url + "/videos",
            data={"model": "sora-2", "prompt": "boat", "seconds": "4", "size": "720x1280"},
            files={"input_reference": ("r.png", b"\x89PNG")},
        ).json()["id"]
        http.get(f"{server.url}/videos/{video}")
        http.get(f"{server.url}/videos/{video}")
        for op in spec.operations:
            path = op.path.replace("{video_id}", video).replace("{model}", "gpt-4o-mini")
            url = (server.root_url if op.host_root else server.url) + path
            response = http.request(op.method, url, **_request_for(op, spec, legacy))
            assert response.status_code == 200, (op, response.text[:300])
            media = response.headers["content-type"].split(";")[0]
            if media == "application/json":
                schema = op.success_schema(spec)
                assert schema is not None, op
                validate(response.json(), schema, spec.resolver)
            else:
                assert op.response_kind in ("binary", "text-or-json"), (op, media)


# -- answers -----------------------------------------------------------------------------------------------------


def test_chat_reply_usage_and_determinism(http: httpx.Client) -> None:
    first = http.post("/chat/completions", json=CHAT).json()
    second = http.post("/chat/completions", json=CHAT).json()
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    assert "Hello there" in first["choices"][0]["message"]["content"]
    assert first["id"] != second["id"] and first["id"].startswith("chatcmpl-")
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_chat_limits_choices_tools_and_json(http: httpx.Client) -> None:
    capped = http.post("/chat/completions", json={**CHAT, "max_tokens": 2, "n": 2}).json()
    assert [c["finish_reason"] for c in capped["choices"]] == ["length", "length"]
    assert capped["usage"]["completion_tokens"] == 4
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    called = http.post("/chat/completions", json={**CHAT, "tools": [tool]}).json()["choices"][0]
    assert called["finish_reason"] == "tool_calls"
    call = called["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and "city" in json.loads(call["function"]["arguments"])
    messages = [
        *CHAT["messages"],
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    answered = http.post("/chat/completions", json={**CHAT, "messages": messages, "tools": [tool]}).json()["choices"][0]
    assert answered["finish_reason"] == "stop" and "sunny" in answered["message"]["content"]
    as_json = http.post("/chat/completions", json={**CHAT, "response_format": {"type": "json_object"}}).json()
    assert isinstance(json.loads(as_json["choices"][0]["message"]["content"]), dict)


def test_chat_stream_wire_format(http: httpx.Client, spec: Spec) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = http.post("/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == (None, "[DONE]") and all(name is None for name, _ in events)
    chunks = [json.loads(data) for _, data in events[:-1]]
    schema = spec.operation("createChatCompletion").success_schema(spec, "text/event-stream")
    assert schema is not None
    for chunk in chunks:
        validate(chunk, schema, spec.resolver)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    plain = http.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    assert text == plain
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_messages_stream_wire_format(http: httpx.Client, spec: Spec) -> None:
    body = {
        "model": "claude-sonnet-4.5",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    events = sse_events(http.post("/messages", json=body).text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop" and "ping" in names
    schema = spec.operation("createMessage").success_schema(spec, "text/event-stream")
    assert schema is not None
    for name, data in events:
        payload = json.loads(data)
        assert payload["type"] == name
        validate(payload, schema, spec.resolver)


def test_responses_stream_wire_format(http: httpx.Client, spec: Spec) -> None:
    body = {"model": "gpt-4.1", "input": "What is the capital of France?", "stream": True}
    events = sse_events(http.post("/responses", json=body).text)
    assert events[-1][0] == "response.completed" and "[DONE]" not in [d for _, d in events]
    schema = spec.operation("createResponse").success_schema(spec, "text/event-stream")
    assert schema is not None
    payloads = [json.loads(data) for _, data in events]
    for index, payload in enumerate(payloads):
        validate(payload, schema, spec.resolver)
        assert payload["sequence_number"] == index
    text = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    assert "capital of France" in text
    assert payloads[-1]["response"]["output"][0]["content"][0]["text"] == text


def test_embeddings_count_dimensions_and_base64(http: httpx.Client) -> None:
    floats = http.post(
        "/embeddings", json={"model": "text-embedding-3-small", "input": ["a", "b", "c"], "dimensions": 8}
    ).json()
    assert [d["index"] for d in floats["data"]] == [0, 1, 2]
    assert all(len(d["embedding"]) == 8 for d in floats["data"])
    assert floats["data"][0]["embedding"] != floats["data"][1]["embedding"]
    default = http.post("/embeddings", json={"model": "text-embedding-3-large", "input": "a"}).json()
    assert len(default["data"][0]["embedding"]) == 3072
    encoded = http.post(
        "/embeddings",
        json={
            "model": "text-embedding-3-small",
            "input": ["a", "b", "c"],
            "dimensions": 8,
            "encoding_format": "base64",
        },
    ).json()
    decoded = struct.unpack("<8f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert list(decoded) == floats["data"][0]["embedding"]


def test_rerank_orders_by_relevance(http: httpx.Client) -> None:
    body = {
        "model": "BAAI/bge-reranker-v2-m3",
        "query": "capital of france",
        "top_n": 2,
        "return_documents": True,
        "documents": ["bananas are yellow", "paris is the capital of france", "berlin is a capital"],
    }
    results = http.post("/rerank", json=body).json()["results"]
    assert [r["index"] for r in results] == [1, 2]
    assert results[0]["relevance_score"] > results[1]["relevance_score"]
    assert results[0]["document"] == "paris is the capital of france"


@pytest.mark.parametrize(
    ("fmt", "media", "magic"),
    [
        ("mp3", "audio/mpeg", b"ID3"),
        ("wav", "audio/wav", b"RIFF"),
        ("flac", "audio/flac", b"fLaC"),
        ("opus", "audio/opus", b"OggS"),
        ("aac", "audio/aac", b"\xff\xf1"),
        ("pcm", "audio/pcm", b""),
    ],
)
def test_speech_formats(http: httpx.Client, fmt: str, media: str, magic: bytes) -> None:
    response = http.post(
        "/audio/speech", json={"model": "tts-1", "input": "Hello world", "voice": "alloy", "response_format": fmt}
    )
    assert response.status_code == 200 and response.headers["content-type"] == media
    assert response.content.startswith(magic) and len(response.content) > 100
    if fmt == "wav":
        with wave.open(io.BytesIO(response.content)) as audio:
            assert audio.getnchannels() == 1 and audio.getnframes() > 0


def test_speech_round_trips_through_transcription(http: httpx.Client) -> None:
    audio = http.post(
        "/audio/speech", json={"model": "tts-1", "input": "the quick brown fox", "voice": "alloy"}
    ).content
    text = http.post("/audio/transcriptions", files={"file": ("speech.mp3", audio)}, data={"model": "whisper-1"})
    assert text.json()["text"] == "the quick brown fox"
    plain = http.post(
        "/audio/transcriptions",
        files={"file": ("s.mp3", audio)},
        data={"model": "whisper-1", "response_format": "text"},
    )
    assert plain.headers["content-type"].startswith("text/plain") and plain.text == "the quick brown fox\n"
    srt = http.post(
        "/audio/transcriptions", files={"file": ("s.mp3", audio)}, data={"model": "whisper-1", "response_format": "srt"}
    )
    assert srt.text.startswith("1\n00:00:00,000 --> ")
    vtt = http.post(
        "/audio/translations", files={"file": ("s.mp3", audio)}, data={"model": "whisper-1", "response_format": "vtt"}
    )
    assert vtt.text.startswith("WEBVTT\n")
    verbose = http.post(
        "/audio/transcriptions",
        files={"file": ("s.mp3", audio)},
        data={
            "model": "whisper-1",
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["word", "segment"],
        },
    ).json()
    assert verbose["task"] == "transcribe" and [w["word"] for w in verbose["words"]] == ["the", "quick", "brown", "fox"]
    other = http.post("/audio/transcriptions", files={"file": ("clip.ogg", b"\x00" * 10)}, data={"model": "whisper-1"})
    assert "clip.ogg" in other.json()["text"]


def test_models_list_and_lookup_with_slashes(http: httpx.Client) -> None:
    listed = http.get("/models").json()
    ids = [m["id"] for m in listed["data"]]
    assert "gpt-4o-mini" in ids and "BAAI/bge-reranker-v2-m3" in ids
    assert http.get("/models/BAAI/bge-reranker-v2-m3").json()["id"] == "BAAI/bge-reranker-v2-m3"
    assert http.get("/models/BAAI%2Fbge-reranker-v2-m3").json()["id"] == "BAAI/bge-reranker-v2-m3"
    missing = http.get("/models/no-such-model")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_images_as_urls_and_base64(http: httpx.Client) -> None:
    urls = http.post("/images/generations", json={"prompt": "an otter", "n": 2, "size": "256x256"}).json()
    assert len(urls["data"]) == 2
    png = httpx.get(urls["data"][0]["url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    inline = http.post(
        "/images/generations", json={"prompt": "an otter", "model": "gpt-image-1", "size": "1024x1024"}
    ).json()
    assert (
        base64.b64decode(inline["data"][0]["b64_json"]).startswith(b"\x89PNG") and inline["usage"]["total_tokens"] > 0
    )


def test_video_tasks_progress_when_polled(http: httpx.Client) -> None:
    task = http.post("/video/create", json={"model": "veo3", "prompt": "a lake"}).json()
    assert task["status"] == "pending"
    assert http.get("/video/query", params={"id": task["id"]}).json()["status"] == "processing"
    done = http.get("/video/query", params={"id": task["id"]}).json()
    assert done["status"] == "completed" and done["video_url"]
    video = http.post(
        "/videos", data={"model": "sora-2", "prompt": "a boat", "seconds": "8", "size": "1280x720"}
    ).json()
    assert http.get(f"/videos/{video['id']}/content").status_code == 404
    http.get(f"/videos/{video['id']}")
    finished = http.get(f"/videos/{video['id']}").json()
    assert finished["status"] == "completed" and finished["progress"] == 100
    content = http.get(f"/videos/{video['id']}/content")
    assert content.headers["content-type"] == "video/mp4" and content.content[4:8] == b"ftyp"
    assert http.get("/video/query", params={"id": "nope"}).status_code == 404


# -- faults over the wire ----------------------------------------------------------------------------------------


def test_status_fault_for_the_first_attempts_of_each_idempotency_key(http: httpx.Client) -> None:
    fault = {"x-fake-fault": "status=503;times=2;retry_after=1"}
    for key in ("first", "second"):
        statuses = []
        for _ in range(3):
            response = http.post("/chat/completions", json=CHAT, headers={**fault, "Idempotency-Key": key})
            statuses.append(response.status_code)
        assert statuses == [503, 503, 200]
    response = http.post("/chat/completions", json=CHAT, headers={**fault, "Idempotency-Key": "third"})
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "server_error"


def test_status_fault_counts_globally_without_a_key_and_every_nth() -> None:
    with FakeApertis(faults=["status=429;every=3"]) as running:
        statuses = [
            httpx.post(running.url + "/chat/completions", json=CHAT, headers=AUTH).status_code for _ in range(6)
        ]
    assert statuses == [200, 200, 429, 200, 200, 429]


def test_path_filter() -> None:
    with FakeApertis(faults=["status=500;path=/embeddings"]) as running:
        assert httpx.post(running.url + "/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        embed = httpx.post(running.url + "/embeddings", json={"model": "m", "input": "x"}, headers=AUTH)
        assert embed.status_code == 500


def test_latency_delays_the_answer(http: httpx.Client) -> None:
    started = time.monotonic()
    assert http.post("/chat/completions", json=CHAT, headers={"x-fake-fault": "latency=0.4"}).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_stall_until_the_client_gives_up_and_stop_ends_stalls() -> None:
    running = FakeApertis().start()
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                running.url + "/chat/completions", json=CHAT, headers={**AUTH, "x-fake-fault": "stall"}, timeout=0.5
            )
        sock = socket.create_connection(("127.0.0.1", running.port))
        body = json.dumps(CHAT).encode()
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\nx-fake-fault: stall\r\n"
            b"content-type: application/json\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        time.sleep(0.2)
    finally:
        started = time.monotonic()
        running.stop()
    assert time.monotonic() - started < 5
    sock.settimeout(5)
    assert sock.recv(100) == b""
    sock.close()


def test_reset_closes_the_connection_without_an_answer(http: httpx.Client) -> None:
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        http.post("/chat/completions", json=CHAT, headers={"x-fake-fault": "reset"})
    assert http.post("/chat/completions", json=CHAT).status_code == 200


def test_cut_ends_a_stream_mid_way(http: httpx.Client) -> None:
    received: List[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream(
            "POST", "/chat/completions", json={**CHAT, "stream": True}, headers={"x-fake-fault": "cut=3"}
        ) as response,
    ):
        received.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(received) == 3
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/chat/completions", json=CHAT, headers={"x-fake-fault": "cut=1"})


@pytest.mark.parametrize(
    ("path", "body", "check"),
    [
        (
            "/chat/completions",
            {**CHAT, "stream": True},
            lambda events: events[-1][0] is None and json.loads(events[-1][1])["error"]["type"] == "server_error",
        ),
        (
            "/messages",
            {
                "model": "claude-sonnet-4.5",
                "max_tokens": 9,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
            lambda events: (
                events[-1][0] == "error" and json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
            ),
        ),
        (
            "/responses",
            {"model": "gpt-4.1", "input": "x", "stream": True},
            lambda events: events[-1][0] == "error" and json.loads(events[-1][1])["type"] == "error",
        ),
    ],
)
def test_error_event_in_each_stream_format(http: httpx.Client, path: str, body: Dict[str, Any], check: Any) -> None:
    response = http.post(path, json=body, headers={"x-fake-fault": "error_event=2"})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert len(events) == 3 and check(events)


def test_rate_limit_headers_and_429() -> None:
    with FakeApertis(faults=["rate_limit=2;window=30"]) as running:
        answers = [httpx.post(running.url + "/chat/completions", json=CHAT, headers=AUTH) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit"] == "2" for a in answers)
    assert int(answers[0].headers["x-ratelimit-reset"]) >= int(time.time())
    assert 1 <= int(answers[2].headers["retry-after"]) <= 30
    assert answers[2].json()["error"]["code"] == "rate_limit_exceeded"


def test_a_bad_fault_header_is_a_400(http: httpx.Client) -> None:
    response = http.post("/chat/completions", json=CHAT, headers={"x-fake-fault": "explode=1"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "x-fake-fault"


# -- bounds ------------------------------------------------------------------------------------------------------


def test_oversized_requests_are_refused() -> None:
    with FakeApertis(max_body_bytes=1000) as running:
        big = httpx.post(running.url + "/chat/completions", json={**CHAT, "user": "x" * 2000}, headers=AUTH)
        assert big.status_code == 413
        huge_headers = httpx.post(running.url + "/chat/completions", json=CHAT, headers={**AUTH, "x-big": "y" * 70_000})
        assert huge_headers.status_code == 431


def test_chunked_request_bodies_are_read(http: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        yield json.dumps(CHAT).encode()

    response = http.post("/chat/completions", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 200


@pytest.mark.slow
async def test_hundreds_of_concurrent_requests(server: FakeApertis) -> None:
    import asyncio

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post("/chat/completions", json={**CHAT, "stream": i % 2 == 0}) for i in range(200))
        )
    assert {r.status_code for r in responses} == {200}


# -- the command line --------------------------------------------------------------------------------------------


def test_the_command_line_prints_its_url_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "apertis.testing", "--fault", "status=502;times=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.post(url + "/chat/completions", json=CHAT, headers=AUTH).status_code == 502
        assert httpx.post(url + "/chat/completions", json=CHAT, headers=AUTH).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_command_line_rejects_a_bad_fault() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apertis.testing", "--fault", "status=99"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "400 and 599" in done.stderr


def test_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, apertis.testing.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('apertis.testing.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['apertis.testing.pytest_plugin']"
