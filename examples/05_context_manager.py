"""Pattern 5: the async context manager closes the client's connections when the block ends."""

import asyncio

from apertis import AsyncApertis


async def main() -> None:
    async with AsyncApertis() as client:
        response = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Say hello in French."}],
        )
        print(response.choices[0].message.content)
    print("Client closed.")


if __name__ == "__main__":
    asyncio.run(main())
