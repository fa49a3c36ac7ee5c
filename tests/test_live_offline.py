"""The live contract suite (tests/live, `make test-live`) runs green against the offline server, so it is known
to work before anyone has a key; and its checks catch what they are for: a wire shape the spec does not allow,
a field it does not name, a key in a transcript."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from apertis.testing import FakeApertis

ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "tests" / "live"
sys.path.insert(0, str(LIVE))

import live_contract  # noqa: E402 - tests/live is not a package the regular run imports

KEY = "sk-offline-0123456789SECRET"


def _run_live_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("APERTIS_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(LIVE), "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=ROOT,
        env={**clean, "APERTIS_LIVE_OUT": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_the_live_suite_runs_green_against_the_offline_server(tmp_path: Path) -> None:
    with FakeApertis(api_key=KEY) as server:
        url = server.url
        run = _run_live_suite(tmp_path, APERTIS_BASE_URL=url, APERTIS_API_KEY=KEY, APERTIS_LIVE_TRANSCRIPTS="1")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "skipped" not in run.stdout, run.stdout[-2000:]  # against a loopback server nothing is too costly
    expected = sum(
        2 * (2 if operation.stream_event_schema else 1) for operation in live_contract.operations()
    )  # sync and async, streamed and not
    assert f"{expected + 1} passed" in run.stdout, run.stdout[-2000:]
    report = json.loads((tmp_path / "unknown.json").read_text())
    assert report["base_url"] == url
    transcripts = list((tmp_path / "transcripts").glob("*/*.json"))
    assert len(transcripts) == expected
    for transcript in transcripts:
        text = transcript.read_text()
        assert "SECRET" not in text, transcript
        json.loads(text)


def test_the_live_suite_is_skipped_entirely_without_a_key(tmp_path: Path) -> None:
    run = _run_live_suite(tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    assert " passed" not in run.stdout and " skipped" in run.stdout, run.stdout[-2000:]
    assert "needs APERTIS_API_KEY" in run.stdout
    assert not (tmp_path / "unknown.json").exists()


def _exchange(body: Any, content_type: str = "application/json") -> live_contract.Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return live_contract.Exchange(
        "POST",
        "https://api.test/v1/embeddings",
        {"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        json.dumps({"model": "m", "input": "Say ok."}).encode(),
        200,
        {"content-type": content_type},
        bytearray(raw),
    )


EMBEDDINGS: Dict[str, Any] = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 1, "total_tokens": 1},
}
OPERATIONS = {operation.operation_id: operation for operation in live_contract.operations()}


def test_an_answer_the_spec_does_not_allow_fails_the_check() -> None:
    wrong = {**EMBEDDINGS, "data": [{"object": "embedding", "index": "zero", "embedding": [0.5]}]}
    with pytest.raises(AssertionError, match=r"data\[0\]\.index"):
        live_contract.check_exchange(OPERATIONS["createEmbedding"], _exchange(wrong), False, live_contract.Findings())


def test_fields_and_event_types_the_spec_does_not_name_are_reported() -> None:
    findings = live_contract.Findings()
    extended = {**EMBEDDINGS, "served_by": "x", "data": [{**EMBEDDINGS["data"][0], "norm": 1.0}]}
    live_contract.check_exchange(OPERATIONS["createEmbedding"], _exchange(extended), False, findings)
    stream = b'event: message_start\ndata: {"type": "message_start", "message": {"id": "m", "type": "message", '
    stream += b'"role": "assistant", "content": [], "model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}}'
    stream += b'\n\nevent: brand_new\ndata: {"type": "brand_new"}\n\n'
    live_contract.check_exchange(OPERATIONS["createMessage"], _exchange(stream, "text/event-stream"), True, findings)
    report = findings.as_json()
    assert set(report["unknown_fields"]) >= {"EmbeddingResponse: served_by", "Embedding: data[].norm"}, report
    assert report["unknown_events"] == {"MessageStreamEvent: brand_new": ["createMessage"]}


def test_a_transcript_holds_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_contract, "OUT", tmp_path)
    echoed = {**EMBEDDINGS, "model": f"echo {KEY}"}
    path = live_contract.write_transcript("t", [_exchange(echoed)], KEY)
    saved: List[Dict[str, Any]] = json.loads(path.read_text())
    assert KEY not in path.read_text()
    assert saved[0]["response"]["json"]["model"] == "echo <redacted>"
    assert "headers" not in saved[0]["request"]  # the authorization header is never written
