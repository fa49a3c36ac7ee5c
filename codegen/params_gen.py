"""The request types: a `TypedDict` per object schema a request can carry, an alias per union of them.

They are THE parameter types of the generated methods (`messages: Sequence[ChatCompletionMessageParam]`), so a
misspelt key, an unknown role or a wrong literal is a type error, while a plain dict literal type-checks. They
are built from the raw spec (not from openapi-python-client's models): a field's annotation follows its schema,
`Required[...]` where the schema lists it in `required`, `Literal` for `const` and enums.

Names: a schema named `...Param` keeps its name; another gets `<Name>Param`, or the name its `x-apertis-param-name`
gives (the openai-python name where one exists). A schema that responses use too (a tool call, an output item)
accepts its response model as well: what the API returned can be sent back as it is. `x-apertis-param-accepts`
on a schema lists further response models it accepts (the assistant message param accepts `ChatCompletionMessage`).
"""

from __future__ import annotations

import keyword
from typing import Any, Optional

from .spec_rules import refs
from .types_gen import CodegenError, Imports, split_union

__all__ = ["PARAMS_MODULE", "ParamTypes"]

# The module of apertis/types the TypedDicts are written to (`apertis.types.params`).
PARAMS_MODULE = "params"
SCHEMA_PREFIX = "#/components/schemas/"


def _ref_name(node: Any) -> Optional[str]:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX):
        return ref[len(SCHEMA_PREFIX) :]
    return None


class ParamTypes:
    """The request types of a spec: annotations for method arguments and the `params` module's view."""

    def __init__(self, spec: dict[str, Any], model_modules: dict[str, str], enum_modules: dict[str, str]):
        self.spec = spec
        self.schemas: dict[str, Any] = (spec.get("components") or {}).get("schemas") or {}
        self.model_modules = model_modules  # attrs model name -> its module in apertis/types
        self.enum_modules = enum_modules  # Literal alias name -> its module in apertis/types
        self.resolver = refs().Resolver(spec)
        bodies: set[str] = set()
        self.request_schemas: set[str] = set()
        self.response_schemas: set[str] = set()
        for item in (spec.get("paths") or {}).values():
            for op in item.values():
                if not isinstance(op, dict):
                    continue
                for content in ((op.get("requestBody") or {}).get("content") or {}).values():
                    schema = content.get("schema") or {}
                    name = _ref_name(schema)
                    if name is not None:
                        bodies.add(name)
                        self._reach(self.schemas.get(name), self.request_schemas)
                    else:
                        self._reach(schema, self.request_schemas)
                self._reach(op.get("responses"), self.response_schemas)
        self.bodies = bodies
        self.names: dict[str, str] = {}
        owners: dict[str, str] = {}
        for name in sorted(self.request_schemas - bodies):
            if self._kind(name) in ("object", "union"):
                param = self.param_name(name)
                if param in owners:
                    raise CodegenError(
                        f"schemas {owners[param]} and {name} would both be the request type {param}: "
                        "give one an x-apertis-param-name"
                    )
                if param != name and param in self.schemas:
                    raise CodegenError(
                        f"schema {name}: its request type {param} is the name of another schema; "
                        "give it an x-apertis-param-name"
                    )
                owners[param] = name
                self.names[name] = param

    # ------------------------------------------------------------------------------------ the spec
    def _reach(self, node: Any, out: set[str]) -> None:
        if isinstance(node, dict):
            name = _ref_name(node)
            if name is not None and name not in out and name in self.schemas:
                out.add(name)
                self._reach(self.schemas[name], out)
            for key, value in node.items():
                if key not in ("$ref", "examples", "example"):
                    self._reach(value, out)
        elif isinstance(node, list):
            for value in node:
                self._reach(value, out)

    def _kind(self, name: str) -> str:
        """object (declared properties), dict (free-form object), union (of which some object), or scalar."""
        schema = self.schemas[name]
        if schema.get("oneOf") or schema.get("anyOf"):
            variants = schema.get("oneOf") or schema.get("anyOf")
            if any(self._kind(n) in ("object", "union") for n in map(_ref_name, variants) if n is not None):
                return "union"
            return "scalar"
        if schema.get("type") == "object" or "properties" in schema:
            return "object" if schema.get("properties") else "dict"
        return "scalar"

    def param_name(self, name: str) -> str:
        override = self.schemas[name].get("x-apertis-param-name")
        if override is not None:
            if not isinstance(override, str) or not override.isidentifier():
                raise CodegenError(f"schema {name}: x-apertis-param-name must be a Python identifier")
            return override
        return name if name.endswith("Param") else f"{name}Param"

    def accepted_models(self, name: str) -> list[str]:
        """The response models a request value of schema `name` may also be (sent back as returned)."""
        accepted = []
        if name in self.response_schemas and name in self.model_modules and self._kind(name) == "object":
            accepted.append(name)
        extra = self.schemas[name].get("x-apertis-param-accepts") or []
        if not isinstance(extra, list) or not all(isinstance(e, str) and e in self.model_modules for e in extra):
            raise CodegenError(f"schema {name}: x-apertis-param-accepts must list response model schemas")
        return accepted + [e for e in extra if e not in accepted]

    # --------------------------------------------------------------------------------- annotations
    def annotation(self, node: Any, imports: Imports) -> str:
        """The annotation of a request value of schema `node` (a method argument or a TypedDict field)."""
        parts = self._parts(node, imports)
        none = "None" in parts
        parts = [p for p in parts if p != "None"]
        if not parts:
            return "None"
        if len(parts) == 1:
            return f"Optional[{parts[0]}]" if none else parts[0]
        return f"Union[{', '.join(parts + (['None'] if none else []))}]"

    def _parts(self, node: Any, imports: Imports) -> list[str]:
        if not isinstance(node, dict):
            return ["Any"]
        name = _ref_name(node)
        if name is not None:
            return self._named(name, imports)
        variants = node.get("oneOf") or node.get("anyOf")
        if variants:
            out: list[str] = []
            for variant in variants:
                out += [p for p in self._parts(variant, imports) if p not in out]
            return out
        if "const" in node:
            return [f"Literal[{node['const']!r}]"]
        if "enum" in node:
            return [f"Literal[{', '.join(repr(v) for v in node['enum'] if v is not None)}]"] + (
                ["None"] if None in node["enum"] else []
            )
        kinds = node.get("type")
        if isinstance(kinds, list):
            out = []
            for kind in kinds:
                out += [p for p in self._parts({**node, "type": kind}, imports) if p not in out]
            return out
        if kinds == "string":
            return ["FileTypes"] if node.get("format") == "binary" else ["str"]
        if kinds == "integer":
            return ["int"]
        if kinds == "number":
            return ["float"]
        if kinds == "boolean":
            return ["bool"]
        if kinds == "null":
            return ["None"]
        if kinds == "array":
            return [f"Sequence[{self.annotation(node.get('items') or {}, imports)}]"]
        if kinds == "object" or "properties" in node or "additionalProperties" in node:
            return [self._mapping(node, imports)]
        return ["Any"]

    def _mapping(self, node: dict[str, Any], imports: Imports) -> str:
        extra = node.get("additionalProperties")
        value = self.annotation(extra, imports) if isinstance(extra, dict) and extra else "Any"
        return f"Mapping[str, {value}]"

    def _named(self, name: str, imports: Imports) -> list[str]:
        schema = self.schemas.get(name)
        if schema is None:
            raise CodegenError(f"dangling $ref to {name}")
        if name in self.enum_modules:
            imports.add(self.enum_modules[name], name, runtime=False)
            return [name]
        kind = self._kind(name)
        if kind in ("object", "union"):
            param = self.names.get(name) or self.param_name(name)
            imports.add(PARAMS_MODULE, param, runtime=False)
            parts = [param]
            for model in self.accepted_models(name) if kind == "object" else []:
                imports.add(self.model_modules[model], model, runtime=False)
                parts.append(model)
            return parts
        if kind == "dict":
            return [self._mapping(schema, imports)]
        return self._parts({k: v for k, v in schema.items() if k != "description"}, imports)

    # ------------------------------------------------------------------------------- the module
    def module_view(self) -> dict[str, Any]:
        """What params.py.jinja renders: the TypedDicts, then the union aliases (strings at runtime: no order)."""
        imports = Imports()
        classes = []
        aliases: dict[str, dict[str, Any]] = {}
        for name, param in sorted(self.names.items(), key=lambda item: item[1]):
            schema = self.schemas[name]
            doc = _doc(schema.get("description")) or f"A `{name}` request value."
            if self._kind(name) == "union":
                annotation = self.annotation({"oneOf": _variants(schema)}, imports)
                accepted = self.accepted_models(name)
                for model in accepted:
                    imports.add(self.model_modules[model], model, runtime=False)
                if accepted:
                    annotation = f"Union[{', '.join([*split_union(annotation), *accepted])}]"
                aliases[param] = {"name": param, "annotation": annotation, "doc": doc}
                continue
            required = set(schema.get("required") or [])
            fields = []
            for wire, prop in (schema.get("properties") or {}).items():
                if not wire.isidentifier() or keyword.iskeyword(wire):
                    raise CodegenError(
                        f"schema {name}: field `{wire}` is not a Python identifier (TypedDict class syntax)"
                    )
                annotation = self.annotation(prop, imports)
                fields.append(
                    {
                        "name": wire,
                        "annotation": f"Required[{annotation}]" if wire in required else annotation,
                        "doc": _doc((prop or {}).get("description")) if isinstance(prop, dict) else "",
                    }
                )
            classes.append({"name": param, "doc": doc, "fields": fields, "schema": name})
        _, typing_only = imports.finalize(PARAMS_MODULE)
        return {
            "classes": classes,
            "aliases": [aliases[name] for name in sorted(aliases)],
            "typing_imports": typing_only,
            "names": sorted([c["name"] for c in classes] + list(aliases)),
        }


def _variants(schema: dict[str, Any]) -> list[Any]:
    return list(schema.get("oneOf") or schema.get("anyOf") or [])


def _doc(value: Any) -> str:
    text = " ".join(str(value or "").split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return text + " " if text.endswith('"') else text
