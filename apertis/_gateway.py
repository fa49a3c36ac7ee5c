"""What the Apertis gateway says about a call, read from the response headers (`_gateway` on results).

The gateway reports in headers what the body cannot: the model that actually served (and was billed) after a
fallback, whether web search and context compression ran, the rate-limit window, the request id. `GatewayInfo`
reads them on demand from the response's headers, which the result already references: nothing is parsed on a
call whose caller never looks.
"""

from __future__ import annotations

from typing import Mapping, Optional

import attrs

__all__ = ["CompressionInfo", "FallbackInfo", "GatewayInfo", "RateLimitInfo", "WebSearchInfo"]


@attrs.frozen
class FallbackInfo:
    """The request-level fallback of a call that configured `fallback_models` (`X-Fallback-*`).

    `used` tells whether a fallback model served; `from_model` is the model asked for and `reason` why it was
    replaced (e.g. `primary_model_failed`), both None when the primary served.
    """

    used: bool
    from_model: Optional[str]
    reason: Optional[str]


@attrs.frozen
class WebSearchInfo:
    """The gateway web search of a `:web` model (`X-Web-Search-*`).

    `status` is `success`, `failed` or `no_results` (the last two answered without search); `count` the number
    of results retrieved.
    """

    used: bool
    count: Optional[int]
    status: Optional[str]


@attrs.frozen
class CompressionInfo:
    """The context compression of a call that enabled it (`X-Compression-*`).

    When `applied`, `original_tokens`, `final_tokens` and `savings` (a percentage string such as `84%`) describe
    it; when skipped, `error` (`compression-not-cost-effective`, ...) and `message` say why.
    """

    applied: bool
    original_tokens: Optional[int]
    final_tokens: Optional[int]
    savings: Optional[str]
    error: Optional[str]
    message: Optional[str]


@attrs.frozen
class RateLimitInfo:
    """The rate-limit window (`X-RateLimit-*`): requests allowed, requests left, and when it resets (Unix seconds)."""

    limit: Optional[int]
    remaining: Optional[int]
    reset: Optional[int]


class GatewayInfo:
    """What the gateway reported about one call. Every field is None when the response did not carry it.

    Reach it as `result._gateway` on what a method returned (completions, streams, binary responses; the leading
    underscore keeps it apart from any field the API may add, as openai-python's `_request_id`), or as
    `response.gateway` on a raw response.

        completion = client.chat.completions.create(model="gpt-4.1-mini", messages=[...],
                                                    fallback_models=["claude-sonnet-4.5"], fallback_enabled=True)
        gateway = completion._gateway
        gateway.actual_model          # 'claude-sonnet-4.5' when the fallback served (and was billed)
        gateway.fallback              # FallbackInfo(used=True, from_model='gpt-4.1-mini', reason=...)
        gateway.rate_limit.remaining  # requests left in the window
    """

    __slots__ = ("headers", "retries_taken")

    def __init__(self, headers: Mapping[str, str], retries_taken: int = 0) -> None:
        self.headers = headers
        """The response headers, for anything the gateway sends that has no attribute here."""
        self.retries_taken = retries_taken
        """How many times the SDK retried the call (0: the first attempt succeeded)."""

    def _get(self, name: str) -> Optional[str]:
        value = self.headers.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def _int(self, name: str) -> Optional[int]:
        value = self._get(name)
        try:
            return None if value is None else int(value)
        except ValueError:
            return None

    def _flag(self, name: str) -> bool:
        return (self._get(name) or "").lower() == "true"

    @property
    def request_id(self) -> Optional[str]:
        """The request id (`x-request-id`, or an Anthropic upstream's `request-id`), for support requests."""
        return self._get("x-request-id") or self._get("request-id")

    @property
    def actual_model(self) -> Optional[str]:
        """The model that served the call and was billed (`X-Actual-Model`): another one after a fallback."""
        return self._get("x-actual-model")

    @property
    def fallback(self) -> Optional[FallbackInfo]:
        """The fallback outcome (`X-Fallback-Used`, `-From`, `-Reason`), or None when fallback was not configured."""
        if self._get("x-fallback-used") is None:
            return None
        return FallbackInfo(
            used=self._flag("x-fallback-used"),
            from_model=self._get("x-fallback-from"),
            reason=self._get("x-fallback-reason"),
        )

    @property
    def web_search(self) -> Optional[WebSearchInfo]:
        """The web search outcome (`X-Web-Search-Used`, `-Count`, `-Status`), or None for a model without `:web`."""
        if self._get("x-web-search-used") is None:
            return None
        return WebSearchInfo(
            used=self._flag("x-web-search-used"),
            count=self._int("x-web-search-count"),
            status=self._get("x-web-search-status"),
        )

    @property
    def compression(self) -> Optional[CompressionInfo]:
        """The context compression outcome (`X-Compression-*`), or None when compression was not enabled."""
        if self._get("x-compression-applied") is None:
            return None
        return CompressionInfo(
            applied=self._flag("x-compression-applied"),
            original_tokens=self._int("x-compression-original-tokens"),
            final_tokens=self._int("x-compression-final-tokens"),
            savings=self._get("x-compression-savings"),
            error=self._get("x-compression-error"),
            message=self._get("x-compression-message"),
        )

    @property
    def rate_limit(self) -> Optional[RateLimitInfo]:
        """The rate-limit window (`X-RateLimit-Limit`, `-Remaining`, `-Reset`), or None when not reported."""
        limit, remaining, reset = (
            self._int("x-ratelimit-limit"),
            self._int("x-ratelimit-remaining"),
            self._int("x-ratelimit-reset"),
        )
        if limit is None and remaining is None and reset is None:
            return None
        return RateLimitInfo(limit=limit, remaining=remaining, reset=reset)

    def __repr__(self) -> str:
        parts = [
            f"{name}={value!r}"
            for name in ("request_id", "actual_model", "fallback", "web_search", "compression", "rate_limit")
            for value in (getattr(self, name),)
            if value is not None
        ]
        parts.append(f"retries_taken={self.retries_taken}")
        return f"GatewayInfo({', '.join(parts)})"


_NO_HEADERS: Mapping[str, str] = {}


def gateway_info(headers: Optional[Mapping[str, str]], retries_taken: int) -> GatewayInfo:
    """The GatewayInfo of a response's headers (an empty one for an object that came from no response)."""
    return GatewayInfo(_NO_HEADERS if headers is None else headers, retries_taken)
