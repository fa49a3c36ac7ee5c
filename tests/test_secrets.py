"""The client's key, and what the caller passes as headers, never leak: not through what a server echoes, not into
an exception (its message, body, request, response, pickle), not into the DEBUG log, not to another host."""

from __future__ import annotations

import contextlib
import logging
import pickle
import traceback
from typing import Any, Callable, List

import httpx
import pytest
from conftest import API_KEY, BASE_URL
from pytest_httpx import HTTPXMock, IteratorStream

import apertis

# What a caller might pass in default_headers: credentials of other services, under names the SDK cannot know.
GOOG_KEY = "AIzaSyGoogleKey-0123456789abcdef"
COOKIE = "session=cookie-value-0123456789abcdef"
# Characters a URL or a JSON encoder writes differently.
ODD_KEY = "sk-ab+cd/ef=0123456789xyz"


def _sent_token(request: httpx.Request) -> str:
    """The key as the server received it (what an echoing server has to work with)."""
    return request.headers["authorization"].partition(" ")[2]


def everything(error: BaseException) -> str:
    """All an exception shows or stores, as text: what a log, a debugger or a task queue could pick up."""
    parts: List[Any] = [str(error), repr(error), error.args, vars(error)]
    # A traceback prints the chained causes too (a transport exception's own message).
    parts += traceback.format_exception(type(error), error, error.__traceback__)
    for name in ("request", "response"):
        stored = getattr(error, name, None)
        if stored is None:
            continue
        with contextlib.suppress(httpx.ResponseNotRead, httpx.RequestNotRead):  # a live stream's body: not stored
            parts.append(stored.content)
        parts += [stored.url, stored.headers.raw]
        if name == "response" and stored.request is not None:
            parts += [stored.request.headers.raw]
    data = pickle.dumps(error)
    clone = pickle.loads(data)
    parts += [data.decode("latin-1"), repr(clone), vars(clone)]
    return "\n".join(str(part) for part in parts)


async def test_a_key_echoed_glued_to_other_characters_is_redacted_everywhere(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = _sent_token(request)
        return httpx.Response(
            401,
            json={"error": {"message": f"no such key id=abc{token}xyz", "param": f"key:{token}.", "code": token}},
        )

    httpx_mock.add_callback(echo)
    with pytest.raises(apertis.AuthenticationError) as info:
        await call(make_client(max_retries=0).get, "/models")
    error = info.value
    assert API_KEY not in everything(error)
    assert error.message == "Error code: 401 - no such key id=abc<redacted>xyz"
    assert error.body == {
        "message": "no such key id=abc<redacted>xyz",
        "param": "key:<redacted>.",
        "code": "<redacted>",
    }
    assert error.code == "<redacted>"
    # The stored response still reads like the response, with the key redacted.
    assert error.response.json() == {"error": error.body}
    assert error.request is not None and error.request.headers["authorization"] == "<redacted>"


async def test_a_key_echoed_in_any_response_header_is_redacted(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = _sent_token(request)
        return httpx.Response(
            401,
            headers={
                "WWW-Authenticate": f'Bearer realm="api", error="invalid_token", key="{token}"',
                "X-Echo": token,
                "x-request-id": f"req-{token}",
            },
            json={"error": {"message": "unauthorized"}},
        )

    httpx_mock.add_callback(echo)
    with pytest.raises(apertis.AuthenticationError) as info:
        await call(make_client(max_retries=0).get, "/models")
    error = info.value
    assert API_KEY not in everything(error)
    assert error.response.headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token", key="<redacted>"'
    assert error.response.headers["x-echo"] == "<redacted>"
    assert error.request_id == "req-<redacted>"


async def test_a_key_cut_by_the_truncation_of_a_long_error_page_leaves_no_part_behind(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # The message quotes at most 500 characters of an HTML page: the key straddles the cut.
    page = "<html><body><p>" + "x" * 490 + f" {API_KEY} and more</p></body></html>"
    httpx_mock.add_response(status_code=502, content=page.encode(), headers={"content-type": "text/html"})
    with pytest.raises(apertis.InternalServerError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert API_KEY[:8] not in everything(info.value)


async def test_a_2xx_body_that_is_not_json_never_shows_the_key_glued(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_callback(
        lambda request: httpx.Response(
            200, content=f"<html>token=abc{_sent_token(request)}xyz</html>".encode(), headers={"X-Echo": API_KEY}
        )
    )
    with pytest.raises(apertis.APIResponseValidationError) as info:
        await call(make_client().get, "/models")
    assert API_KEY not in everything(info.value)
    assert info.value.text == "token=abc<redacted>xyz"


async def test_a_transport_error_quoting_the_key_glued_never_shows_it(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError(f"proxy refused https://api.test/v1/models?k=abc{API_KEY}xyz"))
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert API_KEY not in everything(info.value)
    assert "k=abc<redacted>xyz" in info.value.message


async def test_a_key_is_redacted_percent_encoded_and_json_escaped_too(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    encoded = "sk-ab%2Bcd%2Fef%3D0123456789xyz"
    escaped = "sk-ab+cd\\/ef=0123456789xyz"  # PHP's json_encode escapes the slash
    httpx_mock.add_response(
        status_code=400,
        content=f'{{"error": {{"message": "see https://x.test/?key={encoded}", "param": "{escaped}"}}}}'.encode(),
        headers={"X-Echo": encoded},
    )
    with pytest.raises(apertis.BadRequestError) as info:
        await call(make_client(api_key=ODD_KEY, max_retries=0).get, "/models")
    shown = everything(info.value)
    assert ODD_KEY not in shown and encoded not in shown and escaped not in shown
    assert info.value.body == {"message": "see https://x.test/?key=<redacted>", "param": "<redacted>"}


async def test_a_short_key_keeps_the_whole_token_rule(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    # Under 16 characters a key could be part of ordinary text: redacted only where it stands alone, in the
    # body as in the message.
    short = "short-key-12"
    httpx_mock.add_response(
        status_code=400, json={"error": {"message": f"key {short} rejected; see short-key-123", "param": short}}
    )
    with pytest.raises(apertis.BadRequestError) as info:
        await call(make_client(api_key=short, max_retries=0).get, "/models")
    assert info.value.message == "Error code: 400 - key <redacted> rejected; see short-key-123"
    assert info.value.body == {"message": "key <redacted> rejected; see short-key-123", "param": "<redacted>"}


async def test_a_stream_error_event_echoing_the_key_never_shows_it(
    kind: str, make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    error_event = f'data: {{"error": {{"message": "quota of abc{API_KEY}xyz used", "type": "server_error"}}}}\n\n'
    httpx_mock.add_response(
        stream=IteratorStream([error_event.encode()]),
        headers={"content-type": "text/event-stream", "X-Echo": API_KEY},
    )
    stream = await call(
        make_client(max_retries=0).chat.completions.create,
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    with pytest.raises(apertis.APIStatusError) as info:
        if kind == "async":
            async for _ in stream:
                pass
        else:
            for _ in stream:
                pass
    assert API_KEY not in everything(info.value)
    assert info.value.body == {"message": "quota of abc<redacted>xyz used", "type": "server_error"}


async def test_debug_logs_never_show_the_key_nor_caller_headers(
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
    sleeps: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = _sent_token(request)
        return httpx.Response(
            503,
            headers={"x-request-id": f"req{token}", "X-Echo": token},
            json={"error": {"message": f"id=abc{token}xyz"}},
        )

    httpx_mock.add_callback(echo)
    httpx_mock.add_callback(echo)
    client = make_client(max_retries=1, default_headers={"X-Goog-Api-Key": GOOG_KEY, "Cookie": COOKIE})
    with caplog.at_level(logging.DEBUG, logger="apertis"), pytest.raises(apertis.InternalServerError) as info:
        await call(client.get, f"/files/abc{API_KEY}", extra_headers={"X-Extra": GOOG_KEY})
    assert sum("Request:" in record.getMessage() for record in caplog.records) == 2
    assert sum("Response:" in record.getMessage() for record in caplog.records) == 2
    for secret in (API_KEY, GOOG_KEY, COOKIE):
        assert secret not in caplog.text
    assert "'x-goog-api-key': '<redacted>'" in caplog.text.lower()
    # The stored request keeps only the SDK's own header values.
    shown = everything(info.value)
    for secret in (API_KEY, GOOG_KEY, COOKIE):
        assert secret not in shown
    assert info.value.request is not None and info.value.request.headers["accept"] == "application/json"


async def test_default_headers_never_travel_to_another_host(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    client = make_client(default_headers={"X-Goog-Api-Key": GOOG_KEY, "Cookie": COOKIE, "Accept-Language": "fr"})
    await call(client.get, "https://other.host/x")
    await call(client.get, "https://other.host/y", extra_headers={"X-Goog-Api-Key": "chosen-for-this-call"})
    await call(client.get, "/models")
    elsewhere, chosen, home = httpx_mock.get_requests()
    for header in ("authorization", "x-goog-api-key", "cookie", "accept-language"):
        assert header not in elsewhere.headers
    # A call that names the other host and passes its own headers means to send them.
    assert chosen.headers["x-goog-api-key"] == "chosen-for-this-call" and "cookie" not in chosen.headers
    assert home.url == f"{BASE_URL}/models"
    assert (home.headers["x-goog-api-key"], home.headers["cookie"]) == (GOOG_KEY, COOKIE)
    assert home.headers["authorization"] == f"Bearer {API_KEY}"


def test_the_apertis_logger_redacts_credential_arguments_whoever_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    apertis.Apertis(api_key=API_KEY).close()  # the SDK's logging is set up by its first client (import is lazy)
    logger = logging.getLogger("apertis")
    with caplog.at_level(logging.DEBUG, logger="apertis"):
        logger.debug("headers %s", {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"})
        logger.debug("auth=%(authorization)s n=%(n)s", {"authorization": f"Bearer {API_KEY}", "n": 1})
        # Mappings that are not headers, and other values, are logged as they are.
        logger.debug("%s, %s and %s", {1: "one"}, httpx.Headers({"x-api-key": API_KEY}), "three")
    assert API_KEY not in caplog.text
    assert caplog.messages == [
        "headers {'Authorization': '<redacted>', 'Accept': 'application/json'}",
        "auth=<redacted> n=1",
        "{1: 'one'}, {'x-api-key': '<redacted>'} and three",
    ]


async def test_bearer_followed_by_a_word_is_prose_not_a_credential(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=401, json={"error": {"message": "Bearer authentication failed: Bearer abc123 is unknown"}}
    )
    with pytest.raises(apertis.AuthenticationError) as info:
        await call(make_client(max_retries=0).get, "/models")
    assert info.value.message == "Error code: 401 - Bearer authentication failed: Bearer <redacted> is unknown"
