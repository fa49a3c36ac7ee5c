"""The live contract suite's machinery: the operations of the spec, the wire as the client saw it, its checks.

Every operation comes from the spec (`x-apertis-resource` + `x-apertis-method`), so one added there is run here
or fails `test_every_operation_has_tiny_arguments` until it gets its tiny fixed arguments. The raw bytes of each
answer are captured under the SDK (a transport wrapping httpx's), so the checks see the gateway's JSON, not the
SDK's models: each body and each stream event is validated against the spec's schema, and every field or event
type the spec does not describe is collected for the report rather than failed, since the API may add fields.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple
from urllib.parse import urlsplit

import httpx

from apertis.testing._media import audio_bytes, png_bytes
from apertis.testing._refs import Resolver
from apertis.testing._schema import SchemaError, validate
from apertis.testing._spec import load_spec

SPEC = load_spec().document
RESOLVER = Resolver(SPEC)
METHODS = ("get", "post", "put", "patch", "delete")
OUT = Path(os.environ.get("APERTIS_LIVE_OUT") or Path(__file__).parent / "out")
"""Where the unknown-field report and the transcripts go (gitignored)."""

# Read once, at import: the suite-wide fixture of tests/conftest.py hides APERTIS_* variables from every test.
BASE_URL = os.environ.get("APERTIS_BASE_URL") or "https://api.apertis.ai/v1"
API_KEY = os.environ.get("APERTIS_API_KEY", "")

# The smallest models, overridable for a gateway that names them differently.
CHAT_MODEL = os.environ.get("APERTIS_LIVE_CHAT_MODEL", "gpt-4o-mini")
MESSAGES_MODEL = os.environ.get("APERTIS_LIVE_MESSAGES_MODEL", "claude-haiku-4.5")
EMBEDDING_MODEL = os.environ.get("APERTIS_LIVE_EMBEDDING_MODEL", "text-embedding-3-small")
RERANK_MODEL = os.environ.get("APERTIS_LIVE_RERANK_MODEL", "BAAI/bge-reranker-v2-m3")
TRANSCRIPTION_MODEL = os.environ.get("APERTIS_LIVE_TRANSCRIPTION_MODEL", "whisper-1")
SPEECH_MODEL = os.environ.get("APERTIS_LIVE_SPEECH_MODEL", "tts-1")

PROMPT = "Say ok."
"""The one prompt text the suite sends (and the only one a transcript may hold)."""
TINY_AUDIO = audio_bytes("ok", "wav")
TINY_PNG = png_bytes(8, 8, 1)

Arguments = Callable[[], Tuple[List[Any], Dict[str, Any]]]


def _no_arguments() -> Tuple[List[Any], Dict[str, Any]]:
    return [], {}


TINY_ARGUMENTS: Dict[str, Arguments] = {
    "createChatCompletion": lambda: (
        [],
        {"model": CHAT_MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 5},
    ),
    "createResponse": lambda: ([], {"model": CHAT_MODEL, "input": PROMPT, "max_output_tokens": 16}),
    "createMessage": lambda: (
        [],
        {"model": MESSAGES_MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
    ),
    "createEmbedding": lambda: ([], {"model": EMBEDDING_MODEL, "input": PROMPT}),
    "createRerank": lambda: ([], {"model": RERANK_MODEL, "query": PROMPT, "documents": ["ok", "no"], "top_n": 1}),
    "createTranscription": lambda: (
        [],
        {"file": ("ok.wav", TINY_AUDIO, "audio/wav"), "model": TRANSCRIPTION_MODEL, "response_format": "json"},
    ),
    "createTranslation": lambda: (
        [],
        {"file": ("ok.wav", TINY_AUDIO, "audio/wav"), "model": TRANSCRIPTION_MODEL, "response_format": "json"},
    ),
    "createSpeech": lambda: ([], {"model": SPEECH_MODEL, "input": "ok", "voice": "alloy", "response_format": "mp3"}),
    "generateImage": lambda: ([], {"prompt": PROMPT, "n": 1, "size": "256x256"}),
    "editImage": lambda: ([], {"image": ("ok.png", TINY_PNG, "image/png"), "prompt": PROMPT}),
    "createVideoTask": lambda: ([], {"model": "veo3", "prompt": PROMPT}),
    "queryVideoTask": _no_arguments,
    "createVideo": lambda: ([], {"model": "sora-2", "prompt": PROMPT, "seconds": "4"}),
    "retrieveVideo": _no_arguments,
    "downloadVideoContent": _no_arguments,
    "remixVideo": lambda: ([], {"prompt": PROMPT}),
    "createCharacter": lambda: ([], {"url": "https://example.com/ok.mp4", "timestamps": "0,1"}),
    "listModels": _no_arguments,
    "retrieveModel": _no_arguments,
    "recommendModel": _no_arguments,
    "retrieveBillingCredits": _no_arguments,
}
"""The fixed tiny arguments of each operation; path and query parameters come from the spec's examples."""

COSTLY: Dict[str, str] = {
    "generateImage": "image generation costs real money per image",
    "editImage": "image generation costs real money per image",
    "createVideoTask": "video generation costs real money and minutes",
    "queryVideoTask": "needs a video task, which costs real money",
    "createVideo": "video generation costs real money and minutes",
    "retrieveVideo": "needs a generated video, which costs real money",
    "downloadVideoContent": "needs a generated video, which costs real money",
    "remixVideo": "video generation costs real money and minutes",
    "createCharacter": "builds on a generated video, which costs real money",
}
"""Operations the nightly live run skips (they still run against a loopback server, where they cost nothing)."""

PREREQUISITES: Dict[str, Tuple[str, bool]] = {
    "queryVideoTask": ("createVideoTask", False),
    "retrieveVideo": ("createVideo", False),
    "downloadVideoContent": ("createVideo", True),
    "remixVideo": ("createVideo", False),
}
"""Operations on something another operation creates: (the creating operation, whether the thing must be
complete first). Its `id` replaces the spec's example id."""


@dataclass(frozen=True)
class Operation:
    """One operation of the spec as the suite calls it."""

    operation_id: str
    method: str
    path: str
    resource: str
    method_name: str
    raw: Mapping[str, Any]

    @property
    def stream_event_schema(self) -> Optional[str]:
        stream = self.raw.get("x-apertis-stream")
        return str(stream["event"]) if isinstance(stream, Mapping) else None

    @property
    def response_kind(self) -> str:
        return str(self.raw.get("x-apertis-response", "json"))

    def success_schema(self) -> Optional[Mapping[str, Any]]:
        for status, response in self.raw.get("responses", {}).items():
            if str(status).startswith("2"):
                content = RESOLVER.resolve(response).get("content") or {}
                media = content.get("application/json")
                if isinstance(media, Mapping) and "schema" in media:
                    schema: Mapping[str, Any] = media["schema"]
                    return schema
        return None

    def call_arguments(self, resource_id: Optional[str] = None) -> Tuple[List[Any], Dict[str, Any]]:
        """Positional path parameters and keyword query parameters from the spec's examples (the id of a
        created thing, `resource_id`, instead of the example id), then the tiny body."""
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        path_level = SPEC["paths"][self.path].get("parameters", [])
        for parameter in [*path_level, *self.raw.get("parameters", [])]:
            parameter = RESOLVER.resolve(parameter)
            example = parameter.get("example", RESOLVER.resolve(parameter.get("schema", {})).get("example"))
            if parameter["name"] == "model" and parameter["in"] == "path":
                example = CHAT_MODEL
            elif resource_id is not None and parameter["in"] in ("path", "query") and parameter.get("required"):
                example = resource_id
            if parameter["in"] == "path":
                args.append(example)
            elif parameter["in"] == "query" and parameter.get("required"):
                kwargs[re.sub(r"\W", "_", parameter["name"])] = example
        more_args, body = TINY_ARGUMENTS[self.operation_id]()
        return [*args, *more_args], {**kwargs, **body}

    def bound(self, client: Any) -> Callable[..., Any]:
        target = client
        for attribute in self.resource.split("."):
            target = getattr(target, attribute)
        return getattr(target, self.method_name)  # type: ignore[no-any-return]


def operations() -> List[Operation]:
    """Every operation of the spec that the SDK exposes, in the spec's order."""
    found = []
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            raw = item.get(method)
            if isinstance(raw, Mapping) and raw.get("x-apertis-resource"):
                found.append(
                    Operation(raw["operationId"], method, path, raw["x-apertis-resource"], raw["x-apertis-method"], raw)
                )
    return found


def is_loopback(base_url: str) -> bool:
    """Whether `base_url` names this machine (the offline server): no money is spent, no transcript is due."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LIVE = not is_loopback(BASE_URL)
"""Against the real API: the costly operations are skipped and transcripts are written."""
WRITE_TRANSCRIPTS = {"1": True, "0": False}.get(os.environ.get("APERTIS_LIVE_TRANSCRIPTS", ""), LIVE)


# ------------------------------------------------------------------------------------------- the raw wire


@dataclass
class Exchange:
    """One request and the bytes of its answer, as they crossed the wire."""

    method: str
    url: str
    request_headers: Dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: Dict[str, str] = field(default_factory=dict)
    response_body: bytearray = field(default_factory=bytearray)


class _TeeStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


class Recorder:
    """Records every exchange of the client it is installed in (`http_client=recorder.sync_client()`...)."""

    def __init__(self) -> None:
        self.exchanges: List[Exchange] = []
        self._lock = threading.Lock()

    def _start(self, request: httpx.Request) -> Exchange:
        # The transport has read the body (`read()`/`aread()`): `content` is all of it, even an upload's.
        exchange = Exchange(request.method, str(request.url), dict(request.headers), request.content)
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def _wrap(self, exchange: Exchange, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, exchange.response_body),
            extensions=response.extensions,
            request=request,
        )

    def sync_client(self) -> httpx.Client:
        recorder = self
        inner = httpx.HTTPTransport()

        class Transport(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                request.read()
                exchange = recorder._start(request)
                return recorder._wrap(exchange, request, inner.handle_request(request))

            def close(self) -> None:
                inner.close()

        return httpx.Client(transport=Transport())

    def async_client(self) -> httpx.AsyncClient:
        recorder = self
        inner = httpx.AsyncHTTPTransport()

        class Transport(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                await request.aread()
                exchange = recorder._start(request)
                return recorder._wrap(exchange, request, await inner.handle_async_request(request))

            async def aclose(self) -> None:
                await inner.aclose()

        return httpx.AsyncClient(transport=Transport())


# ------------------------------------------------------------------------------------------- the checks


@dataclass
class Findings:
    """What the spec does not describe: fields (`Schema: path`) and stream event types, with where they were seen."""

    unknown_fields: Dict[str, Set[str]] = field(default_factory=dict)
    unknown_events: Dict[str, Set[str]] = field(default_factory=dict)

    def add_field(self, where: str, operation_id: str) -> None:
        """Note a field (`Schema: path`) its schema does not name."""
        self.unknown_fields.setdefault(where, set()).add(operation_id)

    def add_event(self, event_type: str, operation_id: str) -> None:
        """Note a stream event type its stream's event union does not list."""
        self.unknown_events.setdefault(event_type, set()).add(operation_id)

    def as_json(self) -> Dict[str, Any]:
        """The findings, sorted, each with the operations it was seen in."""
        return {
            "unknown_fields": {key: sorted(value) for key, value in sorted(self.unknown_fields.items())},
            "unknown_events": {key: sorted(value) for key, value in sorted(self.unknown_events.items())},
        }


def _matching_variant(value: Any, variants: List[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    for variant in variants:
        try:
            validate(value, variant, RESOLVER)
        except SchemaError:
            continue
        return variant
    return None


def collect_unknown_fields(value: Any, schema: Mapping[str, Any], path: str, sink: Callable[[str], None]) -> None:
    """Report (`sink("Schema: path")`) every object key of `value` its (already validated) schema does not name."""
    name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    schema = RESOLVER.resolve(schema)
    for keyword in ("oneOf", "anyOf"):
        if schema.get(keyword):
            variant = _matching_variant(value, schema[keyword])
            if variant is not None:
                collect_unknown_fields(value, variant, path, sink)
            return
    properties: Dict[str, Any] = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        properties.update(RESOLVER.resolve(part).get("properties") or {})
    if isinstance(value, dict):
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in properties:
                collect_unknown_fields(item, properties[key], where, sink)
            elif isinstance(extra, Mapping):
                collect_unknown_fields(item, extra, f"{path}.*" if path else "*", sink)
            else:
                sink(f"{name or 'object'}: {where}" if name else where)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            collect_unknown_fields(item, schema["items"], f"{path}[]", sink)


def known_event_types(event_schema: str) -> Dict[str, Mapping[str, Any]]:
    """The `type` of each variant of a stream's event union, with its schema (empty when not a union)."""
    schema = RESOLVER.resolve({"$ref": f"#/components/schemas/{event_schema}"})
    found: Dict[str, Mapping[str, Any]] = {}
    for variant in schema.get("oneOf") or ():
        type_schema = RESOLVER.resolve(RESOLVER.resolve(variant).get("properties", {}).get("type", {}))
        for value in type_schema.get("enum") or ([type_schema["const"]] if "const" in type_schema else []):
            found[str(value)] = variant
    return found


def sse_events(body: bytes) -> List[Tuple[Optional[str], str]]:
    """The (event name, data) of each event of an event-stream body."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", body.decode("utf-8")):
        name: Optional[str] = None
        data: List[str] = []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


def check_exchange(operation: Operation, exchange: Exchange, streamed: bool, findings: Findings) -> None:
    """Assert the answer has the wire shape the spec describes; collect what the spec does not name."""
    assert 200 <= exchange.status < 300, (
        f"{operation.operation_id}: status {exchange.status}: {exchange.response_body[:300]!r}"
    )
    content_type = exchange.response_headers.get("content-type", "")
    body = bytes(exchange.response_body)
    if streamed:
        assert content_type.startswith("text/event-stream"), f"{operation.operation_id}: {content_type}"
        event_schema = operation.stream_event_schema
        assert event_schema is not None
        typed = known_event_types(event_schema)
        events = sse_events(body)
        assert events, f"{operation.operation_id}: an empty stream"
        for name, data in events:
            if data == "[DONE]":
                continue
            payload = json.loads(data)
            schema: Mapping[str, Any] = {"$ref": f"#/components/schemas/{event_schema}"}
            if typed:
                event_type = str(payload.get("type", name))
                if event_type not in typed:
                    findings.add_event(f"{event_schema}: {event_type}", operation.operation_id)
                    continue
                schema = typed[event_type]
            try:
                validate(payload, schema, RESOLVER)
            except SchemaError as error:
                raise AssertionError(f"{operation.operation_id}: event {data[:200]}: {error.message}") from None
            collect_unknown_fields(payload, schema, "", lambda where: findings.add_field(where, operation.operation_id))
        return
    if operation.response_kind == "binary":
        assert body, f"{operation.operation_id}: an empty body"
        assert not content_type.startswith(("application/json", "text/")), f"{operation.operation_id}: {content_type}"
        return
    schema_or_none = operation.success_schema()
    assert schema_or_none is not None, operation.operation_id
    assert content_type.startswith("application/json"), f"{operation.operation_id}: {content_type}"
    payload = json.loads(body)
    try:
        validate(payload, schema_or_none, RESOLVER)
    except SchemaError as error:
        raise AssertionError(f"{operation.operation_id}: {error.message}: {body[:300]!r}") from None
    collect_unknown_fields(payload, schema_or_none, "", lambda where: findings.add_field(where, operation.operation_id))


# ------------------------------------------------------------------------------------------- transcripts

_KEPT_HEADERS = ("content-type", "x-request-id", "openai-version", "x-ratelimit-limit-requests", "retry-after")


def sanitised(exchange: Exchange, api_key: str) -> Dict[str, Any]:
    """The exchange without the key and without file bytes, for the offline server to be checked against."""

    def scrub(text: str) -> str:
        return text.replace(api_key, "<redacted>") if api_key else text

    request: Dict[str, Any] = {"method": exchange.method, "url": scrub(exchange.url)}
    request_type = exchange.request_headers.get("content-type", "")
    if request_type.startswith("application/json") and exchange.request_body:
        request["json"] = json.loads(scrub(exchange.request_body.decode()))
    elif exchange.request_body:
        request["body"] = f"<{len(exchange.request_body)} bytes of {request_type.split(';')[0]}>"
    response: Dict[str, Any] = {
        "status": exchange.status,
        "headers": {k: v for k, v in exchange.response_headers.items() if k.lower() in _KEPT_HEADERS},
    }
    body = bytes(exchange.response_body)
    response_type = exchange.response_headers.get("content-type", "")
    if response_type.startswith("application/json"):
        response["json"] = json.loads(scrub(body.decode()))
    elif response_type.startswith("text/event-stream"):
        response["events"] = [{"event": name, "data": scrub(data)} for name, data in sse_events(body)]
    else:
        response["body"] = f"<{len(body)} bytes of {response_type}>"
    return {"request": request, "response": response}


def write_transcript(name: str, exchanges: List[Exchange], api_key: str) -> Path:
    """Write the sanitised exchanges of one test to `OUT/transcripts/<UTC date>/<name>.json`."""
    folder = OUT / "transcripts" / datetime.now(timezone.utc).strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.json"
    target.write_text(json.dumps([sanitised(e, api_key) for e in exchanges], indent=2) + "\n", encoding="utf-8")
    return target


FINDINGS = Findings()
"""What the whole run saw; the conftest prints it and writes it to `OUT/unknown.json`."""
