"""The public types, as users' type checkers see them: the programs in tests/typing/ (requests, results,
overloads, streams and their events) are checked by mypy --strict and basedpyright (strict). A `pass_*.py`
program must give no error at all; a `fail_*.py` program must give an error on each line marked
`# expect-error` and on no other line, so a type that turns into Any (which silences everything) fails here as
surely as one that is too narrow.

mypy and basedpyright are dev dependencies; without one (nox's test sessions) its half of the tests is skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

import pytest
from typecheck import CHECKERS, Errors, run_checker

PROGRAMS_DIR = Path(__file__).with_name("typing")
PASS = sorted(PROGRAMS_DIR.glob("pass_*.py"))
FAIL = sorted(PROGRAMS_DIR.glob("fail_*.py"))

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def errors_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Errors]:
    """A checker's errors over all the programs, from one run per checker (on first use: a skip skips only the
    tests of its checker)."""
    found: Dict[str, Errors] = {}

    def errors_of(checker: str) -> Errors:
        if checker not in found:
            found[checker] = run_checker(checker, PASS + FAIL, tmp_path_factory.mktemp("mypy-cache"))
        return found[checker]

    return errors_of


_EXPECT_ERROR = re.compile(r"#\s*expect-error(\s*$|: )")


def _marked_lines(program: Path) -> set[int]:
    lines = program.read_text(encoding="utf-8").splitlines()
    return {number for number, text in enumerate(lines, 1) if _EXPECT_ERROR.search(text)}


def test_there_are_programs_of_both_kinds() -> None:
    assert PASS and FAIL
    assert all(_marked_lines(program) for program in FAIL)


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("program", PASS, ids=lambda path: path.name)
def test_a_pass_program_type_checks_clean(program: Path, checker: str, errors_of: Callable[[str], Errors]) -> None:
    errors = errors_of(checker).get(program.resolve(), {})
    report = "\n".join(f"{program.name}:{line}: {msg}" for line, msgs in sorted(errors.items()) for msg in msgs)
    assert not errors, f"{checker} found errors in a program that must type-check:\n{report}"


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("program", FAIL, ids=lambda path: path.name)
def test_a_fail_program_errs_exactly_on_its_marked_lines(
    program: Path, checker: str, errors_of: Callable[[str], Errors]
) -> None:
    errors = errors_of(checker).get(program.resolve(), {})
    expected = _marked_lines(program)
    missed = sorted(expected - set(errors))
    unexpected = {line: errors[line] for line in sorted(set(errors) - expected)}
    assert not missed, f"{checker} accepted lines marked expect-error in {program.name}: {missed}"
    assert not unexpected, f"{checker} found errors on unmarked lines of {program.name}: {unexpected}"


# ------------------------------------------------------------------ the public names, at runtime


def test_apertis_streaming_exports_the_stream_classes_and_event_types() -> None:
    import apertis
    from apertis import _helper_events, streaming, types
    from apertis._async import _stream_helpers as async_helpers
    from apertis._async import _streaming as async_streaming
    from apertis._sync import _stream_helpers as sync_helpers
    from apertis._sync import _streaming as sync_streaming

    for name in streaming.__all__:
        twins = (async_streaming, async_helpers) if name.startswith("Async") else (sync_streaming, sync_helpers)
        homes = (*twins, _helper_events, types)
        expected = next(getattr(home, name) for home in homes if hasattr(home, name))
        assert getattr(streaming, name) is expected, name
    assert set(streaming.__all__) == set(streaming._LAZY)
    assert set(streaming.__all__) <= set(dir(streaming))
    assert (apertis.Stream, apertis.AsyncStream) == (streaming.Stream, streaming.AsyncStream)
    assert {"Stream", "AsyncStream"} <= set(apertis.__all__)
    assert issubclass(streaming.MessageStream, streaming.Stream)
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        streaming.Nope  # noqa: B018


def test_importing_apertis_streaming_loads_no_stream_code_and_no_model() -> None:
    code = (
        "import sys, apertis.streaming\nprint(sorted(m for m in sys.modules if m.startswith(('apertis.', 'httpx'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # What `import apertis` loads anyway (the exceptions, and the JSON nesting cap they use), and the module itself.
    expected = ["apertis._exceptions", "apertis._json", "apertis._version", "apertis.streaming"]
    assert result.stdout.strip() == repr(expected)


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
