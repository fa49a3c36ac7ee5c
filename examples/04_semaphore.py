"""Pattern 4: many tasks, but at most three requests in flight, enforced with an asyncio.Semaphore."""

import asyncio

from apertis import AsyncApertis

MAX_IN_FLIGHT = 3


class InFlight:
    """Counts the requests running right now and remembers the highest count."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0


async def summarize(client: AsyncApertis, limit: asyncio.Semaphore, counter: InFlight, number: int) -> str:
    async with limit:
        counter.now += 1
        counter.peak = max(counter.peak, counter.now)
        try:
            response = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Give me fun fact number {number}."}],
            )
        finally:
            counter.now -= 1
    return response.choices[0].message.content or ""


async def main() -> None:
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)
    counter = InFlight()
    async with AsyncApertis() as client:
        results = await asyncio.gather(*(summarize(client, limit, counter, n) for n in range(1, 11)))
    for number, text in enumerate(results, start=1):
        print(f"{number:2d}. {text}")
    print(f"{len(results)} requests done, at most {counter.peak} in flight at once (limit {MAX_IN_FLIGHT})")


if __name__ == "__main__":
    asyncio.run(main())
