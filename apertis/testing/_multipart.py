"""A strict, small parser for multipart/form-data request bodies."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from typing import List, Optional, Tuple

import attrs

__all__ = ["FilePart", "MultipartError", "parse_multipart"]


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@attrs.frozen
class FilePart:
    """An uploaded file: the form field name, the file name, its declared type and its bytes."""

    name: str
    filename: str
    content_type: Optional[str]
    content: bytes


def _content_type_params(content_type: str) -> Message:
    message = Message()
    message["content-type"] = content_type
    return message


def parse_multipart(content_type: str, body: bytes) -> Tuple[List[Tuple[str, str]], List[FilePart]]:
    """Split a multipart/form-data body into its text fields (in order, repeats kept) and its files."""
    header = _content_type_params(content_type)
    if header.get_content_type() != "multipart/form-data":
        raise MultipartError(f"expected Content-Type multipart/form-data, got {content_type!r}")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("the multipart Content-Type has no boundary parameter")
    delimiter = b"--" + boundary.encode("latin-1")
    if not body.startswith(delimiter):
        # A preamble before the first boundary is legal; skip it.
        start = body.find(b"\r\n" + delimiter)
        if start < 0:
            raise MultipartError("the body does not contain the declared multipart boundary")
        body = body[start + 2 :]
    fields: List[Tuple[str, str]] = []
    files: List[FilePart] = []
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0][len(delimiter) :]
    pieces = [first, *chunks[1:]]
    closed = False
    for piece in pieces:
        if piece.startswith(b"--"):
            closed = True
            break
        if not piece.startswith(b"\r\n"):
            raise MultipartError("a multipart boundary is not followed by a line break")
        head, sep, content = piece[2:].partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a multipart part has no blank line after its headers")
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("content-disposition")
        if disposition is None:
            raise MultipartError("a multipart part has no Content-Disposition header")
        probe = Message()
        probe["content-disposition"] = disposition
        name = probe.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise MultipartError("a multipart part has no field name")
        filename = probe.get_param("filename", header="content-disposition")
        if isinstance(filename, str):
            files.append(FilePart(name, filename, headers.get("content-type"), content))
        else:
            charset = headers.get_content_charset() or "utf-8"
            try:
                fields.append((name, content.decode(charset)))
            except (LookupError, UnicodeDecodeError):
                raise MultipartError(f"the form field {name!r} is not valid {charset} text") from None
    if not closed:
        raise MultipartError("the multipart body is not terminated by its closing boundary")
    return fields, files
