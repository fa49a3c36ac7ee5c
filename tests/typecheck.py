"""mypy --strict and basedpyright (strict) over a set of programs, as users' type checkers would see them: each
checker's errors by program and line. Shared by the typing programs (tests/typing/) and the programs users read
(README, docs, examples). Both checkers are dev dependencies; without one, the tests that need it are skipped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYRIGHT_CONFIG = Path(__file__).with_name("typing") / "pyrightconfig.json"
CHECKERS = ("mypy", "basedpyright")

# program -> line -> the checker's messages for that line
Errors = Dict[Path, Dict[int, List[str]]]


def _add(errors: Errors, path: Path, line: int, message: str) -> None:
    errors.setdefault(path.resolve(), {}).setdefault(line, []).append(message)


def run_mypy(programs: Sequence[Path], cache_dir: Path) -> Errors:
    """mypy --strict's errors over `programs`, with the project's mypy settings."""
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is a dev dependency")
    # mypy raises the interpreter's recursion limit for itself and leaves it raised: tests that run after this one
    # in the same process (the deep-nesting ones) must see the default.
    recursion_limit = sys.getrecursionlimit()
    try:
        stdout, stderr, status = _run_mypy_api(mypy_api, programs, cache_dir)
    finally:
        sys.setrecursionlimit(recursion_limit)
    return _mypy_errors(stdout, stderr, status)


def _run_mypy_api(mypy_api: Any, programs: Sequence[Path], cache_dir: Path) -> Tuple[str, str, int]:
    return mypy_api.run(  # type: ignore[no-any-return]
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache_dir),
            "--show-absolute-path",
            "--no-error-summary",
            "--hide-error-context",
            *map(str, programs),
        ]
    )


def _mypy_errors(stdout: str, stderr: str, status: int) -> Errors:
    assert status in (0, 1), f"mypy did not run: {stderr}{stdout}"
    errors: Errors = {}
    for line in stdout.splitlines():
        match = re.match(r"^(.+?\.py):(\d+): error: (.*)$", line)
        if match:
            _add(errors, Path(match[1]), int(match[2]), match[3])
    return errors


def run_basedpyright(programs: Sequence[Path]) -> Errors:
    """basedpyright's errors over `programs`, in strict mode (tests/typing/pyrightconfig.json)."""
    executable = shutil.which("basedpyright", path=str(Path(sys.executable).parent)) or shutil.which("basedpyright")
    if executable is None:
        pytest.skip("basedpyright is not installed (pip install basedpyright)")
    result = subprocess.run(
        [
            executable,
            "--outputjson",
            "--pythonpath",
            sys.executable,
            "--project",
            str(PYRIGHT_CONFIG),
            *map(str, programs),
        ],
        capture_output=True,
        text=True,
        cwd=PYRIGHT_CONFIG.parent,
        check=False,
        timeout=300,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"basedpyright did not run: {result.stderr}{result.stdout}")
    errors: Errors = {}
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            line = diagnostic["range"]["start"]["line"] + 1
            _add(errors, Path(diagnostic["file"]), line, diagnostic["message"])
    return errors


def run_checker(checker: str, programs: Sequence[Path], cache_dir: Path) -> Errors:
    """The errors of `checker` (one of CHECKERS) over `programs`."""
    return run_mypy(programs, cache_dir) if checker == "mypy" else run_basedpyright(programs)
