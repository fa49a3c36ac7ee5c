"""Peak memory of `python -m apertis batch` over a large input: bounded whatever the number of lines.

    .venv/bin/python bench/batch_rss.py [--lines 100000] [--concurrency 64]

Writes the input to a temporary directory, runs the command against the offline server (in this process) and
reports the child's peak RSS, the time taken and the lines written; then the same for a tenth of the lines, so
the two peaks can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from apertis.testing import FakeApertis


def measure(server_url: str, lines: int, concurrency: int, directory: str) -> None:
    input_path = os.path.join(directory, f"in-{lines}.jsonl")
    output_path = os.path.join(directory, f"out-{lines}.jsonl")
    with open(input_path, "w") as out:
        for index in range(lines):
            request = {
                "custom_id": f"r{index}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "text-embedding-3-small", "input": f"text number {index}", "dimensions": 8},
            }
            out.write(json.dumps(request) + "\n")
    env = {**os.environ, "APERTIS_API_KEY": "sk-bench", "APERTIS_BASE_URL": server_url}
    started = time.monotonic()
    command = [sys.executable, "-m", "apertis", "batch", input_path, "-o", output_path, "--quiet"]
    with subprocess.Popen([*command, "--concurrency", str(concurrency)], env=env) as process:
        process.wait()
    elapsed = time.monotonic() - started
    with open(output_path) as written:
        count = sum(1 for _ in written)
    # ru_maxrss of the children so far: the largest child, in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rate = count / elapsed
    print(
        f"{lines} lines: {count} written in {elapsed:.0f} s ({rate:.0f}/s), peak RSS so far {peak:.0f} MiB", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with FakeApertis(api_key="sk-bench", history=0) as server, tempfile.TemporaryDirectory() as directory:
        measure(server.url, args.lines // 10, args.concurrency, directory)
        measure(server.url, args.lines, args.concurrency, directory)


if __name__ == "__main__":
    main()
