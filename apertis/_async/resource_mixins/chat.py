"""Hand-written methods of `client.chat.completions` (the generated AsyncCompletions inherits
AsyncCompletionsMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from .._stream_helpers import AsyncChatCompletionStreamManager
    from .._streaming import AsyncChatCompletionStream
    from ..resources.chat import AsyncCompletions

__all__ = ["AsyncCompletionsMixin"]


class AsyncCompletionsMixin(AsyncAPIResource):
    """`stream`: openai-python's streaming helper."""

    # --- stream-helpers: `stream` (openai-python's `chat.completions.stream`) ---

    def stream(self: AsyncCompletions, **params: Any) -> AsyncChatCompletionStreamManager:  # type: ignore[misc]
        """Stream a chat completion as openai-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `chat.completions.create` (without `stream`, which is implied). The request is sent
        when the block is entered; the block yields an event stream (`chunk`, `content.delta` with `.delta` and
        `.snapshot`, `content.done`, `refusal.*`, `tool_calls.function.arguments.delta` / `.done`) with
        `get_final_completion()`, `until_done()` and `current_completion_snapshot`; leaving it closes the stream.

        ```python
        with client.chat.completions.stream(model="gpt-4.1-mini", messages=messages) as stream:
            for event in stream:
                if event.type == "content.delta":
                    print(event.delta, end="")
            completion = stream.get_final_completion()
        ```
        """
        from .._stream_helpers import AsyncChatCompletionStreamManager

        if "stream" in params:
            raise TypeError(
                "chat.completions.stream() always streams: drop the `stream` argument (or call create(stream=...))"
            )

        async def open_stream() -> AsyncChatCompletionStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncChatCompletionStream = await self.create(**params, stream=True)
            return stream

        return AsyncChatCompletionStreamManager(open_stream)

    # --- end stream-helpers ---
