"""Sessions for checks across Python versions: `nox -s tests` runs the suite on every interpreter present.

`tests_lowest` and `tests_highest` run it against the lowest and the highest versions of the runtime
dependencies that pyproject.toml allows; `api_check` compares the public API with the latest release tag; `soak`
runs the fault soak at 5,000 calls and reports its memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import nox
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - nox runs from the 3.11 dev environment
    import tomli as tomllib

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests", "lint", "types", "codegen"]
nox.options.reuse_existing_virtualenvs = True


def _available(versions: list[str]) -> list[str]:
    # A pyenv shim exists for every installed version but only runs for the active ones, so ask it, and
    # skip a version the machine lacks rather than fail.
    found = []
    for version in versions:
        if shutil.which(f"python{version}") is None:
            continue
        probe = subprocess.run([f"python{version}", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            found.append(version)
    return found


@nox.session(python=_available(PYTHONS))
def tests(session: nox.Session) -> None:
    """The unit and integration tests, with test tools resolved for this interpreter."""
    # With the dask extra: tests/test_batch_dask.py checks its range on every interpreter.
    session.install("-e", ".[test,dask]")
    session.run("pytest", *session.posargs)


def _project() -> Dict[str, Any]:
    return tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]


def _lowest_runtime_pins() -> List[str]:
    """`name==version` for each runtime dependency at the lower bound of its range in pyproject.toml."""
    pins = []
    for line in _project()["dependencies"]:
        requirement = Requirement(line)
        lower = [spec.version for spec in requirement.specifier if spec.operator in (">=", "~=", "==")]
        if len(lower) != 1:
            raise ValueError(f"{line!r}: give the dependency one lower bound (>=) so tests_lowest can test it")
        pins.append(f"{requirement.name}=={lower[0]}")
    return pins


def _test_requirements(replacements: Dict[str, str]) -> List[str]:
    """The test extra of pyproject.toml, with some tools' ranges replaced (name -> requirement)."""
    requirements = [Requirement(line) for line in _project()["optional-dependencies"]["test"]]
    return [replacements.get(requirement.name, str(requirement)) for requirement in requirements]


# The pytest-httpx of the test extra requires httpx 0.28: with httpx 0.27, the last pytest-httpx release for it.
_TEST_TOOLS_FOR_HTTPX_0_27 = {"pytest-httpx": "pytest-httpx==0.34.0"}


@nox.session(python=_available(PYTHONS))
def tests_lowest(session: nox.Session) -> None:
    """The suite against the lowest httpx, attrs and typing-extensions that pyproject.toml allows."""
    pins = _lowest_runtime_pins()
    httpx_0_27 = any(pin.startswith("httpx==0.27") for pin in pins)
    session.install("-e", ".", *pins, *_test_requirements(_TEST_TOOLS_FOR_HTTPX_0_27 if httpx_0_27 else {}))
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session(python=_available(PYTHONS))
def tests_highest(session: nox.Session) -> None:
    """The suite against the highest versions every dependency range allows (as a fresh install resolves)."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test,dask]")
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def types(session: nox.Session) -> None:
    """mypy --strict over the package, the tests, the generator and the examples."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "apertis", "tests", "codegen", "examples")
    session.run("mypy", "--strict", *sorted(str(path) for path in Path("tests/live").glob("*.py")))


@nox.session(python="3.11")
def codegen(session: nox.Session) -> None:
    """The committed generated code is what the generator produces now."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "codegen", "--check")


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """The fault soak of tests/test_soak.py at 5,000 calls (SOAK_CALLS), with the memory flat once warm."""
    session.install("-e", ".[test]")
    calls = os.environ.get("SOAK_CALLS") or "5000"
    # pytest-timeout's 120 s per test is for the unit tests: 5,000 calls take minutes.
    session.run(
        "pytest", "tests/test_soak.py", "-s", "-p", "no:cacheprovider", "--timeout=1800", env={"SOAK_CALLS": calls}
    )
