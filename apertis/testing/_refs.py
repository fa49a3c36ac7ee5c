"""Local `$ref` pointers of an OpenAPI document: the one resolver of the offline server, the generator and the tests.

This module imports nothing but the standard library and nothing relative: `python -m codegen` loads it by file
path, so the generator keeps working while the generated half of the package is stale or being rewritten.
"""

from __future__ import annotations

import difflib
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

__all__ = ["SCHEMA_PREFIX", "RefError", "Resolver", "dangling_refs", "schema_name"]

SCHEMA_PREFIX = "#/components/schemas/"
_MAX_DEPTH = 64


class RefError(ValueError):
    """A `$ref` that points at nothing (or loops); the message names the pointer and the missing part."""

    def __init__(self, ref: str, problem: str) -> None:
        super().__init__(f"$ref {ref!r} {problem}")
        self.ref = ref
        self.problem = problem


def schema_name(ref: Any) -> Optional[str]:
    """`Name` for `#/components/schemas/Name`, else None."""
    if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX) and "/" not in ref[len(SCHEMA_PREFIX) :]:
        return ref[len(SCHEMA_PREFIX) :]
    return None


class Resolver:
    """Resolves local `$ref` pointers (`#/components/schemas/Name`, `#/components/responses/X`) in one document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        self._cache: Dict[str, Mapping[str, Any]] = {}

    def lookup(self, ref: str) -> Mapping[str, Any]:
        """The object a pointer names (one step: a `$ref` found there is not followed)."""
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise RefError(str(ref), "is not a local pointer (only `#/...` references are supported)")
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        node: Any = self._document
        walked = "#"
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise RefError(ref, _missing(walked, key, node))
            node = node[key]
            walked += "/" + raw
        if not isinstance(node, Mapping):
            raise RefError(ref, "does not point at an object")
        self._cache[ref] = node
        return node

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow `$ref` chains until an object without one (sibling keywords of a `$ref` are merged in)."""
        return self.resolve_named(schema)[1]

    def resolve_named(self, schema: Any) -> Tuple[Optional[str], Mapping[str, Any]]:
        """(the components/schemas name the chain ends at, or None; the resolved object). A non-object is {}."""
        if not isinstance(schema, Mapping):
            return None, {}
        name: Optional[str] = None
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            target = self.lookup(ref)
            name = schema_name(ref)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if siblings else target
            seen += 1
            if seen > _MAX_DEPTH:
                raise RefError(ref, "is part of a reference cycle")
        return name, schema


def _missing(walked: str, key: str, node: Any) -> str:
    if not isinstance(node, Mapping):
        return f"cannot be followed: {walked} is not an object"
    where = walked[2:] or "the document"
    close = difflib.get_close_matches(key, [str(k) for k in node], n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"points at nothing: {where} has no `{key}`{hint}"


def _walk(node: Any, where: str) -> Iterator[Tuple[str, Any]]:
    yield where, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def dangling_refs(document: Mapping[str, Any]) -> List[Tuple[str, RefError]]:
    """Every `$ref` of the document that does not resolve: (where it is, as a JSON pointer; the error)."""
    resolver = Resolver(document)
    found = []
    for where, node in _walk(document, "#"):
        if isinstance(node, Mapping) and "$ref" in node:
            try:
                resolver.lookup(node["$ref"])
            except RefError as exc:
                found.append((where, exc))
    return found
