"""Peak memory of `python -m apertis batch` over a large input: bounded whatever the number of lines.

    .venv/bin/python bench/batch_rss.py [--lines 100000] [--concurrency 64]

Writes the input to a temporary directory, runs the command against the offline server (in this process) and
reports the command's peak RSS, the time taken and the lines written; then the same for a tenth of the lines, so
the two peaks can be compared. Then a resume: a tenth of the answers is taken out of the large run's output and
the command run again, which holds the other nine tenths' custom_ids in memory and sends the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from apertis.testing import FakeApertis

# Runs `python -m apertis ARGS` and reports, as it exits, the peak RSS of its own memory (VmHWM, Linux). Not
# ru_maxrss: a child's counts the memory of this process it was forked from, before its exec.
_PEAK_REPORTING = """\
import atexit, runpy, sys


def report():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    sys.stderr.write("peak-kib " + peak.split()[1] + "\\n")


atexit.register(report)
sys.argv = ["apertis", *sys.argv[1:]]
runpy.run_module("apertis", run_name="__main__", alter_sys=True)
"""


def run_command(arguments: list[str], env: dict[str, str]) -> float:
    """Runs `python -m apertis` with the arguments; the peak RSS of its own memory, in MiB."""
    finished = subprocess.run(
        [sys.executable, "-c", _PEAK_REPORTING, *arguments], env=env, stderr=subprocess.PIPE, text=True, check=True
    )
    reported = [line for line in finished.stderr.splitlines() if line.startswith("peak-kib ")]
    return int(reported[-1].split()[1]) / 1024


def measure(server_url: str, lines: int, concurrency: int, directory: str, resume: bool) -> None:
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
    command = ["batch", input_path, "-o", output_path, "--quiet"]
    command += ["--concurrency", str(concurrency)]
    peak = run_command(command, env)
    elapsed = time.monotonic() - started
    with open(output_path) as written:
        count = sum(1 for _ in written)
    print(f"{lines} lines: {count} written in {elapsed:.0f} s ({count / elapsed:.0f}/s), peak RSS {peak:.0f} MiB")
    if not resume:
        return
    kept = 0
    with open(output_path) as written, open(output_path + ".kept", "w") as rewritten:
        for index, line in enumerate(written):
            if index % 10:
                rewritten.write(line)
                kept += 1
    os.replace(output_path + ".kept", output_path)
    started = time.monotonic()
    peak = run_command(command, env)
    elapsed = time.monotonic() - started
    print(f"{lines} lines, resumed with {kept} answered: {elapsed:.0f} s, peak RSS {peak:.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    # The offline server announces the gateway's 1,500 requests a minute, which the client's limiter keeps to (a
    # 100,000-line run would take an hour): this measures memory, so it announces a limit the run never reaches.
    faults = ["rate_limit=100000000;window=60"]
    with (
        FakeApertis(api_key="sk-bench", history=0, faults=faults) as server,
        tempfile.TemporaryDirectory() as directory,
    ):
        measure(server.url, args.lines // 10, args.concurrency, directory, resume=False)
        measure(server.url, args.lines, args.concurrency, directory, resume=True)


if __name__ == "__main__":
    main()
