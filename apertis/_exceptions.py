"""The error hierarchy.

    ApertisError
    ├── MissingDependencyError             (also an ImportError: an optional extra the feature needs is missing)
    ├── LengthFinishReasonError            (a structured reply cut at the token limit, so it cannot be parsed)
    ├── ContentFilterFinishReasonError     (a structured reply stopped by the content filter)
    ├── ToolArgumentsError                 (a tool runner: the model's arguments for a tool do not validate)
    ├── UnknownToolError                   (a tool runner: the model called a tool it was not given)
    ├── MaxTurnsExceededError              (a tool runner: still asking for tools after max_turns replies)
    ├── EventLoopMismatchError             (also a RuntimeError: an async client's http_client on a second loop)
    ├── ForkedHTTPClientError              (also a RuntimeError: your own http_client used after os.fork())
    └── APIError
        ├── APIStatusError                 (any non-2xx response)
        │   ├── BadRequestError            400
        │   ├── AuthenticationError        401
        │   ├── PaymentRequiredError       402
        │   ├── PermissionDeniedError      403
        │   ├── NotFoundError              404
        │   ├── RequestTimeoutError        408
        │   ├── ConflictError              409
        │   ├── UnprocessableEntityError   422
        │   ├── RateLimitError             429
        │   └── InternalServerError        >= 500
        ├── APIConnectionError             (no response: connect, read, write, protocol failures)
        │   └── APITimeoutError
        └── APIResponseValidationError     (a 2xx whose body is not what the API promised)
            └── StructuredOutputValidationError  (a structured reply that does not validate as the asked type)

Every exception pickles (they cross process pools) and names itself after the package (`apertis.RateLimitError`
in tracebacks), not the private module it is defined in. No exception holds the API key: when one is built, its
request and response are replaced by redacted copies and the key is redacted wherever the server echoed it (see
`_conceal`), so neither the exception, its traceback nor its pickle can show it.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Type

from . import _json

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ApertisError",
    "AuthenticationError",
    "BadRequestError",
    "ContentFilterFinishReasonError",
    "ConflictError",
    "EventLoopMismatchError",
    "ForkedHTTPClientError",
    "InternalServerError",
    "LengthFinishReasonError",
    "MaxTurnsExceededError",
    "MissingDependencyError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "StructuredOutputValidationError",
    "ToolArgumentsError",
    "UnknownToolError",
    "UnprocessableEntityError",
    "VideoTaskFailedError",
    "VideoTaskTimeoutError",
    "attach_response",
    "invalid_data_error",
    "make_status_error",
    "type_error",
]

# Long enough for any real error message, short enough that an HTML error page never floods a log line.
_MAX_TEXT = 500


class ApertisError(Exception):
    """The base of every error the SDK raises on purpose."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> Any:
        return (_rebuild, _pickle_args(self))

    def __str__(self) -> str:
        return self.message


class MissingDependencyError(ApertisError, ImportError):
    """A feature needs an optional extra that is not installed; the message names the `pip install` that fixes it
    (`apertis[pydantic]` for structured outputs from Python types). Also an ImportError."""


class LengthFinishReasonError(ApertisError):
    """A structured-output reply stopped at the token limit (`finish_reason` `length`, a Messages `stop_reason`
    `max_tokens`, a Responses `incomplete` for `max_output_tokens`): its JSON is cut short, so it is not parsed.
    `completion` is the whole result as received; raise the limit (`max_tokens`, `max_output_tokens`) and retry."""

    def __init__(self, message: str, *, completion: Any) -> None:
        super().__init__(message)
        self.completion = completion


class ContentFilterFinishReasonError(ApertisError):
    """A structured-output reply was stopped by the content filter (`finish_reason` `content_filter`), so there is
    nothing to parse. `completion` is the whole result as received."""

    def __init__(self, message: str, *, completion: Any) -> None:
        super().__init__(message)
        self.completion = completion


class EventLoopMismatchError(ApertisError, RuntimeError):
    """An AsyncApertis built on your own `http_client` was used on another event loop than its first one.

    The pooled connections of an httpx.AsyncClient belong to the loop that opened them. Also a RuntimeError, the
    class asyncio itself uses for loop misuse, so existing `except RuntimeError` handlers still catch it.
    """


class ForkedHTTPClientError(ApertisError, RuntimeError):
    """A client built on your own `http_client` was used in a process forked after the client was made.

    Its pooled connections are shared with the parent process, and calls from both would read each other's
    answers. The SDK cannot rebuild a client it did not create (it gives its own pools a fresh start in the
    child): create the http_client and the apertis client after the fork, in the process that uses them.
    """


class VideoTaskFailedError(ApertisError):
    """A video task that `create_and_poll` or `poll` waited for ended with status `failed`.

    `task` is the last state the API reported (a `Video` or a legacy `VideoTask`): its `id`, and its `error`
    where the server says why.
    """

    def __init__(self, message: str, *, task: Any) -> None:
        super().__init__(message)
        self.task = task


class VideoTaskTimeoutError(ApertisError, TimeoutError):
    """A video task was still running when `poll_timeout` ran out (also a TimeoutError).

    The task itself goes on: `task` is the last state seen, and `poll(task.id)` resumes waiting.
    """

    def __init__(self, message: str, *, task: Any) -> None:
        super().__init__(message)
        self.task = task


class ToolArgumentsError(ApertisError):
    """The arguments the model sent for a tool call are not JSON or do not validate against the tool's types.

    A tool runner does not raise it: it sends it to the model as the call's error result and keeps it in the
    run's `tool_calls` / `errors`. `tool_name` is the tool, `arguments` the JSON text the model sent, `errors`
    Pydantic's list of what failed (`loc`, `msg`, `type`, `input`).
    """

    def __init__(self, message: str, *, tool_name: str, arguments: str, errors: List[Dict[str, Any]]) -> None:
        super().__init__(message)
        self.tool_name = tool_name
        self.arguments = arguments
        self.errors = errors


class UnknownToolError(ApertisError):
    """The model called a tool that is not among the tools given to the runner (`tool_name`).

    Like ToolArgumentsError, it becomes the call's error result, which the model sees, and is kept in the run.
    """

    def __init__(self, message: str, *, tool_name: str) -> None:
        super().__init__(message)
        self.tool_name = tool_name


class MaxTurnsExceededError(ApertisError):
    """A tool runner called the model `max_turns` times and the last reply still asked for tools.

    `run` is the run so far (a `ToolRun`): its `final` is that last reply (its tools were not run), its
    `messages` the conversation before it, which `run_tools` can continue with a larger `max_turns`.
    """

    def __init__(self, message: str, *, run: Any) -> None:
        super().__init__(message)
        self.run = run


class APIError(ApertisError):
    """A call to the API failed: with a status (`APIStatusError`), without one (`APIConnectionError`), or with a
    2xx body the SDK could not read (`APIResponseValidationError`).

    Attributes: `message`; `request` (the last `httpx.Request` sent, or None); `body` (the inner error object
    of an error response, when there is one); `code`, `param`, `type` (taken from that object when present);
    `status_code` and `response` (None when no response arrived); `request_id`; `retries_taken`.
    `request` and `response` are redacted copies: no credential header, and only the SDK's own request header
    values; the key redacted in every other header value, the URL and the bodies (the response's as decoded).
    """

    request: Optional[httpx.Request]
    response: Optional[httpx.Response]
    status_code: Optional[int]
    body: Optional[object]
    code: Optional[str]
    param: Optional[str]
    type: Optional[str]
    request_id: Optional[str]
    retries_taken: int

    def __init__(
        self,
        message: str,
        request: Optional[httpx.Request] = None,
        *,
        body: Optional[object] = None,
        status_code: Optional[int] = None,
        response: Optional[httpx.Response] = None,
    ) -> None:
        super().__init__(message)
        if request is None and response is not None:
            request = _request_of(response)
        self.request = request
        self.response = response
        self.status_code = status_code if status_code is not None or response is None else response.status_code
        self.body = body
        if request is not None or response is not None:
            _conceal(self)
        fields: Mapping[str, Any] = self.body if isinstance(self.body, Mapping) else {}
        self.code = _text_or_none(fields.get("code"))
        self.param = _text_or_none(fields.get("param"))
        self.type = _text_or_none(fields.get("type"))
        self.request_id = request_id_of(self.response) if self.response is not None else None
        self.retries_taken = 0


class APIStatusError(APIError):
    """The API answered with a non-2xx status. The subclass tells which; `status_code` gives it exactly."""

    response: httpx.Response
    status_code: int

    def __init__(self, message: str, *, response: httpx.Response, body: Optional[object]) -> None:
        super().__init__(message, body=body, status_code=response.status_code, response=response)


class BadRequestError(APIStatusError):
    """400: the request was malformed or an argument was invalid (see `param` and `code`)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or expired."""


class PaymentRequiredError(APIStatusError):
    """402: the key's quota or the account's balance is used up, or the subscription has expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint, or the request comes from a disallowed IP."""


class NotFoundError(APIStatusError):
    """404: unknown endpoint, model or task."""


class RequestTimeoutError(APIStatusError):
    """408: the server's time budget for the request ran out.

    From the gateway, with `X-Timeout-Elapsed-Ms` and `X-Timeout-Attempts` headers: the request's `X-Timeout`
    budget (the remaining `total_timeout` of the call when it has one, else the gateway's default of 60 s) was
    spent on the gateway's own channel retries and fallbacks. That one is not retried (the message says so, and
    `gateway_elapsed_ms` / `gateway_attempts` give the headers' figures). Any other 408 is retried by default.
    """

    @property
    def gateway_elapsed_ms(self) -> Optional[int]:
        """The milliseconds the gateway spent before giving up (`X-Timeout-Elapsed-Ms`), when it said."""
        return _int_header(self.response, "x-timeout-elapsed-ms")

    @property
    def gateway_attempts(self) -> Optional[int]:
        """How many upstream channels the gateway tried within its budget (`X-Timeout-Attempts`), when it said."""
        return _int_header(self.response, "x-timeout-attempts")


class ConflictError(APIStatusError):
    """409: the request conflicts with another one. Retried by default."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests. Retried by default, honouring the server's Retry-After."""


class InternalServerError(APIStatusError):
    """A 5xx status: the API or an upstream provider failed. Retried by default."""


class APIConnectionError(APIError):
    """No response arrived: the connection could not be made, broke, or the server spoke broken HTTP.

    `cause` is the underlying transport exception (also chained as `__cause__`).
    """

    cause: Optional[BaseException]

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request: Optional[httpx.Request] = None,
        cause: Optional[BaseException] = None,
    ) -> None:
        self.cause = cause  # before the base class redacts what the error holds
        super().__init__(message, request)

    def __reduce__(self) -> Any:
        cls, message, state = _pickle_args(self)
        # Transport exceptions do not always pickle; the message already describes them.
        state["cause"] = None
        return (_rebuild, (cls, message, state))


class APITimeoutError(APIConnectionError):
    """The request took longer than its timeout (connect, read, write or waiting for a pooled connection)."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        request: Optional[httpx.Request] = None,
        cause: Optional[BaseException] = None,
    ) -> None:
        super().__init__(message, request=request, cause=cause)


class APIResponseValidationError(APIError):
    """A 2xx response whose body is not what the API promised: not JSON, JSON nested deeper than the SDK's cap
    (`apertis._json.MAX_JSON_DEPTH`), or a value of the wrong type where the SDK itself uses it (the message
    names the field, as in `choices[0].index must be an integer, got list`).

    `status_code`, `response` and `text` (the body or the offending value, truncated) tell what arrived.
    `response` and `status_code` are None when the data did not come from a response: a model's `from_dict`
    or helper used on data of your own.
    """

    text: str

    def __init__(self, message: str, *, response: Optional[httpx.Response], text: str) -> None:
        self.text = text  # before the base class redacts what the error holds
        super().__init__(message, response=response)


class StructuredOutputValidationError(APIResponseValidationError):
    """The model's structured reply does not validate as the type asked for (`parse`, `output_format`).

    `text` is the raw reply (the JSON as the model wrote it, not truncated); `errors` the validation details, one
    dict per problem with `loc` (the path in the reply, a list), `msg`, `type` and `input` (Pydantic's, or
    jsonschema's for a schema dict; a reply that is not JSON has one error of type `json_invalid`).
    """

    errors: List[Dict[str, Any]]

    def __init__(
        self,
        message: str,
        *,
        text: str,
        errors: List[Dict[str, Any]],
        response: Optional[httpx.Response] = None,
    ) -> None:
        self.errors = errors
        super().__init__(message, response=response, text=text)


# -- redaction: what an error holds never shows the key ------------------------------------------------------


def _rebuild(cls: Type[ApertisError], message: str, state: Dict[str, Any]) -> ApertisError:
    # The constructors take keyword-only arguments, which BaseException's default pickling cannot replay.
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def _credentials(*requests: Optional[httpx.Request]) -> List[str]:
    """The secrets requests carry in their credential headers: the token of `Bearer KEY`, else the whole value."""
    from ._logging import SENSITIVE_HEADERS  # not at module level: it imports httpx, and `import apertis` must not

    found: List[str] = []
    for request in requests:
        if request is None:
            continue
        for name, value in request.headers.items():
            if name.lower() not in SENSITIVE_HEADERS or not value:
                continue
            scheme, _, token = value.partition(" ")
            # The token alone, so an echoed `Authorization: Bearer KEY` reads `Bearer <redacted>`.
            secret = token.strip() if token.strip() and scheme.isalpha() else value
            if secret not in found:
                found.append(secret)
    return found


def _scrub_text(text: str, secrets: Sequence[str]) -> str:
    from ._logging import redact_all

    return redact_all(text, secrets)


def scrub(value: Any, secrets: Sequence[str]) -> Any:
    """`value` (a message, a JSON body) with the secrets and credential patterns redacted in every string,
    dictionary keys included."""
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, dict):
        return {scrub(key, secrets): scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(scrub(item, secrets) for item in value)
    return value


def _scrub_bytes(content: bytes, secrets: List[str], *, patterns: bool = True) -> bytes:
    from ._logging import redact_all

    if not content:
        return content
    # Latin-1 maps every byte to one character and back, so a body in any encoding survives the round trip,
    # and the ASCII key matches the same bytes it would in UTF-8.
    text = content.decode("latin-1")
    return redact_all(text, secrets, patterns=patterns).encode("latin-1")


def _safe_request(request: httpx.Request, secrets: List[str]) -> httpx.Request:
    """A copy of `request` to store: only the SDK's own header values kept, the secrets redacted in the URL and
    the body (when it was in memory)."""
    import httpx

    from ._logging import redact_request_headers

    try:
        # Only the secrets: the body is the caller's own data, not server text that might quote a credential.
        content: Optional[bytes] = _scrub_bytes(request.content, secrets, patterns=False)
    except httpx.RequestNotRead:  # a streamed upload: its body is gone anyway
        content = None
    url = str(request.url)
    safe_url = _scrub_text(url, secrets)
    return httpx.Request(
        request.method,
        request.url if safe_url == url else safe_url,  # parsing a URL again costs more than the rest of the copy
        headers=redact_request_headers(request.headers),
        content=content,
    )


def _safe_response(response: httpx.Response, request: Optional[httpx.Request], secrets: List[str]) -> httpx.Response:
    """A copy of `response` to store: credential headers redacted, the secrets and credential patterns redacted in
    every other header value and in the body (as read, decoded)."""
    import httpx

    from ._logging import redact_headers

    # The copy holds the decoded body: a Content-Encoding header would make httpx try to decompress it again.
    headers = [
        (name, value)
        for name, value in redact_headers(response.headers, secrets).items()
        if name.lower() != "content-encoding"
    ]
    extensions: Dict[str, Any] = {
        name: response.extensions[name] for name in ("http_version", "reason_phrase") if name in response.extensions
    }
    copy = httpx.Response(
        response.status_code,
        headers=headers,
        content=_scrub_bytes(body_bytes(response), secrets),
        request=request,
        extensions=extensions,
    )
    with contextlib.suppress(RuntimeError):  # not closed yet (a stream), or built by hand: no elapsed time
        copy.elapsed = response.elapsed
    return copy


def _conceal(error: ApertisError) -> None:
    """Redact every credential in what `error` holds, in place: called once, when it is built.

    The secrets are those its request carried in credential headers (the client's key, sent as `Bearer KEY`);
    they are redacted wherever the server echoed them (message, body, text, response headers and body), and the
    request and response are replaced by redacted copies, so neither the error, its repr, its traceback nor its
    pickle (task queues, caches, log stores) can show the key.
    """
    state = error.__dict__
    request: Optional[httpx.Request] = state.get("request")
    response: Optional[httpx.Response] = state.get("response")
    response_request = _request_of(response) if response is not None else None
    secrets = _credentials(request, response_request)
    safe_request = _safe_request(request, secrets) if request is not None else None
    for name, value in state.items():
        if name == "request":
            state[name] = safe_request
        elif name == "response" and value is not None:
            if response_request is None or response_request is request:
                safe_response_request = safe_request if response_request is not None else None
            else:
                safe_response_request = _safe_request(response_request, secrets)
            state[name] = _safe_response(value, safe_response_request, secrets)
        elif isinstance(value, BaseException):
            _scrub_chain(value, secrets, safe_request)
        else:
            state[name] = scrub(value, secrets)
    error.args = tuple(scrub(arg, secrets) for arg in error.args)


def _scrub_chain(cause: BaseException, secrets: List[str], safe_request: Optional[httpx.Request]) -> None:
    """Redact, in place, the message of a transport exception and of those it was chained from, and give the
    httpx exceptions among them the redacted copy of their request.

    The error's `cause` is also its `__cause__`, which every traceback prints: a message there that quotes the
    key (a proxy echoing a header) would show it. Only a plain one-string message is rewritten. The request an
    httpx exception holds is the one sent, with the key: picklers that keep an error's chain (tblib, which Dask
    installs) would carry it.
    """
    import httpx

    seen: List[BaseException] = []
    current: Optional[BaseException] = cause
    while current is not None and len(seen) < 8 and not any(current is other for other in seen):
        seen.append(current)
        if len(current.args) == 1 and isinstance(current.args[0], str):
            redacted = _scrub_text(current.args[0], secrets)
            if redacted != current.args[0]:
                current.args = (redacted,)
        sent: Optional[httpx.Request] = getattr(current, "_request", None)
        if isinstance(current, httpx.RequestError) and sent is not None:
            current.request = safe_request if safe_request is not None else _safe_request(sent, secrets)
        current = current.__cause__ or current.__context__


def _pickle_args(error: ApertisError) -> tuple[Type[ApertisError], str, Dict[str, Any]]:
    """What `_rebuild` needs to recreate `error` (redacted when it was built, see `_conceal`)."""
    return type(error), error.message, dict(error.__dict__)


# -- building errors ---------------------------------------------------------------------------------------------


def invalid_data_error(problem: str, value: object = None) -> APIResponseValidationError:
    """The error for data of the wrong type or shape found by the SDK's own code, before it knows the response.

    `problem` names the field (`choices[0].index must be an integer, got list`); `value` is the offending value,
    quoted (truncated) as the error's `text`. The request loop and the streams add the response on the way out
    (`attach_response`).
    """
    return APIResponseValidationError(problem, response=None, text=_excerpt(value))


def type_error(field: str, expected: str, value: object) -> APIResponseValidationError:
    """`invalid_data_error` for a field of the wrong type: `<field> must be <expected>, got <JSON type>`."""
    got = json_type_name(value)
    if got == "number":  # the number itself says more (a float index, a negative one)
        got = readable_repr(value)
    return invalid_data_error(f"{field} must be {expected}, got {got}", value)


def json_type_name(value: object) -> str:
    """The JSON name of a value's type (`object`, `array`, `string`, ...), or the Python name for anything else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def _excerpt(value: object) -> str:
    if value is None:
        return ""
    try:
        return _compact(value, [])  # redacted when the response is attached (attach_response)
    except (TypeError, ValueError, RecursionError):  # not JSON data, or nested too deep to write out
        return readable_repr(value)


def readable_repr(value: object) -> str:
    """The repr of any value for a message, truncated; a placeholder where repr fails (a value nested too deeply,
    an integer past Python's limit on digits)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        return f"<{type(value).__name__} that cannot be shown>"
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def attach_response(
    error: APIResponseValidationError, response: httpx.Response, *, redact: Optional[str] = None
) -> APIResponseValidationError:
    """Give an error raised by data-level code (`invalid_data_error`) the response the data came from.

    The message gains the status and the origin, and message and text are redacted (`redact` is the API key);
    an error that already has a response is returned unchanged.
    """
    from ._logging import redact_secrets

    if error.response is not None:
        return error
    message = redact_secrets(
        f"The API returned status {response.status_code} but the body is not what the API promised: {error.message}",
        redact,
    )
    text = redact_secrets(error.text or readable_text(response), redact)
    retries_taken = error.retries_taken
    APIError.__init__(error, message, response=response)
    error.text = text
    error.retries_taken = retries_taken
    return error


_STATUS_CLASSES: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> Type[APIStatusError]:
    """The exception class for a non-2xx status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def make_status_error(response: httpx.Response, *, redact: Optional[str] = None) -> APIStatusError:
    """The exception for a non-2xx response whose body has been read.

    The message comes from the OpenAI shape `{"error": {"message": ...}}`, the Anthropic shape
    `{"type": "error", "error": {...}}`, a bare `{"message": ...}` / `{"error": "..."}`, or else the body's text
    (an HTML error page is reduced to its text and truncated). `redact`, when given, is a secret (the API key)
    that must never appear in the message or the body even if the server echoes it; the credentials the request
    carried are redacted anyway, as is any `Bearer` / `x-api-key` credential (see `redact_secrets`).
    """
    secrets = _credentials(_request_of(response))
    if redact and redact not in secrets:
        secrets.append(redact)
    body, detail = _error_detail(response, secrets)
    if not detail:
        detail = response.reason_phrase or "no error message"
    location = response.headers.get("location")
    if 300 <= response.status_code < 400 and location:
        detail = f"{detail}; the server redirects to {location} (redirects are not followed: update base_url)"
    if response.status_code == 408 and gateway_budget_report(response):
        detail = f"{_gateway_budget_note(response)} The gateway said: {detail}"
    message = _scrub_text(f"Error code: {response.status_code} - {detail}", secrets)
    return status_error_class(response.status_code)(message, response=response, body=scrub(body, secrets))


# The headers of the gateway's 408 when a request's X-Timeout budget ran out (reference §1.5, §12.4).
_GATEWAY_BUDGET_HEADERS = ("X-Timeout-Elapsed-Ms", "X-Timeout-Attempts")


def gateway_budget_report(response: httpx.Response) -> Dict[str, str]:
    """The `X-Timeout-*` headers of a response: how the gateway spent the request's X-Timeout budget (or {})."""
    return {name: response.headers[name] for name in _GATEWAY_BUDGET_HEADERS if name in response.headers}


def _gateway_budget_note(response: httpx.Response) -> str:
    request = _request_of(response)
    sent = request.headers.get("x-timeout", "") if request is not None else ""
    # Only a number is quoted: the value of a header the caller set is otherwise never shown.
    budget = f"X-Timeout: {sent} ms" if sent.isdigit() else "no X-Timeout sent, so the gateway's default of 60000 ms"
    spent = ", ".join(f"{name}: {value}" for name, value in gateway_budget_report(response).items())
    return (
        f"The gateway's time budget for this request ran out ({budget}; {spent}) while it retried and fell back "
        "across upstream channels. Not retried: that would start the gateway's attempts, and their billing, over. "
        "To allow more time, pass a larger total_timeout (sent as X-Timeout, at most 300 s)."
    )


def _int_header(response: Optional[httpx.Response], name: str) -> Optional[int]:
    value = response.headers.get(name, "").strip() if response is not None else ""
    return int(value) if value.isdigit() else None


# -- reading the response an error is made from ------------------------------------------------------------------


def parse_json_body(content: bytes) -> Any:
    """The JSON value of a body; raises ValueError (JSONDecodeError, UnicodeDecodeError) when it is not JSON, and
    `_json.JSONNestingError` (a ValueError too) when it is nested deeper than the SDK's cap."""
    return _json.loads(content)


def body_bytes(response: httpx.Response) -> bytes:
    """The body if it was read, else empty (reading an error body can itself fail on a broken connection)."""
    try:
        return response.content
    except Exception:  # httpx.ResponseNotRead; httpx is not imported here to keep `import apertis` light
        return b""


def readable_text(response: httpx.Response, secrets: Sequence[str] = ()) -> str:
    """The body as one line of text, tags stripped from HTML, `secrets` redacted, truncated for messages.

    Redacted before it is truncated, so the cut never leaves part of a secret behind.
    """
    content = body_bytes(response)
    try:
        text = content.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # an unknown charset must not hide the original error
        text = content.decode("utf-8", errors="replace")
    if "<" in text and ">" in text:
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
        text = re.sub(r"(?s)<[^>]*>", " ", text)
        text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    text = _scrub_text(" ".join(text.split()), secrets)
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 3] + "..."
    return text


def _error_detail(response: httpx.Response, secrets: List[str]) -> tuple[Optional[object], str]:
    try:
        data = parse_json_body(body_bytes(response))
    except ValueError:
        return None, readable_text(response, secrets)
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            return inner, _message_of(inner) or _compact(inner, secrets)
        if isinstance(inner, str) and inner:
            return data, inner
        message = _message_of(data)
        if message:
            return data, message
        return data, _compact(data, secrets)
    return data, _compact(data, secrets)


def _message_of(data: Mapping[str, Any]) -> str:
    for key in ("message", "detail", "error_description"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _compact(value: object, secrets: List[str]) -> str:
    text = _scrub_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), secrets)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _text_or_none(value: object) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def request_id_of(response: httpx.Response) -> Optional[str]:
    """The request id the gateway (`x-request-id`) or an Anthropic upstream (`request-id`) gave the response."""
    value: Optional[str] = response.headers.get("x-request-id") or response.headers.get("request-id")
    return value


def _request_of(response: httpx.Response) -> Optional[httpx.Request]:
    try:
        return response.request
    except RuntimeError:  # a Response built by hand has no request
        return None


# Tracebacks and reprs name the public package (`apertis.RateLimitError`, or the vendored package's name), and
# pickle finds the classes there too.
_PACKAGE = __name__.rpartition(".")[0]
for _name in __all__:
    _cls = globals()[_name]
    if isinstance(_cls, type) and issubclass(_cls, ApertisError):
        _cls.__module__ = _PACKAGE
del _name, _cls
