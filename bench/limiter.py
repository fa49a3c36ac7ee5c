"""How well the client's RateLimiter uses a rate-limited key: throughput and 429 share at 1x, 3x and 10x the limit.

    .venv/bin/python bench/limiter.py [--limit 50] [--window 10] [--ip-limit 100] [--ip-window 30]
                                      [--duration 90] [--loads 1,3,10] [--latency 0] [--scenarios ...]

Each run has its own offline server (`apertis.testing`, fixed windows that start at the first request):

- `key`: the key's window, `rate_limit=LIMIT;window=WINDOW`, reported in every answer's X-RateLimit-* headers;
- `key+ip`: the same, and an IP's window that no answer reports (`rate_limit=IP_LIMIT;window=IP_WINDOW;report=none`:
  its 429s carry Retry-After and the key's headers, which still show room), the tighter of the two;
- `key+ip rpm`: the same with `RateLimiter(requests_per_minute=...)` set to the IP's rate, the user's way when
  the limit is known;
- `no limiter` (both servers): the same workloads without a limiter, for contrast.

Calls arrive at `load` times the allowed rate (the tighter window's) for `duration` seconds; every client retries
429s (max_retries=10, after Retry-After). The figures: the calls answered within the duration against what the
server allows in it (for each window, its limit times the windows that start within the duration; the lowest),
and the share of all requests the server answered 429. Calls still waiting at the end are cancelled. The runs go
at once, a process each (their rates are low), so the defaults take about `duration` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

import apertis
from apertis.testing import FakeApertis

MESSAGES: List[Any] = [{"role": "user", "content": "hi"}]
SCENARIOS = ("key", "key+ip", "key+ip rpm", "key, no limiter", "key+ip, no limiter")


async def run_load(
    load: float,
    windows: List[Tuple[int, float, str]],
    duration: float,
    limiter: Optional[apertis.RateLimiter],
    latency: float = 0.0,
) -> Dict[str, Any]:
    """One workload at `load` times the allowed rate against a server with `windows` ((limit, seconds, report))."""
    faults = [f"rate_limit={limit};window={seconds};report={report}" for limit, seconds, report in windows]
    if latency:
        faults.append(f"latency={latency}")
    allowed = min(limit * math.ceil(duration / seconds) for limit, seconds, _ in windows)
    rate = min(limit / seconds for limit, seconds, _ in windows)
    with FakeApertis(faults=faults, api_key="sk-bench", history=10**6) as server:
        client = apertis.AsyncApertis(api_key="sk-bench", base_url=server.url, limiter=limiter, max_retries=10)
        interval = 1.0 / (rate * load)
        done_in_time = 0
        started = time.monotonic()

        async def one() -> None:
            nonlocal done_in_time
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            if time.monotonic() - started <= duration:
                done_in_time += 1

        tasks: List[Any] = []
        while time.monotonic() - started < duration:
            # Arrivals on a fixed schedule (several at once when the loop fell behind it).
            while len(tasks) * interval <= time.monotonic() - started:
                tasks.append(asyncio.ensure_future(one()))
            await asyncio.sleep(interval)
        await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        learned = getattr(getattr(limiter, "state", None), "learned_requests_per_minute", None)
        await client.close()
        statuses = [record.status for record in server.requests]
    sent = len(statuses)
    limited = statuses.count(429)
    return {
        "load": load,
        "offered": len(tasks),
        "allowed": allowed,
        "succeeded": done_in_time,
        "throughput_share": done_in_time / allowed,
        "sent": sent,
        "answered_429": limited,
        "share_429": limited / sent if sent else 0.0,
        "learned_rpm": learned,
    }


def scenarios(args: argparse.Namespace) -> Dict[str, Tuple[List[Tuple[int, float, str]], Optional[float], bool]]:
    """name: (the server's windows, the requests_per_minute to set, whether to use a limiter)."""
    key = (args.limit, args.window, "all")
    ip = (args.ip_limit, args.ip_window, "none")
    ip_rpm = args.ip_limit * 60.0 / args.ip_window
    setups = {
        "key": ([key], None, True),
        "key+ip": ([key, ip], None, True),
        "key+ip rpm": ([key, ip], ip_rpm, True),
        "key, no limiter": ([key], None, False),
        "key+ip, no limiter": ([key, ip], None, False),
    }
    return {name: setups[name] for name in SCENARIOS}


def run_in_a_process(
    load: float, windows: List[Tuple[int, float, str]], duration: float, limiter: Any, latency: float
) -> Dict[str, Any]:
    return asyncio.run(run_load(load, windows, duration, limiter, latency))


def run_all(args: argparse.Namespace) -> None:
    loads = [float(x) for x in args.loads.split(",")]
    chosen = {name: setup for name, setup in scenarios(args).items() if not args.scenarios or name in args.scenarios}
    runs = [
        (name, load, windows, rpm, use_limiter)
        for name, (windows, rpm, use_limiter) in chosen.items()
        for load in loads
    ]
    # A process each: in one, the servers' threads and the clients' event loop would take turns at the GIL.
    with ProcessPoolExecutor(len(runs)) as pool:
        futures = [
            pool.submit(
                run_in_a_process,
                load,
                windows,
                args.duration,
                apertis.RateLimiter(requests_per_minute=rpm) if use_limiter else None,
                args.latency,
            )
            for _, load, windows, rpm, use_limiter in runs
        ]
        results = [future.result() for future in futures]
    for (name, *_), r in zip(runs, results):
        learned = "" if r["learned_rpm"] is None else f"; learned {r['learned_rpm']:.0f}/min"
        print(
            f"{name:>19} {r['load']:>3g}x: offered {r['offered']}, allowed {r['allowed']}, succeeded"
            f" {r['succeeded']} ({r['throughput_share']:.0%} of allowed); sent {r['sent']}, 429 {r['answered_429']}"
            f" ({r['share_429']:.1%}){learned}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=50, help="the key's window: requests (default 50)")
    parser.add_argument("--window", type=float, default=10.0, help="the key's window: seconds (default 10)")
    parser.add_argument("--ip-limit", type=int, default=100, help="the unreported window: requests (default 100)")
    parser.add_argument("--ip-window", type=float, default=30.0, help="the unreported window: seconds (default 30)")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of arrivals per run (default 90)")
    parser.add_argument("--loads", default="1,3,10", help="multiples of the allowed rate (default 1,3,10)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server takes to answer")
    parser.add_argument(
        "--scenarios", action="append", default=[], help="run only these (repeatable): " + ", ".join(SCENARIOS)
    )
    run_all(parser.parse_args())


if __name__ == "__main__":
    main()
