"""The live contract suite runs only with an API key (`make test-live`); the regular run never collects it.

The target is read once, at import (live_contract.py), before the suite-wide fixture that hides the developer's
APERTIS_* variables from every test. At the end the unknown fields and event types are printed and written to
`out/unknown.json`.
"""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from live_contract import API_KEY, BASE_URL, FINDINGS, OUT


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if API_KEY:
        return
    skip = pytest.mark.skip(reason="the live contract suite needs APERTIS_API_KEY (and APERTIS_BASE_URL)")
    for item in items:
        if item.path.parent.name == "live":
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not API_KEY:
        return
    report = FINDINGS.as_json()
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / "unknown.json"
    target.write_text(json.dumps({"base_url": BASE_URL, **report}, indent=2) + "\n", encoding="utf-8")
    terminalreporter.section("fields and events the spec does not describe")
    for title, found in (("fields", report["unknown_fields"]), ("event types", report["unknown_events"])):
        terminalreporter.write_line(f"unknown {title}: {len(found)}")
        for where, seen_in in found.items():
            terminalreporter.write_line(f"  {where}  (in {', '.join(seen_in)})")
    terminalreporter.write_line(f"written to {target}")
