"""OpenTelemetry tracing (`tracing=`): one span per call with the GenAI semantic-convention attributes (1.37.0),
an event per retry, streams traced to their end, content only on request, never the key. Recorded with the
OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Iterator, List

import httpx
import pytest
from conftest import API_KEY
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pytest_httpx import HTTPXMock, IteratorStream

import apertis

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}
PROMPT = "my secret prompt"
MESSAGES = [{"role": "user", "content": PROMPT}]


class Recorder:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def tracing(self, **kwargs: Any) -> apertis.Tracing:
        return apertis.Tracing(tracer_provider=self.provider, **kwargs)

    @property
    def spans(self) -> List[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.provider.shutdown()


async def create(call: Any, client: Any, **kwargs: Any) -> Any:
    return await call(client.chat.completions.create, model="gpt-4o", messages=MESSAGES, max_tokens=64, **kwargs)


def everything_recorded(span: ReadableSpan) -> str:
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return repr((span.name, dict(span.attributes or {}), events, span.status.description))


async def test_a_chat_call_is_one_span_with_the_genai_attributes(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(json=COMPLETION)
    await create(call, make_client(tracing=recorder.tracing()))
    [span] = recorder.spans
    assert span.name == "chat gpt-4o"
    assert span.kind == SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.37.0"
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "apertis",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 2,
        "gen_ai.response.finish_reasons": ("stop",),
        "server.address": "api.test",
        "server.port": 443,
        "http.request.method": "POST",
        "http.response.status_code": 200,
    }
    assert span.status.status_code == StatusCode.UNSET
    assert PROMPT not in everything_recorded(span) and "The answer" not in everything_recorded(span)


async def test_each_retry_is_an_event_and_a_failure_sets_error_type(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(status_code=429, headers={"retry-after": "0.5"})
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(status_code=503, json={"error": {"message": "overloaded"}})
    with pytest.raises(apertis.InternalServerError):
        await create(call, make_client(tracing=recorder.tracing()))
    [span] = recorder.spans
    retries = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert retries[0] == (
        "apertis.retry",
        {"apertis.retry.reason": "status 429", "apertis.retry.delay": 0.5, "apertis.retry.attempt": 2},
    )
    assert retries[1][1]["apertis.retry.reason"] == "ReadTimeout: slow"
    assert retries[1][1]["apertis.retry.attempt"] == 3
    assert len(retries) == 2
    assert span.attributes is not None and span.attributes["error.type"] == "503"
    assert span.status.status_code == StatusCode.ERROR


async def test_a_connection_failure_sets_the_error_class(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    with pytest.raises(apertis.APIConnectionError):
        await create(call, make_client(tracing=recorder.tracing(), max_retries=0))
    [span] = recorder.spans
    assert span.attributes is not None and span.attributes["error.type"] == "APIConnectionError"


def chunk(content: str, **extra: Any) -> bytes:
    payload = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": extra.pop("finish_reason", None)}],
        **extra,
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


STREAM = [
    chunk("The "),
    chunk("answer", finish_reason="stop"),
    chunk("", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}),
    b"data: [DONE]\n\n",
]


async def iterate(kind: str, stream: Any, stop_after: int = -1) -> None:
    seen = 0
    if kind == "async":
        async for _ in stream:
            seen += 1
            if seen == stop_after:
                break
    else:
        for _ in stream:
            seen += 1
            if seen == stop_after:
                break


async def test_a_stream_span_ends_with_the_stream_and_records_what_it_said(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(stream=IteratorStream(STREAM), headers={"content-type": "text/event-stream"})
    stream = await create(call, make_client(tracing=recorder.tracing()), stream=True)
    assert recorder.spans == []  # open while the stream is
    await iterate(kind, stream)
    [span] = recorder.spans
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (5, 2)
    assert span.status.status_code == StatusCode.UNSET


async def test_a_stream_closed_early_ends_its_span(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(stream=IteratorStream(STREAM), headers={"content-type": "text/event-stream"})
    stream = await create(call, make_client(tracing=recorder.tracing()), stream=True)
    await iterate(kind, stream, stop_after=1)
    await call(stream.close)  # an async loop left by `break` closes the stream later, when the loop collects it
    [span] = recorder.spans
    assert "error.type" not in (span.attributes or {})
    assert stream.response.is_closed


async def test_a_stream_error_ends_its_span_with_the_error(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    body = [chunk("a"), b'data: {"error": {"message": "upstream died", "code": 502}}\n\n']
    httpx_mock.add_response(stream=IteratorStream(body), headers={"content-type": "text/event-stream"})
    stream = await create(call, make_client(tracing=recorder.tracing()), stream=True)
    with pytest.raises(apertis.APIError):
        await iterate(kind, stream)
    [span] = recorder.spans
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None and "error.type" in span.attributes


async def test_content_is_recorded_only_when_asked_for(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(json=COMPLETION)
    await create(call, make_client(tracing=recorder.tracing(capture_content=True)))
    [span] = recorder.spans
    attributes = span.attributes or {}
    assert json.loads(str(attributes["gen_ai.input.messages"])) == MESSAGES
    output = json.loads(str(attributes["gen_ai.output.messages"]))
    assert output == [{"role": "assistant", "content": "The answer"}]


async def test_the_key_never_reaches_a_span(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_exception(httpx.ConnectError(f"proxy said: Bearer {API_KEY}"))
    httpx_mock.add_response(status_code=401, json={"error": {"message": f"bad key {API_KEY}"}})
    with pytest.raises(apertis.AuthenticationError):
        await create(call, make_client(tracing=recorder.tracing(capture_content=True)), extra_headers={"X-K": API_KEY})
    [span] = recorder.spans
    assert API_KEY not in everything_recorded(span)
    assert "ConnectError" in everything_recorded(span)


async def test_other_endpoints_get_an_http_span(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(json={"object": "list", "data": []})
    await call(make_client(tracing=recorder.tracing()).models.list)
    [span] = recorder.spans
    assert span.name == "GET"
    assert "gen_ai.operation.name" not in (span.attributes or {})


def test_tracing_is_off_by_default_and_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, client_class: Any
) -> None:
    assert client_class(api_key=API_KEY).tracing is None
    monkeypatch.setenv("APERTIS_TRACING", "1")
    client = client_class(api_key=API_KEY)
    assert client.tracing == apertis.Tracing()
    assert client.with_options(tracing=False).tracing is None
    assert client.with_options(timeout=3)._observers is client._observers


def test_bad_tracing_is_refused_with_the_parameter_named() -> None:
    with pytest.raises(TypeError, match="tracing must be True, False, None"):
        apertis.Apertis(api_key=API_KEY, tracing="yes")  # type: ignore[arg-type]


@pytest.mark.slow
def test_opentelemetry_is_imported_only_when_tracing_is_on() -> None:
    program = (
        "import sys, apertis\n"
        "c = apertis.Apertis(api_key='sk-x')\n"
        "c.with_options(hooks=apertis.Hooks(on_request=print))\n"
        "assert not any(m.startswith('opentelemetry') for m in sys.modules), 'imported at import'\n"
        "apertis.Apertis(api_key='sk-x', tracing=True)\n"
        "assert 'opentelemetry.trace' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)


async def test_a_stream_dropped_unread_ends_its_span_when_it_is_freed(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, recorder: Recorder
) -> None:
    httpx_mock.add_response(stream=IteratorStream(STREAM), headers={"content-type": "text/event-stream"})
    client = make_client(tracing=recorder.tracing())
    stream = await create(call, client, stream=True)
    del stream  # no reference cycle: freed here, not at the collector's next pass
    [span] = recorder.spans
    assert "error.type" not in (span.attributes or {})
    await call(client.close)
