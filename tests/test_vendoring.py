"""Users vendor the SDK under their own package name: nothing inside may import `apertis` absolutely."""

from __future__ import annotations

import ast
import importlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Awaitable, Callable, Iterator

import pytest
from pytest_httpx import HTTPXMock

import apertis

PACKAGE_DIR = Path(apertis.__file__).parent


def _absolute_apertis_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.extend(f"{path}:{node.lineno}: {name}" for name in names if name.split(".")[0] == "apertis")
    return found


def test_no_module_in_the_package_imports_apertis_by_absolute_name() -> None:
    offenders = [hit for path in sorted(PACKAGE_DIR.rglob("*.py")) for hit in _absolute_apertis_imports(path)]
    assert offenders == []


def test_the_scan_finds_an_absolute_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from apertis.types import ChatCompletion\nimport apertis._client\n", encoding="utf-8")
    assert len(_absolute_apertis_imports(bad)) == 2


def test_a_vendored_copy_imports_and_makes_calls_under_another_name(tmp_path: Path) -> None:
    vendor = tmp_path / "acme" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "acme" / "__init__.py").write_text("", encoding="utf-8")
    (vendor / "__init__.py").write_text("", encoding="utf-8")
    shutil.copytree(PACKAGE_DIR, vendor / "apertis", ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        import httpx

        from acme._vendor.apertis import Apertis, AsyncApertis, NotFoundError

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/models/missing"):
                error = {"message": "no such model", "type": "invalid_request_error"}
                return httpx.Response(404, json={"error": error})
            return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

        client = Apertis(api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
        models = client.models.list()
        try:
            client.models.retrieve("missing")
        except NotFoundError as exc:
            error_module = type(exc).__module__
        else:
            raise SystemExit("expected NotFoundError")

        async def main() -> str:
            async_client = AsyncApertis(
                api_key="k", http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
            )
            async with async_client:
                listed = await async_client.models.list()
            return listed.data[0].id

        leaked = sorted(name for name in sys.modules if name == "apertis" or name.startswith("apertis."))
        print(json.dumps({"sync": models.data[0].id, "async": asyncio.run(main()), "leaked": leaked,
                          "error_module": error_module, "type_module": type(models).__module__}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout.strip().splitlines()[-1]
    assert '"sync": "gpt-4o-mini"' in report
    assert '"async": "gpt-4o-mini"' in report
    assert '"leaked": []' in report
    assert '"type_module": "acme._vendor.apertis.types.' in report


@pytest.fixture(scope="module")
def vendored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A second copy of the SDK, imported in this process as `acme_vendor.apertis` next to `apertis`."""
    root = tmp_path_factory.mktemp("vendored")
    (root / "acme_vendor").mkdir()
    (root / "acme_vendor" / "__init__.py").write_text("", encoding="utf-8")
    shutil.copytree(PACKAGE_DIR, root / "acme_vendor" / "apertis", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("acme_vendor.apertis")
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == "acme_vendor"]:
            del sys.modules[name]


COMPLETION = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


async def test_models_of_another_copy_of_the_sdk_are_sent_by_their_to_dict(
    vendored: ModuleType,
    make_client: Callable[..., Any],
    call: Callable[..., Awaitable[Any]],
    httpx_mock: HTTPXMock,
) -> None:
    foreign = vendored.types
    message = foreign.UserMessageParam(content="Hello")
    tool = foreign.ChatCompletionToolParam(function=foreign.FunctionDefinition(name="lookup"))
    nested = {"type": "function", "function": foreign.FunctionDefinition(name="search")}
    assert not isinstance(message, apertis.types.UserMessageParam)  # the same name, another class
    httpx_mock.add_response(json=COMPLETION)
    client = make_client()
    # A foreign model in a list argument, and one nested in a plain dict.
    await call(client.chat.completions.create, model="m", messages=[message], tools=[tool, nested])
    sent = json.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent["messages"] == [{"role": "user", "content": "Hello"}]
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "lookup"}},
        {"type": "function", "function": {"name": "search"}},
    ]


async def test_an_object_without_to_dict_is_refused_naming_where_its_class_is_from(
    make_client: Callable[..., Any], call: Callable[..., Awaitable[Any]]
) -> None:
    class UserMessageParam:  # looks like the model, but is no model of any copy of the SDK
        role = "user"

    with pytest.raises(TypeError) as caught:
        await call(make_client().chat.completions.create, model="m", messages=[UserMessageParam()])
    assert "`messages[0]`" in str(caught.value)
    assert f"{__name__}." in str(caught.value) and "no to_dict()" in str(caught.value)
