"""Pattern 7: handle rate limits, connection problems and API errors for many concurrent requests.

gather(return_exceptions=True) lets every request finish and hands back the exceptions as values.
"""

import asyncio
from collections import Counter

import apertis
from apertis import AsyncApertis

PROMPTS = [f"Translate 'good morning' into language number {n}." for n in range(1, 11)]


async def ask(client: AsyncApertis, prompt: str) -> str:
    response = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": prompt}],
    )
    return response.choices[0].message.content or ""


def describe(result: object) -> str:
    if isinstance(result, apertis.RateLimitError):
        return "rate limited (429): slow down and retry later"
    if isinstance(result, apertis.APIConnectionError):
        return f"connection problem: {result}"
    if isinstance(result, apertis.APIError):
        return f"API error {getattr(result, 'status_code', '?')}: {result}"
    if isinstance(result, BaseException):
        raise result
    return f"ok: {result}"


async def main() -> None:
    # The client retries on its own by default; switch that off here so every failure reaches the handlers.
    async with AsyncApertis(max_retries=0) as client:
        results = await asyncio.gather(*(ask(client, p) for p in PROMPTS), return_exceptions=True)
    tally: Counter[str] = Counter()
    for number, result in enumerate(results, start=1):
        print(f"{number:2d}. {describe(result)}")
        if isinstance(result, apertis.RateLimitError):
            tally["rate limited"] += 1
        elif isinstance(result, apertis.APIConnectionError):
            tally["connection errors"] += 1
        elif isinstance(result, apertis.APIError):
            tally["API errors"] += 1
        else:
            tally["succeeded"] += 1
    kinds = ("succeeded", "rate limited", "connection errors", "API errors")
    print("Summary: " + ", ".join(f"{tally[kind]} {kind}" for kind in kinds))


if __name__ == "__main__":
    asyncio.run(main())
