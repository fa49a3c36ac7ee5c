"""The sync and async clients against the offline server over real sockets: every operation, every stream
type and each fault, through the public API only."""

from __future__ import annotations

import inspect
import time
from typing import Any, AsyncIterator, Callable, Iterator, List, Union

import pytest

import apertis
from apertis import Apertis, AsyncApertis
from apertis.testing import FakeApertis
from apertis.types import ChatCompletionMessageParam, MessageParam

Client = Union[Apertis, AsyncApertis]
USER: List[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello there"}]
MESSAGES_USER: List[MessageParam] = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeApertis]:
    with FakeApertis() as running:
        yield running


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest, server: FakeApertis) -> AsyncIterator[Callable[..., Client]]:
    made: List[Client] = []

    def factory(url: str = "", **options: Any) -> Client:
        kind = Apertis if request.param == "sync" else AsyncApertis
        client: Client = kind(base_url=url or server.url, api_key="sk-test", **options)
        made.append(client)
        return client

    yield factory
    for client in made:
        await run(client.close())


@pytest.fixture
def client(make: Callable[..., Client]) -> Client:
    return make()


async def run(value: Any) -> Any:
    """The result of a sync call, or the awaited result of an async one."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Any) -> List[Any]:
    if hasattr(stream, "__aiter__"):
        return [event async for event in stream]
    return list(stream)


async def test_chat_completion(client: Client) -> None:
    completion = await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))
    assert completion.choices[0].message.content == 'Offline answer from gpt-4o-mini: you said "Hello there".'
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


async def test_chat_stream(client: Client) -> None:
    stream = await run(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    chunks = await collect(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == 'Offline answer from gpt-4o-mini: you said "Hello there".'
    assert chunks[-1].usage.total_tokens > 0


async def test_responses_plain_and_stream(client: Client) -> None:
    response = await run(client.responses.create(model="gpt-4.1", input="What is the capital of France?"))
    text = "".join(part.text for item in response.output for part in item.content)
    assert "capital of France" in text and response.status == "completed"
    events = await collect(await run(client.responses.create(model="gpt-4.1", input="Hi", stream=True)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta")
        == 'Offline answer from gpt-4.1: you said "Hi".'
    )


async def test_messages_plain_and_stream(client: Client) -> None:
    message = await run(client.messages.create(model="claude-sonnet-4.5", max_tokens=64, messages=MESSAGES_USER))
    assert message.content[0].text.endswith('"Hello there".') and message.stop_reason == "end_turn"
    events = await collect(
        await run(client.messages.create(model="claude-sonnet-4.5", max_tokens=64, messages=MESSAGES_USER, stream=True))
    )
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop" and "ping" not in types
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta").endswith('"Hello there".')


async def test_embeddings_and_rerank(client: Client) -> None:
    embeddings = await run(client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=16))
    assert [len(e.embedding) for e in embeddings.data] == [16, 16]
    with pytest.warns(DeprecationWarning) if _rerank_deprecated() else _nothing():
        ranked = await run(
            client.rerank.create(model="BAAI/bge-reranker-v2-m3", query="cats", documents=["dogs", "cats purr"])
        )
    assert ranked.results[0].index == 1


def _rerank_deprecated() -> bool:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            Apertis(api_key="k", base_url="http://127.0.0.1:9").rerank.create  # noqa: B018
        except Exception:
            return False
    return any(issubclass(w.category, DeprecationWarning) for w in caught)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


async def test_audio_round_trip(client: Client) -> None:
    speech = await run(
        client.audio.speech.create(model="tts-1", input="round trip", voice="alloy", response_format="wav")
    )
    audio = speech.content
    assert audio.startswith(b"RIFF")
    text = await run(client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio)))
    assert text.text == "round trip"
    plain = await run(
        client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio), response_format="text")
    )
    assert plain.strip() == "round trip"
    translated = await run(client.audio.translations.create(model="whisper-1", file=("speech.wav", audio)))
    assert translated.text == "round trip"


async def test_models(client: Client) -> None:
    listed = await run(client.models.list())
    assert "BAAI/bge-reranker-v2-m3" in [m.id for m in listed.data]
    model = await run(client.models.retrieve("BAAI/bge-reranker-v2-m3"))
    assert model.id == "BAAI/bge-reranker-v2-m3"
    with pytest.raises(apertis.NotFoundError):
        await run(client.models.retrieve("no-such-model"))


async def test_images(client: Client) -> None:
    generated = await run(client.images.generate(prompt="an otter", model="gpt-image-1", size="64x64"))
    assert generated.data[0].b64_json
    edited = await run(
        client.images.edit(image=("otter.png", b"\x89PNG fake"), prompt="add a hat", response_format="url")
    )
    assert edited.data[0].url.startswith("http://127.0.0.1:")


async def test_video_tasks(client: Client) -> None:
    task = await run(client.video.create(model="veo3", prompt="a lake"))
    assert task.status == "pending"
    await run(client.video.query(id=task.id))
    assert (await run(client.video.query(id=task.id))).status == "completed"
    video = await run(client.videos.create(model="sora-2", prompt="a boat", seconds="4", size="720x1280"))
    await run(client.videos.retrieve(video.id))
    done = await run(client.videos.retrieve(video.id))
    assert done.status == "completed"
    content = await run(client.videos.download_content(video.id))
    assert content.content[4:8] == b"ftyp"
    remix = await run(client.videos.remix(video.id, prompt="now with snow"))
    assert remix.id != video.id
    character = await run(client.videos.characters.create(url="https://example.com/clip.mp4"))
    assert character.username.startswith("character_")


async def test_a_request_the_spec_rejects_names_the_field(client: Client) -> None:
    with pytest.raises(apertis.APIError) as caught:
        await run(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "robot", "content": "x"}]))  # type: ignore[list-item]
    assert caught.value.status_code == 400
    assert "messages[0].role" in str(caught.value)


# -- faults ------------------------------------------------------------------------------------------------------


async def test_retries_get_past_transient_errors(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["status=503;times=2;retry_after=0"]) as flaky:
        client = make(flaky.url)
        completion = await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))
        assert completion.choices[0].message.content
        statuses = [r.status for r in flaky.requests]
        keys = {r.headers.get("idempotency-key") for r in flaky.requests}
    assert statuses == [503, 503, 200] and len(keys) == 1


async def test_rate_limit_error_when_retries_run_out(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["status=429;retry_after=0"]) as limited:
        client = make(limited.url, max_retries=1)
        with pytest.raises(apertis.RateLimitError):
            await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))
        assert len(limited.requests) == 2


async def test_retry_after_is_honoured(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["status=429;times=1;retry_after=1"]) as limited:
        client = make(limited.url)
        started = time.monotonic()
        await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))
        assert time.monotonic() - started >= 0.9


async def test_rate_limit_window(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["rate_limit=2;window=60"]) as limited:
        client = make(limited.url, max_retries=0)
        for _ in range(2):
            await run(client.embeddings.create(model="text-embedding-3-small", input="x"))
        with pytest.raises(apertis.RateLimitError):
            await run(client.embeddings.create(model="text-embedding-3-small", input="x"))


async def test_connection_reset(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["reset"]) as broken:
        client = make(broken.url, max_retries=0)
        with pytest.raises(apertis.APIConnectionError):
            await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))
    with FakeApertis(faults=["reset;times=1"]) as once:
        client = make(once.url)
        assert (await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))).choices


async def test_stall_times_out(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["stall"]) as stalled:
        client = make(stalled.url, max_retries=0, timeout=0.5)
        with pytest.raises(apertis.APITimeoutError):
            await run(client.chat.completions.create(model="gpt-4o-mini", messages=USER))


async def test_latency(make: Callable[..., Client]) -> None:
    with FakeApertis(faults=["latency=0.3"]) as slow:
        client = make(slow.url)
        started = time.monotonic()
        await run(client.models.list())
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("kind", ["chat", "responses", "messages"])
async def test_a_stream_cut_mid_way_raises(make: Callable[..., Client], kind: str) -> None:
    with FakeApertis(faults=["cut=3"]) as cutting:
        client = make(cutting.url, max_retries=0)
        with pytest.raises(apertis.APIConnectionError):
            await collect(await run(_stream(client, kind)))


@pytest.mark.parametrize("kind", ["chat", "responses", "messages"])
async def test_an_error_event_mid_stream_raises(make: Callable[..., Client], kind: str) -> None:
    with FakeApertis(faults=["error_event=2"]) as failing:
        client = make(failing.url, max_retries=0)
        with pytest.raises(apertis.APIError) as caught:
            await collect(await run(_stream(client, kind)))
        assert caught.value.status_code is not None and caught.value.status_code >= 500


def _stream(client: Client, kind: str) -> Any:
    if kind == "chat":
        return client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    if kind == "responses":
        return client.responses.create(model="gpt-4.1", input="Hi", stream=True)
    return client.messages.create(model="claude-sonnet-4.5", max_tokens=64, messages=MESSAGES_USER, stream=True)
