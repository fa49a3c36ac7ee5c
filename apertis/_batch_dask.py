"""The batch runner on a Dask distributed cluster: `python -m apertis batch IN -o OUT --dask ADDRESS` and
`apertis.batch.run_on_dask`.

The input is cut into as many shards as the cluster has workers, at line boundaries (byte ranges: the driver
reads the file once to find them and ships only the ranges). Each worker runs the same file runner as the
single-machine command (`arun` underneath) on its shard, with an AsyncApertis of its own built from the
client's configuration (the key included) and its share of the budgets, and appends its results to
OUTPUT.shards/part-NNNNN.jsonl. The driver merges the shard files into OUTPUT and removes them. Workers read the
input, OUTPUT and the shard files by path: the driver and the workers must see them at the same paths (a shared
filesystem). Resume: every shard skips the lines answered in OUTPUT or in its own shard file, and a run starts
by merging the shard files an interrupted run left.

distributed is imported only by what needs it (`pip install "apertis[dask]"`): `import apertis.batch` does not
load it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Union

import attrs

from ._exceptions import ApertisError
from .batch import AnsweredIds, BatchSummary, _arun_file, _check_concurrency

if TYPE_CHECKING:
    import distributed

    from ._async._client import AsyncApertis
    from ._sync._client import Apertis

__all__ = ["BatchClusterError", "run_on_dask", "shard_directory"]

_EXTRA_HINT = 'running a batch on Dask needs the dask extra: pip install "apertis[dask]" (it installs distributed)'
_STOP_POLL_SECONDS = 0.5
_STOP_FILE = "STOP"


class BatchClusterError(ApertisError):
    """A batch on a Dask cluster could not finish: the scheduler was unreachable, or shards failed (a worker
    died, a worker could not read the input or write its shard file). The answers written before the failure
    are kept in the output; running the same command again sends the lines that have none."""

    summary: BatchSummary
    """The counts of the shards that finished (and of the answers merged from the others)."""

    def __init__(self, message: str, summary: Optional[BatchSummary] = None) -> None:
        super().__init__(message)
        self.summary = BatchSummary() if summary is None else summary


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"{_EXTRA_HINT}; importing it failed: {exc}") from exc
    return distributed


def shard_directory(output_path: str) -> str:
    """Where the workers write their results before the driver merges them into `output_path`."""
    return output_path + ".shards"


@attrs.frozen(kw_only=True)
class _Shard:
    """The lines of the input between two byte offsets, the first numbered `first_line`."""

    index: int
    start: int
    end: int
    first_line: int

    def path(self, directory: str) -> str:
        return os.path.join(directory, f"part-{self.index:05d}.jsonl")


@attrs.frozen(kw_only=True)
class _Budget:
    """A shard's share of the run's budgets."""

    concurrency: int
    requests_per_minute: Optional[float]
    tokens_per_minute: Optional[float]


def _count_newlines(source: Any, start: int, end: int) -> int:
    source.seek(start)
    count, left = 0, end - start
    while left > 0:
        block = source.read(min(left, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


def _plan_shards(input_path: str, count: int) -> List[_Shard]:
    """`count` byte ranges of about equal size, each starting at a line's start, with their first line's number:
    one pass over the file, in blocks."""
    size = os.path.getsize(input_path)
    bounds = [0]
    with open(input_path, "rb") as source:
        for index in range(1, count):
            target = size * index // count
            if target <= bounds[-1]:
                bounds.append(bounds[-1])
                continue
            source.seek(target - 1)
            source.readline()  # to the start of the next line
            bounds.append(max(source.tell(), bounds[-1]))
        bounds.append(size)
        shards, first_line = [], 1
        for index in range(count):
            start, end = bounds[index], bounds[index + 1]
            shards.append(_Shard(index=index, start=start, end=end, first_line=first_line))
            first_line += _count_newlines(source, start, end)
    return shards


def _merge_shard_files(directory: str, output_path: str) -> None:
    """Append the shard files' complete lines to the output, then remove them (streamed: bounded memory).
    A line cut short by a worker that died is left out: its request is sent again."""
    if not os.path.isdir(directory):
        return
    names = sorted(name for name in os.listdir(directory) if name.startswith("part-") and name.endswith(".jsonl"))
    with open(output_path, "ab") as output:
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as part:
                for line in part:
                    if line.endswith(b"\n"):
                        output.write(line)
            output.flush()
            os.fsync(output.fileno())
            os.remove(path)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(directory, _STOP_FILE))
    os.rmdir(directory)


def _client_settings(client: Union[AsyncApertis, Apertis, None]) -> Dict[str, Any]:
    """The configuration a client pickles as (the key included), for building a shard's AsyncApertis."""
    if client is None:
        from ._sync._client import Apertis

        with Apertis() as from_environment:  # the key and base URL of this machine's environment
            return _client_settings(from_environment)
    # A client pickles as (rebuild, (its class, its settings)): the settings build the shard's AsyncApertis.
    reduced = client.__reduce__()
    settings: Dict[str, Any] = dict(reduced[1][1])
    return settings


def _share(total: Optional[float], shards: int) -> Optional[float]:
    return None if total is None else total / shards


@attrs.frozen(kw_only=True)
class _ShardJob:
    """What a worker is sent for one shard: a few hundred bytes, never the lines themselves."""

    client_settings: Dict[str, Any]
    input_path: str
    output_path: str
    shard_path: str
    shard: _Shard
    budget: _Budget
    stop_path: str
    """A file the driver creates on Ctrl-C (in the shard directory): the shard then stops sending."""
    grace: float


def _run_shard(job: _ShardJob) -> Dict[str, Any]:
    """On a worker: the file runner over one shard, with a client of its own; the shard's counts, and the
    budget its client had."""
    import asyncio

    from ._async._client import AsyncApertis
    from ._limiter import RateLimiter

    budget, shard = job.budget, job.shard
    limiter = RateLimiter(
        max_concurrency=budget.concurrency,
        requests_per_minute=budget.requests_per_minute,
        tokens_per_minute=budget.tokens_per_minute,
    )
    # Resume: what OUTPUT had when the run started, and what this shard wrote before a worker running it died.
    answered = AnsweredIds.from_outputs(job.output_path, job.shard_path)
    summary = BatchSummary()

    async def run() -> None:
        stop = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                if os.path.exists(job.stop_path):
                    stop.set()
                await asyncio.sleep(_STOP_POLL_SECONDS)

        watcher = asyncio.ensure_future(watch())
        try:
            async with AsyncApertis(**{**job.client_settings, "limiter": limiter}) as client:
                with open(job.shard_path, "a", encoding="utf-8") as output:
                    await _arun_file(
                        client,
                        job.input_path,
                        output,
                        concurrency=budget.concurrency,
                        answered=answered,
                        summary=summary,
                        start=shard.start,
                        end=shard.end,
                        first_line=shard.first_line,
                        stop=stop,
                        grace=job.grace,
                    )
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    asyncio.run(run())
    return {
        "summary": attrs.asdict(summary),
        "limiter": {
            "max_concurrency": limiter.max_concurrency,
            "requests_per_minute": limiter.requests_per_minute,
            "tokens_per_minute": limiter.tokens_per_minute,
        },
    }


class _ShardProgress:
    """Counts the results in the shard files as the workers append them (each new complete line read once)."""

    def __init__(self, paths: List[str], summary: BatchSummary) -> None:
        self._offsets = dict.fromkeys(paths, 0)
        self.summary = summary

    def update(self) -> None:
        import json

        for path, start in self._offsets.items():
            offset = start
            try:
                with open(path, "rb") as part:
                    part.seek(offset)
                    for line in part:
                        if not line.endswith(b"\n"):
                            break
                        offset += len(line)
                        try:
                            result = json.loads(line)
                        except ValueError:
                            continue
                        if result.get("error") is None:
                            self.summary.done += 1
                        else:
                            self.summary.failed += 1
            except FileNotFoundError:
                continue
            self._offsets[path] = offset


def run_on_dask(
    dask_client: distributed.Client,
    input_path: str,
    output_path: str,
    *,
    client: Union[AsyncApertis, Apertis, None] = None,
    concurrency: int = 32,
    requests_per_minute: Optional[float] = None,
    tokens_per_minute: Optional[float] = None,
    shards: Optional[int] = None,
    grace: float = 10.0,
    on_progress: Optional[Callable[[BatchSummary], None]] = None,
) -> BatchSummary:
    """Run the requests of `input_path` (OpenAI Batch API format, one a line) on the workers of a Dask cluster,
    appending the results to `output_path`; resumes like `python -m apertis batch` (lines already answered
    there are not sent again).

    - `dask_client`: a `distributed.Client` connected to the cluster. The workers need apertis installed, and
      must see `input_path` and `output_path` at the same paths as this process (a shared filesystem).
    - `client`: an AsyncApertis or Apertis whose configuration (the API key included, not its connections)
      each shard's client is built from; default: one from this machine's APERTIS_API_KEY and APERTIS_BASE_URL.
    - `concurrency`, `requests_per_minute`, `tokens_per_minute`: the budgets of the whole run; each of the
      `shards` (default: one a worker) gets an equal share (a concurrency of at least 1).
    - `grace`: seconds the calls in flight get after Ctrl-C (KeyboardInterrupt) before the shards stop.
    - `on_progress`: called about twice a second with the counts so far.

    Returns the counts of the run (`interrupted` after Ctrl-C; the answers written so far are in the output).
    Raises BatchClusterError when shards fail (a worker died, a worker could not read or write the files): the
    answers written are kept and running it again sends the rest.
    """
    _import_distributed()  # before anything else: without the extra, say how to install it
    _check_concurrency(concurrency)
    if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
        raise ValueError(f"shards must be a whole number of at least 1 or None (one a worker), got {shards!r}")
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"the batch input {input_path!r} is not a file")
    settings = _client_settings(client)
    try:
        workers = sorted(dask_client.scheduler_info()["workers"])
    except (OSError, TimeoutError) as exc:  # OSError: the connection to the scheduler is gone
        raise BatchClusterError(f"the Dask scheduler cannot be reached ({exc}): check that it runs") from exc
    if not workers:
        raise BatchClusterError("the Dask cluster has no workers: start some (dask worker SCHEDULER_ADDRESS)")
    count = shards or len(workers)
    directory = shard_directory(output_path)
    _merge_shard_files(directory, output_path)  # what an interrupted run's shards answered counts as answered
    os.makedirs(directory, exist_ok=True)
    budget = _Budget(
        concurrency=max(1, concurrency // count),
        requests_per_minute=_share(requests_per_minute, count),
        tokens_per_minute=_share(tokens_per_minute, count),
    )
    plan = _plan_shards(input_path, count)
    run_id = uuid.uuid4().hex[:12]
    stop_path = os.path.abspath(os.path.join(directory, _STOP_FILE))
    # distributed's Future and Client.cancel are not annotated: they are used as Any.
    cluster: Any = dask_client
    futures: List[Any] = []
    live = BatchSummary()
    watcher = _ShardProgress([shard.path(directory) for shard in plan], live)
    interrupted = False
    try:
        for shard in plan:
            job = _ShardJob(
                client_settings=settings,
                input_path=os.path.abspath(input_path),
                output_path=os.path.abspath(output_path),
                shard_path=os.path.abspath(shard.path(directory)),
                shard=shard,
                budget=budget,
                stop_path=stop_path,
                grace=grace,
            )
            futures.append(
                cluster.submit(
                    _run_shard,
                    job,
                    key=f"apertis-batch-{run_id}-shard-{shard.index:05d}",
                    workers=[workers[shard.index % len(workers)]],
                    allow_other_workers=True,
                    pure=False,
                )
            )
        while not all(future.done() for future in futures):
            time.sleep(_STOP_POLL_SECONDS)
            watcher.update()
            if on_progress is not None:
                on_progress(live)
    except KeyboardInterrupt:
        interrupted = True
        with open(stop_path, "w"):
            pass
        deadline = time.monotonic() + grace + 10 * _STOP_POLL_SECONDS
        while time.monotonic() < deadline and not all(future.done() for future in futures):
            time.sleep(_STOP_POLL_SECONDS / 5)
        cluster.cancel([future for future in futures if not future.done()])
    summary, failures = _collect(plan, futures, interrupted)
    _merge_shard_files(directory, output_path)
    if failures:
        raise BatchClusterError(
            f"{len(failures)} of {count} shards of the batch failed on the Dask cluster ({'; '.join(failures)}). "
            f"The answers they wrote are in {output_path}: run the same command again to send the lines that have "
            "none.",
            summary,
        )
    return summary


def _collect(plan: List[_Shard], futures: List[Any], interrupted: bool) -> Tuple[BatchSummary, List[str]]:
    """The shards' counts added up, and what went wrong with those that did not finish (after Ctrl-C, a shard
    still running is not a failure: the run is interrupted)."""
    summary = BatchSummary(interrupted=interrupted)
    failures: List[str] = []
    for shard, future in zip(plan, futures):
        if future.status == "finished":
            summary.add(BatchSummary(**future.result()["summary"]))
        elif future.status == "error":
            error = future.exception()
            reason = f"{type(error).__name__}: {error}"
            if type(error).__name__ == "KilledWorker":
                reason = f"the workers running it died ({reason})"
            failures.append(f"shard {shard.index}: {reason}")
        elif not interrupted:
            # Cancelled or lost: by someone else, or with the connection to the scheduler.
            failures.append(f"shard {shard.index}: {future.status} (was the Dask scheduler lost?)")
    return summary, failures
