"""The examples as a user runs them (separate processes, configured by the environment) against the offline
server, with their output checked; and `python -m apertis.testing.demo` end to end."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from typing import Callable, Dict, Sequence, Tuple

import pytest

from apertis.testing import FakeApertis
from apertis.testing.demo import EXAMPLES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES_DIR = os.path.join(ROOT, "examples")


def reply(prompt: str) -> str:
    return f'Offline answer from gpt-4o-mini: you said "{prompt}".'


def expect_lines(*needles: str) -> Callable[[str], None]:
    def check(output: str) -> None:
        for needle in needles:
            assert needle in output, f"{needle!r} missing from:\n{output}"

    return check


def check_error_handling(output: str) -> None:
    assert "Summary: 5 succeeded, 2 rate limited, 2 connection errors, 1 API errors" in output, output
    assert len(re.findall(r"^\s*\d+\. ok: ", output, re.M)) == 5


def check_retry(output: str) -> None:
    assert output.count("failed (RateLimitError)") == 2 and output.count("failed (InternalServerError)") == 1, output
    for question in ("What is 2 + 2?", "Name a prime number.", "What colour is the sky?"):
        assert f"answer: {reply(question)}" in output


def check_queue(output: str) -> None:
    consumers = set(re.findall(r"^\[(consumer-\d)\] ", output, re.M))
    assert consumers == {"consumer-1", "consumer-2", "consumer-3"}, output
    assert "Processed 9 prompts with 3 consumers." in output


CHECKS: Dict[str, Callable[[str], None]] = {
    "01_basic_async.py": expect_lines(
        reply("Explain async programming in one sentence."), "(tokens: ", "(served by gpt-4o-mini; request id req_"
    ),
    "02_concurrent_gather.py": expect_lines(
        *(f"A: {reply(f'What is the capital of {c}?')}" for c in ("France", "Japan", "Brazil", "Kenya", "Canada")),
        "5 answers in ",
    ),
    "03_streaming.py": expect_lines(reply("Write a haiku about the sea."), "(12 chunks received)"),
    "04_semaphore.py": expect_lines(
        f"10. {reply('Give me fun fact number 10.')}", "at most 3 in flight at once (limit 3)"
    ),
    "05_context_manager.py": expect_lines(reply("Say hello in French."), "Client closed."),
    "06_batch_embeddings.py": expect_lines(
        *(f"Batch {n}/5: embedded {20 if n < 5 else 15} texts ({min(95, 20 * n)}/95 done)" for n in range(1, 6)),
        "Embedded 95 documents; each vector has 1536 dimensions.",
    ),
    "07_error_handling.py": check_error_handling,
    "08_retry_backoff.py": check_retry,
    "09_producer_consumer.py": check_queue,
    "10_sync_client.py": expect_lines(
        reply("What is the speed of light?"),
        f"Streaming: {reply('Count to five.')}",
        "Embedded 2 texts into 1536 dimensions.",
    ),
    "11_batch_file.py": expect_lines(
        "batch finished in",
        "40 done, 1 failed, 0 already answered (skipped)",
        "line-41: failed (invalid_request_line)",
        f"question-1: {reply('In one sentence, what is topic 1?')[:60]}",
    ),
    "12_structured_outputs.py": expect_lines(
        "Chat: 'example-goal' in 1 task(s), first: 'example-title'",
        "Responses: 'example-goal'",
        "Messages: priority of the first task: low",
        "Streamed: the JSON grew in ",
        "Cut short: choices[0] was cut at the token limit (finish_reason 'length')",
    ),
    "13_tool_runner.py": expect_lines(
        'called get_weather({"city": "example-city", "unit": "celsius"}) -> 18 degrees celsius and sunny in '
        "example-city",
        "answer: Offline answer from gpt-4.1-mini: the tool returned '18 degrees celsius and sunny in example-city'.",
        "(2 replies, 3 messages in the conversation)",
        "turn: (asks for get_time)",
        "turn: Offline answer from claude-sonnet-4.5: the tool returned 'It is 14:05 in example-city'.",
    ),
}


def run_example(name: str, faults: Sequence[str]) -> Tuple[int, str]:
    with FakeApertis(faults=faults) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
        env.update(APERTIS_BASE_URL=server.url, APERTIS_API_KEY="sk-example", PYTHONUNBUFFERED="1")
        done = subprocess.run(
            [sys.executable, os.path.join(EXAMPLES_DIR, name)], env=env, capture_output=True, text=True, timeout=120
        )
        assert all(r.headers.get("authorization") == "Bearer sk-example" for r in server.requests)
        assert server.requests, "the example sent nothing to APERTIS_BASE_URL"
    return done.returncode, done.stdout + done.stderr


def test_every_example_is_covered() -> None:
    assert (
        sorted(CHECKS)
        == sorted(e[0] for e in EXAMPLES)
        == sorted(f for f in os.listdir(EXAMPLES_DIR) if f.endswith(".py"))
    )


@pytest.mark.slow
@pytest.mark.parametrize(("name", "faults"), [(e[0], e[2]) for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_example(name: str, faults: Sequence[str]) -> None:
    status, output = run_example(name, faults)
    assert status == 0, output
    CHECKS[name](output)


@pytest.mark.slow
def test_the_demo_runs_examples_with_headings_and_reports() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    done = subprocess.run(
        [sys.executable, "-m", "apertis.testing.demo", "01", "07"], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "offline Apertis server" in done.stdout
    assert "== 1/2 A basic async client (01_basic_async.py)" in done.stdout
    assert "== 2/2 Error handling" in done.stdout and "2 rate limited" in done.stdout
    assert done.stdout.rstrip().endswith("2/2 examples passed.")


def test_the_demo_fails_when_an_example_fails(tmp_path: pathlib.Path) -> None:
    broken = os.path.join(os.fspath(tmp_path), "01_basic_async.py")
    with open(broken, "w", encoding="utf-8") as handle:
        handle.write("print('about to fail')\nraise SystemExit(3)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    done = subprocess.run(
        [sys.executable, "-m", "apertis.testing.demo", "--examples", os.fspath(tmp_path), "01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "   | about to fail" in done.stdout and "FAILED with exit status 3" in done.stdout


def test_the_demo_needs_a_key_for_a_remote_url() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    env["APERTIS_BASE_URL"] = "http://127.0.0.1:9/v1"
    done = subprocess.run(
        [sys.executable, "-m", "apertis.testing.demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "APERTIS_API_KEY" in done.stderr
