"""Uploads: every accepted form of a file becomes what httpx's multipart encoder takes.

Accepted: a path (`str` or `os.PathLike`, file name = its basename), `bytes` (file name "upload"), a binary
file object (file name from its `.name`), an iterator of bytes chunks, or a tuple `(filename, content[,
content_type])` whose content is any of the non-path forms.

Every upload is sent with a Content-Length (many upload front-ends refuse a chunked multipart body) and can be sent
again on a retry:

- a path is read into memory when the call is made, so the file is closed at once;
- a seekable file object (an open regular file, BytesIO) is streamed, and rewound by the encoder before each
  attempt;
- anything that can be read only once (a pipe, a socket's file, sys.stdin.buffer, an iterator of chunks) is read
  to its end when the call is made, into memory up to `SPOOL_IN_MEMORY` bytes and into an anonymous temporary file
  beyond that, which the call deletes when it returns. At most `MAX_SPOOLED_UPLOAD` bytes are spooled: a bigger
  upload raises ValueError naming the parameter (write it to a file and pass the path or the open file).

The async client does this reading (of paths and of one-shot sources) in a worker thread, so a slow pipe does not
block the event loop; httpx's encoder reads seekable file objects in the event loop, 64 KiB at a time.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, List, Optional, Sequence, Tuple, Union

import attrs

__all__ = ["MAX_SPOOLED_UPLOAD", "SPOOL_IN_MEMORY", "HttpxFile", "PreparedFiles", "prepare_files"]

SPOOL_IN_MEMORY = 8 * 1024 * 1024
"""Bytes of a one-shot upload kept in memory; the rest goes to a temporary file."""

MAX_SPOOLED_UPLOAD = 256 * 1024 * 1024
"""The largest one-shot upload (pipe, iterator) the SDK spools: five times the largest file the API documents."""

_READ_SIZE = 64 * 1024

_Content = Union[bytes, IO[bytes]]
HttpxFile = Tuple[str, _Content, Optional[str]]
"""(filename, content, content type or None to let httpx guess from the file name)."""

_EXPECTED = (
    "a path (str or os.PathLike), bytes, a binary file object, an iterator of bytes, "
    "or a (filename, content[, content_type]) tuple"
)


@attrs.frozen
class PreparedFiles:
    """The multipart file fields of one call (every one can be sent again), and the spools to delete after it."""

    fields: List[Tuple[str, HttpxFile]]
    _spools: Sequence[IO[bytes]] = ()

    def close(self) -> None:
        """Delete the copies of one-shot uploads (their temporary files); the caller's own files stay open."""
        for spool in self._spools:
            spool.close()


def prepare_files(files: Sequence[Tuple[str, Any]]) -> PreparedFiles:
    """Normalise `(field name, upload)` pairs; bad input raises TypeError/ValueError naming the field.

    Blocks while it reads paths and one-shot sources (the async client calls it in a worker thread)."""
    if isinstance(files, (str, bytes)) or not isinstance(files, Sequence):
        raise TypeError(f"files must be a sequence of (field name, file) pairs, got {type(files).__name__}")
    fields: List[Tuple[str, HttpxFile]] = []
    spools: List[IO[bytes]] = []
    try:
        for pair in files:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise TypeError(f"files must be a sequence of (field name, file) pairs, got {pair!r}")
            name, value = pair
            fields.append((name, _prepare(value, name, spools)))
    except BaseException:
        PreparedFiles([], spools).close()
        raise
    return PreparedFiles(fields, spools)


def _prepare(value: Any, param: str, spools: List[IO[bytes]]) -> HttpxFile:
    if isinstance(value, tuple):
        return _prepare_tuple(value, param, spools)
    if isinstance(value, (str, os.PathLike)):
        path = Path(os.fspath(value))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{param}: no such file: {str(path)!r}") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{param}: {str(path)!r} is a directory, not a file") from None
        return (path.name, data, None)
    return (_default_name(value), _content(value, param, spools), None)


def _prepare_tuple(value: Tuple[Any, ...], param: str, spools: List[IO[bytes]]) -> HttpxFile:
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
    return (filename or _default_name(value[1]), _content(value[1], param, spools), content_type)


def _content(value: Any, param: str, spools: List[IO[bytes]]) -> _Content:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "read"):
        if isinstance(value, io.TextIOBase):
            raise TypeError(f"{param}: the file is open in text mode; open it in binary mode ('rb')")
        if getattr(value, "closed", False):
            raise ValueError(f"{param}: the file object is closed")
        if _rewindable_with_known_size(value):
            return value  # type: ignore[no-any-return]
        return _spool(_file_chunks(value, param), param, spools)
    if isinstance(value, Iterator):
        return _spool(value, param, spools)
    raise TypeError(f"{param} must be {_EXPECTED}; got {type(value).__name__}")


def _rewindable_with_known_size(value: Any) -> bool:
    """Whether httpx's encoder can rewind `value` and learn its size (from fstat, or by seeking to its end).

    A pipe, a socket's file or a terminal cannot be rewound; a seekable descriptor that is not a regular file (a
    device) reports no size, and httpx would declare a Content-Length of zero.
    """
    seekable = getattr(value, "seekable", None)
    try:
        if callable(seekable) and not seekable():
            return False
        if not (hasattr(value, "seek") and hasattr(value, "tell")):
            return False
        fileno = getattr(value, "fileno", None)
        if callable(fileno):
            try:
                descriptor = fileno()
            except (OSError, ValueError):  # io.UnsupportedOperation: BytesIO and other in-memory files
                return True
            return stat.S_ISREG(os.fstat(descriptor).st_mode)
    except (OSError, ValueError):
        return False
    return True


def _file_chunks(source: Any, param: str) -> Iterator[Any]:
    while True:
        chunk = source.read(_READ_SIZE)
        if chunk is None:
            raise ValueError(f"{param}: the file object is in non-blocking mode and had no data; pass a blocking one")
        if not chunk:
            return
        yield chunk


def _spool(chunks: Iterator[Any], param: str, spools: List[IO[bytes]]) -> IO[bytes]:
    """A rewindable copy of a one-shot upload: in memory up to SPOOL_IN_MEMORY bytes, then a temporary file."""
    spool: IO[bytes] = io.BytesIO()
    spools.append(spool)
    size = 0
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"{param}: the upload must yield bytes, got {type(chunk).__name__}")
        size += len(chunk)
        if size > MAX_SPOOLED_UPLOAD:
            raise ValueError(
                f"{param}: this upload (a pipe, a stream or an iterator, read once) is larger than "
                f"{MAX_SPOOLED_UPLOAD // (1024 * 1024)} MiB, the most the SDK copies so that it can be sent with "
                "a Content-Length and retried; write it to a file and pass the path or the open file"
            )
        if size > SPOOL_IN_MEMORY and isinstance(spool, io.BytesIO):
            on_disk = tempfile.TemporaryFile()  # noqa: SIM115 - closed by PreparedFiles.close
            spools.append(on_disk)
            on_disk.write(spool.getbuffer())
            spool.close()
            spool = on_disk
        spool.write(chunk)
    spool.seek(0)
    return spool


def _default_name(value: Any) -> str:
    name = getattr(value, "name", None)
    if isinstance(name, (str, os.PathLike)):
        base = Path(os.fspath(name)).name
        # Objects like sys.stdin.buffer are named "<stdin>": not a file name a server should see.
        if base and not base.startswith("<"):
            return base
    return "upload"
