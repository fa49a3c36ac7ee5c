"""`apertis.testing.factories`: typed fakes for users' unit tests, sync and async, and the README's pytest example."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis.testing import factories

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


async def _texts(stream: Any) -> List[str]:
    if hasattr(stream, "__aiter__"):
        return [text async for text in stream.text_stream]
    return list(stream.text_stream)


async def _maybe(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


def test_chat_completion_with_content_and_tool_calls() -> None:
    completion = factories.chat_completion(
        "Let me check",
        tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "id": "c9"}],
    )
    assert isinstance(completion, apertis.ChatCompletion)
    choice = completion.choices[0]
    assert choice.message.content == "Let me check"
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_0", "get_weather", '{"city": "Paris"}'),
        ("c9", "now", "{}"),
    ]
    assert factories.chat_completion().choices[0].finish_reason == "stop"
    assert factories.message("Hi").content[0].text == "Hi"  # type: ignore[union-attr]


def test_a_bad_tool_call_is_named() -> None:
    with pytest.raises(TypeError, match=r"`tool_calls\[0\]` must be a dict with a str `name`"):
        factories.chat_completion(tool_calls=[("get_weather", {})])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="`pieces` must be a list of str"):
        factories.chat_completion_stream("Hello")


@pytest.fixture
def chat_stream(kind: str) -> Callable[..., Any]:
    return factories.async_chat_completion_stream if kind == "async" else factories.chat_completion_stream


@pytest.fixture
def message_stream(kind: str) -> Callable[..., Any]:
    return factories.async_messages_stream if kind == "async" else factories.messages_stream


async def test_chat_completion_stream_yields_the_pieces(chat_stream: Callable[..., Any]) -> None:
    stream = chat_stream(["Hel", "lo"])
    assert await _texts(stream) == ["Hel", "lo"]
    final = await _maybe(stream.get_final_completion())
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage.total_tokens == 12
    assert stream.response.is_closed


async def test_chat_completion_stream_with_tool_calls(chat_stream: Callable[..., Any]) -> None:
    stream = chat_stream([], tool_calls=[{"name": "get_weather", "arguments": '{"city": "Oslo"}'}])
    final = await _maybe(stream.get_final_completion())
    call = final.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments, final.choices[0].finish_reason) == (
        "get_weather",
        '{"city": "Oslo"}',
        "tool_calls",
    )


async def test_messages_stream(message_stream: Callable[..., Any]) -> None:
    stream = message_stream(["Bon", "jour"], stop_reason="max_tokens")
    assert await _texts(stream) == ["Bon", "jour"]
    final = await _maybe(stream.get_final_message())
    assert final.content[0].text == "Bonjour"
    assert final.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, apertis.BadRequestError),
        (401, apertis.AuthenticationError),
        (404, apertis.NotFoundError),
        (429, apertis.RateLimitError),
        (503, apertis.InternalServerError),
    ],
)
def test_api_error_is_the_class_of_its_status(status: int, error: type) -> None:
    exc = factories.api_error(status, "Nope", code="some_code", headers={"retry-after": "2"})
    assert type(exc) is error
    assert exc.status_code == status
    assert exc.code == "some_code"
    assert "Nope" in str(exc)
    assert exc.response.headers["retry-after"] == "2"


@pytest.mark.parametrize("status", [200, 600, "429", True])
def test_api_error_refuses_a_status_that_is_not_an_error(status: Any) -> None:
    with pytest.raises(TypeError, match="`status` must be an HTTP error status"):
        factories.api_error(status)


async def test_the_sse_bodies_feed_pytest_httpx(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(
        content=factories.chat_completion_sse(["a", "b"]), headers={"content-type": "text/event-stream"}
    )
    httpx_mock.add_response(content=factories.messages_sse(["c"]), headers={"content-type": "text/event-stream"})
    client = make_client()
    stream = await call(client.chat.completions.create, model="m", messages=[], stream=True)
    assert await _texts(stream) == ["a", "b"]
    stream = await call(client.messages.create, model="m", messages=[], max_tokens=5, stream=True)
    assert (await _maybe(stream.get_final_message())).content[0].text == "c"


def test_the_readme_pytest_example_runs() -> None:
    block = README.split("# test_summary.py\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md:test_summary.py", "exec"), namespace)
    tests = [name for name in namespace if name.startswith("test_")]
    assert tests == ["test_summarise", "test_summarise_when_rate_limited"]
    for name in tests:
        with pytest.MonkeyPatch.context() as monkeypatch:
            namespace[name](monkeypatch)
