"""`make demo` / `python -m apertis.testing.demo`: run every example of examples/ against the offline server.

Each example runs as its own process, the way a user runs it, with APERTIS_BASE_URL and APERTIS_API_KEY
pointing at a fresh `FakeApertis` (the error-handling and retry examples get one that injects faults, so their
handlers have something to do). When APERTIS_BASE_URL is already set, the examples run against that server
with the caller's APERTIS_API_KEY instead. The servers are stopped whatever happens; the exit status is
non-zero when an example failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["EXAMPLES", "main"]

# (file, title, faults injected by the offline server, what the faults are for)
EXAMPLES: Tuple[Tuple[str, str, Tuple[str, ...], str], ...] = (
    ("01_basic_async.py", "A basic async client", (), ""),
    ("02_concurrent_gather.py", "Concurrent requests with asyncio.gather", (), ""),
    ("03_streaming.py", "Async streaming", (), ""),
    ("04_semaphore.py", "Limiting concurrency with a Semaphore", (), ""),
    ("05_context_manager.py", "The async context manager", (), ""),
    ("06_batch_embeddings.py", "Batch embeddings in slices of 20", (), ""),
    (
        "07_error_handling.py",
        "Error handling with gather(return_exceptions=True)",
        (
            "status=429;every=4;scope=global;retry_after=1",
            "reset;every=5;scope=global",
            "status=500;every=7;scope=global",
        ),
        "the offline server answers every 4th request with 429, drops every 5th connection"
        " and fails every 7th with 500",
    ),
    (
        "08_retry_backoff.py",
        "Retry with exponential backoff and jitter",
        ("status=429;times=2;scope=global;retry_after=1", "status=503;every=4;scope=global"),
        "the offline server rate-limits the first two requests and fails every 4th with 503",
    ),
    ("09_producer_consumer.py", "A producer-consumer queue with three consumers", (), ""),
    ("10_sync_client.py", "The sync client", (), ""),
    (
        "11_batch_file.py",
        "A batch file with python -m apertis batch",
        ("status=503;every=5;scope=global",),
        "the offline server fails every 5th request with 503 (the command retries it)",
    ),
    ("12_structured_outputs.py", "Structured outputs: replies as your own types", (), ""),
    ("13_tool_runner.py", "Tools: function_tool and the tool runner", (), ""),
)

_EXAMPLE_TIMEOUT = 120.0
_OFFLINE_KEY = "sk-offline-demo"


def _examples_dir(given: Optional[str]) -> str:
    if given:
        return given
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), "examples")


def _run(path: str, env: Dict[str, str], indent: str) -> Tuple[int, float]:
    """Run one example, echoing its output line by line; returns its exit status and duration."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    try:
        assert process.stdout is not None
        deadline = started + _EXAMPLE_TIMEOUT
        for line in process.stdout:
            print(indent + line.rstrip("\n"), flush=True)
            if time.perf_counter() > deadline:
                break
        try:
            status = process.wait(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            print(f"{indent}(stopped after {_EXAMPLE_TIMEOUT:.0f} s)", flush=True)
            status = 124
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    return status, time.perf_counter() - started


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; returns the exit status (0 when every example passed)."""
    parser = argparse.ArgumentParser(prog="python -m apertis.testing.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default=None, help="the examples directory (default: the checkout's examples/)")
    parser.add_argument("names", nargs="*", help="run only these examples (file names or numbers, e.g. 03)")
    args = parser.parse_args(argv)

    directory = _examples_dir(args.examples)
    if not os.path.isdir(directory):
        print(f"error: no examples directory at {directory}; pass --examples DIR", file=sys.stderr)
        return 2
    chosen = [e for e in EXAMPLES if not args.names or any(e[0].startswith(n) or e[0] == n for n in args.names)]
    if not chosen:
        print(f"error: no example matches {' '.join(args.names)}", file=sys.stderr)
        return 2

    remote = os.environ.get("APERTIS_BASE_URL", "").strip()
    if remote and not os.environ.get("APERTIS_API_KEY"):
        print(
            "error: APERTIS_BASE_URL is set but APERTIS_API_KEY is not; set both, or unset APERTIS_BASE_URL "
            "to use the offline server",
            file=sys.stderr,
        )
        return 2
    if remote:
        print(f"Running {len(chosen)} examples against {remote} (from APERTIS_BASE_URL).\n")
    else:
        print(f"Running {len(chosen)} examples against the offline Apertis server (apertis.testing), no network.\n")

    from ._server import FakeApertis

    failures: List[str] = []
    try:
        for number, (name, title, faults, why) in enumerate(chosen, start=1):
            rule = "=" * max(10, 78 - len(title) - len(name) - 12)
            print(f"== {number}/{len(chosen)} {title} ({name}) {rule}", flush=True)
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            server: Optional[FakeApertis] = None
            try:
                if not remote:
                    server = FakeApertis(faults=faults).start()
                    env.update(APERTIS_BASE_URL=server.url, APERTIS_API_KEY=_OFFLINE_KEY)
                    if why:
                        print(f"   (for this example {why})", flush=True)
                status, seconds = _run(os.path.join(directory, name), env, "   | ")
            finally:
                if server is not None:
                    server.stop()
            if status == 0:
                print(f"   ok ({seconds:.1f} s)\n", flush=True)
            else:
                print(f"   FAILED with exit status {status} ({seconds:.1f} s)\n", flush=True)
                failures.append(name)
    except KeyboardInterrupt:
        print("\nInterrupted; the offline servers are stopped.", file=sys.stderr)
        return 130
    passed = len(chosen) - len(failures)
    print(f"{passed}/{len(chosen)} examples passed." + (f" Failed: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
