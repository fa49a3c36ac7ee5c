"""The synchronous client: the same calls without async/await."""

from apertis import Apertis


def main() -> None:
    with Apertis() as client:
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is the speed of light?"}],
        )
        print(response.choices[0].message.content)

        print("Streaming: ", end="")
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Count to five."}],
            stream=True,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()

        embeddings = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
        print(f"Embedded {len(embeddings.data)} texts into {len(embeddings.data[0].embedding)} dimensions.")


if __name__ == "__main__":
    main()
