"""openai-python's day-one idioms on Apertis, sync and async, through the public API: iterating the model list,
`model_dump()`, `DefaultHttpxClient`, and the errors for openai-python names Apertis deliberately lacks."""

from __future__ import annotations

import json
import pickle
from typing import Any, AsyncIterator, Awaitable, Callable, List

import httpx
import pytest

import apertis
from apertis.testing import FakeApertis
from apertis.types import ChatCompletion, ModelList

Call = Callable[..., Awaitable[Any]]
MODELS = {
    "object": "list",
    "data": [
        {"id": "gpt-4.1", "object": "model", "owned_by": "OpenAI"},
        {"id": "claude-sonnet-4.5", "object": "model", "owned_by": "Anthropic"},
        {"id": "BAAI/bge-reranker-v2-m3", "object": "model", "owned_by": "BAAI"},
    ],
}


@pytest.fixture
async def open_client(fake_apertis: FakeApertis, make_client: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """Clients of the current kind on the offline server, closed after the test."""
    clients: List[Any] = []

    def open_one(**kwargs: Any) -> Any:
        kwargs.setdefault("base_url", fake_apertis.url)
        clients.append(make_client(**kwargs))
        return clients[-1]

    yield open_one
    for client in clients:
        await _close(client)


async def _close(closeable: Any) -> None:
    result = closeable.close() if hasattr(closeable, "close") else closeable.aclose()
    if result is not None:
        await result


async def test_the_model_list_iterates_like_openai(open_client: Callable[..., Any], call: Call) -> None:
    client = open_client()
    models = await call(client.models.list)
    ids = [model.id for model in models]  # `for model in client.models.list():`, as in Apertis's own docs
    assert ids == [model.id for model in models.data] and ids
    assert len(models) == len(models.data)
    assert models[0] is models.data[0] and models[-1] is models.data[-1]
    assert [m.id for m in models[:2]] == ids[:2]
    assert "gpt-4.1" in {m.id for m in models}


def test_the_model_list_reads_as_its_models() -> None:
    models = ModelList.from_dict(MODELS)
    assert [m.id for m in models] == ["gpt-4.1", "claude-sonnet-4.5", "BAAI/bge-reranker-v2-m3"]
    assert len(models) == 3 and models[1].owned_by == "Anthropic"
    with pytest.raises(IndexError):
        models[3]
    empty = ModelList.from_dict({"object": "list", "data": []})
    assert list(empty) == [] and len(empty) == 0
    assert bool(empty)  # a response is truthy, like every model
    assert list(ModelList.from_dict({"object": "list"})) == []  # a server that left `data` out
    assert pickle.loads(pickle.dumps(models)) == models
    assert models.to_dict() == MODELS


def test_model_dump_is_to_dict_under_openai_s_name() -> None:
    completion = ChatCompletion.from_dict(
        {
            "id": "c1",
            "object": "chat.completion",
            "model": "gpt-4.1",
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None}}],
            "x_unknown": 1,
        }
    )
    assert completion.model_dump() == completion.to_dict()
    assert completion.model_dump(mode="json", by_alias=True, exclude_unset=True) == completion.to_dict()
    dumped = completion.model_dump(exclude_none=True)
    assert "system_fingerprint" not in dumped and "refusal" not in dumped["choices"][0]["message"]
    assert dumped["x_unknown"] == 1
    assert json.loads(completion.model_dump_json()) == completion.to_dict()
    assert "\n" not in completion.model_dump_json()  # compact, as pydantic's
    assert completion.model_dump_json(indent=2) == completion.to_json(indent=2)
    assert "null" not in completion.model_dump_json(exclude_none=True)


def test_model_dump_refuses_pydantic_options_it_does_not_have() -> None:
    model = ModelList.from_dict(MODELS)
    with pytest.raises(TypeError, match=r"model_dump\(\) does not support exclude, include .*exclude_none"):
        model.model_dump(include={"data"}, exclude={"object"})
    with pytest.raises(TypeError, match="model_dump_json\\(\\) does not support round_trip"):
        model.model_dump_json(round_trip=True)
    with pytest.raises(ValueError, match="mode"):
        model.model_dump(mode="yaml")


def test_default_httpx_clients_carry_the_sdk_defaults() -> None:
    from apertis._tls import default_ssl_context

    for cls, base in ((apertis.DefaultHttpxClient, httpx.Client), (apertis.DefaultAsyncHttpxClient, httpx.AsyncClient)):
        client = cls()
        assert isinstance(client, base)
        assert client.timeout == apertis.DEFAULT_TIMEOUT
        assert client.follow_redirects is False
        transport = client._transport
        assert isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport))
        pool = transport._pool
        assert pool._max_connections == apertis.DEFAULT_CONNECTION_LIMITS.max_connections
        assert pool._ssl_context is default_ssl_context()
        tuned = cls(timeout=12.0, follow_redirects=True)
        assert tuned.timeout == httpx.Timeout(12.0) and tuned.follow_redirects is True


async def test_a_default_httpx_client_is_used_by_the_client(
    kind: str, open_client: Callable[..., Any], call: Call
) -> None:
    seen = []
    http_cls = apertis.DefaultAsyncHttpxClient if kind == "async" else apertis.DefaultHttpxClient

    def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def arecord(request: httpx.Request) -> None:
        record(request)

    http_client = http_cls(event_hooks={"request": [arecord if kind == "async" else record]})
    client = open_client(http_client=http_client)
    assert client.timeout == apertis.DEFAULT_TIMEOUT  # the SDK's own default, not httpx's 5 s
    assert len(await call(client.models.list)) > 0
    assert seen == ["/v1/models"]
    await _close(http_client)  # the SDK never closes a client it did not create


@pytest.mark.parametrize("name", ["beta", "files", "moderations"])
def test_an_openai_resource_apertis_lacks_says_so(make_client: Callable[..., Any], name: str) -> None:
    client = make_client()
    with pytest.raises(AttributeError, match=rf"openai-python's client\.{name} has no Apertis equivalent; \S"):
        getattr(client, name)
    assert not hasattr(client, name)


def test_the_lacking_resources_name_what_to_use_instead(make_client: Callable[..., Any]) -> None:
    client = make_client()
    with pytest.raises(AttributeError, match=r"client\.responses or client\.chat\.completions"):
        client.beta.assistants.create()
    with pytest.raises(AttributeError, match=r"data: URL"):
        client.files.create()
    with pytest.raises(AttributeError) as plain:
        client.no_such_thing  # noqa: B018
    assert str(plain.value).endswith("object has no attribute 'no_such_thing'")


@pytest.mark.parametrize("name", ["organization", "project"])
def test_openai_client_arguments_apertis_lacks_say_to_drop_them(client_class: Any, name: str) -> None:
    with pytest.raises(TypeError, match=rf"has no '{name}' argument: .*API key alone identifies the account; drop"):
        client_class(api_key="sk-x", **{name: "org-123"})
    with pytest.raises(TypeError, match=rf"with_options\(\) has no '{name}' argument"):
        client_class(api_key="sk-x").with_options(**{name: "org-123"})


def test_the_missing_key_error_keeps_0_4_1_s_wording(client_class: Any) -> None:
    with pytest.raises(ValueError, match="API key is required") as error:
        client_class()
    assert "APERTIS_API_KEY" in str(error.value) and "api_key=" in str(error.value)


async def test_billing_credits(fake_apertis: FakeApertis, open_client: Callable[..., Any], call: Call) -> None:
    credits = await call(open_client(api_key="sk-payg").billing.credits.retrieve)
    assert type(credits).__name__ == "BillingCredits"
    assert credits.is_subscriber is False and credits.subscription is None
    assert credits.payg.remaining_usd == 42.0 and credits.payg.is_unlimited is False
    assert fake_apertis.requests[-1].path == "/v1/dashboard/billing/credits"

    subscriber = await call(open_client(api_key="sk-sub-abc").billing.credits.retrieve)
    assert subscriber.is_subscriber is True
    assert subscriber.payg.is_unlimited is True and subscriber.payg.remaining_usd is None  # null when unlimited
    assert subscriber.subscription.plan_type == "pro" and subscriber.subscription.cycle_quota_remaining == 1850


async def test_model_recommendation(fake_apertis: FakeApertis, open_client: Callable[..., Any], call: Call) -> None:
    client = open_client()
    pick = await call(client.models.recommend, task="coding", budget="low")
    assert pick.task == "coding" and pick.budget == "low" and pick.model
    assert 0 < len(pick.alternatives) <= 2 and all(alt.model for alt in pick.alternatives)
    assert fake_apertis.requests[-1].query == {"task": ["coding"], "budget": ["low"]}
    default = await call(client.models.recommend, task="vision")
    assert default.budget == "medium"
    with pytest.raises(apertis.BadRequestError, match="task"):
        await call(client.models.recommend, task="poetry")
