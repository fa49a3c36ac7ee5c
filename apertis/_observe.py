"""Observability: the hooks a client calls around every call, and optional OpenTelemetry tracing.

Shared by both twins. Nothing here runs unless a client was given `hooks=` or tracing is on: the request loop
checks one attribute (`_observers`, None by default) per call. OpenTelemetry is imported only when tracing is
turned on, never with `import apertis`.

Tracing follows the OpenTelemetry semantic conventions for generative AI as of version 1.37.0 (still marked
experimental upstream, hence the pin): span `"{gen_ai.operation.name} {gen_ai.request.model}"` of kind CLIENT,
`gen_ai.provider.name` (1.37.0's replacement of `gen_ai.system`), request and response model, token usage,
finish reasons, `error.type`, `server.address` / `server.port`; content (`gen_ai.input.messages`,
`gen_ai.output.messages`) only when asked for.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import attrs

from ._constants import TRACING_ENV
from ._logging import logger, redact_headers, redact_request_headers, redact_secrets

if TYPE_CHECKING:
    import httpx

    from ._exceptions import APIError

__all__ = [
    "SEMCONV_VERSION",
    "ErrorInfo",
    "Hooks",
    "RequestInfo",
    "ResponseInfo",
    "RetryInfo",
    "Tracing",
]

SEMCONV_VERSION = "1.37.0"
"""The version of the OpenTelemetry semantic conventions the spans follow (GenAI conventions are experimental)."""
_SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
PROVIDER_NAME = "apertis"
# The switch the OpenTelemetry GenAI instrumentations share for recording prompts and completions.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# API paths (relative to base_url) whose calls are GenAI operations, and the operation's convention name.
_OPERATIONS = {
    "/chat/completions": "chat",
    "/messages": "chat",
    "/responses": "chat",
    "/completions": "text_completion",
    "/embeddings": "embeddings",
}


@attrs.frozen(kw_only=True)
class RequestInfo:
    """One attempt of a call, as a hook sees it: nothing in it carries the API key.

    `url` has credentials redacted; `headers` keep only the values the SDK sets itself (every credential and every
    value from default_headers / extra_headers reads `<redacted>`); `attempt` counts from 1.
    """

    method: str
    url: str
    attempt: int
    headers: Dict[str, str]


@attrs.frozen(kw_only=True)
class ResponseInfo:
    """The response to one attempt (before its status is judged: an error status is a response too).

    `elapsed` is seconds from the start of the attempt to the response headers (and the body, when it was read
    with them); `headers` have credential values redacted.
    """

    request: RequestInfo
    status_code: int
    request_id: Optional[str]
    elapsed: float
    headers: Dict[str, str]


@attrs.frozen(kw_only=True)
class RetryInfo:
    """A retry about to happen: after `delay` seconds, attempt number `attempt` (2 for the first retry).

    `reason` says what failed (`status 429`, or the transport error, redacted); `request` is the failed attempt.
    """

    request: RequestInfo
    reason: str
    delay: float
    attempt: int


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """A call ending in an error of the SDK's hierarchy (`error`, about to be raised to the caller).

    `request` is the last attempt (None when the call failed before sending anything); for a stream, also an
    error raised while reading its events.
    """

    request: Optional[RequestInfo]
    error: APIError


_Hook = Callable[[Any], Any]


@attrs.frozen(kw_only=True)
class Hooks:
    """Functions the client calls around every call, without wrapping the client.

    Each takes one argument, an info object: `on_request(RequestInfo)` before each attempt,
    `on_response(ResponseInfo)` when an attempt gets a response (any status), `on_retry(RetryInfo)` before the
    wait for a retry, `on_error(ErrorInfo)` when the call raises one of the SDK's errors. All are optional. An
    async client also accepts coroutine functions (awaited in turn); a sync client takes plain functions only.
    Hooks run in the calling thread or task, in the middle of the call: keep them quick. An exception a hook
    raises propagates unchanged and ends the call (it is not retried), as with httpx's event hooks.
    """

    on_request: Optional[Callable[[RequestInfo], Any]] = None
    on_response: Optional[Callable[[ResponseInfo], Any]] = None
    on_retry: Optional[Callable[[RetryInfo], Any]] = None
    on_error: Optional[Callable[[ErrorInfo], Any]] = None

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if value is not None and not callable(value):
                raise TypeError(f"Hooks({field.name}=...) must be a function (or None), got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class Tracing:
    """OpenTelemetry tracing settings, for `tracing=` (where `tracing=True` means `Tracing()`).

    `tracer_provider`: the provider to take the tracer from (default: the global one). `capture_content`: also
    record the prompt and the completion on the span (`gen_ai.input.messages`, `gen_ai.output.messages`, as JSON);
    off by default, as they are the user's data. The API key is never recorded.
    """

    tracer_provider: Any = None
    capture_content: bool = False


def coerce_hooks(value: object) -> Optional[Hooks]:
    """The `hooks` argument: a Hooks, or None."""
    if value is None or isinstance(value, Hooks):
        return value
    raise TypeError(
        f"hooks must be an apertis.Hooks (such as Hooks(on_retry=my_function)) or None, got {type(value).__name__}"
    )


def coerce_tracing(value: object) -> Optional[Tracing]:
    """The `tracing` argument as settings, or None when tracing is off. None reads the APERTIS_TRACING variable."""
    if value is None:
        if os.environ.get(TRACING_ENV, "").strip().lower() not in ("1", "true", "yes", "on"):
            return None
        if not _otel_installed():
            logger.warning("%s is set but opentelemetry-api is not installed: tracing stays off", TRACING_ENV)
            return None
        value = True
    if value is False:
        return None
    if value is True:
        value = Tracing(capture_content=_env_capture_content())
    if not isinstance(value, Tracing):
        raise TypeError(
            f"tracing must be True, False, None (the {TRACING_ENV} variable decides) or an apertis.Tracing, "
            f"got {type(value).__name__}"
        )
    if not _otel_installed():
        raise ImportError(
            "tracing needs the OpenTelemetry API: pip install 'apertis[otel]' (or opentelemetry-api), or leave "
            "tracing off"
        )
    return value


def _otel_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("opentelemetry") is not None


def _env_capture_content() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("1", "true")


class Observers:
    """What a client (and its `with_options()` copies) does around each call: its hooks and its tracer."""

    __slots__ = ("capture_content", "hooks", "tracer", "tracing")

    def __init__(self, hooks: Optional[Hooks], tracing: Optional[Tracing]) -> None:
        self.hooks = hooks or Hooks()
        self.tracing = tracing
        self.capture_content = tracing is not None and tracing.capture_content
        self.tracer: Any = None
        if tracing is not None:
            from opentelemetry import trace

            from ._version import __version__

            self.tracer = trace.get_tracer(
                "apertis", __version__, tracer_provider=tracing.tracer_provider, schema_url=_SCHEMA_URL
            )

    @classmethod
    def of(cls, hooks: Optional[Hooks], tracing: Optional[Tracing]) -> Optional[Observers]:
        """The observers for these settings, or None when there is nothing to observe (the default)."""
        if tracing is None and (hooks is None or hooks == Hooks()):
            return None
        return cls(hooks, tracing)


class CallState:
    """One call being observed: the info of its current attempt and its span (if tracing). Shared by the twins'
    CallObserver, which adds the calling of the hooks."""

    def __init__(self, observers: Observers, api_key: str, method: str, url: str, body: Optional[Mapping[str, Any]]):
        self.observers = observers
        self.hooks = observers.hooks
        self.api_key = api_key
        self.request: Optional[RequestInfo] = None
        self.started = 0.0
        self.span: Any = None
        self.ended = False
        self.operation: Optional[str] = None
        self.stream_ref: Any = None  # a stream's weak reference, kept for its callback (see CallObserver.finished)
        if observers.tracer is not None:
            self.span = self._start_span(method, url, body)

    # -- the info objects -------------------------------------------------------------------------------

    def request_info(self, request: httpx.Request, caller_headers: frozenset[str], retries_taken: int) -> RequestInfo:
        self.started = time.monotonic()
        self.request = RequestInfo(
            method=request.method,
            url=redact_secrets(str(request.url), self.api_key),
            attempt=retries_taken + 1,
            headers=redact_request_headers(request.headers, caller_headers),
        )
        return self.request

    def response_info(self, response: httpx.Response) -> ResponseInfo:
        from ._exceptions import request_id_of

        assert self.request is not None
        request_id = request_id_of(response)
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", response.status_code)
        return ResponseInfo(
            request=self.request,
            status_code=response.status_code,
            request_id=None if request_id is None else redact_secrets(request_id, self.api_key),
            elapsed=time.monotonic() - self.started,
            headers=redact_headers(response.headers, [self.api_key]),
        )

    def retry_info(self, reason: str, delay: float, retries_taken: int) -> RetryInfo:
        assert self.request is not None
        if self.span is not None:
            self.span.add_event(
                "apertis.retry",
                {
                    "apertis.retry.reason": reason,
                    "apertis.retry.delay": delay,
                    "apertis.retry.attempt": retries_taken + 2,
                },
            )
        return RetryInfo(request=self.request, reason=reason, delay=delay, attempt=retries_taken + 2)

    def error_info(self, error: APIError) -> ErrorInfo:
        return ErrorInfo(request=self.request, error=error)

    # -- the span --------------------------------------------------------------------------------------

    def _start_span(self, method: str, url: str, body: Optional[Mapping[str, Any]]) -> Any:
        from opentelemetry.trace import SpanKind

        parsed = _split_url(url)
        host, port, path = parsed
        body = body if isinstance(body, Mapping) else {}
        operation = next((name for suffix, name in _OPERATIONS.items() if path.endswith(suffix)), None)
        attributes: Dict[str, Any] = {"server.address": host, "server.port": port, "http.request.method": method}
        if operation is not None and method == "POST":
            self.operation = operation
            model = body.get("model")
            attributes["gen_ai.operation.name"] = operation
            attributes["gen_ai.provider.name"] = PROVIDER_NAME
            name = operation
            if isinstance(model, str):
                attributes["gen_ai.request.model"] = model
                name = f"{operation} {model}"
            for key, attribute in _REQUEST_ATTRIBUTES.items():
                value = body.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    attributes[attribute] = value
            if self.observers.capture_content:
                messages = body.get("messages", body.get("input"))
                if messages is not None:
                    attributes["gen_ai.input.messages"] = _to_json(messages)
                if isinstance(body.get("system"), str):
                    attributes["gen_ai.system_instructions"] = _to_json(body["system"])
        else:
            # Not a GenAI operation (models, files, audio...): an HTTP client span, named by its method alone
            # (paths carry ids, too many distinct names for a span name).
            name = method
        return self.observers.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    def absorb(self, payload: object, streamed: bool = False) -> None:
        """Record what the (parsed) result or a stream event says about the response: model, usage, finish."""
        span = self.span
        if span is None or self.operation is None:
            return
        data = _as_mapping(payload)
        if data is None:
            return
        inner = _as_mapping(data.get("response")) or _as_mapping(data.get("message"))
        if inner is not None and data.get("type") in _EVENTS_WITH_RESPONSE:
            data = inner
        model = data.get("model")
        if isinstance(model, str):
            span.set_attribute("gen_ai.response.model", model)
        if isinstance(data.get("id"), str):
            span.set_attribute("gen_ai.response.id", data["id"])
        usage = _as_mapping(data.get("usage"))
        if usage is not None:
            for keys, attribute in _USAGE:
                value = next((usage[key] for key in keys if isinstance(usage.get(key), int)), None)
                if value is not None:
                    span.set_attribute(attribute, value)
        reasons = _finish_reasons(data)
        if reasons:
            span.set_attribute("gen_ai.response.finish_reasons", reasons)
        if self.observers.capture_content and not streamed:
            # A stream's events carry pieces of the completion: they are not put back together for the span.
            output = _output_messages(data)
            if output:
                span.set_attribute("gen_ai.output.messages", _to_json(output))

    def end(self, error: Optional[BaseException]) -> None:
        """End the span (once): with `error.type` and an error status when the call failed."""
        if self.ended or self.span is None:
            return
        self.ended = True
        span = self.span
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", _error_type(error))
            span.set_status(Status(StatusCode.ERROR, redact_secrets(str(error), self.api_key)[:500]))
        span.end()


class AsyncSettle:
    """How an async client runs a hook: a coroutine function's result is awaited."""

    @staticmethod
    async def run(hook: _Hook, info: object) -> None:
        result = hook(info)
        if inspect.isawaitable(result):
            await result


class SyncSettle:
    """How a sync client runs a hook: it must not return an awaitable (nobody would await it)."""

    @staticmethod
    def run(hook: _Hook, info: object) -> None:
        result = hook(info)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # no "never awaited" warning on top of this error
            raise TypeError(
                f"the hook {getattr(hook, '__name__', hook)!r} returned an awaitable: a sync client (Apertis) calls "
                "hooks without awaiting them; pass plain functions, or use AsyncApertis for async hooks"
            )


_REQUEST_ATTRIBUTES = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
}
# Chat Completions, Messages / Responses names of the token counts.
_USAGE: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (("prompt_tokens", "input_tokens"), "gen_ai.usage.input_tokens"),
    (("completion_tokens", "output_tokens"), "gen_ai.usage.output_tokens"),
)
# Stream events whose payload is in `response` (Responses) or `message` (Messages' message_start).
_EVENTS_WITH_RESPONSE = frozenset(
    {"response.created", "response.completed", "response.failed", "response.incomplete", "message_start"}
)


def _as_mapping(value: object) -> Optional[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return value
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        result = to_dict()
        if isinstance(result, Mapping):
            return result
    return None


def _finish_reasons(data: Mapping[str, Any]) -> List[str]:
    reasons: List[str] = []
    choices = data.get("choices")
    if isinstance(choices, list):
        reasons.extend(
            choice["finish_reason"]
            for choice in choices
            if isinstance(choice, Mapping) and isinstance(choice.get("finish_reason"), str)
        )
    delta = _as_mapping(data.get("delta"))
    reasons.extend(
        source["stop_reason"] for source in (data, delta or {}) if isinstance(source.get("stop_reason"), str)
    )
    if data.get("object") == "response" and isinstance(data.get("status"), str):
        reasons.append(data["status"])
    return reasons


def _output_messages(data: Mapping[str, Any]) -> List[Any]:
    choices = data.get("choices")
    if isinstance(choices, list):
        return [choice.get("message") or choice.get("delta") for choice in choices if isinstance(choice, Mapping)]
    if data.get("type") == "message" and "content" in data:
        return [{"role": data.get("role"), "content": data["content"]}]
    if isinstance(data.get("output"), list):
        return list(data["output"])
    return []


def _to_json(value: object) -> str:
    from ._models import serialize

    return json.dumps(serialize(value), ensure_ascii=False, default=str)


def _error_type(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return str(status)
    return type(error).__qualname__


def _split_url(url: str) -> Tuple[str, int, str]:
    import httpx

    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.host, port, parsed.path


HooksArg = Union[Hooks, None]
TracingArg = Union[bool, Tracing, None]
