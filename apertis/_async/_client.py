"""`AsyncApertis`: the client users construct."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

import httpx

# typing_extensions only for the type checker: `import apertis` and a first call do not load it.
if TYPE_CHECKING:
    from typing_extensions import Never

    from .._limiter import RateLimiter
    from .._observe import Hooks, Observers, Tracing

from .._constants import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    TRACING_ENV,
)
from .._logging import setup_logging
from .._types import NOT_GIVEN, NotGiven, Transport
from .._utils import AsyncRuntime, check_header
from ._base_client import AsyncAPIClient, coerce_timeout, coerce_total_timeout
from .resources import AsyncResourcesMixin

__all__ = ["AsyncApertis"]

# What httpx uses when nobody chose a timeout; an http_client with anything else was configured on purpose.
_HTTPX_DEFAULT_TIMEOUT = httpx.Timeout(5.0)


class AsyncApertis(AsyncResourcesMixin, AsyncAPIClient):
    """The client of the Apertis AI API.

    Resources hang off it (`client.chat.completions.create(...)`, `client.models.list()`, ...). Use it as a
    context manager, or call `close()` when done, to release its connections.

    Arguments (all keyword-only):

    - `api_key`: defaults to the APERTIS_API_KEY environment variable; one of the two is required.
    - `base_url`: defaults to APERTIS_BASE_URL, then https://api.apertis.ai/v1.
    - `timeout`: seconds (float), an `httpx.Timeout` for per-phase limits, or None for no limit at all. The
      default allows 600 s for reads and writes (long generations) and 5 s to connect. It bounds each attempt.
    - `total_timeout`: seconds for the whole call, all attempts and the waits between them (default None: no such
      budget). Each attempt ends by the deadline, a retry that would start past it is not made, and the gateway is
      told the remaining budget (`X-Timeout`) so that it stops its own retries and fallbacks in time. A stream's
      budget covers its opening (the response headers), not its events.
    - `max_retries`: retries after the first attempt for 408, 409, 429, 5xx and network failures (default 2).
    - `max_retry_after`: a server asking to wait longer than this many seconds (Retry-After) makes the call
      raise at once instead of sleeping (default 60).
    - `default_headers`, `default_query`: sent with every request; a header value of None removes a header.
    - `http_client`: your own `httpx.AsyncClient`, for proxies or transports. The SDK never closes a client it
      did not create.
    - `connection_limits`: an `httpx.Limits` for the pool the SDK creates (default: 1000 connections, 100 kept
      alive), for when `http_client` is not given.
    - `transport`: the HTTP library under the pool the SDK creates: "httpx" (the default, httpx's own pool) or
      "aiohttp" (needs `pip install "apertis[aiohttp]"`; the async client only), which costs much less CPU per call
      with many calls in flight. The SDK creates, owns and closes that aiohttp client like its httpx one, with the
      same timeouts, limits and TLS settings; README, "The aiohttp transport", says what else changes.
    - `hooks`: an `apertis.Hooks` of functions called before each attempt, after each response, before each retry
      and on each error (see README, "Observability"); `with_options()` copies share them.
    - `tracing`: True (or an `apertis.Tracing` with a tracer provider or `capture_content=True`) records an
      OpenTelemetry span per call; needs `apertis[otel]`. None (the default) follows APERTIS_TRACING=1.
    - `limiter`: an `apertis.RateLimiter` (or True for one with the defaults) that keeps the calls within the key's
      limits: a cap on concurrent calls and the request budget learned from the server's rate-limit headers and
      429s (see RateLimiter). It is shared by every task and thread using the client and by its `with_options`
      copies; pass the same one to several clients to share it between them. Default None: no limiter.

    The client is safe to share between tasks (and the sync client between threads); `with_options()` makes a
    variant that shares the connection pool. An async client whose pool the SDK created may be used from one
    event loop after another (several `asyncio.run()` calls): on a new loop it opens fresh connections. With your
    own `http_client` it raises EventLoopMismatchError (also a RuntimeError) instead, as that client's connections
    belong to the first loop. Likewise after `os.fork()`: in the child, a pool the SDK created starts afresh and the
    parent's connections are left to the parent, while your own `http_client` raises ForkedHTTPClientError.
    """

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Optional[float] = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        default_headers: Optional[Mapping[str, Optional[str]]] = None,
        default_query: Optional[Mapping[str, object]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        connection_limits: Optional[httpx.Limits] = None,
        transport: Transport = "httpx",
        hooks: Optional[Hooks] = None,
        tracing: Union[bool, Tracing, None] = None,
        limiter: Union[RateLimiter, bool, None] = None,
        **unexpected: Never,
    ) -> None:
        if unexpected:
            from .._validation import OPENAI_CLIENT_ARGUMENTS, unexpected_arguments

            raise unexpected_arguments(
                type(self).__init__,
                type(self).__name__,
                unexpected,
                api_call=False,
                known_absent=OPENAI_CLIENT_ARGUMENTS,
            )
        setup_logging()
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(
                f"http_client must be an httpx.{httpx.AsyncClient.__name__}, got {type(http_client).__name__}"
            )
        if isinstance(timeout, NotGiven):
            if http_client is not None and http_client.timeout != _HTTPX_DEFAULT_TIMEOUT:
                resolved_timeout = http_client.timeout
            else:
                from .._constants import DEFAULT_TIMEOUT

                resolved_timeout = DEFAULT_TIMEOUT
        else:
            resolved_timeout = coerce_timeout(timeout)
        if connection_limits is not None:
            if not isinstance(connection_limits, httpx.Limits):
                raise TypeError(f"connection_limits must be an httpx.Limits, got {type(connection_limits).__name__}")
            if http_client is not None:
                raise ValueError(
                    "connection_limits applies to the pool the SDK creates; with your own http_client, "
                    "set limits= on that client instead"
                )
        transport = AsyncRuntime.check_transport(transport)
        if transport != "httpx" and http_client is not None:
            raise ValueError(
                f"transport={transport!r} chooses the HTTP library of the pool the SDK creates; with your own "
                "http_client, omit transport (or omit http_client and let the SDK create and close the pool)"
            )
        super().__init__(
            api_key=_resolve_api_key(api_key),
            base_url=_resolve_base_url(base_url),
            timeout=resolved_timeout,
            total_timeout=coerce_total_timeout(total_timeout),
            max_retries=_check_max_retries(max_retries),
            max_retry_after=_check_max_retry_after(max_retry_after),
            default_headers=_check_headers(default_headers, "default_headers"),
            default_query=_check_query(default_query),
            http_client=http_client,
            owns_http_client=http_client is None,
            connection_limits=connection_limits,
            transport=transport,
            observers=_observers(hooks, tracing),
            limiter=_resolve_limiter(limiter),
        )

    if not TYPE_CHECKING:
        # Only for the error: type checkers must keep seeing a client without arbitrary attributes.
        def __getattr__(self, name: str) -> Any:
            from .._validation import missing_openai_resource

            raise missing_openai_resource(self, name)

    def with_options(
        self,
        *,
        api_key: Union[str, NotGiven] = NOT_GIVEN,
        base_url: Union[str, NotGiven] = NOT_GIVEN,
        timeout: Union[float, httpx.Timeout, NotGiven, None] = NOT_GIVEN,
        total_timeout: Union[float, NotGiven, None] = NOT_GIVEN,
        max_retries: Union[int, NotGiven] = NOT_GIVEN,
        max_retry_after: Union[float, NotGiven] = NOT_GIVEN,
        default_headers: Union[Mapping[str, Optional[str]], NotGiven] = NOT_GIVEN,
        default_query: Union[Mapping[str, object], NotGiven] = NOT_GIVEN,
        http_client: Union[httpx.AsyncClient, NotGiven] = NOT_GIVEN,
        hooks: Union[Hooks, NotGiven, None] = NOT_GIVEN,
        tracing: Union[bool, Tracing, NotGiven, None] = NOT_GIVEN,
        **unexpected: Never,
    ) -> AsyncApertis:
        """A copy of this client with some settings changed, sharing its connection pool.

        `client.with_options(timeout=10, max_retries=0).chat.completions.create(...)` changes one call's
        settings without touching `client`. Headers and query parameters are merged into the current ones (a
        None header value removes one). The copy never closes the shared pool; closing the original does.
        """
        if unexpected:
            from .._validation import OPENAI_CLIENT_ARGUMENTS, unexpected_arguments

            raise unexpected_arguments(
                self.with_options, "with_options", unexpected, api_call=False, known_absent=OPENAI_CLIENT_ARGUMENTS
            )
        headers: dict[str, Optional[str]] = dict(self._default_headers)
        if not isinstance(default_headers, NotGiven):
            headers.update(_check_headers(default_headers, "default_headers") or {})
        query: dict[str, object] = dict(self._default_query)
        if not isinstance(default_query, NotGiven):
            query.update(_check_query(default_query) or {})
        copy = type(self)(
            api_key=self.api_key if isinstance(api_key, NotGiven) else api_key,
            base_url=self.base_url if isinstance(base_url, NotGiven) else base_url,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            total_timeout=self.total_timeout if isinstance(total_timeout, NotGiven) else total_timeout,
            max_retries=self.max_retries if isinstance(max_retries, NotGiven) else max_retries,
            max_retry_after=self.max_retry_after if isinstance(max_retry_after, NotGiven) else max_retry_after,
            default_headers=headers,
            default_query=query,
            http_client=self._client if isinstance(http_client, NotGiven) else http_client,
        )
        if isinstance(hooks, NotGiven) and isinstance(tracing, NotGiven):
            copy._observers = self._observers  # the same hooks and tracer, not copies of them
        else:
            copy._observers = _observers(
                self.hooks if isinstance(hooks, NotGiven) else hooks,
                self.tracing if isinstance(tracing, NotGiven) else tracing,
            )
        if isinstance(http_client, NotGiven):
            # Share the holder, not just today's httpx client: a pool replaced on a loop change is replaced
            # for every copy at once.
            copy._pool = self._pool
            copy._connection_limits = self._connection_limits
        copy._limiter = self._limiter
        return copy

    copy = with_options

    @property
    def hooks(self) -> Optional[Hooks]:
        """The hooks this client calls around every call (None when it has none)."""
        observers = self._observers
        if observers is None:
            return None
        from .._observe import Hooks

        return None if observers.hooks == Hooks() else observers.hooks

    @property
    def tracing(self) -> Optional[Tracing]:
        """The tracing settings when this client records OpenTelemetry spans, else None."""
        return None if self._observers is None else self._observers.tracing

    def __reduce__(self) -> Any:
        """Pickle the configuration, the API key included (so a client can be sent to a worker process), never the
        connection pool: unpickled, in this process or another, the client opens its own connections. A limiter
        travels as its settings (what it learned stays behind); hooks do not travel, and tracing, when on, uses the
        worker's global tracer provider. A client given your own `http_client` cannot be
        pickled: that client's transport and connections belong to this process."""
        if not self._pool.replaceable:
            raise TypeError(
                f"this {type(self).__name__} was given its own http_client, which cannot be pickled; pickle a client "
                "without http_client (give connection_limits instead), or build the client in the worker process"
            )
        tracing = self.tracing
        settings = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "total_timeout": self.total_timeout,
            "max_retries": self.max_retries,
            "max_retry_after": self.max_retry_after,
            "default_headers": dict(self._default_headers),
            "default_query": dict(self._default_query),
            "connection_limits": self._connection_limits,
            "transport": self._pool.transport,
            "limiter": self._limiter,
            # Hooks stay behind (functions are often closures over this process's state), and so does a tracer
            # provider (it holds exporters and threads): the copy traces with the worker's global provider.
            "tracing": None if tracing is None else type(tracing)(capture_content=tracing.capture_content),
        }
        return (_unpickle_client, (type(self), settings))


def _unpickle_client(cls: Any, settings: Dict[str, Any]) -> Any:
    return cls(**settings)


def _observers(hooks: object, tracing: object) -> Optional[Observers]:
    """What the client observes around each call, or None (the default: no hooks, no tracing)."""
    if hooks is None and tracing is None and TRACING_ENV not in os.environ:
        # The hooks and tracing machinery (apertis/_observe.py) is loaded only by a client that may use it.
        return None
    from .._observe import Observers, coerce_hooks, coerce_tracing

    return Observers.of(coerce_hooks(hooks), coerce_tracing(tracing))


def _resolve_limiter(limiter: object) -> Optional[RateLimiter]:
    if limiter is None or limiter is False:
        return None
    from .._limiter import RateLimiter

    if limiter is True:
        return RateLimiter()
    if not isinstance(limiter, RateLimiter):
        raise TypeError(
            "limiter must be an apertis.RateLimiter, True (one with the defaults) or None, "
            f"got {type(limiter).__name__}"
        )
    return limiter


def _resolve_api_key(api_key: Optional[str]) -> str:
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV, "").strip() or None
        if api_key is None:
            # "API key is required" is SDK 0.4.1's wording, kept for code and logs that look for it.
            raise ValueError(
                f"API key is required: no API key was given. Pass api_key=... to the client or set the "
                f"{API_KEY_ENV} environment variable."
            )
    elif not isinstance(api_key, str):
        raise TypeError(f"api_key must be a str, got {type(api_key).__name__}")
    else:
        api_key = api_key.strip()
        if not api_key:
            raise ValueError(f"api_key is empty: pass your Apertis API key or set {API_KEY_ENV}")
    if not api_key.isascii() or not api_key.isprintable() or any(char.isspace() for char in api_key):
        # Sent in a header, where such characters are invalid; usually a copy-paste accident.
        raise ValueError("api_key contains spaces, control or non-ASCII characters; check that it was copied whole")
    return api_key


def _resolve_base_url(base_url: Optional[str]) -> str:
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
        name = f"{BASE_URL_ENV} (environment variable)"
    else:
        name = "base_url"
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str such as {DEFAULT_BASE_URL!r}, got {type(base_url).__name__}")
    base_url = base_url.strip().rstrip("/")
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{name} must be an http(s) URL such as {DEFAULT_BASE_URL!r}, got {base_url!r}")
    return base_url


def _check_max_retries(max_retries: Any) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise TypeError(f"max_retries must be an int (0 disables retries), got {type(max_retries).__name__}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more (0 disables retries), got {max_retries}")
    return max_retries


def _check_max_retry_after(max_retry_after: Any) -> float:
    if isinstance(max_retry_after, bool) or not isinstance(max_retry_after, (int, float)):
        raise TypeError(f"max_retry_after must be a number of seconds, got {type(max_retry_after).__name__}")
    if math.isnan(max_retry_after) or max_retry_after < 0:
        raise ValueError(f"max_retry_after must be a number of seconds >= 0, got {max_retry_after!r}")
    return float(max_retry_after)


def _check_headers(headers: Optional[Mapping[str, Optional[str]]], name: str) -> Optional[Mapping[str, Optional[str]]]:
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise TypeError(f"{name} must be a mapping of header names to str (or None), got {type(headers).__name__}")
    for key, value in headers.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise TypeError(f"{name} must map header names (str) to str or None, got {key!r}: {value!r}")
        check_header(key, value, name)
    return headers


def _check_query(query: Optional[Mapping[str, object]]) -> Optional[Mapping[str, object]]:
    if query is not None and not isinstance(query, Mapping):
        raise TypeError(f"default_query must be a mapping of parameter names to values, got {type(query).__name__}")
    return query
