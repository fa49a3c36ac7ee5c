"""Hand-written methods of `client.responses` (the generated AsyncResponses inherits AsyncResponsesMixin): `stream`,
openai-python's streaming helper, and `parse`, structured outputs (the logic is in apertis/_parse.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Type, TypeVar, cast, overload

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._parsed_types import ParsedResponse
    from ...types.response import Response
    from .._raw_response import AsyncAPIResponse, AsyncResponseContextManager
    from .._stream_helpers import AsyncParsedResponseStreamManager, AsyncResponseStreamManager
    from .._streaming import AsyncResponseStream
    from ..resources.responses import AsyncResponses, ResponseStreamParams

__all__ = ["AsyncResponsesMixin", "AsyncResponsesRawMixin", "AsyncResponsesStreamingMixin"]

ContentT = TypeVar("ContentT")


class AsyncResponsesMixin(AsyncAPIResource):
    """`stream` and `parse`, as openai-python's `responses.stream` and `responses.parse`."""

    @overload
    def stream(
        self, *, text_format: Type[ContentT], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> AsyncParsedResponseStreamManager[ContentT]: ...
    @overload
    def stream(self, **params: Unpack[ResponseStreamParams]) -> AsyncResponseStreamManager: ...
    def stream(self, **params: Any) -> AsyncResponseStreamManager:
        """Stream a response as openai-python's helper does: `async with` the result (`with` on Apertis).

        Takes the arguments of `responses.create` (without `stream`, which is implied), and `text_format` and
        `strict` as `parse` takes them. The request is sent when the block is entered; the block yields every
        event of the API, with `output_text` (the text so far: with a `text_format`, the JSON as it grows),
        `get_final_response()` (with a `text_format`, a ParsedResponse with `output_parsed`), `until_done()`;
        leaving it closes the stream.

        ```python
        with client.responses.stream(model="gpt-4.1-mini", input="Hi") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    print(event.delta, end="")
            response = stream.get_final_response()
        ```
        """
        from ..._parse import responses_request
        from .._stream_helpers import AsyncParsedResponseStreamManager, AsyncResponseStreamManager

        if "stream" in params:
            raise TypeError(
                "responses.stream() always streams: drop the `stream` argument (or call create(stream=...))"
            )
        strict = params.pop("strict", True)
        text_format = params.pop("text_format", None)
        fmt = None
        if text_format is not None:
            params["text"], fmt = responses_request(text_format, strict=strict, text=params.get("text"))
        resource = cast("AsyncResponses", self)

        async def open_stream() -> AsyncResponseStream:
            # `params` is untyped, so mypy cannot pick create's overload: stream=True is the streaming one.
            stream: AsyncResponseStream = await resource.create(**params, stream=True)
            return stream

        if fmt is None:
            return AsyncResponseStreamManager(open_stream)
        return AsyncParsedResponseStreamManager(open_stream, fmt)

    @overload
    async def parse(
        self, *, text_format: Type[ContentT], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> ParsedResponse[ContentT]: ...
    @overload
    async def parse(
        self, *, text_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> ParsedResponse[Any]: ...
    async def parse(self, *, text_format: Any, strict: bool = True, **params: Any) -> ParsedResponse[Any]:
        """A response whose output text is read as `text_format`: `output_parsed` is the object.

        `text_format` is a Pydantic model, a dataclass or a TypedDict (read by Pydantic: `apertis[pydantic]`), or a
        JSON-schema dict (`output_parsed` is the decoded JSON, validated when `jsonschema` is installed). It is sent
        as `text.format` (`{"type": "json_schema", ...}`, strict unless `strict=False`); other `text` options such
        as `verbosity` are kept. The other arguments are those of `create` (without `stream`: use `stream(...)`).

        `output_parsed` is None when the model refused (a `refusal` content part). Raises
        StructuredOutputValidationError for output that does not validate, LengthFinishReasonError for a response
        left incomplete at `max_output_tokens` (ContentFilterFinishReasonError for `content_filter`).
        """
        from ..._parse import check_responses_params, parsed_response, responses_request

        check_responses_params(params)
        params["text"], fmt = responses_request(text_format, strict=strict, text=params.get("text"))
        resource = cast("AsyncResponses", self)
        response: Response = await resource.create(**params)
        return self._then(response, lambda response: parsed_response(response, fmt))


class AsyncResponsesRawMixin:
    """`parse` for `client.responses.with_raw_response` (the generated wrapper inherits it)."""

    _calls: AsyncResponses

    @overload
    async def parse(
        self, *, text_format: Type[ContentT], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> AsyncAPIResponse[ParsedResponse[ContentT]]: ...
    @overload
    async def parse(
        self, *, text_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> AsyncAPIResponse[ParsedResponse[Any]]: ...
    async def parse(self, **params: Any) -> AsyncAPIResponse[ParsedResponse[Any]]:
        """`responses.parse`, returning the raw response (`headers`, `status_code`, `request_id`, ...): its
        `parse()` gives the ParsedResponse and raises what the plain `parse` raises."""
        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return await calls.parse(**params)  # type: ignore[no-any-return]


class AsyncResponsesStreamingMixin:
    """`parse` for `client.responses.with_streaming_response` (the generated wrapper inherits it)."""

    _calls: AsyncResponses

    @overload
    def parse(
        self, *, text_format: Type[ContentT], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedResponse[ContentT]]]: ...
    @overload
    def parse(
        self, *, text_format: Mapping[str, Any], strict: bool = True, **params: Unpack[ResponseStreamParams]
    ) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedResponse[Any]]]: ...
    def parse(self, **params: Any) -> AsyncResponseContextManager[AsyncAPIResponse[ParsedResponse[Any]]]:
        """`responses.parse` as a context manager: `async with` it to send the call and get the raw response with
        its body unread; its `parse()` gives the ParsedResponse and raises what the plain `parse` raises."""
        from .._raw_response import AsyncResponseContextManager

        calls: Any = self._calls  # its parse returns the raw response (`_then` of the resource base class)
        return AsyncResponseContextManager(lambda: calls.parse(**params))
