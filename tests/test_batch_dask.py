"""The batch runner on a Dask cluster (apertis.batch.run_on_dask, `python -m apertis batch --dask`), on one
LocalCluster for the module whose in-process workers each build their own client, against the offline server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from test_batch import batch_command, batch_env, chat_calls, read_output, run_batch, write_input

import apertis
from apertis import _batch_dask
from apertis.batch import BatchClusterError, run_on_dask

distributed = pytest.importorskip("distributed")

WORKERS = 3
# What the shards ran with, recorded by the wrappers below: the workers are in this process, and a function of an
# importable module travels to them by reference, so they append to this very list.
RECORDED: List[Dict[str, Any]] = []
_real_run_shard = _batch_dask._run_shard


def recording_run_shard(job: Any) -> Dict[str, Any]:
    outcome = _real_run_shard(job)
    RECORDED.append({"job": job, **outcome})
    return outcome


def run_shard_but_lose_shard_one(job: Any) -> Dict[str, Any]:
    if job.shard.index == 1:
        raise OSError("No space left on device")  # as a worker that cannot write its shard file
    return _real_run_shard(job)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    # tcp, not the in-process transport: the command line test connects from a child process.
    with distributed.LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: not 8787, which another cluster on the machine may hold
    ) as cluster:
        yield cluster


@pytest.fixture
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    with distributed.Client(dask_cluster) as client:
        yield client


@pytest.fixture(autouse=True)
def _forget_recorded() -> None:
    RECORDED.clear()


def custom_ids(path: Path) -> List[str]:
    return sorted(result["custom_id"] for result in read_output(path))


@pytest.mark.fake_apertis(faults=["status=503;times=1", "status=429;every=7;scope=global;retry_after=0"])
def test_every_line_is_answered_once_across_the_workers(
    fake_apertis: Any, dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_dask, "_run_shard", recording_run_shard)
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    bad_body = json.dumps({"custom_id": "bad-body", "url": "/v1/chat/completions", "body": {"model": "m"}})
    write_input(input_path, 45, ["{not json", bad_body])
    client = apertis.AsyncApertis(api_key="sk-dask", base_url=fake_apertis.url, max_retries=6)
    summary = run_on_dask(dask_client, str(input_path), str(output_path), client=client, concurrency=48)
    assert (summary.done, summary.failed, summary.skipped, summary.interrupted) == (45, 2, 0, False)
    results = {result["custom_id"]: result for result in read_output(output_path)}
    assert len(read_output(output_path)) == 47 and len(results) == 47
    assert all(results[f"r{index}"]["error"] is None for index in range(45))
    assert all(results[f"r{index}"]["response"]["status_code"] == 200 for index in range(45))
    # A line that is not a request is named by its line number in the whole file, not in its shard.
    assert results["line-46"]["error"]["code"] == "invalid_request_line"
    assert results["bad-body"]["response"]["status_code"] == 400
    assert not (tmp_path / "out.jsonl.shards").exists()
    # Every worker ran one shard, each with a part of the input.
    assert sorted(record["job"].shard.index for record in RECORDED) == list(range(WORKERS))
    assert all(record["summary"]["done"] > 0 for record in RECORDED)
    assert {request.headers["authorization"] for request in fake_apertis.requests} == {"Bearer sk-dask"}


def test_each_shard_gets_its_share_of_the_budgets_and_the_clients_configuration(
    fake_apertis: Any, dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_dask, "_run_shard", recording_run_shard)
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 12)
    with apertis.Apertis(api_key="sk-budget", base_url=fake_apertis.url, max_retries=2, timeout=33.0) as client:
        run_on_dask(
            dask_client,
            str(input_path),
            str(output_path),
            client=client,
            concurrency=30,
            requests_per_minute=600_000,
            tokens_per_minute=3_000_000,
        )
    assert len(RECORDED) == WORKERS
    for record in RECORDED:
        assert record["limiter"] == {
            "max_concurrency": 10,
            "requests_per_minute": 200_000,
            "tokens_per_minute": 1_000_000,
        }
        settings = record["job"].client_settings
        assert (settings["api_key"], settings["base_url"], settings["max_retries"]) == (
            "sk-budget",
            fake_apertis.url,
            2,
        )
        assert settings["timeout"].read == 33.0


def test_a_rerun_sends_only_the_lines_without_an_answer_in_the_output_or_a_shard_file(
    fake_apertis: Any, dask_client: Any, tmp_path: Path
) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 40)
    client = apertis.AsyncApertis(api_key="sk-dask", base_url=fake_apertis.url)
    run_on_dask(dask_client, str(input_path), str(output_path), client=client)
    lines = output_path.read_text().splitlines()
    by_id = {json.loads(line)["custom_id"]: line for line in lines}
    # As an interrupted run leaves things: answers in OUTPUT, others still in a shard file (of a run with another
    # number of shards), the last of them cut short by the worker's death, and some lines never answered.
    removed = {"r3", "r17", "r38"}
    in_shard_file = [f"r{index}" for index in range(20, 30)]
    output_path.write_text(
        "".join(line + "\n" for custom_id, line in by_id.items() if custom_id not in removed | set(in_shard_file))
    )
    shards = tmp_path / "out.jsonl.shards"
    shards.mkdir()
    cut = by_id["r29"][: len(by_id["r29"]) // 2]
    (shards / "part-00007.jsonl").write_text("".join(by_id[i] + "\n" for i in in_shard_file[:-1]) + cut)
    fake_apertis.reset()
    summary = run_on_dask(dask_client, str(input_path), str(output_path), client=client)
    assert chat_calls(fake_apertis) == 4  # the three removed, and the one whose answer was cut short
    assert (summary.done, summary.skipped) == (4, 36)
    assert custom_ids(output_path) == sorted(f"r{index}" for index in range(40))
    assert not shards.exists()


def test_a_failed_shard_is_named_with_what_to_do_and_its_lines_are_sent_by_the_next_run(
    fake_apertis: Any, dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 30)
    client = apertis.AsyncApertis(api_key="sk-dask", base_url=fake_apertis.url)
    monkeypatch.setattr(_batch_dask, "_run_shard", run_shard_but_lose_shard_one)
    with pytest.raises(
        BatchClusterError, match=r"1 of 3 shards.*shard 1: OSError: No space left.*run the same"
    ) as info:
        run_on_dask(dask_client, str(input_path), str(output_path), client=client)
    answered_first = len(read_output(output_path))
    assert info.value.summary.done == answered_first and 0 < answered_first < 30
    monkeypatch.setattr(_batch_dask, "_run_shard", _real_run_shard)
    fake_apertis.reset()
    run_on_dask(dask_client, str(input_path), str(output_path), client=client)
    assert chat_calls(fake_apertis) == 30 - answered_first
    assert custom_ids(output_path) == sorted(f"r{index}" for index in range(30))


def test_the_command_line_runs_on_the_cluster(fake_apertis: Any, dask_cluster: Any, tmp_path: Path) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 30)
    address = dask_cluster.scheduler_address
    finished = run_batch(fake_apertis, input_path, output_path, "--dask", address, "--concurrency", "6")
    assert finished.returncode == 0, finished.stderr
    assert custom_ids(output_path) == sorted(f"r{index}" for index in range(30))
    assert "batch finished" in finished.stderr and "30 done, 0 failed" in finished.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.fake_apertis(faults=["latency=0.2"])
def test_ctrl_c_stops_every_shard_and_a_rerun_finishes_the_rest(
    fake_apertis: Any, dask_cluster: Any, tmp_path: Path
) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 90)
    command = batch_command(fake_apertis, input_path, output_path, "--dask", dask_cluster.scheduler_address)
    process = subprocess.Popen(
        [*command, "--concurrency", "6"],
        env=batch_env(fake_apertis),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while chat_calls(fake_apertis) < 6 and time.monotonic() < deadline:  # the shards are sending
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "batch interrupted" in stderr
    first = read_output(output_path)
    assert 0 < len(first) < 90 and all(result["error"] is None for result in first)
    # Every call sent was answered within the grace period, written down and merged; nothing was left behind.
    assert chat_calls(fake_apertis) == len(first)
    assert not (tmp_path / "out.jsonl.shards").exists()
    fake_apertis.reset()
    assert run_batch(fake_apertis, input_path, output_path, "--dask", dask_cluster.scheduler_address).returncode == 0
    assert chat_calls(fake_apertis) == 90 - len(first)
    assert custom_ids(output_path) == sorted(f"r{index}" for index in range(90))


def test_an_unreachable_scheduler_is_a_clear_error(fake_apertis: Any, tmp_path: Path) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 3)
    # Port 9 (discard) has no listener on the loopback: the connection is refused until the timeout.
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "apertis",
            "batch",
            str(input_path),
            "-o",
            str(output_path),
            "--dask",
            "tcp://127.0.0.1:9",
        ],
        env={**os.environ, "APERTIS_API_KEY": "sk-x", "APERTIS_BASE_URL": fake_apertis.url, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert "error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert chat_calls(fake_apertis) == 0


def test_without_the_extra_the_error_names_the_install_command(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if it were not installed\n"
        "from apertis.__main__ import main\n"
        f"sys.exit(main(['batch', {str(tmp_path / 'in.jsonl')!r}, '-o', 'out.jsonl', '--dask', 'tcp://x:8786']))\n"
    )
    (tmp_path / "in.jsonl").write_text("")
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert 'pip install "apertis[dask]"' in finished.stderr and "Traceback" not in finished.stderr


def test_importing_the_sdk_and_its_batch_module_does_not_load_dask() -> None:
    program = (
        "import sys, apertis, apertis.batch\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask')))"
    )
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == "[]", shown.stderr
