"""Hand-written methods of `client.models` (the generated AsyncModels inherits AsyncModelsMixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from ..._exceptions import NotFoundError
from ..._types import NOT_GIVEN, Body, Headers, NotGiven, Query
from ..._validation import unexpected_arguments
from .._resource import AsyncAPIResource

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Never

    from ..resources.models import AsyncModels

__all__ = ["AsyncModelsMixin"]


class AsyncModelsMixin(AsyncAPIResource):
    """`exists`: whether the calling key may use a model."""

    # `self: AsyncModels` types the generated methods this one calls. mypy wants the ignore for a self type that
    # is a subclass, and still checks the body and every call against AsyncModels.
    async def exists(  # type: ignore[misc]
        self: AsyncModels,
        model: str,
        *,
        extra_headers: Optional[Headers] = None,
        extra_query: Optional[Query] = None,
        extra_body: Optional[Body] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
        **unexpected: Never,
    ) -> bool:
        """Whether the calling key may use `model`: one `models.retrieve` call, without raising for a missing model.

        False when the API answers 404 `model_not_found`: an unknown id, or a model outside a subscription key's
        plan. Every other error is raised as `models.retrieve` raises it (including a 404 with another code, such
        as a deployment that does not serve this endpoint), so False always means "the API said no such model".

        Args:
            model: The model id, such as `gpt-4o` or `BAAI/bge-reranker-v2-m3`.
            extra_headers: Headers to add to this request; a None value removes a header the client would send.
            extra_query: Query parameters to add to this request.
            extra_body: Fields to merge into the top level of the request body.
            timeout: Timeout of this request in seconds (or an httpx.Timeout for per-phase limits), overriding the
                client's; None means no limit at all.
            total_timeout: Seconds for the whole call (all attempts and the waits between them), overriding the
                client's; None means no such budget.
        """
        if unexpected:
            raise unexpected_arguments(self.exists, "models.exists", unexpected)
        try:
            await self.retrieve(
                model,
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                total_timeout=total_timeout,
            )
        except NotFoundError as exc:
            if exc.code == "model_not_found":
                return False
            raise
        return True
