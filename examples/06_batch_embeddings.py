"""Pattern 6: embed a large list of texts in slices of 20, printing progress as each slice completes."""

import asyncio
from typing import List

from apertis import AsyncApertis

BATCH_SIZE = 20
DOCUMENTS = [f"Document {i}: notes about topic {i % 7}." for i in range(1, 96)]


async def embed_all(client: AsyncApertis, texts: List[str]) -> List[List[float]]:
    vectors: List[List[float]] = []
    batches = (len(texts) + BATCH_SIZE - 1) // BATCH_SIZE
    for number, start in enumerate(range(0, len(texts), BATCH_SIZE), start=1):
        batch = texts[start : start + BATCH_SIZE]
        response = await client.embeddings.create(model="text-embedding-3-small", input=batch)
        for item in sorted(response.data, key=lambda item: item.index):
            # A str embedding comes only from asking for encoding_format="base64"; left out, the SDK decodes to floats.
            assert not isinstance(item.embedding, str)
            vectors.append(item.embedding)
        print(f"Batch {number}/{batches}: embedded {len(batch)} texts ({len(vectors)}/{len(texts)} done)")
    return vectors


async def main() -> None:
    async with AsyncApertis() as client:
        vectors = await embed_all(client, DOCUMENTS)
    print(f"Embedded {len(vectors)} documents; each vector has {len(vectors[0])} dimensions.")


if __name__ == "__main__":
    asyncio.run(main())
