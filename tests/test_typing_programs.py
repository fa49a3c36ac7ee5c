"""The public types checked by the type checkers users run: tests/typing/pass_*.py must type-check with no
error, and in tests/typing/fail_*.py exactly the lines marked `# expect-error` must have errors (a misspelt key,
an unknown role, a wrong literal, an unguarded Optional, the wrong overload). Runs mypy --strict, and
basedpyright in strict mode when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "typing"
FILES = sorted(PROGRAMS.glob("pass_*.py")) + sorted(PROGRAMS.glob("fail_*.py"))
EXPECT = re.compile(r"#\s*expect-error\s*$")


def expected_lines(path: Path) -> Set[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {number for number, line in enumerate(lines, start=1) if EXPECT.search(line)}


def errors_by_file(pattern: str, output: str) -> Dict[str, Set[int]]:
    found: Dict[str, Set[int]] = {}
    for match in re.finditer(pattern, output, flags=re.MULTILINE):
        found.setdefault(Path(match["file"]).name, set()).add(int(match["line"]))
    return found


def check(found: Dict[str, Set[int]], output: str) -> None:
    problems: List[str] = []
    for path in FILES:
        got = found.get(path.name, set())
        want = expected_lines(path)
        if path.name.startswith("pass_"):
            assert not want, f"{path.name}: a pass_ program marks no error"
        else:
            assert want, f"{path.name}: a fail_ program marks its errors with `# expect-error`"
        if got - want:
            problems.append(f"{path.name}: unexpected errors on lines {sorted(got - want)}")
        if want - got:
            problems.append(f"{path.name}: no error on the marked lines {sorted(want - got)}")
    assert not problems, "\n".join(problems) + "\n\n" + output


def test_mypy_strict() -> None:
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--show-error-end", "--no-pretty",
         *(str(p) for p in FILES)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    check(errors_by_file(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+):\d+:\d+:\d+: error:", result.stdout), result.stdout)


def test_basedpyright_strict() -> None:
    executable = shutil.which("basedpyright", path=str(Path(sys.executable).parent)) or shutil.which("basedpyright")
    if executable is None:
        pytest.skip("basedpyright is not installed")
    result = subprocess.run(
        [executable, "-p", str(PROGRAMS / "pyrightconfig.json"), "--pythonpath", sys.executable],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    check(errors_by_file(r"^\s*(?P<file>/[^:\n]+\.py):(?P<line>\d+):\d+ - error:", result.stdout), result.stdout)


def test_the_request_types_cost_nothing_at_runtime() -> None:
    # The TypedDicts are annotations only: neither `import apertis` nor first calls load them.
    script = (
        "import json, sys, httpx, apertis\n"
        "body = {'model': 'm', 'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': 'hi'}}]}\n"
        "transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))\n"
        "client = apertis.Apertis(api_key='k', http_client=httpx.Client(transport=transport))\n"
        "client.chat.completions.create(model='m', messages=[{'role': 'user', 'content': 'hi'}], max_tokens=None)\n"
        "client.embeddings.create(model='m', input='x')\n"
        "print(json.dumps(sorted(m for m in ('apertis.types.params', 'typing_extensions') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert "apertis.types.params" not in done.stdout, done.stdout
