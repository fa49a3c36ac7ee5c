"""Every JSON operation of the spec, sync and async: the request the SDK sends and the response it parses.

The cases come from the spec's own examples, so an operation added to the spec is tested without a new line
here: the example request body becomes the keyword arguments, the example response the mocked answer.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest
import yaml
from pytest_httpx import HTTPXMock

import apertis
from apertis import Apertis, AsyncApertis
from apertis.testing._refs import Resolver, schema_name

SPEC_PATH = Path(__file__).resolve().parents[1] / "spec" / "apertis.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
BASE_URL = "https://api.example.test/v1"
METHODS = ("get", "post", "put", "patch", "delete")


_resolve = Resolver(SPEC).resolve


def _json_operations() -> list[Any]:
    cases = []
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            ok = _resolve(operation["responses"].get("200") or operation["responses"].get("201"))
            ok_content = ok.get("content", {})
            if body and "application/json" not in body:
                continue  # multipart uploads: tests/test_uploads.py
            if "application/json" not in ok_content or operation.get("x-apertis-response") == "binary":
                continue  # binary downloads: tests/test_uploads.py
            cases.append(pytest.param(path, method, operation, id=operation["operationId"]))
    return cases


def _keyword_for(schema_ref: dict[str, Any], wire_name: str) -> str:
    schema = _resolve(schema_ref)
    prop = schema.get("properties", {}).get(wire_name, {})
    renamed = prop.get("x-apertis-argument")
    # Keywords keep the wire names (`input=`, as in 0.4.1 and openai-python), unless the spec renames them.
    return str(renamed) if renamed else wire_name


def _python_name(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _call_arguments(path: str, operation: dict[str, Any]) -> tuple[list[Any], dict[str, Any], str, dict[str, str]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    url_path = path
    query: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        parameter = _resolve(parameter)
        value = parameter.get("example", parameter.get("schema", {}).get("example", "gpt-4o-mini"))
        if parameter["in"] == "path":
            args.append(value)
            url_path = url_path.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
        elif parameter["in"] == "query":
            kwargs[_python_name(parameter["name"])] = value
            query[parameter["name"]] = str(value)
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if media is not None:
        for wire_name, value in media["example"].items():
            kwargs[_keyword_for(media["schema"], wire_name)] = value
    return args, kwargs, url_path, query


def _bound_method(client: Any, operation: dict[str, Any]) -> Callable[..., Any]:
    target = client
    for attribute in operation["x-apertis-resource"].split("."):
        target = getattr(target, attribute)
    return getattr(target, operation["x-apertis-method"])  # type: ignore[no-any-return]


def _host(operation: dict[str, Any]) -> str:
    return "https://api.example.test" if operation.get("x-apertis-host-root") else BASE_URL


@pytest.mark.parametrize(("path", "method", "operation"), _json_operations())
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_operation_sends_the_spec_request_and_parses_the_spec_response(
    httpx_mock: HTTPXMock, flavour: str, path: str, method: str, operation: dict[str, Any]
) -> None:
    args, kwargs, url_path, query = _call_arguments(path, operation)
    ok = _resolve(operation["responses"].get("200") or operation["responses"].get("201"))
    response_media = ok["content"]["application/json"]
    response_example = response_media["example"]
    httpx_mock.add_response(json=response_example, headers={"x-request-id": "req_123"})

    if flavour == "sync":
        with Apertis(api_key="sk-test", base_url=BASE_URL, max_retries=0) as client:
            result = _bound_method(client, operation)(*args, **kwargs)
    else:
        async with AsyncApertis(api_key="sk-test", base_url=BASE_URL, max_retries=0) as aclient:
            pending = _bound_method(aclient, operation)(*args, **kwargs)
            assert inspect.isawaitable(pending)
            result = await pending

    request = httpx_mock.get_request()
    assert request is not None
    assert request.method == method.upper()
    assert request.url.raw_path.decode().split("?")[0] == (_host(operation) + url_path).split("example.test", 1)[1]
    assert dict(request.url.params) == query
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["user-agent"].startswith("apertis-python/")
    body_media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body_media is not None:
        assert request.headers["content-type"] == "application/json"
        expected_body = dict(body_media["example"])
        sdk_default = operation.get("x-apertis-sdk-default")
        if sdk_default is not None:
            # An argument the example leaves out carries the SDK's own choice (x-apertis-sdk-default).
            expected_body.setdefault(sdk_default["argument"], sdk_default["value"])
        assert json.loads(request.content) == expected_body
    else:
        assert request.content == b""

    expected_class = schema_name(response_media["schema"].get("$ref"))
    assert type(result).__name__ == expected_class
    assert result.to_dict() == response_example


def test_every_operation_is_reachable_on_both_clients() -> None:
    sync_client = Apertis(api_key="sk-test", base_url=BASE_URL)
    async_client = AsyncApertis(api_key="sk-test", base_url=BASE_URL)
    for item in SPEC["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            sync_method = _bound_method(sync_client, operation)
            async_method = _bound_method(async_client, operation)
            assert not inspect.iscoroutinefunction(sync_method), operation["operationId"]
            assert inspect.iscoroutinefunction(async_method), operation["operationId"]
            assert sync_method.__doc__, operation["operationId"]
            sync_parameters = inspect.signature(sync_method).parameters
            assert {"extra_headers", "extra_query", "extra_body", "timeout"} <= set(sync_parameters)
            assert list(sync_parameters) == list(inspect.signature(async_method).parameters)
    sync_client.close()


def test_extra_body_merges_and_extra_query_and_headers_are_sent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"object": "list", "data": [], "model": "m", "usage": {}})
    with Apertis(api_key="sk-test", base_url=BASE_URL) as client:
        client.embeddings.create(
            model="text-embedding-3-small",
            input=["a", "b"],
            encoding_format="float",
            extra_body={"task": "retrieval.query", "fallback_models": ["x"]},
            extra_query={"trace": "1"},
            extra_headers={"X-Timeout": "30000"},
        )
    request = httpx_mock.get_request()
    assert request is not None
    assert json.loads(request.content) == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "float",
        "task": "retrieval.query",
        "fallback_models": ["x"],
    }
    assert request.url.params["trace"] == "1"
    assert request.headers["x-timeout"] == "30000"


@pytest.mark.parametrize("model_id", ["BAAI/bge-reranker-v2-m3", "gpt-4.1-mini:web", "veo3.1 fast"])
def test_path_parameters_are_escaped(httpx_mock: HTTPXMock, model_id: str) -> None:
    httpx_mock.add_response(json={"id": model_id, "object": "model"})
    with Apertis(api_key="sk-test", base_url=BASE_URL) as client:
        model = client.models.retrieve(model_id)
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.raw_path.decode() == "/v1/models/" + quote(model_id, safe="")
    assert model.id == model_id


@pytest.mark.parametrize(
    ("value", "wire"),
    [(".", "%2E"), ("..", "%2E%2E"), ("...", "..."), (".hidden", ".hidden"), ("a..b", "a..b")],
)
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_dot_path_parameters_stay_in_their_segment(
    httpx_mock: HTTPXMock, flavour: str, value: str, wire: str
) -> None:
    # httpx drops `.` and `..` segments like any URL normaliser: sent as is, retrieve("..") would reach /v1.
    httpx_mock.add_response(json={"id": value, "object": "model"})
    httpx_mock.add_response(json={"id": value, "object": "video", "status": "queued"})
    if flavour == "sync":
        with Apertis(api_key="sk-test", base_url=BASE_URL) as client:
            client.models.retrieve(value)
            client.videos.retrieve(value)
    else:
        async with AsyncApertis(api_key="sk-test", base_url=BASE_URL) as aclient:
            await aclient.models.retrieve(value)
            await aclient.videos.retrieve(value)
    first, second = httpx_mock.get_requests()
    assert first.url.raw_path.decode() == "/v1/models/" + wire
    assert second.url.raw_path.decode() == "/v1/videos/" + wire


def test_a_dot_path_parameter_reaches_the_resource_it_names() -> None:
    from apertis.testing import FakeApertis

    with FakeApertis() as server:
        client = Apertis(api_key="test", base_url=server.url, max_retries=0)
        with client, pytest.raises(apertis.NotFoundError) as info:
            client.models.retrieve("..")
    # The fake server decodes the segment back: it looked up a model named "..", not the /v1 root.
    assert info.value.message == "Error code: 404 - The model '..' does not exist"


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_an_empty_path_parameter_fails_before_the_network(flavour: str) -> None:
    if flavour == "sync":
        with Apertis(api_key="sk-test", base_url=BASE_URL) as client, pytest.raises(ValueError, match="model"):
            client.models.retrieve("")
    else:
        async with AsyncApertis(api_key="sk-test", base_url=BASE_URL) as aclient:
            with pytest.raises(ValueError, match="model"):
                await aclient.models.retrieve("")


def test_models_accept_plain_dicts_and_model_instances_alike(httpx_mock: HTTPXMock) -> None:
    from apertis.types import UserMessageParam

    httpx_mock.add_response(
        json={"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": []}, is_reusable=True
    )
    with Apertis(api_key="sk-test", base_url=BASE_URL) as client:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        client.chat.completions.create(model="m", messages=[UserMessageParam(role="user", content="hi")])  # type: ignore[list-item]
    first, second = httpx_mock.get_requests()
    assert json.loads(first.content) == json.loads(second.content)
    assert json.loads(first.content)["messages"] == [{"role": "user", "content": "hi"}]


def test_the_public_type_names_of_0_4_1_still_import() -> None:
    names = [
        "ChatCompletion", "ChatCompletionChunk", "ChatCompletionChoice", "ChatCompletionChunkChoice",
        "ChatCompletionMessage", "ChatCompletionDelta", "ToolCall", "Function", "URLCitation", "WebSource",
        "AudioData", "Embedding", "EmbeddingResponse", "EmbeddingUsage", "Model", "ModelList", "Response",
        "ResponseUsage", "Message", "MessageUsage", "RerankResponse", "RerankResult", "Usage",
    ]  # fmt: skip
    for name in names:
        assert getattr(apertis, name).__name__ == name
