"""The base class of the generated async resources (apertis/_async/resources)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base_client import AsyncAPIClient

__all__ = ["AsyncAPIResource"]


class AsyncAPIResource:
    """A group of endpoints (`client.chat.completions`, `client.models`, ...) bound to the client that calls them.

    No `__slots__`: sub-resources are `functools.cached_property` attributes, which need an instance dict.
    """

    _client: AsyncAPIClient

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client
