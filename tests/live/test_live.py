"""Every operation of the spec, sync and async, streamed and not, against the API at APERTIS_BASE_URL.

`make test-live` runs it (skipped entirely without APERTIS_API_KEY). Against a remote API it skips the
operations that cost real money (`COSTLY`) and writes sanitised transcripts to `out/transcripts/<date>/`;
against a loopback server (`python -m apertis.testing`) it runs them all. tests/test_live_offline.py runs this
suite against the offline server in the regular run, so it is known to work before anyone has a key.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Dict, List, Optional

import pytest
from live_contract import (
    API_KEY,
    BASE_URL,
    COSTLY,
    FINDINGS,
    LIVE,
    PREREQUISITES,
    TINY_ARGUMENTS,
    WRITE_TRANSCRIPTS,
    Operation,
    Recorder,
    check_exchange,
    operations,
    write_transcript,
)

import apertis

OPERATIONS = operations()
BY_ID = {operation.operation_id: operation for operation in OPERATIONS}
POLL_INTERVAL = 5.0 if LIVE else 0.0
POLLS = 120


async def _run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def _prerequisite(operation: Operation, client: Any) -> Optional[str]:
    """The id of the thing `operation` works on, created (and waited for) with its creating operation."""
    if operation.operation_id not in PREREQUISITES:
        return None
    creator_id, must_complete = PREREQUISITES[operation.operation_id]
    creator = BY_ID[creator_id]
    args, kwargs = creator.call_arguments()
    created = await _run(creator.bound(client), *args, **kwargs)
    identifier = str(created.id)
    if must_complete:
        retrieve = BY_ID["retrieveVideo"].bound(client)
        for _ in range(POLLS):
            if (await _run(retrieve, identifier)).status == "completed":
                break
            await asyncio.sleep(POLL_INTERVAL)
    return identifier


def _cases() -> List[Any]:
    cases = []
    for operation in OPERATIONS:
        marks = []
        if API_KEY and LIVE and operation.operation_id in COSTLY:
            marks.append(pytest.mark.skip(reason=f"not in the nightly run: {COSTLY[operation.operation_id]}"))
        for streamed in (False, True) if operation.stream_event_schema else (False,):
            suffix = "-stream" if streamed else ""
            cases.append(pytest.param(operation, streamed, id=f"{operation.operation_id}{suffix}", marks=marks))
    return cases


def test_every_operation_has_tiny_arguments() -> None:
    assert {operation.operation_id for operation in OPERATIONS} == set(TINY_ARGUMENTS)
    assert set(COSTLY) <= set(TINY_ARGUMENTS)


@pytest.mark.parametrize(("operation", "streamed"), _cases())
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_operation_has_the_wire_shape_of_the_spec(operation: Operation, streamed: bool, flavour: str) -> None:
    recorder = Recorder()
    options: Dict[str, Any] = {"api_key": API_KEY, "base_url": BASE_URL, "max_retries": 2, "timeout": 60.0}
    events: List[Any] = []
    if flavour == "sync":
        with recorder.sync_client() as http, apertis.Apertis(http_client=http, **options) as client:
            args, kwargs = operation.call_arguments(await _prerequisite(operation, client))
            if streamed:
                with operation.bound(client)(*args, stream=True, **kwargs) as stream:
                    events = list(stream)
            else:
                result = operation.bound(client)(*args, **kwargs)
    else:
        async with recorder.async_client() as ahttp, apertis.AsyncApertis(http_client=ahttp, **options) as aclient:
            args, kwargs = operation.call_arguments(await _prerequisite(operation, aclient))
            pending = operation.bound(aclient)(*args, **kwargs, **({"stream": True} if streamed else {}))
            assert inspect.isawaitable(pending)
            if streamed:
                async with await pending as astream:
                    events = [event async for event in astream]
            else:
                result = await pending
    if streamed:
        assert events, "the SDK yielded no event"
    else:
        assert result is not None

    assert recorder.exchanges, "no request reached the wire"
    final = recorder.exchanges[-1]  # earlier ones are retried attempts
    if WRITE_TRANSCRIPTS:
        name = f"{operation.operation_id}-{flavour}{'-stream' if streamed else ''}"
        write_transcript(name, recorder.exchanges, API_KEY)
    check_exchange(operation, final, streamed, FINDINGS)
