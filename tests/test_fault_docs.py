"""The fault syntax is documented once, in apertis/testing/_faults.py's EXAMPLES: the README's table and
`python -m apertis.testing --help` show the same list. (The README's example of how attempts are counted runs in
tests/test_doc_programs.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apertis.testing import __main__ as command_line
from apertis.testing._faults import EXAMPLES, Fault

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _readme_fault_table() -> list[tuple[str, str]]:
    table = README.split("| fault | what it does |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    rows = [re.fullmatch(r"\| `(.+)` \| (.+) \|", line) for line in table.splitlines()]
    assert all(rows), table
    return [(row.group(1), row.group(2)) for row in rows if row]


def test_the_readme_lists_exactly_the_examples() -> None:
    assert _readme_fault_table() == list(EXAMPLES)


def test_the_command_line_help_lists_exactly_the_examples() -> None:
    help_text = command_line._parser().format_help()
    listed = [line.split()[0] for line in help_text.splitlines() if line.startswith("  ") and "=" in line.split()[0]]
    examples_with_a_value = [fault for fault, _ in EXAMPLES if "=" in fault]
    assert listed == examples_with_a_value
    for fault, meaning in EXAMPLES:
        assert re.search(rf"^  {re.escape(fault)} +{re.escape(meaning)}$", help_text, re.MULTILINE), fault


@pytest.mark.parametrize(("fault", "meaning"), EXAMPLES)
def test_every_example_parses_and_keeps_its_text(fault: str, meaning: str) -> None:
    assert Fault.parse(fault).source == fault
