"""Each package's `__all__` is exactly what it exports (as in httpx's tests/test_exported_members.py), and the
imports type checkers read agree with the lazy tables the runtime reads."""

from __future__ import annotations

import ast
import importlib
import inspect
import types
from typing import Dict, Optional, Tuple

import pytest

import apertis

PACKAGES = ["apertis", "apertis.types", "apertis.resources"]


def _public_attributes(module: types.ModuleType) -> set[str]:
    # A subpackage that has been imported (apertis.testing, apertis.types.chat_completion) becomes an attribute
    # of its parent by Python's import machinery, not by an export.
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not (isinstance(value, types.ModuleType) and value.__name__ == f"{module.__name__}.{name}")
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert len(module.__all__) == len(set(module.__all__)), "__all__ lists a name twice"
    for name in module.__all__:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_attribute_is_in_all(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        getattr(module, name)  # load every lazy name so that it is in vars() too
    assert _public_attributes(module) <= set(module.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_dir_lists_the_exports(package: str) -> None:
    module = importlib.import_module(package)
    public = {name for name in dir(module) if not name.startswith("_")}
    # Beyond the exports, dir() may show only subpackages already imported (apertis.testing).
    assert all(isinstance(getattr(module, name), types.ModuleType) for name in public - set(module.__all__))
    assert {name for name in module.__all__ if not name.startswith("_")} <= public


def test_the_root_exports_the_exceptions_and_the_version() -> None:
    from apertis import _exceptions

    exceptions = {name for name in _exceptions.__all__ if inspect.isclass(getattr(_exceptions, name))}
    assert exceptions <= set(apertis.__all__)
    assert "__version__" in apertis.__all__
    assert "make_status_error" not in apertis.__all__
    assert not hasattr(apertis, "make_status_error")


def _type_checking_imports(module: types.ModuleType) -> Dict[str, Tuple[str, Optional[str]]]:
    """name -> (relative module, attribute or None for a module) from the `if TYPE_CHECKING:` block."""
    tree = ast.parse(inspect.getsource(module))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id.endswith("TYPE_CHECKING")
    )
    found: Dict[str, Tuple[str, Optional[str]]] = {}
    for statement in block.body:
        if isinstance(statement, ast.Assign):  # `Alias = _Imported`: a name under another name
            assert isinstance(statement.value, ast.Name) and len(statement.targets) == 1
            assert isinstance(statement.targets[0], ast.Name)
            found[statement.targets[0].id] = found.pop(statement.value.id)
            continue
        assert isinstance(statement, ast.ImportFrom)
        base = "." * statement.level + (statement.module or "")
        for alias in statement.names:
            # `name as name` is what marks a re-export for type checkers; `as _private` is for an alias below.
            assert alias.asname == alias.name or (alias.asname or "").startswith("_"), alias.name
            exported = alias.asname or alias.name
            if statement.module is None:  # `from . import types as types`
                found[exported] = (base + alias.name, None)
            else:
                found[exported] = (base, alias.name)
    return found


def test_the_type_checking_imports_of_the_root_match_its_lazy_table() -> None:
    assert _type_checking_imports(apertis) == apertis._LAZY


@pytest.mark.parametrize("package", ["apertis.types", "apertis.resources"])
def test_the_type_checking_imports_of_a_generated_package_match_its_lazy_table(package: str) -> None:
    module = importlib.import_module(package)
    expected = {name: (path, name) for name, path in module._MODULES.items()}
    static = _type_checking_imports(module)
    # The request TypedDicts (apertis.types.params) are what type checkers see under their names; where a
    # deprecated attrs request model has the same name, that model is still what the name is at runtime.
    overridden = {
        name for name, (path, _) in static.items() if path == ".params" and expected.get(name) != static[name]
    }
    params = importlib.import_module(f"{package}.params") if overridden else None
    for name in overridden:
        assert hasattr(params, name), name
        expected[name] = static[name]
    assert static == expected
    assert set(module.__all__) == set(module._MODULES)
