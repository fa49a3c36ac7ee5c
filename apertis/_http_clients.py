"""`DefaultHttpxClient` / `DefaultAsyncHttpxClient`: httpx clients with the SDK's defaults, named as in openai-python.

For `http_client=` when you need what only your own httpx client gives (a proxy, a custom transport, event hooks)
but want the timeouts, pool limits, redirect policy and TLS set-up the SDK uses for the pool it creates.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._constants import DEFAULT_CONNECTION_LIMITS, DEFAULT_TIMEOUT
from ._tls import default_ssl_context

__all__ = ["DefaultAsyncHttpxClient", "DefaultHttpxClient"]


def _with_sdk_defaults(options: dict[str, Any]) -> dict[str, Any]:
    # Redirects are not followed, as in the SDK's own pool: following one would turn a POST into a GET.
    options.setdefault("timeout", DEFAULT_TIMEOUT)
    options.setdefault("limits", DEFAULT_CONNECTION_LIMITS)
    options.setdefault("follow_redirects", False)
    options.setdefault("verify", default_ssl_context())
    return options


class DefaultHttpxClient(httpx.Client):
    """An `httpx.Client` whose defaults are the SDK's: 600 s reads and writes, 5 s to connect, 1000 connections
    (100 kept alive), no redirects, and the SDK's TLS context (certificates loaded at the first handshake).

    Every httpx argument is accepted and overrides the default, so
    `Apertis(http_client=DefaultHttpxClient(proxy="http://proxy:8080"))` changes only the proxy. The SDK does not
    close a client you pass it: close it yourself (or use it as a context manager).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**_with_sdk_defaults(options))


class DefaultAsyncHttpxClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose defaults are the SDK's (see `DefaultHttpxClient`), for
    `AsyncApertis(http_client=DefaultAsyncHttpxClient(proxy=...))`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**_with_sdk_defaults(options))
