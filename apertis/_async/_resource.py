"""The base class of the generated async resources (apertis/_async/resources)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from ._base_client import AsyncAPIClient

__all__ = ["AsyncAPIResource"]

ResultT = TypeVar("ResultT")
FinalT = TypeVar("FinalT")


class AsyncAPIResource:
    """A group of endpoints (`client.chat.completions`, `client.models`, ...) bound to the client that calls them.

    No `__slots__`: sub-resources are `functools.cached_property` attributes, which need an instance dict.
    """

    _client: AsyncAPIClient

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    def _then(self, result: ResultT, finish: Callable[[ResultT], FinalT]) -> FinalT:
        """`finish(result)`: what a hand-written method makes of the generated method's result (`parse` builds the
        Parsed* object). Under `with_raw_response` the result is the raw response, and `finish` runs in its
        `parse()` instead, so the raw call's `parse()` gives exactly what the plain method returns."""
        if getattr(self._client, "_raw_mode", None) is None:
            return finish(result)
        raw: Any = result
        raw._then(finish)
        return raw  # type: ignore[no-any-return]  # the raw wrapper types it as APIResponse[FinalT]
