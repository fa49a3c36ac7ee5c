"""CPU per async call for pool sizes, keep-alive counts and gate sizes, against openai-python's defaults.

``python bench/pool_sizes.py [--rounds 3] [--concurrency 16,64,256,1000] [--configs NAME,...]`` (in the bench
environment, `.venv-bench`: `make bench` creates it). Starts bench/server.py, then measures each configuration at
each concurrency in a fresh process: a warm-up that opens the connections, then ``--calls`` chat completions (at
least four per call in flight) with that many in flight; it prints the median of the rounds' CPU microseconds per
call as a Markdown table, configurations as rows. Only the client process's CPU time counts (the server runs in its
own process).

``--latency 0.05`` measures instead how many connections each configuration opens per 100 calls when every answer
takes that long (the calls then really are in flight at once, as against a real API): it serves the calls itself,
from the measuring process, and counts the connections it accepts. Every one of them is a TLS handshake against a
real API, which the loopback CPU figures do not show.

A configuration is ``max_connections/max_keepalive_connections/gate``: the SDK's pool limits
(``connection_limits=``) and the size of its gate (the per-client cap on attempts in flight, which the SDK sets to
max_connections; here replaced after construction to measure it on its own). ``openai`` is openai-python's
AsyncOpenAI with its defaults (1,000 connections, 100 kept alive, no gate); ``aiohttp`` is
``AsyncApertis(transport="aiohttp")`` with the SDK's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

API_KEY = "sk-bench"
MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]

# name -> (library, max_connections, max_keepalive_connections, gate); None: that library's default.
CONFIGS: Dict[str, Any] = {
    "openai": ("openai", None, None, None),
    "1000/100/1000": ("apertis", 1000, 100, 1000),  # the SDK's defaults before this measurement
    "1000/1000/1000": ("apertis", 1000, 1000, 1000),
    "1000/20/1000": ("apertis", 1000, 20, 1000),
    "1000/100/256": ("apertis", 1000, 100, 256),
    "1000/256/256": ("apertis", 1000, 256, 256),
    "1000/100/100": ("apertis", 1000, 100, 100),
    "100/100/100": ("apertis", 100, 100, 100),
    "aiohttp": ("apertis-aiohttp", None, None, None),
}


def _client(library: str, url: str, connections: Optional[int], keepalive: Optional[int]) -> Any:
    if library == "openai":
        import openai

        return openai.AsyncOpenAI(api_key=API_KEY, base_url=url)
    import httpx

    import apertis

    limits = None
    if connections is not None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=keepalive)
    transport = "aiohttp" if library == "apertis-aiohttp" else "httpx"
    return apertis.AsyncApertis(api_key=API_KEY, base_url=url, connection_limits=limits, transport=transport)


async def _slow_server(latency: float, accepted: List[int]) -> Any:
    """A loopback server answering each chat completion after `latency` seconds; counts its connections."""
    sys.path.insert(0, os.path.dirname(__file__))
    from server import chat_completion_body

    body = chat_completion_body(MODEL)
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length[1]) if length else 0)
                await asyncio.sleep(latency)
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)


def measure_one(config: str, concurrency: int, calls: int, url: str, latency: float = 0.0) -> Dict[str, Any]:
    """In this (fresh) process: warm up, then `calls` calls with `concurrency` in flight; CPU and wall time, and
    with a `latency` (against a server of this process's own) the connections opened per 100 calls."""
    library, connections, keepalive, gate = CONFIGS[config]

    async def scenario() -> Dict[str, Any]:
        accepted = [0]
        server = await _slow_server(latency, accepted) if latency else None
        target = url if server is None else f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        client = _client(library, target, connections, keepalive)
        if gate is not None:
            from apertis._utils import AsyncGate

            client._pool.gate = AsyncGate(gate)
        errors: List[str] = []

        async def one() -> None:
            try:
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            except Exception as exc:  # counted and reported: a client that failed did less work
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

        async def worker(todo: Any) -> None:
            for _ in todo:
                await one()

        async def run(count: int) -> None:
            todo = iter(range(count))
            await asyncio.gather(*(worker(todo) for _ in range(concurrency)))

        await run(concurrency)  # opens the connections a pool keeps at this concurrency
        errors.clear()
        accepted[0] = 0
        cpu, wall = time.process_time(), time.perf_counter()
        await run(calls)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await client.close()
        result = {"cpu_us": cpu / calls * 1e6, "wall": wall, "errors": len(errors), "first_error": errors[:1]}
        if server is not None:
            server.close()
            result["cpu_us"] = 100 * accepted[0] / calls  # the figure reported: connections per 100 calls
        return result

    return asyncio.run(scenario())


def _start_server() -> Any:
    server = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "server.py")], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    assert line and line[0] == "PORT", line
    return server, f"http://127.0.0.1:{line[1]}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="16,64,256,1000")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--one", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        config, concurrency, calls, url = args.one[:4]
        latency = float(args.one[4]) if len(args.one) > 4 else 0.0
        print(json.dumps(measure_one(config, int(concurrency), int(calls), url, latency)))
        return
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    configs = args.configs.split(",")
    unit = f"connections per 100 calls ({args.latency:g} s answers)" if args.latency else "CPU us per call"
    server, url = _start_server()
    results: Dict[str, Dict[int, List[float]]] = {c: {n: [] for n in concurrencies} for c in configs}
    try:
        for round_number in range(args.rounds):
            for concurrency in concurrencies:
                calls = max(args.calls, 4 * concurrency)
                for config in configs:  # interleaved, so that the machine's load drifts over every row alike
                    one = [config, str(concurrency), str(calls), url, str(args.latency)]
                    out = subprocess.run(
                        [sys.executable, __file__, "--one", *one],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    if result["errors"]:
                        print(f"# {config} at {concurrency}: {result['errors']} errors {result['first_error']}")
                    results[config][concurrency].append(result["cpu_us"])
                    print(
                        f"# round {round_number + 1} {config:>15} {concurrency:>5} in flight: "
                        f"{result['cpu_us']:8.0f} {unit} ({result['wall']:.1f} s)",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait()
    import platform

    import httpx

    print(
        f"\n{unit}, median of {args.rounds} rounds; Python {platform.python_version()}, httpx "
        f"{httpx.__version__}, {os.cpu_count()} CPUs; max_connections/keepalive/gate\n"
    )
    print("| configuration | " + " | ".join(f"{c:,} in flight" for c in concurrencies) + " |")
    print("|---|" + "---|" * len(concurrencies))
    for config in configs:
        cells = [f"{statistics.median(results[config][c]):,.0f}" for c in concurrencies]
        print(f"| {config} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
