"""Shared fixtures: a clean environment, sync/async client factories, and an instant, recording sleep."""

from __future__ import annotations

import copyreg
import importlib
import inspect
from typing import Any, Awaitable, Callable, Iterator, List

import pytest

import apertis

# The SDK's own pytest plugin (the `fake_apertis` fixture), enabled the way the README tells users to.
pytest_plugins = ["apertis.testing.pytest_plugin"]

API_KEY = "sk-test-0123456789abcdefSECRET"
BASE_URL = "https://api.test/v1"

_ENV = ("APERTIS_API_KEY", "APERTIS_BASE_URL", "APERTIS_LOG")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's APERTIS_* variables."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


# Picklers as the interpreter has them, before any test module is imported.
_PICKLERS = dict(copyreg.dispatch_table)


@pytest.fixture(autouse=True)
def _picklers_as_python_has_them() -> Iterator[None]:
    """Importing distributed (tests/test_batch_dask.py, the README's Dask program) registers tblib's pickling for
    every exception class, which also pickles an error's __cause__ and __context__; the tests after it would check
    tblib's pickling of the SDK's errors instead of the SDK's. Each test ends with the interpreter's picklers."""
    yield
    if copyreg.dispatch_table != _PICKLERS:
        copyreg.dispatch_table.clear()
        copyreg.dispatch_table.update(_PICKLERS)


@pytest.fixture(params=["async", "sync"])
def kind(request: pytest.FixtureRequest) -> str:
    """Runs a test once with AsyncApertis and once with the generated sync Apertis."""
    return str(request.param)


@pytest.fixture
def client_class(kind: str) -> Any:
    """AsyncApertis or Apertis."""
    return apertis.AsyncApertis if kind == "async" else apertis.Apertis


@pytest.fixture
def make_client(client_class: Any) -> Callable[..., Any]:
    """Builds a client of the current kind with a test key and base URL unless given."""

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", BASE_URL)
        return client_class(**kwargs)

    return make


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


@pytest.fixture
def call() -> Callable[..., Awaitable[Any]]:
    """`await call(client.get, "/x")` works for both twins (awaits only what is awaitable)."""
    return _call


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[float]]:
    """Makes retry sleeps instant in both twins and records the delays asked for, in order."""
    recorded: List[float] = []

    async def fake_async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    def fake_sync_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(importlib.import_module("apertis._async._sleep"), "sleep", fake_async_sleep)
    monkeypatch.setattr(importlib.import_module("apertis._sync._sleep"), "sleep", fake_sync_sleep)
    yield recorded
