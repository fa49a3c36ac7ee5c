"""Fork safety: after os.fork() parent and child each get exactly their own answers, and nothing the parent held
(a pooled connection, a gate, a lock) blocks or confuses the child.

Every child reports through a pipe and leaves with os._exit, under a watchdog, so that a deadlocked child fails
its test instead of hanging the suite. The server answers each request with the tag the request carried, after a
short delay, so that concurrent calls of parent and child overlap.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import pickle
import signal
import ssl
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterator, List, Optional

import httpx
import pytest
from rawserver import Behaviour, Exchange, LoopbackServer, loopback_servers, make

import apertis

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork semantics are tested on Linux"),
    # Python 3.12+ warns that forking a process with threads (the loopback server's) may deadlock the child:
    # what these tests check the SDK survives.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

ROUNDS = 20
TAG_HEADER = "x-echo"


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


def echo(release: Optional[threading.Event] = None) -> Behaviour:
    """Answer `{"echo": <the request's x-echo header>}` after a few milliseconds; a request tagged "hold" waits
    for `release` first."""

    async def behaviour(exchange: Exchange) -> bool:
        tag = ""
        for line in exchange.head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == TAG_HEADER:
                tag = value.strip()
        if tag == "hold" and release is not None:
            while not release.is_set() and not exchange.server.stopping.is_set():
                await exchange.sleep(0.02)
        await exchange.sleep(0.002 + 0.006 * (hash(tag) % 3))
        await exchange.send(body=json.dumps({"echo": tag}).encode())
        return True

    return behaviour


def sync_calls(client: Any, who: str, rounds: int) -> List[str]:
    """Make `rounds` calls; return what went wrong (an answer that is not this call's own, or an error)."""
    problems = []
    for number in range(rounds):
        tag = f"{who}-{number}"
        try:
            answer = client.get("/echo", extra_headers={TAG_HEADER: tag})
        except apertis.ApertisError as exc:
            problems.append(f"{tag}: {type(exc).__name__}: {exc}")
            continue
        if answer != {"echo": tag}:
            problems.append(f"{tag}: answered {answer!r}")
    return problems


async def async_calls(client: Any, who: str, rounds: int) -> List[str]:
    problems = []
    for number in range(rounds):
        tag = f"{who}-{number}"
        try:
            answer = await client.get("/echo", extra_headers={TAG_HEADER: tag})
        except apertis.ApertisError as exc:
            problems.append(f"{tag}: {type(exc).__name__}: {exc}")
            continue
        if answer != {"echo": tag}:
            problems.append(f"{tag}: answered {answer!r}")
    return problems


def finalisation_problems() -> List[str]:
    """Collect garbage and return the warnings (ResourceWarning...) and errors its finalisers raised."""
    raised: List[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda info: raised.append(f"{info.exc_type.__name__}: {info.exc_value}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    finally:
        sys.unraisablehook = previous
    return raised + [f"{warning.category.__name__}: {warning.message}" for warning in caught]


class Child:
    """A forked child running `work`; `problems()` waits for its report (a list of what went wrong)."""

    def __init__(self, work: Callable[[], List[str]]) -> None:
        gc.collect()  # the child's own finalisation check must not see the parent's pending garbage
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns into pytest
            report = ["the child failed before reporting"]
            try:
                os.close(read_fd)
                report = work()
            except BaseException as exc:  # whatever it is, the parent must hear of it
                report = [f"the child raised {type(exc).__name__}: {exc}"]
            finally:
                try:
                    os.write(write_fd, json.dumps(report[:5]).encode()[:60_000])
                finally:
                    os._exit(0)
        os.close(write_fd)
        self.pid = pid
        self.read_fd = read_fd

    def problems(self, timeout: float = 15.0) -> List[str]:
        deadline = time.monotonic() + timeout
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                os.close(self.read_fd)
                return [f"the child did not finish within {timeout:g} s (deadlocked?)"]
            time.sleep(0.01)
        chunks = []
        while True:
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self.read_fd)
        if not chunks:
            return ["the child exited without a report"]
        problems: List[str] = json.loads(b"".join(chunks))
        return problems


def test_sync_parent_and_child_each_get_their_own_answers(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(echo())
    with make("sync", server, max_retries=0, timeout=3) as client:
        assert client.get("/echo", extra_headers={TAG_HEADER: "first"}) == {"echo": "first"}  # a pooled connection

        def in_child() -> List[str]:
            return sync_calls(client, "child", ROUNDS) + finalisation_problems()

        child = Child(in_child)
        parent_problems = sync_calls(client, "parent", ROUNDS)
        assert child.problems() == []
        assert parent_problems == []
        # The parent kept its connection throughout; the child opened one of its own.
        assert server.accepted == 2


def _report_calls(client: Any, who: str, sender: Any) -> None:
    sender.send(sync_calls(client, who, ROUNDS) + finalisation_problems())


def test_multiprocessing_fork_children_and_with_options_copies(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(echo())
    context = multiprocessing.get_context("fork")
    with make("sync", server, max_retries=0, timeout=3) as client:
        client.get("/echo", extra_headers={TAG_HEADER: "first"})
        copy = client.with_options(timeout=4)  # made before the fork: it shares the pool, and its reset
        receiver, sender = context.Pipe(duplex=False)
        gc.collect()
        process = context.Process(target=_report_calls, args=(copy, "child", sender))
        process.start()
        try:
            parent_problems = sync_calls(client, "parent", ROUNDS)
            child_problems = receiver.recv() if receiver.poll(15) else ["no report from the child within 15 s"]
        finally:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            receiver.close()
            sender.close()
        assert child_problems == []
        assert parent_problems == []
        assert process.exitcode == 0


def test_async_client_in_a_forked_child_leaves_the_parents_connection_alone(
    loopback: Callable[..., LoopbackServer],
) -> None:
    server = loopback(echo())
    client = make("async", server, max_retries=0, timeout=3)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.get("/echo", extra_headers={TAG_HEADER: "first"})) == {"echo": "first"}

        def in_child() -> List[str]:
            async def calls() -> List[str]:
                problems = await async_calls(client, "child", ROUNDS)
                await client.close()  # closes the child's own pool, not the parent's connection
                return problems

            return asyncio.run(calls()) + finalisation_problems()

        child = Child(in_child)
        parent_problems = loop.run_until_complete(async_calls(client, "parent", ROUNDS))
        assert child.problems() == []
        assert parent_problems == []
        assert server.accepted == 2
        # The child is gone and its connection with it; the parent's is still open, and still in use.
        assert server.wait_until(lambda: server.open == 1)
        assert loop.run_until_complete(client.get("/echo", extra_headers={TAG_HEADER: "last"})) == {"echo": "last"}
        assert server.accepted == 2
        loop.run_until_complete(client.close())
    finally:
        loop.close()


def test_a_call_in_flight_at_the_fork_does_not_hold_the_childs_gate(loopback: Callable[..., LoopbackServer]) -> None:
    """A thread's call holds the gate's only place (and the only connection) when the process forks: in the
    child that thread does not exist and would never give them back."""
    release = threading.Event()
    server = loopback(echo(release))
    limits = httpx.Limits(max_connections=1)
    with make("sync", server, max_retries=0, timeout=httpx.Timeout(5, pool=2), connection_limits=limits) as client:
        answers: List[Any] = []

        def hold() -> None:
            try:
                answers.append(client.get("/echo", extra_headers={TAG_HEADER: "hold"}))
            except apertis.ApertisError as exc:
                answers.append(exc)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert server.wait_until(lambda: len(server.requests) == 1)
            child = Child(lambda: sync_calls(client, "child", 3))
            problems = child.problems()
        finally:
            release.set()
            holder.join(10)
        assert problems == []
        assert answers == [{"echo": "hold"}]


def test_a_pool_lock_held_at_the_fork_does_not_deadlock_the_child(loopback: Callable[..., LoopbackServer]) -> None:
    server = loopback(echo())
    with make("sync", server, max_retries=0, timeout=3) as client:
        client.get("/echo", extra_headers={TAG_HEADER: "first"})
        lock = client._client._transport._pool._optional_thread_lock  # httpcore's pool bookkeeping lock
        taken, release = threading.Event(), threading.Event()

        def hold() -> None:
            with lock:
                taken.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert taken.wait(5)
            child = Child(lambda: sync_calls(client, "child", 3))
        finally:
            release.set()
            holder.join(10)
        assert child.problems(timeout=8) == []


def test_a_tls_context_loading_at_the_fork_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread loading the CA certificates (the first TLS handshake) when the process forks holds the context's
    lock, and may have left its store half-built: the child starts over with a context of its own."""
    from apertis import _tls

    monkeypatch.setattr(_tls, "_context", _tls.DeferredVerifyContext())
    context = _tls.default_ssl_context()
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with context._load_lock:  # type: ignore[attr-defined]
            taken.set()
            release.wait(10)

    def in_child() -> List[str]:
        own = _tls.default_ssl_context()
        own.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="api.apertis.ai")
        return ["the child uses the parent's half-loaded context"] if own is context else []

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(5)
        child = Child(in_child)
    finally:
        release.set()
        holder.join(10)
    assert child.problems(timeout=8) == []


async def test_a_callers_http_client_raises_a_clear_error_in_the_child(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    server = loopback(echo())
    http_client = httpx.AsyncClient() if kind == "async" else httpx.Client()
    client = make(kind, server, max_retries=0, http_client=http_client)
    copy = client.with_options(timeout=4)

    async def first_call(on: Any) -> Any:
        result = on.get("/echo", extra_headers={TAG_HEADER: "first"})
        return await result if kind == "async" else result

    assert await first_call(client) == {"echo": "first"}

    def refusal_problem(name: str, each: Any) -> Optional[str]:
        """What is wrong with how `each` refuses its first call in the child (None: refused clearly)."""
        try:
            if kind == "async":
                asyncio.run(first_call(each))
            else:
                each.get("/echo", extra_headers={TAG_HEADER: "first"})
        except apertis.ForkedHTTPClientError as exc:
            message = str(exc)
            if not ("after the fork" in message and "omit http_client" in message):
                return f"{name}: unclear message {message!r}"
            return None if isinstance(exc, RuntimeError) else f"{name}: not a RuntimeError"
        except BaseException as exc:  # reported to the parent
            return f"{name}: {type(exc).__name__}: {exc}"
        return f"{name}: the call went through the parent's connections"

    def in_child() -> List[str]:
        found = [refusal_problem("client", client), refusal_problem("with_options copy", copy)]
        return [problem for problem in found if problem is not None] + finalisation_problems()

    try:
        child = Child(in_child)
        assert child.problems() == []
        assert server.accepted == 1
        assert await first_call(client) == {"echo": "first"}  # the parent's client is untouched
    finally:
        if isinstance(http_client, httpx.AsyncClient):
            await http_client.aclose()
        else:
            http_client.close()


async def test_a_callers_http_client_unused_before_the_fork_works_in_the_child(
    kind: str, loopback: Callable[..., LoopbackServer]
) -> None:
    # gunicorn --preload: the application (and a module-level client on the caller's http_client) is imported in
    # the parent, which never calls the API; each worker then calls it. Nothing was shared, so nothing refuses.
    server = loopback(echo())
    http_client = httpx.AsyncClient() if kind == "async" else httpx.Client()
    client = make(kind, server, max_retries=0, http_client=http_client)

    async def call(tag: str) -> Any:
        result = client.get("/echo", extra_headers={TAG_HEADER: tag})
        return await result if kind == "async" else result

    def in_child() -> List[str]:
        answer = (
            asyncio.run(call("child")) if kind == "async" else client.get("/echo", extra_headers={TAG_HEADER: "child"})
        )
        return [] if answer == {"echo": "child"} else [f"the child got {answer!r}"]

    try:
        child = Child(in_child)
        assert child.problems() == []
        assert await call("parent") == {"echo": "parent"}
    finally:
        if isinstance(http_client, httpx.AsyncClient):
            await http_client.aclose()
        else:
            http_client.close()


def test_the_fork_error_pickles_and_names_the_public_package() -> None:
    error = apertis.ForkedHTTPClientError("made before the fork")
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, apertis.ForkedHTTPClientError)
    assert isinstance(clone, RuntimeError)
    assert str(clone) == "made before the fork"
    assert type(clone).__module__ == "apertis"
