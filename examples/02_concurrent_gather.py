"""Pattern 2: several requests at once with asyncio.gather."""

import asyncio
import time

from apertis import AsyncApertis

QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "What is the capital of Brazil?",
    "What is the capital of Kenya?",
    "What is the capital of Canada?",
]


async def ask(client: AsyncApertis, question: str) -> str:
    response = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": question}],
    )
    return response.choices[0].message.content or ""


async def main() -> None:
    async with AsyncApertis() as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(ask(client, q) for q in QUESTIONS))
        elapsed = time.perf_counter() - started
    for question, answer in zip(QUESTIONS, answers):
        print(f"Q: {question}\nA: {answer}\n")
    print(f"{len(answers)} answers in {elapsed:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
