"""The batch runner: `python -m apertis batch` and apertis.batch, against the offline server (with faults)."""

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

import apertis
from apertis.batch import BatchRequest, BatchResult, arun, run


def chat_request(index: int) -> Dict[str, Any]:
    return {
        "custom_id": f"r{index}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {index}"}]},
    }


def write_input(path: Path, count: int, extra: List[str] = ()) -> None:  # type: ignore[assignment]
    with path.open("w") as lines:
        for index in range(count):
            lines.write(json.dumps(chat_request(index)) + "\n")
        for line in extra:
            lines.write(line + "\n")


def read_output(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch_command(server: Any, input_path: Path, output_path: Path, *options: str) -> List[str]:
    return [sys.executable, "-m", "apertis", "batch", str(input_path), "-o", str(output_path), *options]


def batch_env(server: Any) -> Dict[str, str]:
    return {**os.environ, "APERTIS_API_KEY": "sk-batch", "APERTIS_BASE_URL": server.url}


def run_batch(server: Any, input_path: Path, output_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(server, input_path, output_path, *options),
        env=batch_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )


def chat_calls(server: Any) -> int:
    return sum(1 for request in server.requests if request.path.endswith("/chat/completions"))


# Every call's first attempt gets a 503 (counted per Idempotency-Key), and every fifth attempt overall a 429.
@pytest.mark.fake_apertis(faults=["status=503;times=1", "status=429;every=5;scope=global;retry_after=0"])
def test_a_batch_with_faults_answers_every_line(fake_apertis: Any, tmp_path: Path) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    missing_messages = json.dumps({"custom_id": "bad-body", "url": "/v1/chat/completions", "body": {"model": "m"}})
    write_input(input_path, 30, ["{not json", missing_messages])
    finished = run_batch(fake_apertis, input_path, output_path, "--concurrency", "8", "--max-retries", "6")
    assert finished.returncode == 0, finished.stderr
    results = read_output(output_path)
    assert len(results) == 32
    by_id = {result["custom_id"]: result for result in results}
    for index in range(30):
        answer = by_id[f"r{index}"]
        assert answer["error"] is None
        assert answer["response"]["status_code"] == 200
        assert answer["response"]["body"]["object"] == "chat.completion"
        assert answer["response"]["request_id"]
    assert by_id["line-31"]["error"]["code"] == "invalid_request_line"
    assert by_id["bad-body"]["response"]["status_code"] == 400
    assert by_id["bad-body"]["error"]["code"] == "missing_parameter"
    assert "30 done, 2 failed" in finished.stderr


def test_a_rerun_sends_only_the_lines_without_an_answer(fake_apertis: Any, tmp_path: Path) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 20)
    assert run_batch(fake_apertis, input_path, output_path, "--quiet").returncode == 0
    first_keys = {request.headers["idempotency-key"] for request in fake_apertis.requests}
    kept = [line for line in output_path.read_text().splitlines() if json.loads(line)["custom_id"] not in {"r3", "r7"}]
    output_path.write_text("".join(line + "\n" for line in kept))
    fake_apertis.reset()
    assert run_batch(fake_apertis, input_path, output_path, "--quiet").returncode == 0
    assert chat_calls(fake_apertis) == 2
    # The same request carries the same Idempotency-Key on every run.
    assert {request.headers["idempotency-key"] for request in fake_apertis.requests} <= first_keys
    assert sorted(result["custom_id"] for result in read_output(output_path)) == sorted(f"r{i}" for i in range(20))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.fake_apertis(faults=["latency=0.3"])
def test_ctrl_c_stops_sending_and_a_rerun_finishes_the_rest(fake_apertis: Any, tmp_path: Path) -> None:
    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 100)
    process = subprocess.Popen(
        batch_command(fake_apertis, input_path, output_path, "--concurrency", "8"),
        env=batch_env(fake_apertis),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    first = read_output(output_path)
    assert 0 < len(first) < 100
    assert all(result["error"] is None for result in first)
    # Every call sent was answered within the grace period and written down.
    assert chat_calls(fake_apertis) == len(first)
    fake_apertis.reset()
    assert run_batch(fake_apertis, input_path, output_path, "--quiet").returncode == 0
    assert chat_calls(fake_apertis) == 100 - len(first)
    assert len({result["custom_id"] for result in read_output(output_path)}) == 100


def test_help_documents_the_command_with_an_example() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "apertis", "batch", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0
    for words in ("--concurrency", "--quiet", "--grace", "APERTIS_API_KEY", "example:", "custom_id"):
        assert words in shown.stdout


async def test_arun_yields_results_as_they_complete_reading_ahead_only_as_far_as_it_sends(fake_apertis: Any) -> None:
    pulled = 0

    def requests() -> Iterator[Dict[str, Any]]:
        nonlocal pulled
        for index in range(40):
            pulled += 1
            yield chat_request(index)

    seen: List[str] = []
    async with apertis.AsyncApertis(api_key="k", base_url=fake_apertis.url) as client:
        async for result in arun(client, requests(), concurrency=5):
            if not seen:
                assert pulled <= 6  # five in flight, at most one more read before the first result
            assert result.ok
            seen.append(result.custom_id)
    assert sorted(seen) == sorted(f"r{i}" for i in range(40))


def test_run_in_threads_with_the_sync_client(fake_apertis: Any) -> None:
    requests = [
        BatchRequest(custom_id=f"q{i}", url="/v1/embeddings", body={"model": "m", "input": "x"}) for i in range(12)
    ]
    requests.append(BatchRequest(custom_id="nope", url="/v1/no-such-path", body={}))
    with apertis.Apertis(api_key="k", base_url=fake_apertis.url, max_retries=0) as client:
        results = {result.custom_id: result for result in run(client, requests, concurrency=4)}
    assert all(results[f"q{i}"].ok and results[f"q{i}"].body["object"] == "list" for i in range(12))
    assert results["nope"].status_code == 404 and not results["nope"].ok


def test_bad_concurrency_is_refused(fake_apertis: Any) -> None:
    with (
        apertis.Apertis(api_key="k", base_url=fake_apertis.url) as client,
        pytest.raises(ValueError, match="concurrency"),
    ):
        list(run(client, [], concurrency=0))


async def test_embed_returns_vectors_in_input_order(fake_apertis: Any, client_class: Any, call: Any) -> None:
    from apertis.batch import aembed, embed

    texts = [f"text {index}" for index in range(1000)]
    client = client_class(api_key="k", base_url=fake_apertis.url)
    if client_class is apertis.AsyncApertis:
        vectors = await aembed(
            client, texts, batch_size=64, concurrency=4, model="text-embedding-3-small", dimensions=8
        )
    else:
        vectors = embed(client, texts, batch_size=64, concurrency=4, model="text-embedding-3-small", dimensions=8)
    sizes = [len(request.json["input"]) for request in fake_apertis.requests]
    assert sorted(sizes) == sorted([64] * 15 + [40])
    assert len(vectors) == 1000
    # The offline server's vector is a function of the text: each text asked alone gives the same vector.
    for index in (0, 63, 64, 500, 999):
        alone = await call(client.embeddings.create, input=texts[index], model="text-embedding-3-small", dimensions=8)
        assert vectors[index] == alone.data[0].embedding
    await call(client.close)


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.fake_apertis(faults=["latency=0.2"])
def test_on_a_terminal_progress_is_one_live_line(fake_apertis: Any, tmp_path: Path) -> None:
    import pty

    input_path, output_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(input_path, 40)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        batch_command(fake_apertis, input_path, output_path, "--concurrency", "4"),
        env=batch_env(fake_apertis),
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 0
    os.close(controller)
    text = shown.decode()
    live = [part for part in text.split("\r\x1b[K") if "in flight" in part]
    assert len(live) >= 2  # redrawn in place, not one line each
    assert "req/s" in live[-1] and "tokens/s" in live[-1] and "ETA" in live[-1]
    assert "batch finished" in text and "40 done, 0 failed" in text


async def test_a_result_records_the_answers_own_status_code_and_request_id(
    httpx_mock: Any, client_class: Any, call: Any
) -> None:
    # A 2xx other than 200 (a created resource) is recorded as the server said, with the request id it sent.
    httpx_mock.add_response(status_code=201, json={"id": "obj-1"}, headers={"x-request-id": "req-created"})
    httpx_mock.add_response(status_code=202, json={"id": "obj-2"}, headers={"x-request-id": "req-accepted"})
    requests = [BatchRequest(custom_id=f"c{i}", url="/v1/things", body={"n": i}) for i in range(2)]
    client = client_class(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0)
    if client_class is apertis.AsyncApertis:
        results = [result async for result in arun(client, requests, concurrency=1)]
    else:
        results = list(run(client, requests, concurrency=1))
    await call(client.close)
    lines = sorted((result.to_line()["response"] for result in results), key=lambda response: response["status_code"])
    recorded = [(line["status_code"], line["request_id"]) for line in lines]
    assert recorded == [(201, "req-created"), (202, "req-accepted")]
    assert [line["body"]["id"] for line in lines] == ["obj-1", "obj-2"]


def test_the_answered_ids_of_a_resume_are_exact_and_compact(tmp_path: Path) -> None:
    import tracemalloc

    from apertis.batch import AnsweredIds

    output_path = tmp_path / "out.jsonl"
    count = 20_000
    with output_path.open("w") as lines:
        for index in range(count):
            custom_id = f"request-{index:08d}"
            failed = index % 10 == 0
            if index % 2:  # the runner's own lines, and (below) another tool's
                error = {"code": "http_500", "message": '"error": null}'} if failed else None
                line = BatchResult(custom_id=custom_id, status_code=200, body={"error": None}, error=error).to_line()
            else:
                line = {"error": {"code": "x"} if failed else None, "custom_id": custom_id}
            lines.write(json.dumps(line, ensure_ascii=False) + "\n")
        answer = BatchResult(custom_id="cut-short", status_code=200, body={"error": None}).to_line()
        lines.write(json.dumps(answer)[:-3])  # a line a crash cut short
    tracemalloc.start()
    answered = AnsweredIds.from_outputs(str(output_path), str(tmp_path / "missing.jsonl"))
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(answered) == count - count // 10
    assert all((f"request-{index:08d}" in answered) == (index % 10 != 0) for index in range(count))
    assert "cut-short" not in answered and "request-x" not in answered and 7 not in answered
    # A set of the ids would hold over 100 bytes an id; the table holds 16 to 32.
    assert held / len(answered) < 40, f"{held / len(answered):.0f} bytes an answered id"
