"""Uploads: every accepted form of a file becomes what httpx's multipart encoder takes.

Accepted: a path (`str` or `os.PathLike`, file name = its basename), `bytes` (file name "upload"), a binary
file object (file name from its `.name`), an iterator of bytes chunks (sent once, never retried), or a tuple
`(filename, content[, content_type])` whose content is any of the non-path forms.

Paths are read into memory when the call is made, so the file is closed at once and a retry resends exactly the
same bytes; file objects are streamed and rewound by the encoder before each attempt. An iterator, or a file
object that cannot seek (a pipe), can be sent only once: `PreparedFiles.replayable` tells the retry loop so.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, Iterator, List, Optional, Sequence, Tuple, Union, cast

import attrs

__all__ = ["HttpxFile", "PreparedFiles", "prepare_files"]

_Content = Union[bytes, IO[bytes]]
HttpxFile = Tuple[str, _Content, Optional[str]]
"""(filename, content, content type or None to let httpx guess from the file name)."""

_EXPECTED = (
    "a path (str or os.PathLike), bytes, a binary file object, an iterator of bytes, "
    "or a (filename, content[, content_type]) tuple"
)


@attrs.frozen
class PreparedFiles:
    """The multipart file fields of one call, and whether they can be sent again on a retry."""

    fields: List[Tuple[str, HttpxFile]]
    replayable: bool


def prepare_files(files: Sequence[Tuple[str, Any]]) -> PreparedFiles:
    """Normalise `(field name, upload)` pairs; bad input raises TypeError/ValueError naming the field."""
    if isinstance(files, (str, bytes)) or not isinstance(files, Sequence):
        raise TypeError(f"files must be a sequence of (field name, file) pairs, got {type(files).__name__}")
    fields: List[Tuple[str, HttpxFile]] = []
    replayable = True
    for pair in files:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise TypeError(f"files must be a sequence of (field name, file) pairs, got {pair!r}")
        name, value = pair
        upload, once = _prepare(value, name)
        fields.append((name, upload))
        replayable = replayable and not once
    return PreparedFiles(fields, replayable)


def _prepare(value: Any, param: str) -> Tuple[HttpxFile, bool]:
    if isinstance(value, tuple):
        return _prepare_tuple(value, param)
    if isinstance(value, (str, os.PathLike)):
        path = Path(os.fspath(value))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{param}: no such file: {str(path)!r}") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{param}: {str(path)!r} is a directory, not a file") from None
        return (path.name, data, None), False
    content, once = _content(value, param)
    return (_default_name(value), content, None), once


def _prepare_tuple(value: Tuple[Any, ...], param: str) -> Tuple[HttpxFile, bool]:
    if len(value) not in (2, 3):
        raise TypeError(f"{param}: a file tuple is (filename, content) or (filename, content, content_type)")
    filename = value[0]
    content_type = value[2] if len(value) == 3 else None
    if filename is not None and not isinstance(filename, str):
        raise TypeError(f"{param}: the file name in the tuple must be a str or None, got {type(filename).__name__}")
    if content_type is not None and not isinstance(content_type, str):
        raise TypeError(f"{param}: the content type in the tuple must be a str, got {type(content_type).__name__}")
    if isinstance(value[1], (str, os.PathLike)):
        raise TypeError(
            f"{param}: the content in a file tuple must be bytes or a binary file object; "
            "to upload a file by path pass the path itself, to upload text encode it first"
        )
    content, once = _content(value[1], param)
    return (filename or _default_name(value[1]), content, content_type), once


def _content(value: Any, param: str) -> Tuple[_Content, bool]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), False
    if hasattr(value, "read"):
        if isinstance(value, io.TextIOBase):
            raise TypeError(f"{param}: the file is open in text mode; open it in binary mode ('rb')")
        if getattr(value, "closed", False):
            raise ValueError(f"{param}: the file object is closed")
        return value, not _seekable(value)
    if isinstance(value, Iterator):
        return cast(IO[bytes], _IteratorReader(value, param)), True
    raise TypeError(f"{param} must be {_EXPECTED}; got {type(value).__name__}")


def _seekable(value: Any) -> bool:
    seekable = getattr(value, "seekable", None)
    if callable(seekable):
        try:
            return bool(seekable())
        except (OSError, ValueError):
            return False
    return hasattr(value, "seek")


def _default_name(value: Any) -> str:
    name = getattr(value, "name", None)
    if isinstance(name, (str, os.PathLike)):
        base = Path(os.fspath(name)).name
        # Objects like sys.stdin.buffer are named "<stdin>": not a file name a server should see.
        if base and not base.startswith("<"):
            return base
    return "upload"


class _IteratorReader(io.RawIOBase):
    """A file-like view of an iterator of bytes chunks, for httpx's multipart encoder. Readable once."""

    def __init__(self, chunks: Iterator[Any], param: str) -> None:
        super().__init__()
        self._chunks = chunks
        self._param = param
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: Optional[int] = -1) -> bytes:
        limit = -1 if size is None else size
        while limit < 0 or len(self._buffer) < limit:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self._param}: the upload iterator must yield bytes, got {type(chunk).__name__}")
            self._buffer += bytes(chunk)
        if limit < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return data
