"""Users mock the SDK's default HTTP client in their own tests with pytest-httpx or respx: both must intercept
the calls of `Apertis()` and `AsyncApertis()` as created with no http_client.

pytest-httpx patches httpx's HTTPTransport classes, respx (by default) httpcore's connection pools; the SDK's
own pools must stay made of those classes (its sync read deadline works inside the pool, on its network
streams, for this reason).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from pytest_httpx import HTTPXMock

import apertis

MODELS = {"object": "list", "data": [{"id": "gpt-4.1-mini", "object": "model", "created": 1, "owned_by": "x"}]}
CHAT_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4.1-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "mocked"}, "finish_reason": "stop"}],
}


@pytest.fixture
def default_client(kind: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`Apertis()` or `AsyncApertis()` exactly as a user writes it: key from the environment, default pool."""
    monkeypatch.setenv("APERTIS_API_KEY", "sk-mocked")
    return apertis.AsyncApertis() if kind == "async" else apertis.Apertis()


async def _run(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


async def _chat(client: Any) -> Any:
    return await _run(
        client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    )


async def test_pytest_httpx_intercepts_the_default_client(default_client: Any, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url="https://api.apertis.ai/v1/models", json=MODELS)
    httpx_mock.add_response(method="POST", url="https://api.apertis.ai/v1/chat/completions", json=CHAT_ANSWER)
    models = await _run(default_client.models.list())
    assert [model.id for model in models.data] == ["gpt-4.1-mini"]
    completion = await _chat(default_client)
    assert completion.choices[0].message.content == "mocked"
    requests = httpx_mock.get_requests()
    assert [request.method for request in requests] == ["GET", "POST"]
    assert requests[1].headers["authorization"] == "Bearer sk-mocked"
    await _run(default_client.close())


async def test_pytest_httpx_errors_reach_the_caller_as_apertis_errors(
    default_client: Any, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=404, json={"error": {"message": "no such model"}})
    with pytest.raises(apertis.NotFoundError):
        await _chat(default_client.with_options(max_retries=0))
    await _run(default_client.close())


async def test_respx_intercepts_the_default_client(default_client: Any) -> None:
    with respx.mock(base_url="https://api.apertis.ai/v1") as router:
        models_route = router.get("/models").mock(return_value=httpx.Response(200, json=MODELS))
        chat_route = router.post("/chat/completions").mock(return_value=httpx.Response(200, json=CHAT_ANSWER))
        models = await _run(default_client.models.list())
        completion = await _chat(default_client)
        assert [model.id for model in models.data] == ["gpt-4.1-mini"]
        assert completion.choices[0].message.content == "mocked"
        assert models_route.call_count == 1 and chat_route.call_count == 1
        assert chat_route.calls.last.request.headers["authorization"] == "Bearer sk-mocked"
    await _run(default_client.close())


async def test_respx_errors_reach_the_caller_as_apertis_errors(default_client: Any) -> None:
    with respx.mock(base_url="https://api.apertis.ai/v1") as router:
        router.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(apertis.APIConnectionError):
            await _chat(default_client.with_options(max_retries=0))
    await _run(default_client.close())
