"""What users read type-checks and runs: every Python block of README.md, CONTRIBUTING.md and docs/*.md, and every
program in examples/, passes mypy --strict and basedpyright (strict), and each documentation block also runs,
against a FakeApertis (APERTIS_BASE_URL and APERTIS_API_KEY point at it).

How a ```python block is read, from the HTML comment on the line before it (the comment does not show on GitHub):

- no comment: a whole program, checked and run as it stands;
- `<!-- fragment -->`: a piece of a program, checked and run after PRELUDE (the client, `async_client`, the
  `messages` of the Messages API): for the snippets that show one call on a client the text has already made;
- `<!-- no-check: why -->`: not a program (a sketch of generated code, a signature with `...`); use sparingly,
  always with the reason.

A block whose `print(...)` line ends in a comment (`print(error.status_code)  # 503`) documents that output: the
block's output must contain it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple

import pytest
from typecheck import CHECKERS, ROOT, Errors, run_checker

from apertis import Apertis, AsyncApertis
from apertis.testing import FakeApertis

DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

PRELUDE = """\
from apertis import Apertis, AsyncApertis
from apertis.types import MessageParam

client = Apertis()
async_client = AsyncApertis()
messages: list[MessageParam] = [{"role": "user", "content": "Hello!"}]
"""

pytestmark = pytest.mark.timeout(600)

_BLOCK = re.compile(r"(?:^<!-- (?P<marker>[^>]*?) -->\n)?^```python\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)
_DOCUMENTED_OUTPUT = re.compile(r"^\s*print\(.*\)\s+#\s*(?P<output>.+?)\s*$", re.MULTILINE)


class Block(NamedTuple):
    """One ```python block of a document: where it is, and the program that checks and runs it."""

    document: Path
    line: int  # of the block's first line of code in the document
    prelude_lines: int  # lines of PRELUDE before the block's code in `program`
    program: str

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    def document_line(self, program_line: int) -> int:
        return self.line + program_line - 1 - self.prelude_lines


def _blocks(document: Path) -> List[Block]:
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text):
        marker = match["marker"] or ""
        if marker.startswith("no-check"):
            assert marker.startswith("no-check: "), f"{document.name}: say why a block is not checked: {marker!r}"
            continue
        assert marker in ("", "fragment"), f"{document.name}: unknown marker before a python block: {marker!r}"
        prelude = PRELUDE if marker == "fragment" else ""
        line = text.count("\n", 0, match.start("code")) + 1
        blocks.append(Block(document, line, prelude.count("\n"), prelude + match["code"]))
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in _blocks(document)]


@pytest.fixture(scope="module")
def block_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[Path, Block]:
    """Each block written out as a module of its own (named after its document and line)."""
    directory = tmp_path_factory.mktemp("doc-blocks")
    files = {}
    for block in BLOCKS:
        path = directory / f"{block.document.stem.lower()}_line_{block.line}.py"
        path.write_text(block.program, encoding="utf-8")
        files[path.resolve()] = block
    return files


@pytest.fixture(scope="module")
def errors_of(tmp_path_factory: pytest.TempPathFactory, block_files: Dict[Path, Block]) -> Callable[[str], Errors]:
    """A checker's errors over all the blocks and examples, from one run per checker."""
    found: Dict[str, Errors] = {}

    def errors_of(checker: str) -> Errors:
        if checker not in found:
            programs = [*block_files, *EXAMPLES]
            found[checker] = run_checker(checker, programs, tmp_path_factory.mktemp("mypy-cache"))
        return found[checker]

    return errors_of


def test_the_documents_have_python_blocks_to_check() -> None:
    assert any(block.document.name == "README.md" for block in BLOCKS)
    assert EXAMPLES


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_documentation_blocks_type_check(
    checker: str, block_files: Dict[Path, Block], errors_of: Callable[[str], Errors]
) -> None:
    errors = errors_of(checker)
    report = [
        f"{block.name.split(':')[0]}:{block.document_line(line)}: {message}"
        for path, block in block_files.items()
        for line, messages in sorted(errors.get(path, {}).items())
        for message in messages
    ]
    assert not report, f"{checker} found errors in the documentation's python blocks:\n" + "\n".join(report)


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_an_example_type_checks(example: Path, checker: str, errors_of: Callable[[str], Errors]) -> None:
    errors = errors_of(checker).get(example.resolve(), {})
    report = "\n".join(f"{example.name}:{line}: {msg}" for line, msgs in sorted(errors.items()) for msg in msgs)
    assert not errors, f"{checker} found errors in an example:\n{report}"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_a_documentation_block_runs(
    block: Block, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    namespace: Dict[str, object] = {"__name__": "__main__"}
    monkeypatch.chdir(tmp_path)  # a block that writes a file (`write_to_file("fox.mp4")`) writes it here
    with FakeApertis() as server:
        monkeypatch.setenv("APERTIS_BASE_URL", server.url)
        monkeypatch.setenv("APERTIS_API_KEY", "test")
        try:
            # dont_inherit: the block runs as its own program, without this module's `from __future__` imports (with
            # them, its annotations would be strings that Pydantic resolves in a `__main__` that is not the block's).
            exec(compile(block.program, block.name, "exec", dont_inherit=True), namespace)
        finally:
            # A snippet's client lives as long as the user's program: here, as long as the block.
            for value in namespace.values():
                if isinstance(value, Apertis):
                    value.close()
                elif isinstance(value, AsyncApertis):
                    asyncio.run(value.close())
    output = capsys.readouterr().out
    for documented in _DOCUMENTED_OUTPUT.finditer(block.program):
        assert documented["output"] in output, f"{block.name}: the block says it prints {documented['output']!r}"
