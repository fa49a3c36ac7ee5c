"""Hand-written resource methods (`resource_mixins` in codegen/config.yaml), sync and async, through the public API.

`client.models.exists(id)` is the proof of the mechanism: a method of apertis/_async/resource_mixins/models.py that
the generated AsyncModels inherits, and whose sync twin unasync writes.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any, Awaitable, Callable

import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis import resources

Call = Callable[..., Awaitable[Any]]
MODEL_URL = "https://api.test/v1/models/"


def _not_found(httpx_mock: HTTPXMock, code: str | None) -> None:
    error = {"message": "The model 'nope' does not exist", "type": "invalid_request_error", "code": code}
    httpx_mock.add_response(status_code=404, json={"error": error})


async def test_exists_is_true_when_retrieve_finds_the_model(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json={"id": "BAAI/bge-reranker-v2-m3", "object": "model", "owned_by": "baai"})
    client = make_client()
    assert await call(client.models.exists, "BAAI/bge-reranker-v2-m3") is True
    request = httpx_mock.get_request()
    assert request is not None
    assert request.method == "GET"
    assert str(request.url) == MODEL_URL + "BAAI%2Fbge-reranker-v2-m3"  # the id is one path segment


async def test_exists_is_false_on_model_not_found(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    _not_found(httpx_mock, "model_not_found")
    assert await call(make_client().models.exists, "nope") is False


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, None, apertis.NotFoundError),  # a 404 that does not say "no such model" (an unserved route)
        (404, "route_not_found", apertis.NotFoundError),
        (401, "invalid_api_key", apertis.AuthenticationError),
    ],
)
async def test_exists_raises_what_it_cannot_read_as_no_such_model(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call, status: int, code: str | None, error: type
) -> None:
    httpx_mock.add_response(status_code=status, json={"error": {"message": "no", "code": code}})
    with pytest.raises(error):
        await call(make_client().models.exists, "gpt-4o")


async def test_exists_sends_the_per_request_options(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Call
) -> None:
    httpx_mock.add_response(json={"id": "gpt-4o", "object": "model"})
    client = make_client()
    await call(client.models.exists, "gpt-4o", extra_headers={"X-Trace": "t1"}, extra_query={"plan": "pro"})
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["x-trace"] == "t1"
    assert request.url.params["plan"] == "pro"


async def test_exists_rejects_bad_arguments_before_the_network(make_client: Callable[..., Any], call: Call) -> None:
    client = make_client()
    with pytest.raises(TypeError, match=r"models\.exists\(\) got an unexpected keyword argument 'timout'.*'timeout'"):
        await call(client.models.exists, "gpt-4o", timout=3)
    with pytest.raises(ValueError, match="`model`"):
        await call(client.models.exists, "")
    with pytest.raises(TypeError, match="`model` must be a non-empty str"):
        await call(client.models.exists, None)


def test_mixin_methods_are_wired_typed_and_documented_like_generated_ones() -> None:
    for sync_cls, async_cls in [(resources.Models, resources.AsyncModels)]:
        assert inspect.iscoroutinefunction(async_cls.exists)
        assert not inspect.iscoroutinefunction(sync_cls.exists)
        assert "`exists`" in (sync_cls.__doc__ or "") and "`exists`" in (async_cls.__doc__ or "")
        assert "Args:" in (sync_cls.exists.__doc__ or "")
        sync_parameters = inspect.signature(sync_cls.exists).parameters
        assert list(sync_parameters) == list(inspect.signature(async_cls.exists).parameters)
        assert list(sync_parameters) == list(inspect.signature(sync_cls.retrieve).parameters)
        assert sync_parameters["model"].annotation == "str"
        assert inspect.signature(sync_cls.exists).return_annotation == "bool"


def test_the_mixin_adds_no_import_to_a_resource_module() -> None:
    # The mixin is imported with its resource module: it must not bring anything that module did not need.
    script = (
        "import sys\n"
        "import apertis._async.resources.models, apertis._sync.resources.models\n"
        "print(sorted(m for m in ('typing_extensions', 'apertis._async._streaming', 'apertis._sync._streaming',"
        " 'difflib') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
