"""Hand-written methods of `client.messages` (the generated AsyncMessages inherits AsyncMessagesMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from .._stream_helpers import AsyncMessageStreamManager
    from .._streaming import AsyncMessageStream
    from ..resources.messages import AsyncMessages

__all__ = ["AsyncMessagesMixin"]


class AsyncMessagesMixin(AsyncAPIResource):
    """`stream`: anthropic-sdk-python's streaming helper."""

    def stream(self: AsyncMessages, **params: Any) -> AsyncMessageStreamManager:  # type: ignore[misc]
        """Stream a message as anthropic-sdk-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `messages.create` (without `stream`, which is implied). The request is sent when
        the block is entered; the block yields an event stream (every API event, plus `text`, `thinking`,
        `signature` and `input_json` events) with `text_stream`, `get_final_message()`, `get_final_text()`,
        `until_done()` and `current_message_snapshot`; leaving it closes the stream. An `anthropic-version`
        header (in `extra_headers` or the client's `default_headers`) is sent and the gateway ignores it.

        ```python
        with client.messages.stream(model="claude-sonnet-4.5", max_tokens=1024, messages=messages) as stream:
            for text in stream.text_stream:
                print(text, end="")
            message = stream.get_final_message()
        ```
        """
        from .._stream_helpers import AsyncMessageStreamManager

        if "stream" in params:
            raise TypeError("messages.stream() always streams: drop the `stream` argument (or call create(stream=...))")

        async def open_stream() -> AsyncMessageStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncMessageStream = await self.create(**params, stream=True)
            return stream

        return AsyncMessageStreamManager(open_stream)
