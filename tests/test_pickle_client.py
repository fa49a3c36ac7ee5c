"""Clients pickle as their configuration (the key included), for `spawn` worker processes; never their pool."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Tuple

import httpx
import pytest

import apertis


def embed_in_worker(client: Any) -> Tuple[int, str, int]:
    """Runs in a spawned process: the unpickled client opens its own connections there."""
    with client:
        answer = client.embeddings.create(model="text-embedding-3-small", input="hello")
    return os.getpid(), answer.object, client.max_retries


async def test_a_client_unpickles_with_its_configuration_and_a_pool_of_its_own(client_class: Any, call: Any) -> None:
    limiter = apertis.RateLimiter(max_concurrency=3)
    client = client_class(
        api_key="sk-pickled", base_url="http://127.0.0.1:9/v1", max_retries=4, timeout=12.0, limiter=limiter
    ).with_options(default_headers={"x-team": "blue"}, default_query={"a": "1"})
    copy = pickle.loads(pickle.dumps(client))
    assert type(copy) is type(client)
    assert (copy.api_key, copy.base_url, copy.max_retries) == ("sk-pickled", "http://127.0.0.1:9/v1", 4)
    assert copy.timeout == client.timeout
    assert copy.default_headers == client.default_headers and copy.default_query == {"a": "1"}
    assert copy._client is not client._client
    assert repr(copy._limiter) == repr(limiter) and copy._limiter is not limiter
    await call(copy.close)
    await call(client.close)


def test_a_client_with_its_own_http_client_says_why_it_cannot_be_pickled() -> None:
    with httpx.Client() as http_client:
        client = apertis.Apertis(api_key="k", http_client=http_client)
        with pytest.raises(TypeError, match="own http_client"):
            pickle.dumps(client)


def test_clients_are_shipped_to_spawn_workers(fake_apertis: Any) -> None:
    client = apertis.Apertis(api_key="sk-shipped", base_url=fake_apertis.url, max_retries=3)
    with client, ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        client.models.list()  # the parent's pool is in use: it is not what travels
        results = list(pool.map(embed_in_worker, [client, client, client]))
    assert all(obj == "list" and retries == 3 for _, obj, retries in results)
    assert all(pid != os.getpid() for pid, _, _ in results)
    keys = {request.headers.get("authorization") for request in fake_apertis.requests}
    assert keys == {"Bearer sk-shipped"}


def test_hooks_and_tracer_providers_stay_behind_and_tracing_stays_on(client_class: Any) -> None:
    # README "Hooks, tracing and pickling": functions and providers belong to this process.
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace import TracerProvider

    client = client_class(
        api_key="sk-pickle-0123456789abcdef",
        hooks=apertis.Hooks(on_retry=lambda info: None),
        tracing=apertis.Tracing(tracer_provider=TracerProvider(), capture_content=True),
    )
    copy = pickle.loads(pickle.dumps(client))
    assert copy.hooks is None
    assert copy.tracing == apertis.Tracing(capture_content=True)
    assert pickle.loads(pickle.dumps(client_class(api_key="sk-pickle-0123456789abcdef"))).tracing is None
