"""How well the client's RateLimiter uses a rate-limited key: throughput and 429 share at 1x, 3x and 10x the limit.

    .venv/bin/python bench/limiter.py [--limit 50] [--window 10] [--windows 3] [--loads 1,3,10]

Each load runs against a fresh offline server (`apertis.testing`, fault `rate_limit=N;window=S`: fixed windows,
X-RateLimit-* headers, 429 with Retry-After). Calls arrive at `load` times the allowed rate for `windows` windows;
the figure is the successful calls answered in that time against what the server allows in it (limit x windows),
and the share of all requests the server answered 429. Calls still waiting at the end are cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import apertis
from apertis.testing import FakeApertis


async def run_load(
    load: float, limit: int, window: float, windows: int, *, use_limiter: bool = True, extra: tuple = ()
) -> dict:
    with FakeApertis(
        faults=[*extra, f"rate_limit={limit};window={window}"], api_key="sk-bench", history=10**6
    ) as server:
        client = apertis.AsyncApertis(api_key="sk-bench", base_url=server.url, limiter=use_limiter, max_retries=10)
        duration = window * windows
        interval = window / (limit * load)
        done_in_time = 0
        started = time.monotonic()

        async def one() -> None:
            nonlocal done_in_time
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            if time.monotonic() - started <= duration:
                done_in_time += 1

        tasks = []
        while time.monotonic() - started < duration:
            # Arrivals on a fixed schedule (several at once when the loop fell behind it).
            while len(tasks) * interval <= time.monotonic() - started:
                tasks.append(asyncio.ensure_future(one()))
            await asyncio.sleep(interval)
        await asyncio.sleep(max(0.0, duration - (time.monotonic() - started)))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        statuses = [r.status for r in server.requests]
    sent = len(statuses)
    limited = sum(1 for s in statuses if s == 429)
    allowed = limit * windows
    return {
        "load": load,
        "offered": len(tasks),
        "allowed": allowed,
        "succeeded": done_in_time,
        "throughput_share": done_in_time / allowed,
        "sent": sent,
        "answered_429": limited,
        "share_429": limited / sent if sent else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--loads", default="1,3,10")
    parser.add_argument("--no-limiter", action="store_true", help="the same workload without a limiter")
    parser.add_argument(
        "--also", action="append", default=[], help="another fault, e.g. a second window: rate_limit=100;window=30"
    )
    args = parser.parse_args()
    for load in (float(x) for x in args.loads.split(",")):
        r = asyncio.run(
            run_load(
                load, args.limit, args.window, args.windows, use_limiter=not args.no_limiter, extra=tuple(args.also)
            )
        )
        print(
            f"{r['load']:>4g}x: offered {r['offered']}, allowed {r['allowed']}, succeeded {r['succeeded']}"
            f" ({r['throughput_share']:.0%} of allowed); sent {r['sent']}, 429 {r['answered_429']}"
            f" ({r['share_429']:.1%})"
        )


if __name__ == "__main__":
    main()
