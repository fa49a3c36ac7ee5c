"""One benchmark measurement in a fresh process: ``python bench/worker.py LIB SCENARIO N CONC URL``.

Prints one JSON object per line on stdout: ``cpu`` (seconds of this process's CPU time spent in the measured part),
``wall``, ``n`` (units of work done in the measured part), ``rss_kb`` (peak resident set of the process),
``errors`` and ``check`` (a value derived from the answers, so a client that skipped work is noticed).

LIB is one of: none, httpx (the lean floor), httpx-json (raw httpx with base_url and json=), httpx-aiohttp, aiohttp,
openai, apertis, apertis-aiohttp.
SCENARIO is one of: import, first, sync_chat, async_chat, stream_sync, stream_async, emb_float, emb_default.

The module imports only what the interpreter already has loaded before the measured part, so that
``import`` measures a user's first line (``from apertis import Apertis, AsyncApertis``, ``import httpx``) alone.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
EMB_MODEL = "bench-emb-1536"
EMB_INPUT = [f"benchmark input text number {i}" for i in range(100)]
API_KEY = "sk-bench"
MODULES = {
    "none": None,
    "httpx": "httpx",
    "httpx-json": "httpx",
    "httpx-aiohttp": "httpx_aiohttp",
    "aiohttp": "aiohttp",
    "openai": "openai",
    "apertis": "apertis",
    "apertis-aiohttp": "apertis",
}


# What a user's first line is, for each library: the import scenario measures it in a fresh process.
FIRST_LINES = {
    "none": "pass",
    "httpx": "import httpx",
    "httpx-json": "import httpx",
    "httpx-aiohttp": "import httpx_aiohttp",
    "aiohttp": "import aiohttp",
    "openai": "from openai import OpenAI, AsyncOpenAI",
    "apertis": "from apertis import Apertis, AsyncApertis",
    "apertis-aiohttp": "from apertis import Apertis, AsyncApertis",
}


def stream_model(n: int) -> str:
    """The model name that makes the bench server stream ``n`` chunks."""
    return f"bench-stream-{n}"


def _floats_from_base64(data: str) -> list[float]:
    import array
    import base64

    values = array.array("f", base64.b64decode(data))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


# --- sync clients: each has chat(), stream(n) -> chunks with content, embed(fmt) -> vectors, close() ---------


class SyncHttpxJson:
    """Raw httpx the convenient way: ``base_url`` and ``post(path, json=...)``, ``response.json()``."""

    def __init__(self, url: str) -> None:
        import httpx

        self.json = __import__("json")
        self.c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=600)

    def chat(self) -> str:
        r = self.c.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        if r.status_code != 200:
            raise RuntimeError(r.status_code)
        return r.json()["choices"][0]["message"]["content"]

    def stream(self, n: int) -> int:
        loads = self.json.loads
        count = 0
        with self.c.stream(
            "POST", "/chat/completions", json={"model": stream_model(n), "messages": MESSAGES, "stream": True}
        ) as r:
            if r.status_code != 200:
                raise RuntimeError(r.status_code)
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data != "[DONE]":
                    choices = loads(data)["choices"]
                    if choices:
                        choices[0]["delta"].get("content")
                        count += 1
        return count

    def embed(self, fmt: str, inputs: list[str] = EMB_INPUT) -> list[list[float]]:
        wire = "float" if fmt == "float" else "base64"
        r = self.c.post("/embeddings", json={"model": EMB_MODEL, "input": inputs, "encoding_format": wire})
        if r.status_code != 200:
            raise RuntimeError(r.status_code)
        data = r.json()["data"]
        if wire == "float":
            return [e["embedding"] for e in data]
        return [_floats_from_base64(e["embedding"]) for e in data]

    def close(self) -> None:
        self.c.close()


class SyncHttpx(SyncHttpxJson):
    """Raw httpx the lean way, what a careful user writes by hand: the floor. The URL is absolute (no base_url
    merge), the body serialised with json.dumps (no httpx JSON encoding), the answer read with json.loads."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.chat_url = url + "/chat/completions"
        self.c.headers["Content-Type"] = "application/json"

    def chat(self) -> str:
        json = self.json
        r = self.c.post(self.chat_url, content=json.dumps({"model": MODEL, "messages": MESSAGES}).encode())
        if r.status_code != 200:
            raise RuntimeError(r.status_code)
        return json.loads(r.content)["choices"][0]["message"]["content"]


class SyncOpenAI:
    """openai-python, default settings."""

    def __init__(self, url: str) -> None:
        import openai

        self.c = openai.OpenAI(api_key=API_KEY, base_url=url)

    def chat(self) -> str:
        return self.c.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content  # type: ignore

    def stream(self, n: int) -> int:
        count = 0
        for chunk in self.c.chat.completions.create(model=stream_model(n), messages=MESSAGES, stream=True):  # type: ignore
            if chunk.choices:
                chunk.choices[0].delta.content  # noqa: B018
                count += 1
        return count

    def embed(self, fmt: str, inputs: list[str] = EMB_INPUT) -> list[list[float]]:
        if fmt == "float":
            r = self.c.embeddings.create(model=EMB_MODEL, input=inputs, encoding_format="float")
        else:
            r = self.c.embeddings.create(model=EMB_MODEL, input=inputs)
        return [e.embedding for e in r.data]

    def close(self) -> None:
        self.c.close()


class SyncApertis(SyncOpenAI):
    """apertis, default settings (same surface as openai-python for these calls)."""

    def __init__(self, url: str) -> None:
        import apertis

        self.c = apertis.Apertis(api_key=API_KEY, base_url=url)


# --- async clients -------------------------------------------------------------------------------------------


class AsyncHttpxJson:
    """Raw httpx.AsyncClient the convenient way (``base_url``, ``json=``, ``response.json()``).

    ``connections``: None for httpx's default limits (100 connections, 20 kept alive); a number for that many
    connections, 100 kept alive (the SDKs' default pool, used at 1,000 in flight: see SDK_POOL_FROM).
    """

    def __init__(self, url: str, connections: int | None = None) -> None:
        import httpx

        self.json = __import__("json")
        self.limits = httpx.Limits(max_connections=connections, max_keepalive_connections=100) if connections else None
        self.c = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=600,
            transport=self.transport(),
            **({"limits": self.limits} if self.limits else {}),
        )

    def transport(self) -> object:
        return None

    async def chat(self) -> str:
        r = await self.c.post("/chat/completions", json={"model": MODEL, "messages": MESSAGES})
        if r.status_code != 200:
            raise RuntimeError(r.status_code)
        return r.json()["choices"][0]["message"]["content"]

    async def stream(self, n: int) -> int:
        loads = self.json.loads
        count = 0
        async with self.c.stream(
            "POST", "/chat/completions", json={"model": stream_model(n), "messages": MESSAGES, "stream": True}
        ) as r:
            if r.status_code != 200:
                raise RuntimeError(r.status_code)
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data != "[DONE]":
                    choices = loads(data)["choices"]
                    if choices:
                        choices[0]["delta"].get("content")
                        count += 1
        return count

    async def close(self) -> None:
        await self.c.aclose()


class AsyncHttpx(AsyncHttpxJson):
    """Raw httpx.AsyncClient the lean way (absolute URL, json.dumps body, json.loads answer): the floor."""

    def __init__(self, url: str, connections: int | None = None) -> None:
        super().__init__(url, connections)
        self.chat_url = url + "/chat/completions"
        self.c.headers["Content-Type"] = "application/json"

    async def chat(self) -> str:
        json = self.json
        r = await self.c.post(self.chat_url, content=json.dumps({"model": MODEL, "messages": MESSAGES}).encode())
        if r.status_code != 200:
            raise RuntimeError(r.status_code)
        return json.loads(r.content)["choices"][0]["message"]["content"]


class AsyncHttpxAiohttp(AsyncHttpx):
    """Raw httpx.AsyncClient over httpx-aiohttp's AiohttpTransport."""

    def transport(self) -> object:
        import httpx_aiohttp

        return httpx_aiohttp.AiohttpTransport(**({"limits": self.limits} if self.limits else {}))


class AsyncAiohttp:
    """Raw aiohttp, for reference: what the transport costs on its own."""

    def __init__(self, url: str, connections: int | None = None) -> None:
        import aiohttp

        self.url = url
        self.aiohttp = aiohttp
        self.connections = connections
        self.s: object = None

    def _session(self) -> object:
        if self.s is None:
            # aiohttp's default connector holds 100 connections.
            connector = self.aiohttp.TCPConnector(limit=self.connections) if self.connections else None
            self.s = self.aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}, connector=connector)
        return self.s

    async def chat(self) -> str:
        s = self._session()
        async with s.post(self.url + "/chat/completions", json={"model": MODEL, "messages": MESSAGES}) as r:  # type: ignore
            if r.status != 200:
                raise RuntimeError(r.status)
            return (await r.json())["choices"][0]["message"]["content"]

    async def close(self) -> None:
        if self.s is not None:
            await self.s.close()  # type: ignore


class AsyncOpenAI:
    """openai-python's AsyncOpenAI, default settings."""

    def __init__(self, url: str, connections: int | None = None) -> None:  # default pool: 1,000 connections
        import openai

        self.c = openai.AsyncOpenAI(api_key=API_KEY, base_url=url)

    async def chat(self) -> str:
        r = await self.c.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore
        return r.choices[0].message.content  # type: ignore

    async def stream(self, n: int) -> int:
        count = 0
        s = await self.c.chat.completions.create(model=stream_model(n), messages=MESSAGES, stream=True)  # type: ignore
        async for chunk in s:
            if chunk.choices:
                chunk.choices[0].delta.content  # noqa: B018
                count += 1
        return count

    async def close(self) -> None:
        await self.c.close()


class AsyncApertis(AsyncOpenAI):
    """apertis's AsyncApertis, default settings (httpx transport)."""

    def __init__(self, url: str, connections: int | None = None) -> None:  # default pool: 1,000 connections
        import apertis

        self.c = apertis.AsyncApertis(api_key=API_KEY, base_url=url)


class AsyncApertisAiohttp(AsyncOpenAI):
    """apertis's AsyncApertis over the aiohttp transport (the ``apertis[aiohttp]`` extra)."""

    def __init__(self, url: str, connections: int | None = None) -> None:  # default pool: 1,000 connections
        import apertis

        # The documented one argument: the client creates, owns and closes its aiohttp pool.
        self.c = apertis.AsyncApertis(api_key=API_KEY, base_url=url, transport="aiohttp")


SYNC = {"httpx": SyncHttpx, "httpx-json": SyncHttpxJson, "openai": SyncOpenAI, "apertis": SyncApertis}
ASYNC = {
    "httpx": AsyncHttpx,
    "httpx-json": AsyncHttpxJson,
    "httpx-aiohttp": AsyncHttpxAiohttp,
    "aiohttp": AsyncAiohttp,
    "openai": AsyncOpenAI,
    "apertis": AsyncApertis,
    "apertis-aiohttp": AsyncApertisAiohttp,
}


# From this many calls in flight the raw clients get the SDKs' default pool (1,000 connections, 100 kept alive)
# instead of their own defaults (100 connections): the floor then opens as many connections as the SDKs do, which
# is what issue 6's 1,000-in-flight figures measured. At 64 in flight every library keeps its defaults.
SDK_POOL = 1000
SDK_POOL_FROM = 1000


def region(fn: Callable[[], T], measures: dict[str, object]) -> T:
    """Runs the measured part ``fn`` and records its CPU and wall time in ``measures``.

    ``fn`` runs inside ``math.fsum``, a C function nothing else calls: under
    ``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=math_fsum --dump-after=math_fsum``
    each region's instructions land in their own dump, with setup and teardown left out.
    """
    box: list[T] = []

    def once() -> Iterator[float]:
        box.append(fn())
        yield 0.0

    t0, w0 = time.process_time(), time.perf_counter()
    math.fsum(once())
    measures["cpu"] = time.process_time() - t0
    measures["wall"] = time.perf_counter() - w0
    return box[0]


def _async_scenario(lib: str, scenario: str, n: int, conc: int, url: str, *, out: dict[str, object]) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = loop.run_until_complete(_construct_async(lib, url, SDK_POOL if conc >= SDK_POOL_FROM else None))
    errors: list[str] = []

    async def one() -> None:
        try:
            await client.chat()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    async def worker(todo: Iterator[int]) -> None:
        for _ in todo:
            await one()

    async def many() -> int:
        todo = iter(range(n))
        await asyncio.gather(*(worker(todo) for _ in range(conc)))
        return n

    try:
        if scenario == "async_chat":
            # Warm-up outside the measure: calls in flight open the pool's connections (at most 128: httpx's
            # pool takes minutes to serve 1,000 cold calls at once, and holds 100 connections anyway).
            async def warm_up() -> None:
                await asyncio.gather(*(one() for _ in range(min(conc, 128))))

            loop.run_until_complete(warm_up())
            errors.clear()  # only the measured calls count (a slow warm-up under valgrind may time out)
            out["check"] = region(lambda: loop.run_until_complete(many()), out)
            out["errors"] = len(errors)
            if errors:
                out["first_error"] = errors[0][:300]
        elif scenario == "stream_async":
            loop.run_until_complete(client.chat())
            # A short stream loads what only streams use (event models, SSE decoder) outside the measure.
            loop.run_until_complete(client.stream(2))
            out["check"] = region(lambda: loop.run_until_complete(client.stream(n)), out)
        else:
            raise SystemExit(f"unknown async scenario {scenario!r}")
    finally:
        loop.run_until_complete(client.close())
        loop.close()


async def _construct_async(lib: str, url: str, connections: int | None = None) -> Any:
    # Inside a running loop: aiohttp sessions want one.
    return ASYNC[lib](url, connections)


def run(lib: str, scenario: str, n: int, conc: int, url: str) -> dict[str, object]:
    """Runs one scenario and returns its measures (without rss_kb)."""
    out: dict[str, object] = {"n": n, "errors": 0}
    if scenario == "import":
        # Compiled before the measure: only the import statement itself runs inside it.
        code = compile(FIRST_LINES[lib], "<first line>", "exec")
        region(lambda: exec(code, {}), out)
        out.update(n=1, check=1)
        return out
    if scenario == "first":
        holder: list[Any] = []

        exec(FIRST_LINES[lib], {})  # what the import scenario measures, done: this one starts after it

        def first() -> str:
            holder.append(SYNC[lib](url))
            return holder[0].chat()

        out.update(n=1, check=len(region(first, out)))
        holder[0].close()
        return out
    if scenario in ("async_chat", "stream_async"):
        _async_scenario(lib, scenario, n, conc, url, out=out)
        return out
    client = SYNC[lib](url)
    try:
        client.chat()  # open the connection and load lazy modules outside the measure
        if scenario == "sync_chat":
            out["check"] = region(lambda: sum(len(client.chat()) for _ in range(n)), out)
        elif scenario == "stream_sync":
            # A short stream loads what only streams use (event models, SSE decoder) outside the measure.
            client.stream(2)
            out["check"] = region(lambda: client.stream(n), out)
        elif scenario in ("emb_float", "emb_default"):
            fmt = "float" if scenario == "emb_float" else "default"

            def embed_n() -> int:
                check = 0
                for _ in range(n):
                    vectors = client.embed(fmt)
                    if not isinstance(vectors[0], list) or not isinstance(vectors[0][0], float):
                        raise RuntimeError(f"{lib} returned {type(vectors[0]).__name__} embeddings, not float lists")
                    check += len(vectors) * len(vectors[0])
                return check

            # A one-input warm-up runs the same code (and loads the same modules) as the measured requests; a
            # full 100 x 1536 one cost openai's float parsing minutes under valgrind for nothing.
            client.embed(fmt, EMB_INPUT[:1])
            out["check"] = region(embed_n, out)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        return out
    finally:
        client.close()


def main() -> None:
    """Command-line entry point (see the module docstring).

    ``worker.py --suite LIB URL SCENARIO:N:CONC,...`` runs several scenarios in one process, one region each
    (for valgrind, whose start-up cost dwarfs a small scenario); it prints one JSON line per scenario.
    """
    if sys.argv[1] == "--suite":
        lib, url = sys.argv[2], sys.argv[3]
        todo = [item.split(":") for item in sys.argv[4].split(",")]
    else:
        lib, url = sys.argv[1], sys.argv[5]
        todo = [[sys.argv[2], sys.argv[3], sys.argv[4]]]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lines = []
    for scenario, n, conc in todo:
        out = run(lib, scenario, int(n), int(conc), url)
        out["scenario"] = scenario
        out["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        lines.append(out)
    import json

    sys.stdout.write("".join(json.dumps(out) + "\n" for out in lines))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: it is not part of any measure and slows valgrind runs


if __name__ == "__main__":
    main()
