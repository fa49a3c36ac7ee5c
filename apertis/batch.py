"""Many calls, done right: run requests in the OpenAI Batch API format with N in flight, results as they complete.

    from apertis.batch import arun, run

    async for result in arun(client, requests, concurrency=32):   # AsyncApertis; requests: dicts or BatchRequest
        print(result.to_line())
    for result in run(client, requests, concurrency=16):           # Apertis, in worker threads
        ...

A request is `{"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}` (any JSON
operation of the API); a result is the Batch API's output line, `{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error": null | {"code", "message"}}`. The requests are read from the iterable only as
places free up (bounded memory for any number of them), each call is retried as the client retries, carries an
Idempotency-Key derived from its custom_id, url and body, and a call that fails for good becomes a result with
an `error` rather than an exception. `python -m apertis batch --help` runs files of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from array import array
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    TextIO,
    Tuple,
    Union,
)

import attrs

from ._exceptions import APIError, APIStatusError
from ._models import BaseModel

if TYPE_CHECKING:
    from ._batch_dask import BatchClusterError, run_on_dask

__all__ = [
    "AnsweredIds",
    "BatchClusterError",
    "BatchInputError",
    "BatchRequest",
    "BatchResult",
    "BatchSummary",
    "aembed",
    "arun",
    "embed",
    "parse_request",
    "run",
    "run_on_dask",
]
# On a Dask cluster (apertis/_batch_dask.py), loaded when first named: it needs the dask extra only when run.
_ON_DASK = ("BatchClusterError", "run_on_dask")

RequestLike = Union["BatchRequest", Dict[str, Any], str]


class BatchInputError(ValueError):
    """A request line that cannot be sent as given (not JSON, or without custom_id, url or body)."""


@attrs.frozen(kw_only=True)
class BatchRequest:
    """One request of a batch: `method` and `url` (`/v1/...` or relative to the client's base_url), a JSON body."""

    custom_id: str
    url: str
    body: Any = None
    method: str = "POST"

    @property
    def idempotency_key(self) -> str:
        """The same for every run of the same request, so a resumed batch does not pay twice for one the server
        already answered."""
        canonical = json.dumps([self.custom_id, self.url, self.body], sort_keys=True, separators=(",", ":"))
        return "batch-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of one request: the response (status, request id, body) and, when it failed, the error."""

    custom_id: str
    status_code: Optional[int] = None
    request_id: Optional[str] = None
    body: Any = None
    error: Optional[Dict[str, str]] = None
    tokens: int = 0
    """`usage.total_tokens` of a successful answer (0 when it has none)."""

    @property
    def ok(self) -> bool:
        """Whether the request was answered successfully."""
        return self.error is None

    def to_line(self) -> Dict[str, Any]:
        """The Batch API's output line."""
        response = (
            None
            if self.status_code is None
            else {"status_code": self.status_code, "request_id": self.request_id, "body": self.body}
        )
        digest = hashlib.sha256(self.custom_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return {"id": f"batch_req_{digest}", "custom_id": self.custom_id, "response": response, "error": self.error}


def parse_request(value: RequestLike, line_number: Optional[int] = None) -> BatchRequest:
    """A BatchRequest from an input line (JSON text) or its dict; raises BatchInputError saying what is wrong."""
    where = "" if line_number is None else f"line {line_number}: "
    if isinstance(value, BatchRequest):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BatchInputError(f"{where}not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BatchInputError(f"{where}a request is a JSON object with custom_id, method, url and body")
    custom_id, url, method = value.get("custom_id"), value.get("url"), value.get("method", "POST")
    if not isinstance(custom_id, str) or not custom_id:
        raise BatchInputError(f"{where}give each request a custom_id (a non-empty string)")
    if not isinstance(url, str) or not url.startswith("/"):
        raise BatchInputError(f"{where}request {custom_id!r}: url must be a path such as /v1/chat/completions")
    if not isinstance(method, str) or method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        raise BatchInputError(f"{where}request {custom_id!r}: method must be GET, POST, PUT, PATCH or DELETE")
    body = value.get("body")
    if body is not None and not isinstance(body, dict):
        raise BatchInputError(f"{where}request {custom_id!r}: body must be a JSON object")
    return BatchRequest(custom_id=custom_id, url=url, body=body, method=method.upper())


def custom_id_of(value: RequestLike) -> str:
    """The custom_id of an input that may not parse as a request (for its error line)."""
    if isinstance(value, BatchRequest):
        return value.custom_id
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ""
    found = value.get("custom_id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


class _Answer(BaseModel):
    """The parsed body of a successful answer (the status and request id come from its raw response)."""

    __slots__ = ("body",)

    def __init__(self, body: Any) -> None:
        self.body = body


def _path(url: str) -> str:
    # Batch files name the API's paths (/v1/...); the client's base_url already ends in /v1.
    return url[3:] if url.startswith("/v1/") else url.lstrip("/")


def _tokens(body: Any) -> int:
    usage = body.get("usage") if isinstance(body, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else 0


def _success(request: BatchRequest, raw: Any, answer: _Answer) -> BatchResult:
    return BatchResult(
        custom_id=request.custom_id,
        status_code=raw.status_code,
        request_id=raw.request_id,
        body=answer.body,
        tokens=_tokens(answer.body),
    )


def _failure(custom_id: str, exc: Exception) -> BatchResult:
    if isinstance(exc, APIStatusError):
        code = getattr(exc, "code", None) or f"http_{exc.status_code}"
        return BatchResult(
            custom_id=custom_id,
            status_code=exc.status_code,
            request_id=exc.request_id,
            body=exc.body,
            error={"code": str(code), "message": str(exc)},
        )
    code = "invalid_request_line" if isinstance(exc, BatchInputError) else type(exc).__name__
    return BatchResult(custom_id=custom_id, error={"code": code, "message": str(exc)})


def _call_arguments(request: BatchRequest) -> Dict[str, Any]:
    return {
        "cast_to": _Answer,
        "body": request.body,
        "extra_headers": {"Idempotency-Key": request.idempotency_key},
        # The raw response (`with_raw_response`'s), read as for the plain call: the answer's own status code
        # (a 201 or 202 is recorded as such) and request id come with the parsed body.
        "raw": "read",
    }


async def _call_async(client: Any, value: RequestLike, line_number: Optional[int]) -> BatchResult:
    try:
        request = parse_request(value, line_number)
        raw = await client._request_untyped(request.method, _path(request.url), **_call_arguments(request))
        return _success(request, raw, await raw.parse())
    except (APIError, BatchInputError, ValueError, TypeError) as exc:
        return _failure(custom_id_of(value) or f"line-{line_number}", exc)


def _call_sync(client: Any, value: RequestLike, line_number: Optional[int]) -> BatchResult:
    try:
        request = parse_request(value, line_number)
        raw = client._request_untyped(request.method, _path(request.url), **_call_arguments(request))
        return _success(request, raw, raw.parse())
    except (APIError, BatchInputError, ValueError, TypeError) as exc:
        return _failure(custom_id_of(value) or f"line-{line_number}", exc)


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number of at least 1, got {concurrency!r}")


async def arun(
    client: Any, requests: Union[Iterable[RequestLike], AsyncIterable[RequestLike]], *, concurrency: int = 32
) -> AsyncGenerator[BatchResult, None]:
    """Send `requests` (BatchRequest, dicts or JSON lines) with an AsyncApertis, at most `concurrency` at once,
    and yield each result as it completes (not in input order; match them by custom_id)."""
    _check_concurrency(concurrency)

    async def numbered() -> AsyncIterator[Tuple[int, RequestLike]]:
        number = 0
        if isinstance(requests, AsyncIterable):
            async for item in requests:
                number += 1
                yield number, item
        else:
            for item in requests:
                number += 1
                yield number, item

    async for result in _arun_numbered(client, numbered(), concurrency):
        yield result


async def _arun_numbered(
    client: Any, numbered: AsyncIterator[Tuple[int, RequestLike]], concurrency: int
) -> AsyncGenerator[BatchResult, None]:
    """`arun` on (number, request) pairs: the number names a line that is not a request in its error (a file
    runner gives the line's number in the file)."""
    import asyncio

    pending: set[Any] = set()
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < concurrency:
                try:
                    number, item = await numbered.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(_call_async(client, item, number)))
            if not pending:
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield task.result()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def run(client: Any, requests: Iterable[RequestLike], *, concurrency: int = 16) -> Iterator[BatchResult]:
    """Send `requests` with an Apertis client from `concurrency` worker threads and yield each result as it
    completes (not in input order; match them by custom_id)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    _check_concurrency(concurrency)
    source = iter(enumerate(requests, 1))
    exhausted = False
    with ThreadPoolExecutor(concurrency, thread_name_prefix="apertis-batch") as pool:
        pending: set[Any] = set()
        try:
            while True:
                while not exhausted and len(pending) < concurrency:
                    try:
                        number, item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(pool.submit(_call_sync, client, item, number))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _chunks(texts: Any, batch_size: int) -> List[List[str]]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string (wrap it: [text])")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    items = list(texts)
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


def _vectors(response: Any, expected: int) -> List[Any]:
    ordered = sorted(response.data, key=lambda item: item.index)
    if len(ordered) != expected:
        from ._exceptions import invalid_data_error

        raise invalid_data_error(f"an embeddings request of {expected} texts was answered with {len(ordered)} vectors")
    return [item.embedding for item in ordered]


async def aembed(
    client: Any, texts: Iterable[str], *, model: str, batch_size: int = 512, concurrency: int = 8, **options: Any
) -> List[Any]:
    """The embedding of every text, in input order, with an AsyncApertis: `batch_size` texts a request,
    `concurrency` requests at once; `options` go to `client.embeddings.create` (dimensions, ...). A request that
    fails for good raises its error."""
    import asyncio

    _check_concurrency(concurrency)
    chunks = _chunks(texts, batch_size)
    places = asyncio.Semaphore(concurrency)

    async def one(chunk: List[str]) -> List[Any]:
        async with places:
            return _vectors(await client.embeddings.create(model=model, input=chunk, **options), len(chunk))

    results = await asyncio.gather(*(one(chunk) for chunk in chunks))
    return [vector for chunk_vectors in results for vector in chunk_vectors]


def embed(
    client: Any, texts: Iterable[str], *, model: str, batch_size: int = 512, concurrency: int = 8, **options: Any
) -> List[Any]:
    """The embedding of every text, in input order, with an Apertis client from `concurrency` worker threads
    (see `aembed`)."""
    from concurrent.futures import ThreadPoolExecutor

    _check_concurrency(concurrency)
    chunks = _chunks(texts, batch_size)

    def one(chunk: List[str]) -> List[Any]:
        return _vectors(client.embeddings.create(model=model, input=chunk, **options), len(chunk))

    with ThreadPoolExecutor(concurrency, thread_name_prefix="apertis-embed") as pool:
        return [vector for chunk_vectors in pool.map(one, chunks) for vector in chunk_vectors]


# The start of a result line as BatchResult.to_line() and json.dumps write it; "error" is its last key.
_OWN_LINE_START = re.compile(r'\{"id": "batch_req_[0-9a-f]{24}", "custom_id": ("(?:[^"\\]|\\.)*"), ')
_OWN_LINE_SUCCESS_END = ', "error": null}'


def _answered_custom_id(line: str) -> Optional[str]:
    """The custom_id of an output line that records a successful answer, else None (a failure, or a line cut
    short by a crash). The runner's own lines are read without parsing their body (resuming a large output
    reads it whole); others (another tool's) are parsed."""
    own = _OWN_LINE_START.match(line)
    if own is not None:
        if not line.rstrip("\r\n").endswith(_OWN_LINE_SUCCESS_END):
            return None
        custom_id: Any = json.loads(own.group(1))
    else:
        try:
            result = json.loads(line)
        except ValueError:
            return None
        if not isinstance(result, dict) or result.get("error") is not None:
            return None
        custom_id = result.get("custom_id")
    return custom_id if isinstance(custom_id, str) else None


class AnsweredIds:
    """The custom_ids that have a successful answer, for resuming: held as 8-byte digests in one flat
    open-addressing table, about 16 to 32 bytes an id whatever its length (a set of the strings takes 100 or
    more an id, which for tens of millions of lines is gigabytes).

    Two different ids share a digest with a chance of about n*m/2**64 for n answered ids among m lines (1 in
    200,000 for ten million of each): the line would be taken as answered and not sent.
    """

    def __init__(self) -> None:
        self._slots = array("Q", [0]) * 1024  # a power of two; 0 marks a free slot
        self._count = 0

    @classmethod
    def from_outputs(cls, *paths: str) -> AnsweredIds:
        """The ids with a successful answer in any of these output files (a missing file has none)."""
        answered = cls()
        for path in paths:
            answered.add_from_output(path)
        return answered

    def add_from_output(self, path: str) -> None:
        """Add the ids with a successful answer in the output file at `path`, if it exists."""
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                custom_id = _answered_custom_id(line)
                if custom_id is not None:
                    self.add(custom_id)

    @staticmethod
    def _digest(custom_id: str) -> int:
        digest = hashlib.blake2b(custom_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1

    def add(self, custom_id: str) -> None:
        """Record `custom_id` as answered."""
        if (self._count + 1) * 2 > len(self._slots):
            old = self._slots
            self._slots = array("Q", [0]) * (2 * len(old))
            for digest in old:
                if digest:
                    self._place(digest)
        if self._place(self._digest(custom_id)):
            self._count += 1

    def _place(self, digest: int) -> bool:
        slots = self._slots
        mask = len(slots) - 1
        index = digest & mask
        while True:
            found = slots[index]
            if found == 0:
                slots[index] = digest
                return True
            if found == digest:
                return False
            index = (index + 1) & mask

    def __contains__(self, custom_id: object) -> bool:
        if not isinstance(custom_id, str):
            return False
        digest = self._digest(custom_id)
        slots = self._slots
        mask = len(slots) - 1
        index = digest & mask
        while True:
            found = slots[index]
            if found == digest:
                return True
            if found == 0:
                return False
            index = (index + 1) & mask

    def __len__(self) -> int:
        return self._count


@attrs.define(kw_only=True)
class BatchSummary:
    """The counts of a run over a file (`python -m apertis batch`, `run_on_dask`), kept up to date as it goes."""

    done: int = 0
    """Requests answered successfully."""
    failed: int = 0
    """Requests that failed for good (their error is in the output)."""
    skipped: int = 0
    """Lines already answered in the output by an earlier run, not sent again."""
    tokens: int = 0
    """`usage.total_tokens` of the successful answers."""
    in_flight: int = 0
    """Requests sent and not yet answered."""
    interrupted: bool = False
    """Whether the run was stopped (Ctrl-C) before every line was sent."""

    def add(self, other: BatchSummary) -> None:
        """Add the counts of another run (a shard's) to these."""
        self.done += other.done
        self.failed += other.failed
        self.skipped += other.skipped
        self.tokens += other.tokens
        self.interrupted = self.interrupted or other.interrupted


async def _arun_file(
    client: Any,
    input_path: str,
    output: TextIO,
    *,
    concurrency: int,
    answered: AnsweredIds,
    summary: BatchSummary,
    start: int = 0,
    end: Optional[int] = None,
    first_line: int = 1,
    stop: Optional[Any] = None,
    grace: float = 10.0,
    on_result: Optional[Callable[[], None]] = None,
) -> None:
    """`arun` over the lines of a file between byte offsets `start` (a line's start, numbered `first_line`) and
    `end`, skipping those in `answered`; each result is written to `output` and flushed as it completes.
    `stop` (an asyncio.Event) stops reading new lines; the calls in flight then get `grace` seconds."""
    import asyncio

    async def lines() -> AsyncIterator[Tuple[int, str]]:
        number = first_line - 1
        position = start
        with open(input_path, "rb") as source:
            source.seek(start)
            for raw in source:
                if end is not None and position >= end:
                    return
                position += len(raw)
                number += 1
                if stop is not None and stop.is_set():
                    return
                line = raw.decode("utf-8", "replace")
                if not line.strip():
                    continue
                if len(answered) and custom_id_of(line) in answered:
                    summary.skipped += 1
                    continue
                summary.in_flight += 1
                yield number, line

    results = _arun_numbered(client, lines(), concurrency)

    async def consume() -> None:
        async for result in results:
            summary.in_flight -= 1
            if result.ok:
                summary.done += 1
            else:
                summary.failed += 1
            summary.tokens += result.tokens
            output.write(json.dumps(result.to_line(), ensure_ascii=False) + "\n")
            output.flush()
            if on_result is not None:
                on_result()

    consumer = asyncio.ensure_future(consume())
    try:
        if stop is None:
            await consumer
            return
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([consumer, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if stop.is_set() and not consumer.done():
            # No new line is read from here on; the calls in flight get a grace period.
            try:
                await asyncio.wait_for(asyncio.shield(consumer), grace)
            except asyncio.TimeoutError:
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        else:
            await consumer
        summary.interrupted = stop.is_set()
    finally:
        if not consumer.done():
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        await results.aclose()
        output.flush()


def __getattr__(name: str) -> Any:
    if name in _ON_DASK:
        from . import _batch_dask

        return getattr(_batch_dask, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
