"""Code written for apertis 0.4.1 runs unchanged: its calls, as its README and docstrings show them, through the
public API only, against both clients and the offline server (reference: section 14 of the API notes)."""

from __future__ import annotations

import base64
import struct
import wave
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, List

import pytest

import apertis
from apertis.testing import FakeApertis
from apertis.types import ChatCompletionMessageParam, TextBlock

Call = Callable[..., Awaitable[Any]]

# 0.4.1's `apertis.__all__` (its section 14.1), all 56 names.
NAMES_0_4_1 = [
    "Apertis",
    "AsyncApertis",
    "ApertisError",
    "APIError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionChoice",
    "ChatCompletionChunkChoice",
    "ChatCompletionMessage",
    "ChatCompletionMessageParam",
    "ChatCompletionDelta",
    "ChatCompletionToolParam",
    "FunctionDefinition",
    "ToolCall",
    "Function",
    "URLCitation",
    "WebSource",
    "AudioData",
    "ContentPart",
    "TextContentPart",
    "ImageURLContentPart",
    "ImageURLDetail",
    "VideoURLContentPart",
    "VideoURLDetail",
    "InputAudioContentPart",
    "InputAudioDetail",
    "AudioConfig",
    "CompressionConfig",
    "WebSearchOptions",
    "UserLocation",
    "ReasoningConfig",
    "ThinkingConfig",
    "StreamOptions",
    "Embedding",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "Model",
    "ModelList",
    "Response",
    "ResponseOutput",
    "ResponseUsage",
    "ResponseInputItem",
    "Message",
    "MessageParam",
    "MessageUsage",
    "RerankResponse",
    "RerankResult",
    "Usage",
]

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MESSAGES: List[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello"},
]


def test_every_name_0_4_1_exported_is_still_exported() -> None:
    assert len(NAMES_0_4_1) == 56
    assert [name for name in NAMES_0_4_1 if name not in apertis.__all__ or not hasattr(apertis, name)] == []
    assert apertis.DEFAULT_BASE_URL == "https://api.apertis.ai/v1"


@pytest.fixture
async def client(fake_apertis: FakeApertis, client_class: Any) -> AsyncIterator[Any]:
    """A client built with 0.4.1's constructor arguments, closed after the test."""
    made = client_class(
        api_key="sk-test-041",
        base_url=fake_apertis.url + "/",  # 0.4.1 stripped a trailing slash
        timeout=30.0,
        max_retries=0,
        default_headers={"X-App": "compat-041"},
    )
    yield made
    result = made.close()
    if result is not None:
        await result


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    return path


@pytest.fixture
def audio_file(tmp_path: Path) -> Path:
    path = tmp_path / "hello.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack("<80h", *([0] * 80)))
    return path


def _last_body(fake_apertis: FakeApertis) -> Any:
    return fake_apertis.requests[-1].json


async def test_chat_completion(client: Any, fake_apertis: FakeApertis, call: Call) -> None:
    completion = await call(
        client.chat.completions.create, model="gpt-4.1-mini", messages=MESSAGES, temperature=0.2, max_tokens=50
    )
    assert isinstance(completion, apertis.ChatCompletion)
    assert isinstance(completion.choices[0].message.content, str)
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert fake_apertis.requests[-1].headers.get("x-app") == "compat-041"


async def test_chat_stream(client: Any, call: Call, kind: str) -> None:
    stream = await call(client.chat.completions.create, model="gpt-4.1-mini", messages=MESSAGES, stream=True)
    pieces: List[str] = []
    if kind == "async":
        async with stream:
            async for chunk in stream:
                pieces.extend(c.delta.content or "" for c in chunk.choices)
    else:
        with stream:
            for chunk in stream:
                pieces.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(pieces)


async def test_create_with_image(client: Any, fake_apertis: FakeApertis, call: Call, image_file: Path) -> None:
    completion = await call(
        client.chat.completions.create_with_image,
        "gpt-4.1-mini",
        "What is in this picture?",
        ["https://example.com/a.jpg", str(image_file)],
        detail="low",
        system="Describe briefly.",
        max_tokens=20,
    )
    assert completion.choices[0].message.content
    body = _last_body(fake_apertis)
    assert body["max_tokens"] == 20
    assert body["messages"][0] == {"role": "system", "content": "Describe briefly."}
    text, remote, local = body["messages"][1]["content"]
    assert text == {"type": "text", "text": "What is in this picture?"}
    assert remote == {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "low"}}
    assert local["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_create_with_image_checks_its_files(client: Any, call: Call, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="image: no such file"):
        await call(client.chat.completions.create_with_image, "gpt-4.1-mini", "?", str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match=r"cannot tell the image type of .*\.bmp"):
        await call(client.chat.completions.create_with_image, "gpt-4.1-mini", "?", str(tmp_path / "x.bmp"))


async def test_create_with_audio(client: Any, fake_apertis: FakeApertis, call: Call, audio_file: Path) -> None:
    completion = await call(
        client.chat.completions.create_with_audio,
        "gpt-4o-audio-preview",
        "Transcribe this.",
        str(audio_file),
        output_voice="alloy",
    )
    assert isinstance(completion, apertis.ChatCompletion)
    body = _last_body(fake_apertis)
    part = body["messages"][0]["content"][1]
    assert part == {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(audio_file.read_bytes()).decode(), "format": "wav"},
    }
    assert body["modalities"] == ["text", "audio"] and body["audio"] == {"voice": "alloy", "format": "wav"}
    with pytest.raises(ValueError, match="cannot tell the audio format"):
        await call(client.chat.completions.create_with_audio, "gpt-4o-audio-preview", "?", "song.xyz")


async def test_create_with_web_search(client: Any, fake_apertis: FakeApertis, call: Call) -> None:
    completion = await call(
        client.chat.completions.create_with_web_search,
        "What happened today?",
        allowed_domains=["reuters.com", "apnews.com"],
        country="US",
        city="Boston",
    )
    assert isinstance(completion, apertis.ChatCompletion)
    body = _last_body(fake_apertis)
    assert body["model"] == "gpt-5-search-api"
    assert body["web_search_options"] == {
        "search_context_size": "medium",
        "filters": ["reuters.com", "apnews.com"],
        "user_location": {"type": "approximate", "approximate": {"country": "US", "city": "Boston"}},
    }


async def test_web_sources_of_a_web_model(client: Any, call: Call) -> None:
    completion = await call(client.chat.completions.create, model="gpt-4.1-mini:web", messages=MESSAGES)
    assert completion.web_sources
    source = completion.web_sources[0]
    assert isinstance(source, apertis.WebSource) and source.url and source.title is not None


async def test_embeddings_models_responses_messages(client: Any, call: Call) -> None:
    embeddings = await call(client.embeddings.create, model="text-embedding-3-small", input=["a", "b"])
    assert isinstance(embeddings, apertis.EmbeddingResponse) and len(embeddings.data) == 2
    assert isinstance(embeddings.data[0].embedding[0], float)
    assert embeddings.usage is not None and embeddings.usage.prompt_tokens > 0

    models = await call(client.models.list)
    assert isinstance(models, apertis.ModelList) and models.data
    model = await call(client.models.retrieve, models.data[0].id)
    assert isinstance(model, apertis.Model) and model.id == models.data[0].id

    response = await call(client.responses.create, model="gpt-4.1-mini", input="Hello", instructions="Be brief.")
    assert isinstance(response, apertis.Response) and response.output_text

    message = await call(
        client.messages.create,
        model="claude-sonnet-4.5",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=64,
        system="Be brief.",
    )
    assert isinstance(message, apertis.Message) and isinstance(message.content[0], TextBlock)
    assert message.content[0].text
    assert message.usage is not None and message.usage.output_tokens > 0


async def test_audio(client: Any, call: Call, audio_file: Path, tmp_path: Path) -> None:
    speech = await call(client.audio.speech.create, model="tts-1", input="Hello", voice="alloy")
    assert speech.content
    await call(speech.write_to_file, tmp_path / "out.mp3")
    assert (tmp_path / "out.mp3").read_bytes() == speech.content
    transcription = await call(client.audio.transcriptions.create, file=str(audio_file), model="whisper-1")
    assert isinstance(transcription.text, str)
    text = await call(client.audio.transcriptions.create, file=audio_file, model="whisper-1", response_format="text")
    assert isinstance(text, str)


def test_errors_are_0_4_1_s_classes(fake_apertis: FakeApertis) -> None:
    with (
        apertis.Apertis(api_key="sk-test", base_url=fake_apertis.url) as client,
        pytest.raises(apertis.NotFoundError) as error,
    ):
        client.models.retrieve("no-such-model")
    assert isinstance(error.value, apertis.APIError) and error.value.status_code == 404
    assert isinstance(error.value.message, str) and error.value.body is not None


async def test_async_client_as_0_4_1_used_it(fake_apertis: FakeApertis) -> None:
    async with apertis.AsyncApertis(api_key="sk-test", base_url=fake_apertis.url) as client:
        with pytest.raises(apertis.NotFoundError):
            await client.models.retrieve("no-such-model")
        completion = await client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
        assert completion.choices[0].message.content
    with apertis.Apertis(api_key="sk-wrong", base_url=fake_apertis.url) as client:
        assert client.models.list().data  # the offline server takes any key unless told one


def test_the_missing_key_error_keeps_0_4_1_s_wording(client_class: Any) -> None:
    with pytest.raises(ValueError, match="API key is required"):
        client_class()


# Section 14.2 of the API reference: the names 0.4.1 exported from apertis.types only.
TYPE_NAMES_041 = [
    "Transcription",
    "Translation",
    "GeminiThinkingConfig",
    "ResponseContent",
    "ResponseTextContent",
    "ResponseReasoningContent",
    "ResponseInputText",
    "ResponseInputImage",
    "ResponseInputFile",
    "ResponseOutputItem",
    "ResponseOutputMessage",
    "ResponseOutputText",
    "ResponseOutputRefusal",
    "ResponseReasoningItem",
    "ResponseFunctionToolCall",
    "ResponseUnknownOutputItem",
    "ResponseStreamEvent",
    "ContentBlock",
    "TextBlock",
    "ToolUseBlock",
    "ToolDefinition",
    "ThinkingBlock",
    "RedactedThinkingBlock",
    "MessageStreamEvent",
    "MessageStreamDelta",
    "MessageDeltaUsage",
    "RerankUsage",
]


@pytest.mark.parametrize("name", TYPE_NAMES_041)
def test_every_type_name_of_0_4_1_imports_from_apertis_types(name: str) -> None:
    import apertis.types

    assert name in apertis.types.__all__
    assert getattr(apertis.types, name) is not None


def test_the_0_4_1_delta_name_covers_what_a_messages_stream_delta_can_be() -> None:
    from typing import get_args

    from apertis.types import ContentBlockDeltaEvent, MessageDelta, MessageDeltaEvent, MessageStreamDelta, TextDelta

    members: set[object] = set(get_args(MessageStreamDelta))
    assert TextDelta in members and MessageDelta in members
    content = ContentBlockDeltaEvent.from_dict(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    )
    message = MessageDeltaEvent.from_dict({"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
    assert type(content.delta) in members and type(message.delta) in members
