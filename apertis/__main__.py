"""`python -m apertis batch INPUT.jsonl -o OUTPUT.jsonl`: run a file of requests (OpenAI Batch API format)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any, AsyncIterator, List, Optional, Set, TextIO

_EXAMPLE = """\
Each input line is a request in the OpenAI Batch API format:

  {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions",
   "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}}

Each output line is its result, written as it completes (not in input order):

  {"id": "batch_req_...", "custom_id": "q1",
   "response": {"status_code": 200, "request_id": "...", "body": {...}}, "error": null}

A request that fails for good gets "error": {"code", "message"} (and its response, when the API answered) and the
run goes on. Rerunning with the same output sends only the requests with no successful answer there yet (the
same Idempotency-Key each time). Ctrl-C stops sending, waits --grace seconds for calls in flight, and exits 130.

The key and base URL come from APERTIS_API_KEY and APERTIS_BASE_URL.

example:
  APERTIS_API_KEY=sk-... python -m apertis batch requests.jsonl -o results.jsonl --concurrency 32
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m apertis", description="Tools of the apertis SDK.")
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser(
        "batch",
        help="run a JSONL file of requests (OpenAI Batch API format)",
        description="Run a JSONL file of requests (OpenAI Batch API format) with N calls in flight.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("input", help="the requests, one JSON object a line")
    batch.add_argument("-o", "--output", required=True, help="the results file (appended to; resumes a run)")
    batch.add_argument("--concurrency", type=int, default=32, help="calls in flight at once (default 32)")
    batch.add_argument("--max-retries", type=int, default=5, help="retries of a failing call (default 5)")
    batch.add_argument(
        "--requests-per-minute", type=float, default=None, help="a request rate to keep to (e.g. 500 for the IP limit)"
    )
    batch.add_argument("--tokens-per-minute", type=float, default=None, help="a token budget to keep to")
    batch.add_argument(
        "--grace", type=float, default=10.0, help="seconds to wait for calls in flight after Ctrl-C (default 10)"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress, no summary")
    return parser


def answered(path: str) -> Set[str]:
    """The custom_ids with a successful answer in an existing output file."""
    done: Set[str] = set()
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                result = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: its request is sent again
            if isinstance(result, dict) and result.get("error") is None and isinstance(result.get("custom_id"), str):
                done.add(result["custom_id"])
    return done


class Progress:
    """Counts, and shows them: a live line on a terminal, a log line every few seconds elsewhere."""

    def __init__(self, stream: TextIO, quiet: bool, skipped: int) -> None:
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty()
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.tokens = 0
        self.in_flight = 0
        self.total: Optional[int] = None
        self.started = time.monotonic()
        self._shown = 0.0

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        finished = self.done + self.failed
        rate = finished / elapsed
        text = (
            f"{self.done} done, {self.failed} failed, {self.in_flight} in flight, {rate:.1f} req/s, "
            f"{self.tokens / elapsed:.0f} tokens/s"
        )
        if self.total is not None and rate > 0:
            left = self.total - self.skipped - finished
            text += f", ETA {max(0.0, left / rate):.0f} s"
        return text

    def tick(self) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._shown < (0.5 if self.live else 5.0):
            return
        self._shown = now
        if self.live:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def summary(self, interrupted: bool) -> None:
        if self.quiet:
            return
        if self.live:
            self.stream.write("\r\x1b[K")
        elapsed = time.monotonic() - self.started
        state = "interrupted" if interrupted else "finished"
        self.stream.write(
            f"batch {state} in {elapsed:.1f} s: {self.done} done, {self.failed} failed, "
            f"{self.skipped} already answered (skipped), {self.tokens} tokens\n"
        )
        self.stream.flush()


def _count_lines(path: str) -> int:
    """The lines of a file, read in blocks (one quick pass, for the ETA)."""
    count = 0
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


async def _run_batch(args: argparse.Namespace) -> int:
    import asyncio

    from . import AsyncApertis, RateLimiter
    from .batch import arun, custom_id_of

    skip = answered(args.output)
    progress = Progress(sys.stderr, args.quiet, 0)
    if not args.quiet:
        progress.total = _count_lines(args.input)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Not on Windows: there Ctrl-C raises KeyboardInterrupt instead.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
    limiter = RateLimiter(
        max_concurrency=args.concurrency,
        requests_per_minute=args.requests_per_minute,
        tokens_per_minute=args.tokens_per_minute,
    )
    client = AsyncApertis(limiter=limiter, max_retries=args.max_retries)

    async def lines(source: TextIO) -> AsyncIterator[str]:
        for line in source:
            if stop.is_set():
                return
            if not line.strip():
                continue
            if skip and custom_id_of(line) in skip:
                progress.skipped += 1
                continue
            progress.in_flight += 1
            yield line

    interrupted = False
    with open(args.input, encoding="utf-8") as source, open(args.output, "a", encoding="utf-8") as output:
        results = arun(client, lines(source), concurrency=args.concurrency)
        pending: List[Any] = []

        async def consume() -> None:
            async for result in results:
                progress.in_flight -= 1
                if result.ok:
                    progress.done += 1
                else:
                    progress.failed += 1
                progress.tokens += result.tokens
                output.write(json.dumps(result.to_line(), ensure_ascii=False) + "\n")
                output.flush()
                progress.tick()

        consumer = asyncio.ensure_future(consume())
        pending.append(consumer)
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([consumer, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set() and not consumer.done():
            interrupted = True
            # No new line is read from here on; the calls in flight get a grace period.
            try:
                await asyncio.wait_for(asyncio.shield(consumer), args.grace)
            except asyncio.TimeoutError:
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        else:
            await consumer
            interrupted = stop.is_set()
        stopper.cancel()
        await results.aclose()
        output.flush()
    await client.close()
    progress.summary(interrupted)
    return 130 if interrupted else 0


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (see `python -m apertis --help`)."""
    args = _parser().parse_args(argv)
    if args.concurrency < 1:
        _parser().error("--concurrency must be at least 1")
    import asyncio

    from ._exceptions import ApertisError

    try:
        return asyncio.run(_run_batch(args))
    except KeyboardInterrupt:
        return 130
    except (ApertisError, OSError, ValueError) as exc:  # a missing key, an unreadable file, a bad setting
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
