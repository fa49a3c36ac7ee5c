"""Sessions for checks across Python versions: `nox -s tests` runs the suite on every interpreter present."""

from __future__ import annotations

import shutil
import subprocess

import nox

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
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def types(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "apertis")


@nox.session(python="3.11")
def codegen(session: nox.Session) -> None:
    """The committed generated code is what the generator produces now."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "codegen", "--check")
