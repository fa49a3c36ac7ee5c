"""Upload normalisation: every accepted form of a file, the file names sent, and clear errors otherwise."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pytest_httpx import HTTPXMock

import apertis._files
from apertis._files import prepare_files


def _one(value: Any) -> Any:
    prepared = prepare_files([("file", value)])
    ((name, upload),) = prepared.fields
    assert name == "file"
    return upload


def test_path_str_and_pathlike_are_read_with_their_basename(tmp_path: Path) -> None:
    audio = tmp_path / "voice note.wav"
    audio.write_bytes(b"RIFF1234")
    for value in (audio, str(audio)):
        assert _one(value) == ("voice note.wav", b"RIFF1234", None)


def test_bytes_are_named_upload() -> None:
    assert _one(b"abc") == ("upload", b"abc", None)
    assert _one(bytearray(b"abc")) == ("upload", b"abc", None)


def test_file_objects_keep_their_name_and_stream(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp3"
    path.write_bytes(b"ID3")
    with path.open("rb") as handle:
        assert _one(handle) == ("clip.mp3", handle, None)
    buffer = io.BytesIO(b"x")
    assert _one(buffer) == ("upload", buffer, None)


def test_tuples() -> None:
    assert _one(("a.flac", b"data")) == ("a.flac", b"data", None)
    assert _one(("a.flac", b"data", "audio/flac")) == ("a.flac", b"data", "audio/flac")
    assert _one((None, b"data")) == ("upload", b"data", None)
    buffer = io.BytesIO(b"d")
    assert _one(("n.wav", buffer)) == ("n.wav", buffer, None)


def test_one_shot_sources_are_copied_so_that_they_can_be_sent_again() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a"
        yield b"bc"

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            super().__init__()
            self.left = [b"pi", b"pe"]

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def read(self, size: int = -1) -> bytes:
            return self.left.pop(0) if self.left else b""

    for source, content in ((chunks(), b"abc"), (Pipe(), b"pipe")):
        prepared = prepare_files([("file", source)])
        spool = prepared.fields[0][1][1]
        assert not isinstance(spool, bytes)
        assert spool.read() == content
        spool.seek(0)
        assert spool.read() == content
        prepared.close()
        assert spool.closed


def test_a_device_is_copied_rather_than_sent_with_a_size_of_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apertis._files, "MAX_SPOOLED_UPLOAD", 1_000_000)
    with open("/dev/zero", "rb") as device, pytest.raises(ValueError, match="file: this upload"):
        # /dev/zero seeks but reports no size; endless, it runs into the spool's limit.
        prepared = prepare_files([("file", device)])
        prepared.close()


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        (123, TypeError, r"file must be a path.*got int"),
        (["a"], TypeError, r"file must be a path.*got list"),
        (io.StringIO("text"), TypeError, r"file: .*binary mode"),
        (("a.wav",), TypeError, r"file: a file tuple is"),
        (("a.wav", "text content"), TypeError, r"file: the content in a file tuple must be bytes"),
        ((b"name", b"x"), TypeError, r"file: the file name"),
        (("a.wav", b"x", 5), TypeError, r"file: the content type"),
        (iter(["str chunk"]), TypeError, r"file: the upload must yield bytes, got str"),
    ],
)
def test_bad_uploads_name_the_parameter(value: Any, error: Any, pattern: Any) -> None:
    with pytest.raises(error, match=pattern):
        _one(value)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"file: no such file: .*nope\.wav"):
        _one(tmp_path / "nope.wav")
    with pytest.raises(IsADirectoryError, match=r"file: .* is a directory"):
        _one(tmp_path)


def test_closed_file_object(tmp_path: Path) -> None:
    buffer = io.BytesIO(b"x")
    buffer.close()
    with pytest.raises(ValueError, match="file: the file object is closed"):
        _one(buffer)


def test_files_must_be_pairs() -> None:
    with pytest.raises(TypeError, match="files must be a sequence"):
        prepare_files("file.wav")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="files must be a sequence"):
        prepare_files([b"x"])  # type: ignore[list-item]


async def test_every_form_uploads_through_the_client(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, tmp_path: Path
) -> None:
    path = tmp_path / "speech.mp3"
    path.write_bytes(b"MP3DATA")
    httpx_mock.add_response(json={"text": "ok"}, is_reusable=True)
    client = make_client()
    with path.open("rb") as handle:
        for upload in (path, str(path), b"MP3DATA", handle, ("speech.mp3", b"MP3DATA", "audio/mpeg")):
            await call(client.post, "/audio/transcriptions", data={"model": "whisper-1"}, files=[("file", upload)])
    bodies = [request.read() for request in httpx_mock.get_requests()]
    assert all(b"\r\n\r\nMP3DATA\r\n" in body for body in bodies)
    assert [b'filename="speech.mp3"' in body for body in bodies] == [True, True, False, True, True]
    assert b'filename="upload"' in bodies[2]
    assert b"Content-Type: audio/mpeg" in bodies[4]
