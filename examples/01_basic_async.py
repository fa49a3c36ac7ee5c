"""Pattern 1: a basic async client.

Reads APERTIS_API_KEY (and APERTIS_BASE_URL, if set) from the environment.
"""

import asyncio

from apertis import AsyncApertis


async def main() -> None:
    client = AsyncApertis()
    response = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Explain async programming in one sentence."}],
    )
    print(response.choices[0].message.content)
    if response.usage is not None:
        print(f"(tokens: {response.usage.prompt_tokens} in, {response.usage.completion_tokens} out)")
    # What the gateway says about the call: the model that served it (another one after a fallback), rate limit.
    gateway = response._gateway  # pyright: ignore[reportPrivateUsage]
    print(f"(served by {gateway.actual_model}; request id {gateway.request_id})")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
