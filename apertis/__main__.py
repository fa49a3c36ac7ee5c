"""`python -m apertis batch INPUT.jsonl -o OUTPUT.jsonl`: run a file of requests (OpenAI Batch API format)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from typing import List, Optional, TextIO

from .batch import BatchSummary

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

With --dask, the input is cut into one part a worker; each worker sends its part with its share of
--concurrency, --requests-per-minute and --tokens-per-minute, and writes its results to OUTPUT.shards/, which
are merged into OUTPUT at the end (and at the start of the next run, after an interruption).

example:
  APERTIS_API_KEY=sk-... python -m apertis batch requests.jsonl -o results.jsonl --concurrency 32

example on a Dask cluster whose machines share /shared:
  APERTIS_API_KEY=sk-... python -m apertis batch /shared/requests.jsonl -o /shared/results.jsonl \\
      --dask tcp://scheduler:8786 --concurrency 128 --requests-per-minute 3000
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
    batch.add_argument(
        "--dask",
        metavar="SCHEDULER_ADDRESS",
        default=None,
        help="run on the workers of a Dask cluster (e.g. tcp://10.0.0.5:8786), each with its share of the budgets; "
        'they must see INPUT and OUTPUT at the same paths (a shared filesystem). Needs pip install "apertis[dask]"',
    )
    batch.add_argument(
        "--shards", type=int, default=None, help="with --dask: parts to cut the input into (default: one a worker)"
    )
    return parser


class Progress:
    """Shows a run's counts: a live line on a terminal, a log line every few seconds elsewhere."""

    def __init__(self, stream: TextIO, quiet: bool, summary: BatchSummary) -> None:
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty()
        self.summary = summary
        self.total: Optional[int] = None
        self.started = time.monotonic()
        self._shown = 0.0

    def line(self) -> str:
        counts = self.summary
        elapsed = max(time.monotonic() - self.started, 1e-9)
        finished = counts.done + counts.failed
        rate = finished / elapsed
        text = (
            f"{counts.done} done, {counts.failed} failed, {counts.in_flight} in flight, {rate:.1f} req/s, "
            f"{counts.tokens / elapsed:.0f} tokens/s"
        )
        if self.total is not None and rate > 0:
            left = self.total - counts.skipped - finished
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

    def report(self) -> None:
        if self.quiet:
            return
        if self.live:
            self.stream.write("\r\x1b[K")
        counts = self.summary
        elapsed = time.monotonic() - self.started
        state = "interrupted" if counts.interrupted else "finished"
        self.stream.write(
            f"batch {state} in {elapsed:.1f} s: {counts.done} done, {counts.failed} failed, "
            f"{counts.skipped} already answered (skipped), {counts.tokens} tokens\n"
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
    from .batch import AnsweredIds, _arun_file

    answered = AnsweredIds.from_outputs(args.output)
    summary = BatchSummary()
    progress = Progress(sys.stderr, args.quiet, summary)
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
    try:
        with open(args.output, "a", encoding="utf-8") as output:
            await _arun_file(
                client,
                args.input,
                output,
                concurrency=args.concurrency,
                answered=answered,
                summary=summary,
                stop=stop,
                grace=args.grace,
                on_result=progress.tick,
            )
    finally:
        await client.close()
    progress.report()
    return 130 if summary.interrupted else 0


def _run_batch_on_dask(args: argparse.Namespace) -> int:
    from . import Apertis
    from ._batch_dask import BatchClusterError, _import_distributed, run_on_dask

    distributed = _import_distributed()
    progress = Progress(sys.stderr, args.quiet, BatchSummary())

    def show(live: BatchSummary) -> None:
        progress.summary = live
        progress.tick()

    try:
        dask_client = distributed.Client(args.dask)
    except (OSError, TimeoutError) as exc:
        raise BatchClusterError(
            f"cannot reach the Dask scheduler at {args.dask} ({exc}): check the address and that the scheduler runs "
            "(dask scheduler); DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT sets how long to try (e.g. 30s)"
        ) from exc
    try:
        with dask_client, Apertis(max_retries=args.max_retries) as client:
            summary = run_on_dask(
                dask_client,
                args.input,
                args.output,
                client=client,
                concurrency=args.concurrency,
                requests_per_minute=args.requests_per_minute,
                tokens_per_minute=args.tokens_per_minute,
                shards=args.shards,
                grace=args.grace,
                on_progress=show,
            )
    except BatchClusterError as exc:
        progress.summary = exc.summary
        progress.report()
        raise
    progress.summary = summary
    progress.report()
    return 130 if summary.interrupted else 0


def main(argv: Optional[List[str]] = None) -> int:
    """The command line (see `python -m apertis --help`)."""
    args = _parser().parse_args(argv)
    if args.concurrency < 1:
        _parser().error("--concurrency must be at least 1")
    if args.shards is not None and args.dask is None:
        _parser().error("--shards cuts the input for the workers of --dask: give --dask SCHEDULER_ADDRESS too")
    import asyncio

    from ._exceptions import ApertisError

    try:
        if args.dask is not None:
            return _run_batch_on_dask(args)
        return asyncio.run(_run_batch(args))
    except KeyboardInterrupt:
        return 130
    # A missing key, an unreadable file, a bad setting, no dask extra, a cluster that failed.
    except (ApertisError, OSError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
