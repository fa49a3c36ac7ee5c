"""Multipart uploads and binary downloads through the public resource methods, sync and async."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import inspect
import io
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import pytest
from pytest_httpx import HTTPXMock
from rawserver import API_KEY, Exchange, LoopbackServer, close, loopback_servers, make, maybe_await

import apertis._files
from apertis import Apertis, AsyncApertis
from apertis.types import ImagesResponse, Transcription, Translation, Video

BASE_URL = "https://api.example.test/v1"


def _client(flavour: str) -> Any:
    factory = Apertis if flavour == "sync" else AsyncApertis
    return factory(api_key="sk-test", base_url=BASE_URL, max_retries=0)


async def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
    result = method(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


def _form_parts(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name, payload) of every part of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        params = dict(part.get_params(header="content-disposition") or [])
        name = params.get("name") or disposition
        payload = part.get_payload(decode=True)
        assert isinstance(payload, (bytes, type(None)))
        parts.append((str(name), params.get("filename"), payload or b""))
    return parts


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_transcription_uploads_the_file_and_fields_and_parses_json(
    httpx_mock: HTTPXMock, flavour: str, tmp_path: Path
) -> None:
    audio = tmp_path / "meeting.wav"
    audio.write_bytes(b"RIFF....WAVEfmt ")
    httpx_mock.add_response(json={"text": "hello there", "language": "english", "duration": 1.5})
    client = _client(flavour)
    result = await _call(
        client.audio.transcriptions.create,
        file=audio,
        model="whisper-1",
        language="en",
        temperature=0,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1/audio/transcriptions"
    parts = _form_parts(request.headers["content-type"], request.read())
    assert ("file", "meeting.wav", b"RIFF....WAVEfmt ") in parts
    fields = [(name, payload.decode()) for name, filename, payload in parts if filename is None]
    assert ("model", "whisper-1") in fields
    assert ("language", "en") in fields
    assert ("temperature", "0") in fields
    assert ("response_format", "verbose_json") in fields
    assert [value for name, value in fields if name == "timestamp_granularities[]"] == ["word", "segment"]
    assert isinstance(result, Transcription)
    assert result.text == "hello there"
    assert result.to_dict()["duration"] == 1.5


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
async def test_transcription_text_formats_return_the_text(httpx_mock: HTTPXMock, flavour: str, fmt: str) -> None:
    httpx_mock.add_response(text="1\n00:00:00,000 --> 00:00:01,000\nhello\n", headers={"content-type": "text/plain"})
    result = await _call(
        _client(flavour).audio.transcriptions.create, file=b"ID3data", model="whisper-1", response_format=fmt
    )
    assert result == "1\n00:00:00,000 --> 00:00:01,000\nhello\n"


async def test_a_json_answer_to_a_text_request_is_still_parsed(httpx_mock: HTTPXMock, flavour: str) -> None:
    # gpt-4o-transcribe answers JSON whatever format was asked for: the Content-Type decides, not the request.
    httpx_mock.add_response(json={"text": "hi"})
    result = await _call(
        _client(flavour).audio.transcriptions.create, file=b"x", model="gpt-4o-transcribe", response_format="text"
    )
    assert isinstance(result, Transcription)
    assert result.text == "hi"


async def test_translation_accepts_a_filename_tuple(httpx_mock: HTTPXMock, flavour: str) -> None:
    httpx_mock.add_response(json={"text": "Hello, how are you?"})
    result = await _call(
        _client(flavour).audio.translations.create,
        file=("bonjour.mp3", b"ID3\x04", "audio/mpeg"),
        model="whisper-1",
    )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1/audio/translations"
    assert ("file", "bonjour.mp3", b"ID3\x04") in _form_parts(request.headers["content-type"], request.read())
    assert isinstance(result, Translation)
    assert result.text == "Hello, how are you?"


async def test_image_edit_uploads_image_and_mask(httpx_mock: HTTPXMock, flavour: str, tmp_path: Path) -> None:
    image = tmp_path / "otter.png"
    image.write_bytes(b"\x89PNG-image")
    httpx_mock.add_response(json={"created": 1, "data": [{"b64_json": "aGk="}]})
    with image.open("rb") as handle:
        result = await _call(
            _client(flavour).images.edit, image=handle, mask=b"\x89PNG-mask", prompt="add a hat", model="gpt-image-1"
        )
    request = httpx_mock.get_request()
    assert request is not None
    parts = _form_parts(request.headers["content-type"], request.read())
    assert ("image", "otter.png", b"\x89PNG-image") in parts
    assert any(name == "mask" and payload == b"\x89PNG-mask" for name, _, payload in parts)
    assert ("prompt", None, b"add a hat") in parts
    assert isinstance(result, ImagesResponse)
    assert result.data[0].b64_json == "aGk="


async def test_video_create_is_multipart(httpx_mock: HTTPXMock, flavour: str) -> None:
    httpx_mock.add_response(json={"id": "video_1", "object": "video", "status": "queued", "progress": 0})
    result = await _call(
        _client(flavour).videos.create,
        model="veo_3_1",
        prompt="a lake at dawn",
        seconds="5",
        size="16x9",
        input_reference=("frame.png", b"\x89PNG"),
    )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1/videos"
    parts = _form_parts(request.headers["content-type"], request.read())
    assert ("seconds", None, b"5") in parts
    assert ("input_reference", "frame.png", b"\x89PNG") in parts
    assert isinstance(result, Video)
    assert result.status == "queued"


async def test_speech_returns_binary_content(httpx_mock: HTTPXMock, flavour: str, tmp_path: Path) -> None:
    audio = b"ID3" + bytes(range(256)) * 64
    httpx_mock.add_response(content=audio, headers={"content-type": "audio/mpeg"})
    speech = await _call(_client(flavour).audio.speech.create, model="tts-1", input="Hello", voice="alloy")
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["content-type"] == "application/json"
    assert speech.content == audio
    assert speech.content_type == "audio/mpeg"
    if flavour == "sync":
        chunks = list(speech.iter_bytes(1000))
    else:
        chunks = [chunk async for chunk in speech.aiter_bytes(1000)]
        # openai-python's async binary responses spell it iter_bytes(), also an async iterator.
        assert [chunk async for chunk in speech.iter_bytes(1000)] == chunks
    assert len(chunks) == -(-len(audio) // 1000)
    assert b"".join(chunks) == audio
    target = tmp_path / "hello.mp3"
    speech.write_to_file(target)
    assert target.read_bytes() == audio


async def test_video_content_downloads_bytes(httpx_mock: HTTPXMock, flavour: str) -> None:
    httpx_mock.add_response(content=b"\x00\x00\x00\x18ftypmp42", headers={"content-type": "video/mp4"})
    video = await _call(_client(flavour).videos.download_content, "sora-2:123-abc")
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.raw_path.decode() == "/v1/videos/sora-2%3A123-abc/content"
    assert video.content.startswith(b"\x00\x00\x00\x18ftyp")


async def test_an_upload_of_the_wrong_kind_names_the_parameter(flavour: str) -> None:
    with pytest.raises(TypeError, match="file"):
        await _call(_client(flavour).audio.transcriptions.create, file=12345, model="whisper-1")


# ------------------------------------------------------------------------------- every form, on the wire


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


AUDIO = bytes(range(256)) * 300  # 76.8 KB: more than one 64 KiB read, and every byte value


def _pipe(data: bytes, pause: float = 0.0) -> IO[bytes]:
    """The read end of a pipe that a thread fills with `data`, 64 KiB at a time `pause` seconds apart."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as writer:
            for start in range(0, len(data), 65536):
                if pause:
                    time.sleep(pause)
                writer.write(data[start : start + 65536])
                writer.flush()

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(read_end, "rb")


def _socket_file(data: bytes) -> IO[bytes]:
    """A socket's file object (not seekable, and fstat reports no size), the peer sends `data` and hangs up."""
    ours, theirs = socket.socketpair()

    def send_and_hang_up() -> None:
        theirs.sendall(data)
        theirs.close()

    threading.Thread(target=send_and_hang_up, daemon=True).start()
    reader = ours.makefile("rb")
    ours.close()  # the file object keeps the socket open until it is closed
    return reader


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


def _received_file(server: LoopbackServer, index: int = 0) -> tuple[str | None, bytes]:
    """(file name, bytes) of the `file` part the server received in request `index`, which had a Content-Length."""
    head = server.requests[index].decode("latin-1").lower()
    assert "transfer-encoding" not in head
    length = int(head.split("content-length:")[1].split("\r\n")[0])
    body = server.bodies[index]
    assert length == len(body)
    content_type = server.requests[index].decode("latin-1").split("ontent-Type: ")[1].split("\r\n")[0]
    parts = {name: (filename, payload) for name, filename, payload in _form_parts(content_type, body)}
    assert parts["model"] == (None, b"whisper-1")
    return parts["file"]


_FORMS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "path": (lambda tmp: tmp / "speech.wav", "speech.wav"),
    "str path": (lambda tmp: str(tmp / "speech.wav"), "speech.wav"),
    "bytes": (lambda tmp: AUDIO, "upload"),
    "bytearray": (lambda tmp: bytearray(AUDIO), "upload"),
    "BytesIO": (lambda tmp: io.BytesIO(AUDIO), "upload"),
    "open file": (lambda tmp: (tmp / "speech.wav").open("rb"), "speech.wav"),
    "pipe": (lambda tmp: _pipe(AUDIO), "upload"),
    "socket file": (lambda tmp: _socket_file(AUDIO), "upload"),
    "generator": (lambda tmp: _chunks(AUDIO), "upload"),
    "tuple of bytes": (lambda tmp: ("a.wav", AUDIO), "a.wav"),
    "tuple with a content type": (lambda tmp: ("a.wav", AUDIO, "audio/wav"), "a.wav"),
    "tuple without a name": (lambda tmp: (None, AUDIO), "upload"),
    "tuple of a BytesIO": (lambda tmp: ("a.wav", io.BytesIO(AUDIO)), "a.wav"),
    "tuple of an open file": (lambda tmp: ("b.wav", (tmp / "speech.wav").open("rb")), "b.wav"),
    "tuple of a pipe": (lambda tmp: ("a.wav", _pipe(AUDIO)), "a.wav"),
    "tuple of a generator": (lambda tmp: ("a.wav", _chunks(AUDIO), "audio/wav"), "a.wav"),
}


@pytest.mark.parametrize("form", list(_FORMS))
async def test_every_upload_form_arrives_whole_with_a_content_length_and_survives_a_retry(
    kind: str, loopback: Callable[..., LoopbackServer], sleeps: list[float], tmp_path: Path, form: str
) -> None:
    # The first attempt gets a 503: every form, pipes and generators included, is sent again identically.
    (tmp_path / "speech.wav").write_bytes(AUDIO)
    make_upload, filename = _FORMS[form]
    upload = make_upload(tmp_path)
    server = loopback(_unavailable, _transcribed)
    client = make(kind, server, max_retries=1)
    try:
        result = await maybe_await(client.audio.transcriptions.create(file=upload, model="whisper-1"))
    finally:
        for value in (upload, *(upload if isinstance(upload, tuple) else ())):
            if hasattr(value, "close"):
                value.close()
        await close(client)
    assert result.text == "ok"
    assert len(server.requests) == 2
    assert _received_file(server, 0) == _received_file(server, 1) == (filename, AUDIO)


async def _unavailable(exchange: Exchange) -> bool:
    await exchange.send(503, b'{"error": {"message": "busy"}}')
    return True


async def _transcribed(exchange: Exchange) -> bool:
    await exchange.send(200, b'{"text": "ok"}')
    return True


async def test_a_big_pipe_is_spooled_to_a_temporary_file_that_the_call_deletes(
    kind: str, loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apertis._files, "SPOOL_IN_MEMORY", 10_000)
    spooled: list[Any] = []
    real_temporary_file = tempfile.TemporaryFile

    def recording_temporary_file(*args: Any, **kwargs: Any) -> Any:
        spooled.append(real_temporary_file(*args, **kwargs))
        return spooled[-1]

    monkeypatch.setattr(tempfile, "TemporaryFile", recording_temporary_file)
    server = loopback(_transcribed)
    client = make(kind, server)
    with _pipe(AUDIO) as pipe:
        await maybe_await(client.audio.transcriptions.create(file=("a.wav", pipe), model="whisper-1"))
    assert _received_file(server) == ("a.wav", AUDIO)
    assert len(spooled) == 1 and spooled[0].closed
    await close(client)


async def test_a_one_shot_upload_over_the_spool_limit_names_the_parameter(
    kind: str, loopback: Callable[..., LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apertis._files, "MAX_SPOOLED_UPLOAD", 50_000)
    server = loopback(_transcribed)
    client = make(kind, server)
    with pytest.raises(ValueError, match=r"file: this upload .* larger than .*pass the path or the open file"):
        await maybe_await(client.audio.transcriptions.create(file=_chunks(AUDIO), model="whisper-1"))
    assert server.requests == []
    await close(client)


async def test_the_async_client_reads_a_slow_pipe_without_blocking_the_event_loop(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(_transcribed)
    client = AsyncApertis(api_key=API_KEY, base_url=server.url)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    with _pipe(AUDIO, pause=0.4) as pipe:  # two pieces, 0.8 s in all
        await client.audio.transcriptions.create(file=pipe, model="whisper-1")
    ticker.cancel()
    assert ticks > 20
    assert _received_file(server) == ("upload", AUDIO)
    await client.close()
