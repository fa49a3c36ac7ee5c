"""The retry loop: which failures are retried, how long it waits, and what every attempt carries."""

from __future__ import annotations

import email.utils
import io
import json
import logging
import time
from typing import Any, Callable, Iterator, List, Optional

import httpx
import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis._utils import backoff_delay, parse_retry_after

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 2 "}, 2.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "1_0"}, None),  # float() reads 10
        ({"retry-after": "+3"}, None),
        ({"retry-after": "1e3"}, None),  # float() reads 1000
        ({"retry-after": "9" * 400}, None),
        ({"retry-after-ms": "1_000", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "2e3"}, None),
        ({"retry-after": "86400"}, 86400.0),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, -30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00"}, 1445412480.0 - NOW),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "1500.5"}, 1.5005),
        ({"retry-after-ms": "100", "retry-after": "9"}, 0.1),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: Optional[float]) -> None:
    result = parse_retry_after(httpx.Headers(headers), now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_backoff_doubles_is_capped_and_jitter_only_shortens() -> None:
    for retries_taken, nominal in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (100, 8.0)]:
        delays = [backoff_delay(retries_taken, initial=0.5, maximum=8.0) for _ in range(200)]
        assert all(nominal * 0.75 <= delay <= nominal for delay in delays)
        assert len(set(delays)) > 1  # jittered


@pytest.mark.parametrize(
    ("retry_after", "expected_delay"),
    [("2", 2.0), ("0.25", 0.25), (None, None), ("0", None), ("-3", None), ("junk", None), ("1_0", None)],
)
async def test_the_loop_sleeps_what_the_server_asked_or_backs_off(
    retry_after: Optional[str],
    expected_delay: Optional[float],
    make_client: Callable[..., Any],
    call: Any,
    sleeps: List[float],
    httpx_mock: HTTPXMock,
) -> None:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    httpx_mock.add_response(status_code=429, headers=headers)
    httpx_mock.add_response(json={"ok": True})
    assert await call(make_client().get, "/models") == {"ok": True}
    assert len(sleeps) == 1
    if expected_delay is None:
        assert 0.375 <= sleeps[0] <= 0.5  # first backoff step
    else:
        assert sleeps[0] == pytest.approx(expected_delay)


async def test_retry_after_http_date_is_slept(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        status_code=503, headers={"retry-after": email.utils.formatdate(time.time() + 20, usegmt=True)}
    )
    httpx_mock.add_response(json={})
    await call(make_client().get, "/models")
    assert 15 <= sleeps[0] <= 21  # second resolution of HTTP dates, generous for a slow machine


async def test_retry_after_above_the_cap_raises_at_once(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=429, headers={"retry-after": "3600"})
    with pytest.raises(apertis.RateLimitError) as info:
        await call(make_client().get, "/models")
    assert sleeps == []
    assert info.value.retries_taken == 0
    assert len(httpx_mock.get_requests()) == 1


async def test_the_cap_is_configurable(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=429, headers={"retry-after": "90"})
    httpx_mock.add_response(json={})
    await call(make_client(max_retry_after=120).get, "/models")
    assert sleeps == [90.0]
    httpx_mock.add_response(status_code=429, headers={"retry-after": "5"})
    with pytest.raises(apertis.RateLimitError):
        await call(make_client(max_retry_after=1).get, "/models")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
async def test_retryable_statuses_are_attempted_max_retries_plus_one_times(
    status: int, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=status, json={"error": {"message": "busy"}}, is_reusable=True)
    with pytest.raises(apertis.APIStatusError) as info:
        await call(make_client(max_retries=3).get, "/models")
    assert info.value.status_code == status
    assert info.value.retries_taken == 3
    assert len(httpx_mock.get_requests()) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 422])
async def test_client_errors_are_never_retried(
    status: int, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=status, json={"error": {"message": "no"}})
    with pytest.raises(apertis.APIStatusError):
        await call(make_client(max_retries=5).post, "/chat/completions", body={"model": "m"})
    assert len(httpx_mock.get_requests()) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_x_should_retry_true_cannot_force_retrying_a_wrong_request(
    status: int, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=status, headers={"x-should-retry": "true"})
    with pytest.raises(apertis.APIStatusError):
        await call(make_client().get, "/models")
    assert len(httpx_mock.get_requests()) == 1


async def test_x_should_retry_overrides_the_status_rule(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=503, headers={"x-should-retry": "false"})
    with pytest.raises(apertis.InternalServerError):
        await call(make_client().get, "/models")
    assert len(httpx_mock.get_requests()) == 1

    httpx_mock.add_response(status_code=402, headers={"x-should-retry": "TRUE"})
    httpx_mock.add_response(json={"ok": 1})
    assert await call(make_client().get, "/models") == {"ok": 1}
    assert len(httpx_mock.get_requests()) == 3


async def test_success_after_failures_and_growing_gaps(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    for _ in range(5):
        httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(json={"done": True})
    assert await call(make_client(max_retries=5).get, "/models") == {"done": True}
    assert len(sleeps) == 5
    for index, (delay, nominal) in enumerate(zip(sleeps, [0.5, 1.0, 2.0, 4.0, 8.0])):
        assert nominal * 0.75 <= delay <= nominal, index
    assert sleeps[1] > sleeps[0] and sleeps[2] > sleeps[1] and sleeps[3] > sleeps[2]


@pytest.mark.parametrize(
    ("exception", "error_class"),
    [
        (httpx.ConnectError("refused"), apertis.APIConnectionError),
        (httpx.ConnectTimeout("slow connect"), apertis.APITimeoutError),
        (httpx.ReadTimeout("slow read"), apertis.APITimeoutError),
        (httpx.WriteTimeout("slow write"), apertis.APITimeoutError),
        (httpx.PoolTimeout("pool"), apertis.APITimeoutError),
        (httpx.ReadError("reset"), apertis.APIConnectionError),
        (httpx.WriteError("broken pipe"), apertis.APIConnectionError),
        (httpx.RemoteProtocolError("server hung up"), apertis.APIConnectionError),
    ],
)
async def test_transport_failures_are_retried_then_wrapped(
    exception: Exception,
    error_class: type,
    make_client: Callable[..., Any],
    call: Any,
    sleeps: List[float],
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_exception(exception, is_reusable=True)
    with pytest.raises(apertis.APIConnectionError) as info:
        await call(make_client(max_retries=2).post, "/embeddings", body={"input": "x"})
    assert type(info.value) is error_class
    assert info.value.retries_taken == 2
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps) == 2


async def test_a_transport_failure_then_success(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    httpx_mock.add_response(json={"id": "x"})
    assert await call(make_client().get, "/models") == {"id": "x"}


async def test_non_transport_httpx_errors_are_wrapped_and_not_retried(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.UnsupportedProtocol("no"))
    with pytest.raises(apertis.APIConnectionError):
        await call(make_client().get, "/models")
    assert sleeps == []


async def test_max_retries_zero_and_per_call_override(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500, is_reusable=True)
    client = make_client(max_retries=0)
    with pytest.raises(apertis.InternalServerError):
        await call(client.get, "/models")
    assert len(httpx_mock.get_requests()) == 1
    with pytest.raises(apertis.InternalServerError) as info:
        await call(client.with_options(max_retries=4).get, "/models")
    assert info.value.retries_taken == 4
    assert len(httpx_mock.get_requests()) == 6
    assert client.max_retries == 0


async def test_every_attempt_carries_the_same_idempotency_key_and_a_retry_count(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(status_code=429)
    httpx_mock.add_response(json={})
    await call(make_client().post, "/chat/completions", body={"model": "m"})
    requests = httpx_mock.get_requests()
    keys = {request.headers["idempotency-key"] for request in requests}
    assert len(keys) == 1
    assert keys.pop().startswith("apertis-")
    assert [request.headers["x-apertis-retry-count"] for request in requests] == ["0", "1", "2"]
    assert len({request.content for request in requests}) == 1

    # A new call gets a new key.
    httpx_mock.add_response(json={})
    await call(make_client().post, "/chat/completions", body={"model": "m"})
    assert httpx_mock.get_requests()[-1].headers["idempotency-key"] not in {
        r.headers["idempotency-key"] for r in requests
    }


async def test_the_callers_idempotency_key_is_kept_and_get_has_none(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=502)
    httpx_mock.add_response(json={})
    await call(make_client().post, "/images/generations", body={}, extra_headers={"idempotency-key": "mine-1"})
    assert [r.headers["idempotency-key"] for r in httpx_mock.get_requests()] == ["mine-1", "mine-1"]

    httpx_mock.add_response(json={})
    await call(make_client().get, "/models")
    assert "idempotency-key" not in httpx_mock.get_requests()[-1].headers

    httpx_mock.add_response(json={})
    await call(
        make_client().post, "/x", body={}, extra_headers={"Idempotency-Key": None, "x-apertis-retry-count": None}
    )
    last = httpx_mock.get_requests()[-1]
    assert "idempotency-key" not in last.headers
    assert "x-apertis-retry-count" not in last.headers


async def test_a_one_shot_upload_is_retried_with_the_same_bytes(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    # A generator is copied when the call is made (apertis/_files.py), so it can be sent again like any body.
    def chunks() -> Iterator[bytes]:
        yield b"RIFF"
        yield b"data"

    httpx_mock.add_response(status_code=503)
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_response(json={"text": "hi"})
    result = await call(
        make_client().post, "/audio/transcriptions", data={"model": "whisper-1"}, files=[("file", chunks())]
    )
    assert result == {"text": "hi"}
    bodies = [request.read() for request in httpx_mock.get_requests()]
    assert len(bodies) == 3 and len(sleeps) == 2
    # Each attempt has its own multipart boundary, of the same length; the file is in each, whole.
    assert all(b"\r\n\r\nRIFFdata\r\n" in body and len(body) == len(bodies[0]) for body in bodies)
    assert all("content-length" in request.headers for request in httpx_mock.get_requests())


async def test_a_file_object_is_rewound_for_the_retry(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(json={"text": "hi"})
    upload = io.BytesIO(b"audio-bytes-" * 100)
    upload.name = "clip.mp3"
    await call(make_client().post, "/audio/transcriptions", data={"model": "whisper-1"}, files=[("file", upload)])
    first, second = httpx_mock.get_requests()
    body_first, body_second = first.read(), second.read()
    assert body_first.count(b"audio-bytes-") == 100
    assert body_second.count(b"audio-bytes-") == 100
    assert b'filename="clip.mp3"' in body_second


async def test_each_retry_is_logged_at_info(
    make_client: Callable[..., Any],
    call: Any,
    sleeps: List[float],
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    httpx_mock.add_response(status_code=429, headers={"retry-after": "1.5"})
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(json={})
    with caplog.at_level(logging.INFO, logger="apertis"):
        await call(make_client().get, "/models")
    retries = [r for r in caplog.records if r.name == "apertis" and r.levelno == logging.INFO]
    assert len(retries) == 2
    assert "1.50 seconds" in retries[0].getMessage()
    assert "status 429" in retries[0].getMessage()
    assert "ConnectError" in retries[1].getMessage()


async def test_status_errors_of_streaming_calls_are_retried_before_the_stream_starts(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    class FakeStream:
        def __init__(self, *, response: httpx.Response, client: Any) -> None:
            self.response = response
            self.client = client

    httpx_mock.add_response(status_code=429)
    httpx_mock.add_response(status_code=200, content=b"data: {}\n\n", headers={"content-type": "text/event-stream"})
    client = make_client()
    stream = await call(
        client._request, "POST", "/chat/completions", body={"stream": True}, stream=True, stream_cls=FakeStream
    )
    assert isinstance(stream, FakeStream)
    assert stream.client is client
    assert stream.response.status_code == 200
    assert len(sleeps) == 1
    requests = httpx_mock.get_requests()
    assert requests[-1].headers["accept"] == "text/event-stream"
    if isinstance(client, apertis.AsyncApertis):
        content = await stream.response.aread()
        await stream.response.aclose()
    else:
        content = stream.response.read()
        stream.response.close()
    assert content == b"data: {}\n\n"


CHAT_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4.1-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


@pytest.mark.parametrize("failures", [0, 1, 2])
async def test_a_returned_model_says_how_many_retries_it_took_and_its_request_id(
    failures: int, make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    for _ in range(failures):
        httpx_mock.add_response(status_code=503, headers={"x-request-id": "req_failed"})
    httpx_mock.add_response(json=CHAT_ANSWER, headers={"x-request-id": "req_ok"})
    completion = await call(
        make_client().chat.completions.create, model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "hi"
    assert completion.retries_taken == failures
    assert completion._request_id == "req_ok"
    # Only the object the call returned carries them; they stay out of equality, repr and to_dict.
    assert completion.choices[0].retries_taken == 0
    assert "retries" not in repr(completion) and "req_ok" not in repr(completion)
    assert completion.to_dict() == CHAT_ANSWER
    assert completion == apertis.types.ChatCompletion.from_dict(CHAT_ANSWER)


async def test_the_request_id_falls_back_to_the_anthropic_header(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json={"object": "list", "data": []}, headers={"request-id": "req_anthropic"})
    models = await call(make_client().models.list)
    assert models.retries_taken == 0
    assert models._request_id == "req_anthropic"


def test_a_model_built_in_code_reports_no_call() -> None:
    model = apertis.types.ChatCompletion.from_dict(CHAT_ANSWER)
    assert model.retries_taken == 0
    assert model._request_id is None


async def test_retries_taken_survives_pickle_and_copy(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    import copy
    import pickle

    httpx_mock.add_response(status_code=500)
    httpx_mock.add_response(json=CHAT_ANSWER, headers={"x-request-id": "req_ok"})
    completion = await call(
        make_client().chat.completions.create, model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}]
    )
    for clone in (pickle.loads(pickle.dumps(completion)), copy.copy(completion), copy.deepcopy(completion)):
        assert clone.retries_taken == 1
        assert clone._request_id == "req_ok"


async def test_a_stream_says_how_many_retries_it_took_before_it_opened(
    make_client: Callable[..., Any], call: Any, sleeps: List[float], httpx_mock: HTTPXMock
) -> None:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
    }
    body = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
    httpx_mock.add_response(status_code=429, headers={"retry-after": "0.1"})
    httpx_mock.add_response(content=body, headers={"content-type": "text/event-stream"})
    stream = await call(
        make_client().chat.completions.create,
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    assert stream.retries_taken == 1
    if hasattr(stream, "__aiter__"):
        chunks = [item async for item in stream]
    else:
        chunks = list(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["hi"]
    assert chunks[0].retries_taken == 0
