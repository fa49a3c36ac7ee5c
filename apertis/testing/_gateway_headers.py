"""The headers the Apertis gateway adds to its answers (X-Actual-Model, X-Fallback-*, X-Compression-*,
X-RateLimit-*), deterministic, so that what `result._gateway` shows offline is what the gateway would say.

Fallback: a request whose primary model id contains `unavailable` (`gpt-unavailable`) and that enables fallback
is served by its first fallback model; any other with fallback configured is served by the primary
(`X-Fallback-Used: false`). Compression: applied when the conversation is at least `threshold` tokens (server
default 8000), else reported as not cost-effective.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Dict, Mapping, Tuple

__all__ = ["PlausibleRateLimit", "compression_headers", "served_model"]

UNAVAILABLE_MARK = "unavailable"


def served_model(body: Mapping[str, Any], primary: str) -> Tuple[str, Dict[str, str]]:
    """The model that serves a request asking for `primary`, and the X-Fallback-* headers saying so."""
    fallbacks = body.get("fallback_models")
    if not body.get("fallback_enabled") or not isinstance(fallbacks, list) or not fallbacks:
        return primary, {}
    if UNAVAILABLE_MARK in primary:
        served = str(fallbacks[0])
        return served, {
            "x-fallback-used": "true",
            "x-fallback-from": primary,
            "x-fallback-reason": "primary_model_failed",
        }
    return primary, {"x-fallback-used": "false"}


def compression_headers(body: Mapping[str, Any], prompt_tokens: int) -> Dict[str, str]:
    """The X-Compression-* headers of a request that enabled compression (none otherwise)."""
    config = body.get("compression")
    if not isinstance(config, Mapping) or config.get("enabled") is not True:
        return {}
    threshold = config.get("threshold")
    threshold = threshold if isinstance(threshold, int) and not isinstance(threshold, bool) else 8000
    if prompt_tokens < threshold:
        return {
            "x-compression-applied": "false",
            "x-compression-error": "compression-not-cost-effective",
            "x-compression-message": f"The conversation ({prompt_tokens} tokens) is below the threshold ({threshold})",
        }
    final = max(1, prompt_tokens // 6)
    return {
        "x-compression-applied": "true",
        "x-compression-original-tokens": str(prompt_tokens),
        "x-compression-final-tokens": str(final),
        "x-compression-savings": f"{round(100 * (1 - final / prompt_tokens))}%",
    }


class PlausibleRateLimit:
    """The X-RateLimit-* headers of a server that enforces no limit: 1500 requests a minute (the documented
    example value), counted, so `remaining` goes down from one call to the next as on the gateway."""

    limit = 1500
    window = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = 0.0
        self._used = 0

    def headers(self) -> Dict[str, str]:
        now = time.time()
        with self._lock:
            if now >= self._start + self.window:
                self._start, self._used = math.floor(now / self.window) * self.window, 0
            self._used = min(self.limit, self._used + 1)
            used, reset = self._used, self._start + self.window
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.limit - used),
            "x-ratelimit-reset": str(math.ceil(reset)),
        }
