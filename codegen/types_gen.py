"""Turning openapi-python-client's parsed properties into annotations and lenient parse code.

The stock templates parse strictly (a missing field or a new enum value raises). Ours must never raise on
well-formed JSON, and must be fast: `from_dict` runs on every response. So the parse code is decided here, per
property, and only what needs converting is converted: scalars, enums, consts and free-form dicts pass through
untouched (no copies), models are built with their `from_dict`, unions dispatch on their `const` discriminator.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from openapi_python_client.parser.properties import (
    AnyProperty,
    LiteralEnumProperty,
    ModelProperty,
)
from openapi_python_client.parser.properties.boolean import BooleanProperty
from openapi_python_client.parser.properties.const import ConstProperty
from openapi_python_client.parser.properties.date import DateProperty
from openapi_python_client.parser.properties.datetime import DateTimeProperty
from openapi_python_client.parser.properties.file import FileProperty
from openapi_python_client.parser.properties.float import FloatProperty
from openapi_python_client.parser.properties.int import IntProperty
from openapi_python_client.parser.properties.list_property import ListProperty
from openapi_python_client.parser.properties.none import NoneProperty
from openapi_python_client.parser.properties.string import StringProperty
from openapi_python_client.parser.properties.union import UnionProperty
from openapi_python_client.parser.properties.uuid import UuidProperty

__all__ = [
    "CodegenError",
    "Imports",
    "TypeRegistry",
    "attribute_name",
    "optional_annotation",
    "split_union",
    "text_of",
]

# Discriminator keys tried first, in this order; any other const key is tried after them.
PREFERRED_DISCRIMINATORS = ("type", "role", "object", "event")

# Names a generated module uses in annotations and code: a field with one of these names would shadow it in the
# class body, so such a field keeps the generator's suffixed name (`str_`).
RESERVED_NAMES = {
    "Any", "Dict", "List", "Literal", "Mapping", "Optional", "Sequence", "Union", "Unset", "UNSET", "Self",
    "ClassVar", "BaseModel", "not_an_object", "bool", "dict", "float", "int", "isinstance", "list", "str", "serialize",
    "additional_properties", "from_dict", "to_dict", "to_json", "cls", "self", "_source",
    "retries_taken", "_request_id", "_meta_retries_taken", "_meta_request_id",
}  # fmt: skip


def split_union(annotation: str) -> list[str]:
    """The top-level members of a `Union[...]` annotation (or the annotation itself)."""
    if not (annotation.startswith("Union[") and annotation.endswith("]")):
        return [annotation]
    parts, depth, current = [], 0, ""
    for char in annotation[len("Union[") : -1]:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char == "["
        depth -= char == "]"
        current += char
    parts.append(current.strip())
    return parts


def optional_annotation(annotation: str) -> str:
    """The annotation of an optional field: `Optional[X]`, or `Union[A, B, None]`, None last as ruff wants it.

    An optional field the server did not send reads as None, like one it sent as null: there is no third
    "unset" state in the public types (to_dict tells the two apart from the source mapping).
    """
    parts = [part for part in split_union(annotation) if part != "None"]
    if len(parts) == 1:
        return f"Optional[{parts[0]}]"
    return f"Union[{', '.join(parts)}, None]"


class CodegenError(Exception):
    """The spec cannot be turned into code; the message says where and how to fix it."""


def text_of(value: Any) -> str:
    """The raw text of an UntrustedString (or plain str); '' for None."""
    if value is None:
        return ""
    getter = getattr(value, "get_untrusted_value", None)
    return str(getter() if getter is not None else value)


def attribute_name(prop: Any) -> str:
    """The Python attribute of a model field: the wire name when it is a usable identifier.

    0.4.1 users write `block.type` and `chunk.object`, so builtin names are kept; only keywords, names the
    generated module needs (see RESERVED_NAMES) and non-identifiers fall back to the generator's python_name.
    """
    wire = text_of(prop.name)
    if wire.isidentifier() and not keyword.iskeyword(wire) and wire not in RESERVED_NAMES:
        return wire
    return str(prop.python_name)


@dataclass
class Imports:
    """Names a generated module needs: at runtime, or only for annotations (under TYPE_CHECKING)."""

    runtime: dict[str, set[str]] = field(default_factory=dict)  # module -> names
    typing_only: dict[str, set[str]] = field(default_factory=dict)

    def add(self, module: str, name: str, *, runtime: bool) -> None:
        (self.runtime if runtime else self.typing_only).setdefault(module, set()).add(name)

    def finalize(
        self, own_module: Optional[str] = None
    ) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
        """(runtime, typing-only) import lists, sorted; typing-only drops what runtime already imports."""
        runtime = {m: set(n) for m, n in self.runtime.items() if m != own_module}
        typing_only: dict[str, set[str]] = {}
        for module, names in self.typing_only.items():
            if module == own_module:
                continue
            rest = names - runtime.get(module, set())
            if rest:
                typing_only[module] = rest
        return (
            [(m, sorted(n)) for m, n in sorted(runtime.items())],
            [(m, sorted(n)) for m, n in sorted(typing_only.items())],
        )


@dataclass
class UnionFunction:
    """A module-level parse function for a union (named in components, or inline in one model)."""

    name: str
    lines: list[str]


class TypeRegistry:
    """What the generator knows about the spec's named types, and the code generation built on it."""

    def __init__(self, models: list[ModelProperty], enums: list[Any], named_unions: dict[str, UnionProperty]):
        self.models = {str(m.class_info.name): m for m in models}
        self.enums = {str(e.class_info.name): e for e in enums}
        self.named_unions = named_unions
        # A named union is recognised wherever it is used by its variants' annotations (openapi-python-client
        # inlines referenced unions, forgetting the name).
        self._union_by_signature: dict[tuple[str, ...], str] = {}
        for name, union in named_unions.items():
            signature = tuple(self._annotation_parts(union, Imports(), arg=False, resolve_named=False))
            self._union_by_signature.setdefault(signature, name)

    # ----------------------------------------------------------------------------------------- naming
    @staticmethod
    def module_of_model(name: str, model: ModelProperty) -> str:
        return str(model.class_info.module_name)

    def union_module(self, name: str) -> str:
        from openapi_python_client import strings

        return str(strings.PythonIdentifier(name, prefix="union"))

    def union_parser(self, name: str) -> str:
        return f"parse_{self.union_module(name)}"

    def is_dict_model(self, prop: Any) -> bool:
        """An object without declared properties: a free-form dict (`metadata`, tool `input`), not a class."""
        if not isinstance(prop, ModelProperty):
            return False
        model = self.models.get(str(prop.class_info.name), prop)
        return not (model.required_properties or model.optional_properties)

    def canonical(self, prop: ModelProperty) -> ModelProperty:
        """The fully processed model (a referenced copy may predate the processing of its properties)."""
        return self.models.get(str(prop.class_info.name), prop)

    # ------------------------------------------------------------------------------------ annotations
    def annotation(self, prop: Any, imports: Imports, *, arg: bool = False) -> str:
        """The annotation of a property: as a model field, or (arg=True) as a resource method argument."""
        parts = self._annotation_parts(prop, imports, arg=arg, resolve_named=True)
        if len(parts) == 1:
            return parts[0]
        return f"Union[{', '.join(parts)}]"

    def _flatten(self, prop: Any) -> list[Any]:
        if isinstance(prop, UnionProperty):
            out: list[Any] = []
            for inner in prop.inner_properties:
                out.extend(self._flatten(inner))
            return out
        return [prop]

    def named_union_of(self, prop: Any) -> Optional[str]:
        if not isinstance(prop, UnionProperty):
            return None
        signature = tuple(self._annotation_parts(prop, Imports(), arg=False, resolve_named=False))
        return self._union_by_signature.get(signature)

    def _annotation_parts(self, prop: Any, imports: Imports, *, arg: bool, resolve_named: bool) -> list[str]:
        if isinstance(prop, UnionProperty):
            if resolve_named:
                name = self.named_union_of(prop)
                if name is not None:
                    imports.add(self.union_module(name), name, runtime=False)
                    if arg and any(self._is_object(v) for v in self._flatten(prop)):
                        return [name, "Mapping[str, Any]"]
                    return [name]
            parts: list[str] = []
            has_none = False
            seen_enum_values: set[frozenset[Any]] = set()
            for inner in self._flatten(prop):
                if isinstance(inner, NoneProperty):
                    has_none = True
                    continue
                if isinstance(inner, LiteralEnumProperty):
                    # `enum: [a, b, null]` makes the generator emit the same Literal several times.
                    values = frozenset(inner.values)
                    if values in seen_enum_values:
                        continue
                    seen_enum_values.add(values)
                for part in self._annotation_parts(inner, imports, arg=arg, resolve_named=resolve_named):
                    if part not in parts:
                        parts.append(part)
            if has_none:
                parts.append("None")
            return parts
        return [self._single_annotation(prop, imports, arg=arg)]

    def _is_object(self, prop: Any) -> bool:
        return isinstance(prop, ModelProperty) and not self.is_dict_model(prop)

    def _single_annotation(self, prop: Any, imports: Imports, *, arg: bool) -> str:
        if isinstance(prop, (StringProperty, DateProperty, DateTimeProperty, UuidProperty)):
            return "str"
        if isinstance(prop, IntProperty):
            return "int"
        if isinstance(prop, FloatProperty):
            return "float"
        if isinstance(prop, BooleanProperty):
            return "bool"
        if isinstance(prop, NoneProperty):
            return "None"
        if isinstance(prop, FileProperty):
            return "FileTypes"
        if isinstance(prop, ConstProperty):
            return f"Literal[{prop.value.raw_value!r}]"
        if isinstance(prop, LiteralEnumProperty):
            name = str(prop.class_info.name)
            imports.add(str(prop.class_info.module_name), name, runtime=False)
            return name
        if isinstance(prop, ListProperty):
            inner = self.annotation(prop.inner_property, imports, arg=arg)
            return f"Sequence[{inner}]" if arg else f"List[{inner}]"
        if isinstance(prop, ModelProperty):
            if self.is_dict_model(prop):
                model = self.canonical(prop)
                extra = model.additional_properties
                value = "Any" if extra is None or isinstance(extra, AnyProperty) else self.annotation(extra, imports)
                return f"Mapping[str, {value}]" if arg else f"Dict[str, {value}]"
            name = str(prop.class_info.name)
            imports.add(str(prop.class_info.module_name), name, runtime=False)
            return f"Union[{name}, Mapping[str, Any]]" if arg else name
        if isinstance(prop, AnyProperty):
            return "Any"
        raise CodegenError(f"unsupported schema type {type(prop).__name__} for `{text_of(prop.name)}`")

    # ---------------------------------------------------------------------------------------- parsing
    def converter(
        self, prop: Any, imports: Imports, functions: dict[str, UnionFunction], context: str, depth: int = 0
    ) -> Optional[Callable[[str], str]]:
        """A function building the parse expression for a JSON value, or None when it passes through as is."""
        if isinstance(prop, ModelProperty):
            if self.is_dict_model(prop):
                return None
            name = str(prop.class_info.name)
            imports.add(str(prop.class_info.module_name), name, runtime=True)
            return lambda v: f"{name}.from_dict({v}) if isinstance({v}, dict) else {v}"
        if isinstance(prop, ListProperty):
            item = f"i{depth}"
            inner = self.converter(prop.inner_property, imports, functions, context, depth + 1)
            if inner is None:
                return None
            expression = inner(item)
            return lambda v: f"[{expression} for {item} in {v}] if isinstance({v}, list) else {v}"
        if isinstance(prop, UnionProperty):
            named = self.named_union_of(prop)
            if named is not None:
                if not self._union_needs_parsing(prop):
                    return None
                parser = self.union_parser(named)
                imports.add(self.union_module(named), parser, runtime=True)
                return lambda v: f"{parser}({v})"
            inline = self._single_model_union(prop)
            if inline is not None:
                # `anyOf: [Model, null]` and the like: parsed inline, saving a function call per field.
                model_name = str(inline.class_info.name)
                imports.add(str(inline.class_info.module_name), model_name, runtime=True)
                return lambda v: f"{model_name}.from_dict({v}) if isinstance({v}, dict) else {v}"
            function = self.union_function(prop, f"_parse_{context}", imports, functions)
            if function is None:
                return None
            functions[function.name] = function
            return lambda v: f"{function.name}({v})"
        return None

    def _single_model_union(self, prop: UnionProperty) -> Optional[ModelProperty]:
        """The model of a union whose only variant needing conversion is one model (the rest scalars or null)."""
        models = []
        for inner in self._flatten(prop):
            if isinstance(inner, ModelProperty):
                if self.is_dict_model(inner):
                    return None  # a free-form object next to the model: the dispatch must tell them apart
                models.append(self.canonical(inner))
            elif isinstance(inner, ListProperty) and self.converter(inner, Imports(), {}, "probe") is not None:
                return None
        return models[0] if len(models) == 1 else None

    def _union_needs_parsing(self, prop: UnionProperty) -> bool:
        for inner in self._flatten(prop):
            if isinstance(inner, ModelProperty) and not self.is_dict_model(inner):
                return True
            if isinstance(inner, ListProperty) and self.converter(inner, Imports(), {}, "probe") is not None:
                return True
        return False

    def union_function(
        self,
        prop: UnionProperty,
        name: str,
        imports: Imports,
        functions: dict[str, UnionFunction],
        *,
        public: Optional[str] = None,
        fallback: Optional[str] = None,
    ) -> Optional[UnionFunction]:
        """The code of a lenient union parser: dispatch dicts on the discriminator, convert lists, keep the rest.

        `public` (a named union's name) makes the discriminator table a public, typed name of the module (the
        streams dispatch on it); `fallback` is the class built, with its `from_dict`, for an object that matches
        no variant (kept as is otherwise).
        """
        if not self._union_needs_parsing(prop):
            return None
        variants = self._flatten(prop)
        models = [self.canonical(v) for v in variants if isinstance(v, ModelProperty) and not self.is_dict_model(v)]
        lists = [v for v in variants if isinstance(v, ListProperty)]
        lines = [f"def {name}(data: Any) -> Any:"]
        if models:
            lines.append("    if isinstance(data, dict):")
            dispatch = self._dispatch(models, name, imports, functions, public=public, fallback=fallback)
            lines.extend("        " + line for line in dispatch)
        for list_prop in lists:
            item = self.converter(list_prop.inner_property, imports, functions, name.lstrip("_") + "_item", 1)
            if item is not None:
                lines.append("    if isinstance(data, list):")
                lines.append(f"        return [{item('i0')} for i0 in data]")
                break
        lines.append("    return data")
        return UnionFunction(name=name, lines=lines)

    def _dispatch(
        self,
        models: list[ModelProperty],
        name: str,
        imports: Imports,
        functions: dict[str, UnionFunction],
        *,
        public: Optional[str] = None,
        fallback: Optional[str] = None,
    ) -> list[str]:
        for model in models:
            imports.add(str(model.class_info.module_name), str(model.class_info.name), runtime=True)
        consts = [self._consts(m) for m in models]
        keys = [k for k in PREFERRED_DISCRIMINATORS if k in consts[0]]
        keys += sorted(k for k in consts[0] if k not in keys)
        lines: list[str] = []
        for key in keys:
            tagged = [(m, c[key]) for m, c in zip(models, consts) if key in c]
            values = [v for _, v in tagged]
            if len(tagged) >= 2 and len(set(values)) == len(values):
                base = name[len("parse_") :] if name.startswith("parse_") else name.lstrip("_")
                table = f"{'' if public else '_'}{base.upper()}_BY_{key.upper()}"
                entries = ", ".join(f"{v!r}: {m.class_info.name}" for m, v in tagged)
                if public:
                    table_lines = [
                        f"{table}: Dict[str, Type[{public}]] = {{{entries}}}",
                        f'"""The `{public}` variant of each `{key}` value, which `{name}` dispatches on."""',
                    ]
                else:
                    table_lines = [f"{table}: Dict[Any, Any] = {{{entries}}}"]
                functions[table] = UnionFunction(name=table, lines=table_lines)
                if not all(isinstance(value, str) for value in values):
                    raise ValueError(f"{name}: the {key!r} discriminators must be strings, got {values!r}")
                # Only a string can name a variant; any other tag (even an unhashable array) is an unknown one.
                lines += [f"tag = data.get({key!r})", f"variant = {table}.get(tag) if isinstance(tag, str) else None"]
                lines += ["if variant is not None:"]
                lines += ["    return variant.from_dict(data)"]
                rest = [m for m in models if key not in self._consts(m)]
                return lines + self._ordered_checks(rest, fallback)
        if fallback:
            raise CodegenError(
                f"union_fallbacks: `{public or name}` has no const discriminator that tells its variants apart, so "
                f"an object matching none of them cannot be told from one matching a variant: remove its entry"
            )
        return lines + self._ordered_checks(models)

    def _consts(self, model: ModelProperty) -> dict[str, Any]:
        out = {}
        for prop in model.required_properties or []:
            if isinstance(prop, ConstProperty):
                out[text_of(prop.name)] = prop.value.raw_value
        return out

    def _ordered_checks(self, models: list[ModelProperty], fallback: Optional[str] = None) -> list[str]:
        lines: list[str] = []
        for model in models:
            conditions = []
            for prop in model.required_properties or []:
                wire = text_of(prop.name)
                if isinstance(prop, ConstProperty):
                    conditions.append(f"data.get({wire!r}) == {prop.value.raw_value!r}")
                else:
                    conditions.append(f"{wire!r} in data")
            call = f"return {model.class_info.name}.from_dict(data)"
            if not conditions:
                lines.append(call)
                return lines  # matches every object: later variants are unreachable
            lines += [f"if {' and '.join(conditions)}:", f"    {call}"]
        lines.append(f"return {fallback}.from_dict(data)" if fallback else "return data")
        return lines
