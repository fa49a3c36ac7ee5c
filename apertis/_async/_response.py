"""Binary response bodies (speech audio, video content)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, AsyncIterator, Optional, Union

import httpx

from .._binary_aliases import AsyncIterBytesAlias

if TYPE_CHECKING:
    from .._gateway import GatewayInfo

__all__ = ["AsyncBinaryResponse"]


class AsyncBinaryResponse(AsyncIterBytesAlias):
    """A binary body returned by the API, already read in full (so a failure while reading was retried).

    `content` is the bytes, `response` the `httpx.Response` (headers, status), `retries_taken` how many retries
    the call needed. `write_to_file(path)` saves it; `aiter_bytes()` yields it in chunks.
    """

    __slots__ = ("response", "retries_taken")

    def __init__(self, response: httpx.Response, *, retries_taken: int = 0) -> None:
        self.response = response
        self.retries_taken = retries_taken

    @property
    def _request_id(self) -> Optional[str]:
        """The request id of the response (`x-request-id`), for support requests (as on a returned model)."""
        return self._gateway.request_id

    @property
    def _gateway(self) -> GatewayInfo:
        """What the Apertis gateway reported about the call in the response headers (see apertis.GatewayInfo)."""
        from .._gateway import GatewayInfo

        return GatewayInfo(self.response.headers, self.retries_taken)

    @property
    def content(self) -> bytes:
        """The whole body."""
        return self.response.content

    @property
    def content_type(self) -> Optional[str]:
        """The media type the server declared (e.g. `audio/mpeg`), or None."""
        value: Optional[str] = self.response.headers.get("content-type")
        return value

    async def aiter_bytes(self, chunk_size: Optional[int] = None) -> AsyncIterator[bytes]:
        """The body in chunks of `chunk_size` bytes (one chunk when None)."""
        # The body is in memory already: slicing it avoids httpx's decoder machinery and works after close().
        content = self.response.content
        size = chunk_size if chunk_size and chunk_size > 0 else max(len(content), 1)
        for start in range(0, len(content), size):
            yield content[start : start + size]

    def write_to_file(self, file: Union[str, os.PathLike[str]]) -> None:
        """Write the body to the file at `file` (created or truncated)."""
        with open(file, "wb") as handle:
            handle.write(self.response.content)

    async def close(self) -> None:
        """Release the response. The body is already read, so this never touches the network."""
        await self.response.aclose()

    async def __aenter__(self) -> AsyncBinaryResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} [{self.response.status_code}] "
            f"{self.content_type or 'unknown type'}, {len(self.response.content)} bytes>"
        )
