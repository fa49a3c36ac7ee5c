"""The side-by-side benchmark: apertis against raw httpx (the floor), httpx over aiohttp, and openai-python.

``python bench/run.py`` (what ``make bench`` runs, in .venv-bench) starts bench/server.py, then

1. CPU pass: every scenario, for every library, in a fresh process (bench/worker.py), repetitions
   interleaved (the library order rotates each round); the medians of the client process's CPU time per unit.
2. Instruction pass: one process per library under ``valgrind --tool=callgrind``, collecting only inside each
   scenario's measured region (see worker.region); instructions per unit repeat to within a fraction of a
   percent, so they are the figures to quote. Two processes at a time: counts don't depend on load.

It writes bench/results/latest.md (markdown tables, ratios to raw httpx) and latest.json (every raw
measure), and prints the tables.

Environment knobs: BENCH_REPS (default 2), BENCH_ONLY (comma-separated scenario keys), BENCH_LIBS
(comma-separated libraries), BENCH_NO_VALGRIND=1, BENCH_NO_CPU=1, BENCH_SCALE (default 0.25: multiplies the
CPU pass's counts, so that the whole run fits in about 15 minutes on a 2-core machine; BENCH_SCALE=1
BENCH_REPS=3 for the full counts of the scenario titles, 0.1 to try the harness). Counts under valgrind are
fixed: they are exact at any size.
"""

from __future__ import annotations

import compileall
import concurrent.futures
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKER = HERE / "worker.py"
SERVER = HERE / "server.py"

FLOOR = "httpx"
LIBS = ["httpx", "httpx-json", "httpx-aiohttp", "aiohttp", "openai", "apertis", "apertis-aiohttp"]
TITLES = {
    "httpx": "raw httpx, lean (floor)",
    "httpx-json": "raw httpx, base_url + json=",
    "httpx-aiohttp": "httpx + aiohttp transport, lean",
    "aiohttp": "raw aiohttp",
    "openai": "openai",
    "apertis": "apertis",
    "apertis-aiohttp": "apertis + aiohttp transport",
}
# The floor each library is compared with when it is not raw httpx: the SDK over the aiohttp transport against
# httpx over the same transport by hand.
FLOORS = {"apertis-aiohttp": "httpx-aiohttp"}
SYNC = ["httpx", "httpx-json", "openai", "apertis"]
ASYNC = ["httpx", "httpx-json", "httpx-aiohttp", "aiohttp", "openai", "apertis", "apertis-aiohttp"]
# At 1,000 in flight only the aiohttp transport is measured (httpx's own pool walks its 1,000 connections on every
# event: 10-30 ms of CPU per call, minutes per run), with raw aiohttp for reference.
ASYNC_1000 = ["httpx-aiohttp", "aiohttp", "apertis-aiohttp"]
ASYNC_STREAM = ["httpx", "httpx-aiohttp", "openai", "apertis", "apertis-aiohttp"]
SYNC_OTHER = ["httpx", "openai", "apertis"]


@dataclass
class Scenario:
    """One row of the tables: what a worker runs, with how much work natively and under valgrind."""

    key: str
    worker: str
    title: str
    unit: str
    n: int
    libs: List[str]
    conc: int = 1
    vg_n: Optional[int] = None  # None: no instruction count (too slow under valgrind)
    vg_skip: Tuple[str, ...] = ()  # libraries left out of the instruction pass for this scenario (see SCENARIOS)
    reps: Optional[int] = None  # None: BENCH_REPS
    floor: str = FLOOR  # the library the ratios of this row are to (apertis-aiohttp's is in FLOORS)
    results: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    instructions: Dict[str, float] = field(default_factory=dict)


IMPORTS = ["httpx", "httpx-aiohttp", "aiohttp", "openai", "apertis"]
# Left out of the instruction pass, for the time they take there (their CPU times are still measured): openai's
# float-JSON embeddings (3.6 G instructions a request, 7 minutes under valgrind on a 2-core machine), and
# openai at 64 in flight (its calls hit the 5-second connect timeout under valgrind, so the row was dropped anyway).
SCENARIOS = [
    Scenario("import", "import", "a user's first line: `from apertis import Apertis, AsyncApertis`, `import httpx`, "
             "`from openai import OpenAI, AsyncOpenAI`", "import", 1, IMPORTS, vg_n=1),
    Scenario("first", "first", "client construction + first call (after the import)", "call", 1, SYNC_OTHER, vg_n=1),
    # 200 calls under valgrind: with 20, a garbage collection falling in the region moved the figure by 5%.
    Scenario("sync_chat", "sync_chat", "sync chat completion, 2,000 sequential", "call", 2000, SYNC, vg_n=200),
    Scenario(
        "async_chat_64", "async_chat", "async chat completion, 64 in flight, 4,000 calls", "call", 4000, ASYNC,
        conc=64, vg_n=256, reps=3, vg_skip=("openai",),
    ),
    Scenario(
        "async_chat_1000", "async_chat", "async chat completion, 1,000 in flight, 10,000 calls (aiohttp transport)",
        "call", 10000, ASYNC_1000, conc=1000, reps=2, floor="httpx-aiohttp",
    ),
    Scenario(
        "stream_sync", "stream_sync", "streamed chunk, sync (one 20,000-chunk stream)", "chunk", 20000, SYNC_OTHER,
        vg_n=400,
    ),
    Scenario(
        "stream_async", "stream_async", "streamed chunk, async (one 20,000-chunk stream)", "chunk", 20000,
        ASYNC_STREAM, vg_n=400,
    ),
    Scenario(
        "emb_float", "emb_float", 'embeddings 100 x 1536, `encoding_format="float"` (20 requests)', "request", 20,
        SYNC_OTHER, vg_n=1, vg_skip=("openai",),
    ),
    Scenario(
        "emb_default", "emb_default", "embeddings 100 x 1536, SDK default (raw httpx: base64 + array decode)",
        "request", 20, SYNC_OTHER, vg_n=4,
    ),
]  # fmt: skip


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # every import would compile from source
    env["PYTHONHASHSEED"] = "0"  # identical runs, identical instruction counts
    return env


def _precompile() -> None:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    spec = importlib.util.find_spec("apertis")
    if spec and spec.submodule_search_locations:
        paths.update(spec.submodule_search_locations)
    for path in sorted(paths):
        compileall.compile_dir(path, quiet=2, workers=2)


class Server:
    """The loopback server in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, env=_env(), text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.proc.kill()
            raise SystemExit(f"bench server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{line[1]}/v1"

    def stop(self) -> None:
        """Terminates the server and waits for it."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _run_worker(args: List[str], timeout: float, prefix: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    cmd = [*(prefix or []), sys.executable, str(WORKER), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return [{"failed": " | ".join(tail)[-400:]}]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def cpu_pass(scenarios: List[Scenario], libs: List[str], url: str, reps: int, scale: float) -> None:
    """Every scenario, every library, interleaved repetitions, each run in a fresh process."""
    for sc in scenarios:
        names = [lib for lib in sc.libs if lib in libs]
        n = max(1, round(sc.n * scale)) if sc.n > 1 else 1
        rounds = min(reps, sc.reps) if sc.reps else reps
        t0 = time.perf_counter()
        for rep in range(rounds):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for lib in order:
                out = _run_worker([lib, sc.worker, str(n), str(sc.conc), url], timeout=600)[0]
                sc.results.setdefault(lib, []).append(out)
                if "failed" in out or out.get("errors"):
                    print(f"  ! {sc.key} {lib}: {out.get('failed') or out.get('first_error')}", file=sys.stderr)
        print(f"  cpu   {sc.key:<16} {rounds} x {len(names)} runs in {time.perf_counter() - t0:5.1f} s", flush=True)


def valgrind_pass(scenarios: List[Scenario], libs: List[str], url: str) -> None:
    """One callgrind process per library; each scenario's region is its own dump."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("  valgrind not found: no instruction counts", file=sys.stderr)
        return
    tmp = Path(tempfile.mkdtemp(prefix="apertis-bench-"))

    def suite(lib: str) -> None:
        todo = [sc for sc in scenarios if sc.vg_n is not None and lib in sc.libs and lib not in sc.vg_skip]
        if not todo:
            return
        spec = ",".join(f"{sc.worker}:{sc.vg_n}:{sc.conc}" for sc in todo)
        out_file = tmp / f"cg.{lib}.out"
        prefix = [
            valgrind, "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=math_fsum",
            "--dump-after=math_fsum", f"--callgrind-out-file={out_file}",
        ]  # fmt: skip
        t0 = time.perf_counter()
        lines = _run_worker(["--suite", lib, url, spec], timeout=1800, prefix=prefix)
        if "failed" in lines[0]:
            print(f"  ! valgrind {lib}: {lines[0]['failed']}", file=sys.stderr)
            return
        if len(lines) != len(todo):
            print(f"  ! valgrind {lib}: {len(lines)} results for {len(todo)} scenarios", file=sys.stderr)
        for i, (sc, line) in enumerate(zip(todo, lines), start=1):
            total = _callgrind_total(Path(f"{out_file}.{i}"))
            if total is not None and not line.get("errors"):
                sc.instructions[lib] = total / line["n"]
        print(f"  valgrind {lib:<16} {len(todo)} scenarios in {time.perf_counter() - t0:5.1f} s", flush=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # The slowest suites first, so the two lanes finish together.
        slowest = ["openai", "apertis", "httpx"]
        order = sorted(libs, key=lambda lib: slowest.index(lib) if lib in slowest else len(slowest))
        list(pool.map(suite, order))
    shutil.rmtree(tmp, ignore_errors=True)


def _callgrind_total(path: Path) -> Optional[float]:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("summary:", "totals:")):
            return float(line.split()[1])
    return None


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def cpu_per_unit(sc: Scenario, lib: str) -> Optional[float]:
    """Median CPU microseconds per unit over the successful repetitions."""
    runs = [r for r in sc.results.get(lib, []) if "cpu" in r and not r.get("errors")]
    return _median([r["cpu"] / r["n"] * 1e6 for r in runs])


def _fmt_us(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:,.0f} ms"
    if value >= 100:
        return f"{value:,.0f} us"
    return f"{value:.1f} us"


def _fmt_count(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:.2f} G"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def _cell(value: Optional[float], floor: Optional[float], fmt: Any) -> str:
    if value is None:
        return ""
    if floor:
        return f"{fmt(value)} ({value / floor:.2f}x)"
    return fmt(value)


def _table(scenarios: List[Scenario], libs: List[str], measure: Any, fmt: Any) -> List[str]:
    cols = [lib for lib in LIBS if lib in libs]
    lines = [
        "| per unit | " + " | ".join(TITLES[lib] for lib in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for sc in scenarios:
        values = {lib: measure(sc, lib) for lib in cols}
        if not any(v is not None for v in values.values()):
            continue
        cells = [
            _cell(values[lib], values.get(FLOORS.get(lib, sc.floor)), fmt) if lib in sc.libs else "n/a" for lib in cols
        ]
        lines.append(f"| {sc.title} (per {sc.unit}) | " + " | ".join(cells) + " |")
    return lines


def _rss(sc: Scenario, lib: str) -> Optional[float]:
    return _median([r["rss_kb"] / 1024 for r in sc.results.get(lib, []) if "rss_kb" in r and not r.get("errors")])


def _versions() -> str:
    names = ["httpx", "httpx-aiohttp", "aiohttp", "openai", "apertis"]
    return ", ".join(f"{name} {_version(name)}" for name in names)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _cold_start(scenarios: List[Scenario]) -> Optional[Scenario]:
    """The derived row import + construction + first call, what a short-lived script pays."""
    by_key = {sc.key: sc for sc in scenarios}
    imp, first = by_key.get("import"), by_key.get("first")
    if imp is None or first is None:
        return None
    cold = Scenario("cold", "", "cold start: import + construction + first call", "process", 1, first.libs)
    for lib in first.libs:
        if lib in imp.instructions and lib in first.instructions:
            cold.instructions[lib] = imp.instructions[lib] + first.instructions[lib]
        a, b = cpu_per_unit(imp, lib), cpu_per_unit(first, lib)
        if a is not None and b is not None:
            cold.results[lib] = [{"cpu": (a + b) / 1e6, "n": 1}]
    return cold


def report(scenarios: List[Scenario], libs: List[str], reps: int, scale: float, elapsed: float) -> str:
    """The markdown page: instruction counts first (the figures to quote), then CPU time, memory and failures."""
    out = [
        "# Benchmark: apertis against raw httpx, httpx + aiohttp, openai-python",
        "",
        f"Generated by `make bench` (bench/run.py) on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        f" in {elapsed / 60:.1f} min"
        + (f" (BENCH_SCALE={scale}: the CPU pass ran {scale:g} x the counts below)." if scale != 1 else "."),
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; {_versions()}.",
        "Ratios in brackets are to the floor in the same run: raw httpx doing the same work by hand the lean way"
        " (absolute URL, `content=json.dumps(body).encode()`, `json.loads(response.content)`); for apertis over"
        " the aiohttp transport, and for the 1,000-in-flight row, httpx over that transport by hand the same way.",
        "",
        "## Instructions per unit (valgrind callgrind, measured region only; the figures to quote)",
        "",
    ]
    cold = _cold_start(scenarios)
    if cold is not None:
        index = [sc.key for sc in scenarios].index("first") + 1
        scenarios = [*scenarios[:index], cold, *scenarios[index:]]
    vg = _table(scenarios, libs, lambda sc, lib: sc.instructions.get(lib), _fmt_count)
    out += vg if len(vg) > 2 else ["(no instruction counts in this run)"]
    out += [
        "",
        f"## CPU time of the client process per unit (median of up to {reps} interleaved runs)",
        "",
        *_table(scenarios, libs, cpu_per_unit, _fmt_us),
        "",
        "## Peak RSS of the process (MB), median",
        "",
    ]
    rss_rows = [sc for sc in scenarios if sc.key.startswith("async_chat") or sc.key == "sync_chat"]
    out += _table(rss_rows, libs, _rss, lambda v: f"{v:.1f} MB")
    problems = [
        f"- {sc.key} / {lib}: " + (r.get("failed") or f"{r['errors']} errors, first: {r.get('first_error')}")
        for sc in scenarios
        for lib, runs in sc.results.items()
        for r in runs
        if "failed" in r or r.get("errors")
    ]
    out += ["", "## Failures", "", *(problems or ["none"]), ""]
    return "\n".join(out)


def main() -> None:
    """Runs the passes and writes bench/results/latest.md and latest.json."""
    reps = int(os.environ.get("BENCH_REPS", "2"))
    scale = float(os.environ.get("BENCH_SCALE", "0.25"))
    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    libs = [s for s in os.environ.get("BENCH_LIBS", "").split(",") if s] or LIBS
    scenarios = [sc for sc in SCENARIOS if not only or sc.key in only]
    t0 = time.perf_counter()
    print(f"bench: {len(scenarios)} scenarios x {len(libs)} libraries; {_versions()}", flush=True)
    _precompile()
    server = Server()
    try:
        if os.environ.get("BENCH_NO_CPU") != "1":
            cpu_pass(scenarios, libs, server.url, reps, scale)
        if os.environ.get("BENCH_NO_VALGRIND") != "1":
            valgrind_pass(scenarios, libs, server.url)
    finally:
        server.stop()
    page = report(scenarios, libs, reps, scale, time.perf_counter() - t0)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(page)
    raw = {
        sc.key: {"results": sc.results, "instructions": sc.instructions, "n": sc.n, "vg_n": sc.vg_n} for sc in scenarios
    }
    (RESULTS / "latest.json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    print(page)


if __name__ == "__main__":
    main()
