"""Bad arguments fail before the network, with a message naming the argument and what was expected.

pytest-httpx fails a test that sends an unexpected request, so every case here also proves nothing was sent.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict

import httpx
import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis.types import ChatCompletionMessageParam  # noqa: F401 - the models are accepted too

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("method", "kwargs", "error", "pattern"),
    [
        (
            "chat.completions.create",
            {"model": None, "messages": MESSAGES},
            TypeError,
            r"`model` must be a str, got None",
        ),
        ("chat.completions.create", {"model": 4, "messages": MESSAGES}, TypeError, r"`model` must be a str, got int 4"),
        (
            "chat.completions.create",
            {"model": "m", "messages": {"role": "user", "content": "hi"}},
            TypeError,
            r"`messages` must be a list of ChatCompletionMessageParam \(dicts or models\), got dict",
        ),
        ("chat.completions.create", {"model": "m", "messages": "hi"}, TypeError, r"`messages` must be a list"),
        ("chat.completions.create", {"model": "m", "messages": None}, TypeError, r"`messages` must be a list"),
        (
            "chat.completions.create",
            {"model": "m", "messages": [{"role": "user"}, "hi"]},
            TypeError,
            r"`messages\[1\]` must be a ChatCompletionMessageParam \(a dict or the model\), got str 'hi'",
        ),
        (
            "messages.create",
            {"model": "m", "messages": MESSAGES, "max_tokens": "9"},
            TypeError,
            r"`max_tokens` must be an int",
        ),
        (
            "messages.create",
            {"model": "m", "messages": MESSAGES, "max_tokens": True},
            TypeError,
            r"`max_tokens` must be an int",
        ),
        ("messages.create", {"model": "m", "messages": [None], "max_tokens": 5}, TypeError, r"`messages\[0\]`"),
        (
            "responses.create",
            {"model": "m", "input": 5},
            TypeError,
            r"`input` must be a str or a list of ResponseInputItemParam",
        ),
        (
            "responses.create",
            {"model": "m", "input": ["hi"]},
            TypeError,
            r"`input\[0\]` must be a ResponseInputItemParam",
        ),
        ("embeddings.create", {"model": "m", "input": None}, TypeError, r"`input` must be a str or a list, got None"),
        ("rerank.create", {"model": "m", "query": "q", "documents": "d"}, TypeError, r"`documents` must be a list"),
        ("audio.speech.create", {"model": "m", "input": b"hi", "voice": "v"}, TypeError, r"`input` must be a str"),
        (
            "chat.completions.create",
            {"model": "m", "messages": [], "stream": "yes"},
            TypeError,
            r"`stream` must be True or False, got str 'yes'",
        ),
        ("messages.create", {"model": "m", "messages": MESSAGES, "max_tokens": 5, "stream": 1}, TypeError, "`stream`"),
        ("responses.create", {"model": "m", "input": "hi", "stream": "false"}, TypeError, "`stream`"),
        ("models.retrieve", {"model": ""}, ValueError, r"Expected a non-empty value for `model` but received ''"),
        ("models.retrieve", {"model": None}, TypeError, r"`model` must be a non-empty str, got None"),
        ("models.retrieve", {"model": 7}, TypeError, r"`model` must be a non-empty str, got int 7"),
    ],
)
async def test_wrong_arguments_fail_before_the_network(
    method: str,
    kwargs: Dict[str, Any],
    error: type,
    pattern: str,
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
) -> None:
    target = make_client()
    *path, name = method.split(".")
    for attr in path:
        target = getattr(target, attr)
    kwargs = dict(kwargs)  # the parameter table is shared by the sync and async runs
    positional = [kwargs.pop("model")] if method == "models.retrieve" else []
    with pytest.raises(error, match=pattern):
        await call(getattr(target, name), *positional, **kwargs)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "error", "pattern"),
    [
        ("request", (7, "/models"), {}, TypeError, r"method must be an HTTP method name such as 'GET', got 7"),
        ("get", ("",), {}, ValueError, r"path must be a non-empty string such as '/models', got ''"),
        ("post", ("/x",), {"response_kind": "xml"}, ValueError, r"response_kind must be 'json', 'binary' or"),
        ("get", ("/models",), {"extra_headers": {1: "x"}}, TypeError, r"header names must be str, got 1"),
        ("get", ("/models",), {"extra_headers": {"X-N": 1}}, TypeError, r"the value of header 'X-N' must be a str"),
        ("post", ("/x",), {"data": {"f": b"raw"}}, TypeError, r"f: bytes cannot be sent as a form field; pass them"),
        (
            "post",
            ("/x",),
            {"data": {"f": {"t": math.nan}}},
            TypeError,
            r"f cannot be sent as a form field: Out of range",
        ),
    ],
)
async def test_wrong_arguments_of_the_generic_calls_fail_before_the_network(
    method: str,
    args: Any,
    kwargs: Dict[str, Any],
    error: type,
    pattern: str,
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
) -> None:
    with pytest.raises(error, match=pattern):
        await call(getattr(make_client(), method), *args, **kwargs)


def test_default_query_is_a_copy(make_client: Callable[..., Any]) -> None:
    client = make_client(default_query={"tenant": "a"})
    client.default_query["tenant"] = "b"  # changing the copy changes nothing
    assert client.default_query == {"tenant": "a"}
    assert client.with_options(default_query={"page": 2}).default_query == {"tenant": "a", "page": 2}


async def test_correct_arguments_of_every_accepted_form_pass(
    make_client: Callable[..., Any], call: Any, httpx_mock: HTTPXMock
) -> None:
    completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    httpx_mock.add_response(json=completion, is_reusable=True)
    client = make_client()
    await call(client.chat.completions.create, model="m", messages=MESSAGES)
    await call(client.chat.completions.create, model="m", messages=tuple(MESSAGES))
    model_message = apertis.types.UserMessageParam.from_dict({"role": "user", "content": "hi"})
    await call(client.chat.completions.create, model="m", messages=[model_message])
    httpx_mock.add_response(json={"object": "list", "data": [], "model": "m"}, is_reusable=True)
    for value in ("text", ["a", "b"], [1, 2], [[1, 2]]):
        await call(client.embeddings.create, model="m", input=value)


@pytest.mark.parametrize(
    ("method", "kwargs", "suggestion"),
    [
        (
            "chat.completions.create",
            {"model": "m", "messages": MESSAGES, "temprature": 1},
            "Did you mean 'temperature'?",
        ),
        ("chat.completions.create", {"model": "m", "messages": MESSAGES, "max_token": 5}, "'max_tokens'"),
        ("models.list", {"timeot": 3}, "Did you mean 'timeout'"),
        ("embeddings.create", {"model": "m", "input": "x", "zzz": 1}, "extra_body"),
    ],
)
async def test_unknown_keyword_arguments_suggest_close_matches(
    method: str,
    kwargs: Dict[str, Any],
    suggestion: str,
    make_client: Callable[..., Any],
    call: Any,
    httpx_mock: HTTPXMock,
) -> None:
    target = make_client()
    *path, name = method.split(".")
    for attr in path:
        target = getattr(target, attr)
    with pytest.raises(TypeError, match="unexpected keyword argument") as info:
        await call(getattr(target, name), **kwargs)
    message = str(info.value)
    assert method + "()" in message
    assert suggestion in message


def test_unknown_client_options_suggest_close_matches(client_class: Any) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'api_kye'. Did you mean 'api_key'\?"):
        client_class(api_kye="sk-x")
    client = client_class(api_key="sk-x")
    with pytest.raises(TypeError, match=r"'max_retires'. Did you mean 'max_retries' or 'max_retry_after'\?") as info:
        client.with_options(max_retires=1)
    assert "extra_body" not in str(info.value)


@pytest.mark.parametrize(
    ("timeout", "error", "pattern"),
    [
        (-1, ValueError, "timeout must be a positive number"),
        (0, ValueError, "timeout must be a positive number"),
        (math.nan, ValueError, "timeout must be a positive number"),
        (math.inf, ValueError, "timeout must be a positive number"),
        ("10", TypeError, "timeout must be a number of seconds, an httpx.Timeout, or None for no limit; got str"),
        (True, TypeError, "got bool"),
        (httpx.Timeout(5, read=-1), ValueError, "the read limit of an httpx.Timeout must be a positive number"),
        (httpx.Timeout(5, connect=math.nan), ValueError, "the connect limit"),
    ],
)
async def test_invalid_timeouts_fail_before_the_network(
    timeout: Any,
    error: type,
    pattern: str,
    make_client: Callable[..., Any],
    client_class: Any,
    call: Any,
    httpx_mock: HTTPXMock,
) -> None:
    with pytest.raises(error, match=pattern):
        await call(make_client().models.list, timeout=timeout)
    with pytest.raises(error, match=pattern):
        make_client(timeout=timeout)
    with pytest.raises(error, match=pattern):
        make_client().with_options(timeout=timeout)


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), (1.5, TypeError), ("2", TypeError), (None, TypeError)])
def test_invalid_max_retries(value: Any, error: type, make_client: Callable[..., Any]) -> None:
    with pytest.raises(error, match="max_retries must be"):
        make_client(max_retries=value)
    with pytest.raises(error, match="max_retries must be"):
        make_client().with_options(max_retries=value)


def test_generated_signatures_stay_clean(client_class: Any) -> None:
    import inspect

    client = client_class(api_key="sk-x")
    parameters = inspect.signature(client.chat.completions.create).parameters
    assert list(parameters)[:2] == ["model", "messages"]
    # Only the catch-all that turns typos into a helpful error; mypy sees it typed as Never.
    assert [p.name for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD] == ["unexpected"]
    assert parameters["unexpected"].annotation == "Never"
