"""Hand-written methods of `client.responses` (the generated AsyncResponses inherits AsyncResponsesMixin): `parse`,
structured outputs (the logic is in apertis/_parse.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Type, TypeVar, cast, overload

from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    from ..._parsed_types import ParsedResponse
    from ...types.response import Response
    from ..resources.responses import AsyncResponses

__all__ = ["AsyncResponsesMixin"]

ContentT = TypeVar("ContentT")


class AsyncResponsesMixin(AsyncAPIResource):
    """`parse`: structured outputs, as openai-python's `responses.parse`."""

    @overload
    async def parse(
        self, *, text_format: Type[ContentT], strict: bool = True, **params: Any
    ) -> ParsedResponse[ContentT]: ...
    @overload
    async def parse(
        self, *, text_format: Mapping[str, Any], strict: bool = True, **params: Any
    ) -> ParsedResponse[Any]: ...
    async def parse(self, *, text_format: Any, strict: bool = True, **params: Any) -> ParsedResponse[Any]:
        """A response whose output text is read as `text_format`: `output_parsed` is the object.

        `text_format` is a Pydantic model, a dataclass or a TypedDict (read by Pydantic: `apertis[pydantic]`), or a
        JSON-schema dict (`output_parsed` is the decoded JSON, validated when `jsonschema` is installed). It is sent
        as `text.format` (`{"type": "json_schema", ...}`, strict unless `strict=False`); other `text` options such
        as `verbosity` are kept. The other arguments are those of `create` (without `stream`).

        `output_parsed` is None when the model refused (a `refusal` content part). Raises
        StructuredOutputValidationError for output that does not validate, LengthFinishReasonError for a response
        left incomplete at `max_output_tokens` (ContentFilterFinishReasonError for `content_filter`).
        """
        from ..._parse import check_responses_params, parsed_response, responses_request

        check_responses_params(params)
        params["text"], fmt = responses_request(text_format, strict=strict, text=params.get("text"))
        resource = cast("AsyncResponses", self)
        response: Response = await resource.create(**params)
        return parsed_response(response, fmt)
