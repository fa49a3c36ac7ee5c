"""Pattern 9: a producer fills an asyncio.Queue with prompts; three consumers answer them concurrently."""

import asyncio
from typing import List, Optional, Tuple

from apertis import AsyncApertis

TOPICS = ["rivers", "mountains", "deserts", "forests", "oceans", "glaciers", "volcanoes", "islands", "caves"]
CONSUMERS = 3


async def producer(queue: "asyncio.Queue[Optional[str]]") -> None:
    for topic in TOPICS:
        await queue.put(f"Tell me one fact about {topic}.")
    for _ in range(CONSUMERS):
        await queue.put(None)  # one stop signal per consumer


async def consumer(
    name: str, client: AsyncApertis, queue: "asyncio.Queue[Optional[str]]", results: List[Tuple[str, str]]
) -> None:
    while True:
        prompt = await queue.get()
        try:
            if prompt is None:
                return
            response = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": prompt}],
            )
            results.append((name, prompt))
            print(f"[{name}] {prompt} -> {response.choices[0].message.content}")
        finally:
            queue.task_done()


async def main() -> None:
    queue: asyncio.Queue[Optional[str]] = asyncio.Queue(maxsize=5)
    results: List[Tuple[str, str]] = []
    async with AsyncApertis() as client:
        names = [f"consumer-{n}" for n in range(1, CONSUMERS + 1)]
        workers = [asyncio.create_task(consumer(name, client, queue, results)) for name in names]
        await producer(queue)
        await queue.join()
        await asyncio.gather(*workers)
    print(f"Processed {len(results)} prompts with {CONSUMERS} consumers.")


if __name__ == "__main__":
    asyncio.run(main())
