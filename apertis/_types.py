"""Sentinels and type aliases shared by the runtime and the generated code."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Literal, Mapping, Optional, Tuple, Union, final

import httpx

# typing_extensions only for the type checker: `import apertis` and a first call do not load it.
if TYPE_CHECKING:
    from typing_extensions import TypeAlias

__all__ = [
    "NOT_GIVEN",
    "Body",
    "FileContent",
    "FileTypes",
    "Headers",
    "NotGiven",
    "Query",
    "Timeout",
    "Transport",
]


@final
class NotGiven:
    """The type of `NOT_GIVEN`: an argument the caller left out (arguments only; a response field the server did
    not send reads as None).

    It is distinct from `None`, which some fields and arguments accept as a real value (`timeout=None` means
    "no time limit", not "use the default").
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        # One instance, so `is NOT_GIVEN` works after copy and pickling.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"

    def __copy__(self) -> NotGiven:
        return self

    def __deepcopy__(self, memo: object) -> NotGiven:
        return self


NOT_GIVEN = NotGiven()


Timeout: TypeAlias = Union[float, httpx.Timeout, None]
"""A total timeout in seconds, an `httpx.Timeout` for per-phase limits, or `None` for no limit at all."""

Transport: TypeAlias = Literal["httpx", "aiohttp"]
"""The HTTP library under the pool the SDK creates: httpx's own (the default), or aiohttp (async client only)."""

Headers: TypeAlias = Mapping[str, Optional[str]]
"""Extra headers; a value of `None` removes a header the client would otherwise send."""

Query: TypeAlias = Mapping[str, object]
Body: TypeAlias = Mapping[str, object]

FileContent: TypeAlias = Union[IO[bytes], bytes]
FileTypes: TypeAlias = Union[
    "os.PathLike[str]",
    str,
    FileContent,
    Tuple[Optional[str], FileContent],
    Tuple[Optional[str], FileContent, Optional[str]],
]
"""An upload: a path, bytes, a binary file object, or a (filename, content[, content type]) tuple."""
