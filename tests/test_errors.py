"""Error mapping: status -> class, both error body shapes, non-JSON bodies, request ids, pickling, secrecy."""

from __future__ import annotations

import gzip
import json
import logging
import pickle
from typing import Any, Callable, Type

import httpx
import pytest
from conftest import API_KEY, BASE_URL
from pytest_httpx import HTTPXMock, IteratorStream

import apertis
from apertis._exceptions import make_status_error

STATUS_CLASSES = [
    (400, apertis.BadRequestError),
    (401, apertis.AuthenticationError),
    (402, apertis.PaymentRequiredError),
    (403, apertis.PermissionDeniedError),
    (404, apertis.NotFoundError),
    (408, apertis.RequestTimeoutError),
    (409, apertis.ConflictError),
    (413, apertis.APIStatusError),
    (418, apertis.APIStatusError),
    (422, apertis.UnprocessableEntityError),
    (429, apertis.RateLimitError),
    (500, apertis.InternalServerError),
    (502, apertis.InternalServerError),
    (503, apertis.InternalServerError),
    (529, apertis.InternalServerError),
]


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES)
async def test_every_status_raises_its_class(
    status: int, error_class: type, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=status,
        json={"error": {"message": "it failed", "type": "some_error", "code": "some_code", "param": "model"}},
        headers={"x-request-id": "req_123"},
    )
    client = make_client(max_retries=0)
    with pytest.raises(apertis.APIStatusError) as info:
        await call(client.post, "/chat/completions", body={"model": "m"})
    error = info.value
    assert type(error) is error_class
    assert isinstance(error, apertis.APIError)
    assert isinstance(error, apertis.ApertisError)
    assert error.status_code == status
    assert error.message == f"Error code: {status} - it failed"
    assert str(error) == error.message
    assert error.body == {"message": "it failed", "type": "some_error", "code": "some_code", "param": "model"}
    assert (error.code, error.param, error.type) == ("some_code", "model", "some_error")
    assert error.request_id == "req_123"
    assert error.response.status_code == status
    assert error.request is not None
    assert error.request.url == f"{BASE_URL}/chat/completions"
    assert error.retries_taken == 0


async def test_anthropic_error_shape(make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=400,
        json={"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: required"}},
        headers={"request-id": "req_anthropic"},
    )
    with pytest.raises(apertis.BadRequestError) as info:
        await call(make_client().post, "/messages", body={"model": "claude"})
    assert info.value.message == "Error code: 400 - max_tokens: required"
    assert info.value.body == {"type": "invalid_request_error", "message": "max_tokens: required"}
    assert info.value.type == "invalid_request_error"
    assert info.value.request_id == "req_anthropic"


async def test_html_error_page_gives_the_class_and_a_short_readable_message(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    page = (
        "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
        "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>" + "<p>padding</p>" * 400
    )
    httpx_mock.add_response(status_code=502, html=page)
    with pytest.raises(apertis.InternalServerError) as info:
        await call(make_client(max_retries=0).get, "/models")
    message = info.value.message
    assert message.startswith("Error code: 502 - 502 Bad Gateway 502 Bad Gateway nginx")
    assert "<" not in message
    assert "color:red" not in message
    assert len(message) < 600
    assert info.value.body is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "Error code: 503 - Service Unavailable"),
        (b"upstream connect error", "Error code: 503 - upstream connect error"),
        (b'{"error": "model overloaded"}', "Error code: 503 - model overloaded"),
        (b'{"message": "try later"}', "Error code: 503 - try later"),
        (b'{"detail": "nope"}', "Error code: 503 - nope"),
        (b'["odd"]', 'Error code: 503 - ["odd"]'),
        (b'{"error": {"code": "x"}}', 'Error code: 503 - {"code":"x"}'),
    ],
)
async def test_message_from_other_bodies(
    body: bytes, expected: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=503, content=body)
    with pytest.raises(apertis.InternalServerError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert info.value.message == expected


async def test_errors_pickle_and_name_the_public_module(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=429, json={"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, is_reusable=True
    )
    with pytest.raises(apertis.RateLimitError) as info:
        await call(make_client(max_retries=0).get, "/models")
    error = info.value
    assert type(error).__module__ == "apertis"
    assert repr(error).startswith("RateLimitError(")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is apertis.RateLimitError
    assert clone.message == error.message
    assert str(clone) == str(error)
    assert clone.status_code == 429
    assert clone.code == "rate_limit_exceeded"
    assert clone.body == error.body
    assert clone.response.status_code == 429


def test_connection_errors_pickle() -> None:
    error = apertis.APITimeoutError(cause=httpx.ReadTimeout("slow"))
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is apertis.APITimeoutError
    assert clone.message == "Request timed out."
    assert isinstance(clone, apertis.APIConnectionError)
    assert isinstance(clone, apertis.APIError)


def test_hierarchy() -> None:
    assert issubclass(apertis.APIError, apertis.ApertisError)
    assert issubclass(apertis.APIStatusError, apertis.APIError)
    assert issubclass(apertis.APIConnectionError, apertis.APIError)
    assert issubclass(apertis.APITimeoutError, apertis.APIConnectionError)
    assert issubclass(apertis.APIResponseValidationError, apertis.APIError)
    for _, cls in STATUS_CLASSES:
        assert issubclass(cls, apertis.APIStatusError)
        assert cls.__module__ == "apertis"


async def test_key_echoed_by_the_server_is_redacted(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=401, json={"error": {"message": f"Incorrect API key provided: {API_KEY}"}})
    with pytest.raises(apertis.AuthenticationError) as info:
        await call(make_client().get, "/models")
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert "<redacted>" in str(info.value)


async def test_timeout_raises_api_timeout_error(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    with pytest.raises(apertis.APITimeoutError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert info.value.cause is info.value.__cause__
    assert info.value.status_code is None
    assert info.value.request is not None


@pytest.mark.parametrize(
    "exception",
    [httpx.ConnectError("refused"), httpx.RemoteProtocolError("bad"), httpx.ReadError("reset"), httpx.ProxyError("x")],
)
async def test_transport_failures_raise_api_connection_error(
    exception: Exception, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(exception)
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert not isinstance(info.value, apertis.APITimeoutError)
    assert type(exception).__name__ in info.value.message


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"<html>oops</html>", "text/html"), (b"{not json", "application/json"), (b"", "application/json")],
)
async def test_2xx_with_a_body_that_is_not_json_raises_validation_error(
    content: bytes, content_type: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=200, content=content, headers={"content-type": content_type})
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await call(make_client().get, "/models", cast_to=dict)
    assert info.value.status_code == 200
    assert info.value.text == content.decode().replace("<html>", " ").replace("</html>", " ").strip()
    assert "200" in info.value.message


async def test_2xx_with_json_of_the_wrong_shape_raises_validation_error(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    def cast(value: Any) -> Any:
        return value["data"]

    httpx_mock.add_response(json=["a", "list"])
    with pytest.raises(apertis.APIResponseValidationError):
        await call(make_client().get, "/models", cast_to=cast)


def test_status_error_from_a_hand_built_response() -> None:
    response = httpx.Response(404, json={"error": {"message": "gone"}})
    error = make_status_error(response)
    assert isinstance(error, apertis.NotFoundError)
    assert error.request is None
    assert error.message == "Error code: 404 - gone"


def test_0_4_1_names_and_attributes() -> None:
    response = httpx.Response(401, json={"error": {"message": "bad key"}}, request=httpx.Request("GET", "https://x"))
    error = make_status_error(response)
    # 0.4.1 code reads `.status_code`, `.response` and `.body` from `except APIError`.
    assert isinstance(error, apertis.APIError)
    assert error.status_code == 401
    # A redacted copy (see test_secrets.py) that reads like the response.
    assert (error.response.status_code, error.response.json()) == (401, response.json())
    assert error.body == {"message": "bad key"}
    legacy = apertis.APIError("custom", status_code=500, response=None)
    assert legacy.status_code == 500
    assert apertis.APIConnectionError("boom", cause=ValueError("x")).cause is not None


@pytest.mark.parametrize("status", [status for status, _ in STATUS_CLASSES])
async def test_no_status_error_shows_the_key(
    status: int, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: Any
) -> None:
    httpx_mock.add_response(
        status_code=status,
        json={"error": {"message": f"key {API_KEY}", "param": API_KEY}},
        headers={"x-should-retry": "false"},
    )
    with pytest.raises(apertis.APIStatusError) as info:
        await call(make_client().get, "/models")
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert API_KEY not in str(pickle.loads(pickle.dumps(info.value)))


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectError(f"cannot connect with Authorization: Bearer {API_KEY}"),
        httpx.ReadTimeout(f"timed out reading https://api.test/v1/models?key={API_KEY}"),
        httpx.RemoteProtocolError(f"bad header x-api-key: {API_KEY}"),
        httpx.ProxyError(f"proxy refused {API_KEY}"),
    ],
    ids=["connect", "timeout", "protocol", "proxy"],
)
async def test_no_connection_error_shows_the_key(
    exception: Exception, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(exception)
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert "<redacted>" in str(info.value)
    assert API_KEY not in str(pickle.loads(pickle.dumps(info.value)))


async def test_no_validation_error_shows_the_key(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(content=f"<html>key {API_KEY}</html>".encode(), headers={"content-type": "text/html"})
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await call(make_client().get, "/models")
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)


async def test_a_full_retry_sequence_logs_nothing_secret(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: Any, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(status_code=500, json={"error": {"message": f"upstream saw {API_KEY}"}})
    httpx_mock.add_exception(httpx.ReadError(f"reset while sending Bearer {API_KEY}"))
    httpx_mock.add_response(status_code=429, headers={"retry-after": "0.01"})
    httpx_mock.add_response(json={"ok": True})
    client = make_client(max_retries=3, default_headers={"x-api-key": API_KEY, "api-key": API_KEY})
    with caplog.at_level(logging.DEBUG, logger="apertis"):
        assert await call(client.post, "/chat/completions", body={"prompt": "PRIVATE-PROMPT"}) == {"ok": True}
    messages = [record.getMessage() for record in caplog.records]
    assert sum("Retrying" in message for message in messages) == 3
    assert sum("Request:" in message for message in messages) == 4
    assert API_KEY not in caplog.text and "PRIVATE-PROMPT" not in caplog.text


# ---------------------------------------------------------------------------------------------- pickles carry no key


async def test_a_pickled_status_error_carries_no_key_and_keeps_what_callers_read(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock, sleeps: Any
) -> None:
    # The server echoes the key in its body, the body is gzipped (the copy stores it decoded), and the client
    # also sends the key in x-api-key: none of it may reach the pickle.
    body = {"error": {"message": f"key {API_KEY} is over quota", "code": "insufficient_quota"}}
    headers = {"x-request-id": "req_pickle", "content-encoding": "gzip", "content-type": "application/json"}
    httpx_mock.add_response(status_code=503, json={"error": {"message": "busy"}})
    httpx_mock.add_response(
        status_code=500, stream=IteratorStream([gzip.compress(json.dumps(body).encode())]), headers=headers
    )
    client = make_client(max_retries=1, default_headers={"x-api-key": API_KEY})
    with pytest.raises(apertis.InternalServerError) as info:
        await call(client.post, "/chat/completions", body={"model": "m"})
    error = info.value
    data = pickle.dumps(error)
    assert API_KEY.encode() not in data
    clone = pickle.loads(data)
    assert type(clone) is apertis.InternalServerError
    assert (clone.status_code, clone.message, clone.request_id, clone.retries_taken) == (
        500,
        error.message,
        "req_pickle",
        1,
    )
    assert str(clone) == str(error) and repr(clone) == repr(error)
    assert clone.body == {"message": "key <redacted> is over quota", "code": "insufficient_quota"}
    assert clone.code == "insufficient_quota"
    assert clone.response.status_code == 500
    assert clone.response.headers["x-request-id"] == "req_pickle"
    assert clone.response.json() == {"error": clone.body}
    assert clone.request is not None
    assert clone.request.method == "POST"
    assert clone.request.url == f"{BASE_URL}/chat/completions"
    assert clone.request.headers["authorization"] == "<redacted>"
    assert clone.request.headers["x-api-key"] == "<redacted>"
    assert clone.response.request.headers["authorization"] == "<redacted>"
    # The error the caller holds was redacted when it was built: the pickle is the same error.
    assert error.request is not None and error.request.headers["authorization"] == "<redacted>"
    assert error.body == clone.body and error.response.content == clone.response.content


async def test_a_connection_error_pickled_with_its_chain_carries_no_key(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # Dask's workers pickle errors with tblib, which pickles the chained transport exception too (its request
    # with it): the chain holds the redacted request, not the one that was sent.
    pickling_support = pytest.importorskip("tblib.pickling_support")
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=0).get, "/models")
    pickling_support.install()  # tests/conftest.py puts the interpreter's picklers back after the test
    data = pickle.dumps(info.value)
    assert API_KEY.encode() not in data
    clone = pickle.loads(data)
    assert isinstance(clone.__cause__, httpx.ConnectError)
    assert clone.__cause__.request.headers["authorization"] == "<redacted>"
    sent_cause = info.value.__cause__
    assert isinstance(sent_cause, httpx.ConnectError) and info.value.request is not None
    assert sent_cause.request.url == info.value.request.url


@pytest.mark.parametrize(
    ("exception", "error_class"),
    [
        (httpx.ConnectError("connection refused"), apertis.APIConnectionError),
        (httpx.ReadTimeout("timed out"), apertis.APITimeoutError),
    ],
    ids=["connection", "timeout"],
)
async def test_a_pickled_connection_error_carries_no_key(
    exception: Exception,
    error_class: Type[apertis.APIError],
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_exception(exception)
    with pytest.raises(error_class) as info:
        await call(make_client(max_retries=0).get, "/models")
    data = pickle.dumps(info.value)
    assert API_KEY.encode() not in data
    clone = pickle.loads(data)
    assert type(clone) is error_class
    assert clone.message == info.value.message and str(clone) == str(info.value) and repr(clone) == repr(info.value)
    assert (clone.status_code, clone.response, clone.body, clone.request_id) == (None, None, None, None)
    assert clone.retries_taken == 0
    assert clone.request is not None
    assert clone.request.method == "GET" and clone.request.url == f"{BASE_URL}/models"
    assert clone.request.headers["authorization"] == "<redacted>"


async def test_a_pickled_validation_error_carries_no_key(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(content=f"<html>key {API_KEY}</html>".encode(), headers={"content-type": "text/html"})
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await call(make_client().get, "/models")
    assert API_KEY not in info.value.text
    data = pickle.dumps(info.value)
    assert API_KEY.encode() not in data
    clone = pickle.loads(data)
    assert clone.status_code == 200 and clone.message == info.value.message and clone.text == info.value.text


# ---------------------------------------------------------------------------------------------- redaction


async def test_a_short_key_does_not_garble_messages(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # "test" is a placeholder key for local servers, and a word of ordinary messages.
    httpx_mock.add_response(status_code=400, json={"error": {"message": "this test request is testing limits"}})
    httpx_mock.add_exception(httpx.ConnectError("test connection refused"))
    client = make_client(api_key="test", max_retries=0)
    with pytest.raises(apertis.BadRequestError) as info:
        await call(client.get, "/models")
    assert info.value.message == "Error code: 400 - this test request is testing limits"
    with pytest.raises(apertis.APIConnectionError) as connection:
        await call(client.get, "/models")
    assert "test connection refused" in connection.value.message


async def test_a_short_key_is_still_redacted_as_a_credential(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=401, json={"error": {"message": "rejected Authorization: Bearer test"}})
    with pytest.raises(apertis.AuthenticationError) as info:
        await call(make_client(api_key="test", max_retries=0).get, "/models")
    assert info.value.message == "Error code: 401 - rejected Authorization: Bearer <redacted>"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (f"<html><body><h1>502</h1><p>upstream refused key {API_KEY}.</p></body></html>", "text/html"),
        (json.dumps({"error": {"message": f"bad key ({API_KEY})"}}), "application/json"),
        (f"proxy: x-api-key: {API_KEY}", "text/plain"),
    ],
    ids=["html", "json", "plain"],
)
async def test_a_real_key_in_an_error_message_is_redacted(
    content: str, content_type: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=502, content=content.encode(), headers={"content-type": content_type})
    with pytest.raises(apertis.InternalServerError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)
    assert "<redacted>" in info.value.message


async def test_any_bearer_or_api_key_credential_is_redacted(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # Not the client's key (a proxy's, another tenant's): still a credential, never shown.
    httpx_mock.add_exception(
        httpx.RemoteProtocolError(
            "proxy sent Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl and x-api-key: k-99"
        )
    )
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=0).get, "/models")
    message = info.value.message
    assert "eyJ" not in message and "k-99" not in message
    assert "Bearer <redacted>" in message and "x-api-key: <redacted>" in message
