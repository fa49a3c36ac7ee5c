"""Pattern 3: async streaming, printing the reply as it arrives."""

import asyncio

from apertis import AsyncApertis


async def main() -> None:
    async with AsyncApertis() as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Write a haiku about the sea."}],
            stream=True,
        )
        chunks = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
                chunks += 1
        print()
        print(f"({chunks} chunks received)")


if __name__ == "__main__":
    asyncio.run(main())
