"""instructor with an Apertis client, as README "Tools" says: `instructor.patch` works, `instructor.from_openai`
refuses a client that is not openai's, and an `Instructor` built by hand works. instructor is not a dependency:
skipped unless it is installed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import apertis
from apertis.testing import FakeApertis

instructor: Any = pytest.importorskip("instructor")


class User(BaseModel):
    name: str
    age: int


PROMPT = [{"role": "user", "content": "Ann is 31."}]


def test_patch_works() -> None:
    with FakeApertis() as server, apertis.Apertis(base_url=server.url, api_key="sk-x") as client:
        patched = instructor.patch(client)
        user = patched.chat.completions.create(model="gpt-4.1-mini", response_model=User, messages=PROMPT)
    assert isinstance(user, User)


@pytest.mark.parametrize("mode", ["TOOLS", "JSON_SCHEMA"])
def test_an_instructor_built_by_hand_works(mode: str) -> None:
    with FakeApertis() as server, apertis.Apertis(base_url=server.url, api_key="sk-x") as client:
        structured = instructor.Instructor(
            client=client,
            create=instructor.patch(create=client.chat.completions.create, mode=instructor.Mode[mode]),
            mode=instructor.Mode[mode],
        )
        user = structured.create(model="gpt-4.1-mini", response_model=User, messages=PROMPT)
    assert isinstance(user, User)


def test_from_openai_refuses_a_client_that_is_not_openais() -> None:
    client = apertis.Apertis(base_url="https://api.test/v1", api_key="sk-x")
    with pytest.raises(Exception, match="Client must be an instance of one of: OpenAI, AsyncOpenAI"):
        instructor.from_openai(client)


async def test_the_async_client() -> None:
    with FakeApertis() as server:
        async with apertis.AsyncApertis(base_url=server.url, api_key="sk-x") as client:
            patched = instructor.patch(client)
            user = await patched.chat.completions.create(model="gpt-4.1-mini", response_model=User, messages=PROMPT)
            assert isinstance(user, User)
        async with apertis.AsyncApertis(base_url=server.url, api_key="sk-x") as client:
            structured = instructor.AsyncInstructor(
                client=client,
                create=instructor.patch(create=client.chat.completions.create),
                mode=instructor.Mode.TOOLS,
            )
            user = await structured.create(model="gpt-4.1-mini", response_model=User, messages=PROMPT)
    assert isinstance(user, User)
