"""Pattern 8: retry transient failures with exponential backoff and jitter."""

import asyncio
import functools
import random
from typing import Awaitable, Callable, TypeVar

import apertis
from apertis import AsyncApertis
from apertis.types import ChatCompletion

T = TypeVar("T")

RETRYABLE = (apertis.RateLimitError, apertis.APIConnectionError, apertis.InternalServerError)


async def with_backoff(call: Callable[[], Awaitable[T]], *, attempts: int = 5, base: float = 0.25) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except RETRYABLE as exc:  # noqa: PERF203 - catching inside the loop is what retrying means
            if attempt == attempts:
                raise
            delay = base * 2 ** (attempt - 1) + random.uniform(0, base)
            print(f"  attempt {attempt} failed ({type(exc).__name__}); retrying in {delay:.2f} s")
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def ask(client: AsyncApertis, question: str) -> ChatCompletion:
    return await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])


async def main() -> None:
    # The client has retries of its own; this example shows how to write them yourself, so it turns them off.
    async with AsyncApertis(max_retries=0) as client:
        for question in ("What is 2 + 2?", "Name a prime number.", "What colour is the sky?"):
            print(f"Asking: {question}")
            response = await with_backoff(functools.partial(ask, client, question))
            print(f"  answer: {response.choices[0].message.content}")


if __name__ == "__main__":
    asyncio.run(main())
