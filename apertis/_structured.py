"""Structured outputs: the JSON schema sent for a caller's type, and the reply read back as that type.

Pure (no HTTP). A type is either a JSON-schema mapping (the parsed value is the decoded JSON, validated against
the schema when `jsonschema` is installed) or anything Pydantic's `TypeAdapter` takes (a Pydantic v2 model, a
dataclass, a TypedDict, ...), which needs the optional extra `apertis[pydantic]`. The SDK writes no schema builder
and no validator of its own: Pydantic builds and validates, `to_strict_json_schema` only rewrites the schema into
the strict structured-output dialect.

Pydantic is imported on first use of a Python type, never by `import apertis` or a call without one.
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any, Dict, Generic, List, Mapping, Optional, Tuple, TypeVar, cast

from ._exceptions import MissingDependencyError, StructuredOutputValidationError

if TYPE_CHECKING:
    import pydantic

__all__ = [
    "OutputFormat",
    "PYDANTIC_EXTRA",
    "class_in_body",
    "output_format",
    "pydantic_required",
    "sanitize_name",
    "to_strict_json_schema",
    "type_adapter",
]

T = TypeVar("T")

PYDANTIC_EXTRA = 'pip install "apertis[pydantic]"'

# What OpenAI accepts as a json_schema `name` (and Anthropic as a tool name).
_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_NAME = 64
_DEFS_KEYS = ("$defs", "definitions")

# Schemas that may sit under a keyword: one schema, a list of schemas, or a name -> schema table.
_SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "prefixItems")
_SUBSCHEMA_TABLES = ("properties", "patternProperties", "dependentSchemas")


def sanitize_name(name: str, *, fallback: str = "response") -> str:
    """`name` made a valid schema or tool name (`^[a-zA-Z0-9_-]{1,64}$`): other characters become `_`, the rest is
    cut at 64 characters; an empty name becomes `fallback`."""
    if _NAME_PATTERN.match(name):
        return name
    cleaned = _NAME_INVALID.sub("_", name)[:_MAX_NAME]
    return cleaned or fallback


def pydantic_required(parameter: str, what: str) -> MissingDependencyError:
    """The error for a Python type given where the SDK needs Pydantic to read it, and Pydantic is not installed."""
    return MissingDependencyError(
        f"{parameter}={what} needs Pydantic to build its JSON schema and validate the reply: {PYDANTIC_EXTRA} "
        f"(or pydantic>=2.7), or pass a JSON-schema dict as {parameter}"
    )


def type_adapter(tp: Any, *, parameter: str) -> pydantic.TypeAdapter[Any]:
    """Pydantic's `TypeAdapter` for `tp` (a Pydantic v2 model, a dataclass, a TypedDict, any type it takes).

    Imports Pydantic on first use; without it, raises `MissingDependencyError` naming `parameter` and the
    `apertis[pydantic]` extra. A type Pydantic cannot handle raises TypeError naming `parameter`.
    """
    try:
        import pydantic
    except ImportError:
        raise pydantic_required(parameter, _type_name(tp)) from None
    if getattr(pydantic, "VERSION", "1").split(".", 1)[0] == "1":
        raise MissingDependencyError(
            f"{parameter}={_type_name(tp)} needs Pydantic v2, found {pydantic.VERSION}: {PYDANTIC_EXTRA}"
        )
    try:
        return pydantic.TypeAdapter(tp)
    except pydantic.PydanticUserError as error:
        raise TypeError(f"{parameter} must be a type Pydantic can validate, got {_type_name(tp)}: {error}") from None
    except pydantic.PydanticSchemaGenerationError as error:
        raise TypeError(f"{parameter} must be a type Pydantic can validate, got {_type_name(tp)}: {error}") from None


def _json_schema_of(adapter: pydantic.TypeAdapter[Any], tp: Any, parameter: str) -> Dict[str, Any]:
    import pydantic

    try:
        return adapter.json_schema()
    except pydantic.PydanticUserError as error:  # a forward reference that does not resolve, for one
        raise TypeError(f"{parameter}={_type_name(tp)}: Pydantic cannot build its JSON schema: {error}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or getattr(tp, "__name__", None) or repr(tp)


# -- the strict dialect --------------------------------------------------------------------------------------------


def to_strict_json_schema(schema: Mapping[str, Any]) -> Dict[str, Any]:
    """`schema` (a JSON schema, as Pydantic writes them) rewritten for strict structured outputs.

    Every object gets `additionalProperties: false` (unless it says otherwise) and lists all its properties as
    required; a property that was optional becomes nullable (`anyOf [..., {"type": "null"}]`) if it was not
    already, and `parse_json` reads a null there as "left out", so the type's default applies. `default` keywords
    go (strict mode rejects them); `$defs` stay, with their names sanitised and every `$ref` rewritten; a `$ref`
    with sibling keywords (Pydantic puts a field's `description` next to it) is replaced by the definition it
    names, merged with the siblings; a single-member `allOf` is merged into its parent; `oneOf` becomes `anyOf`
    (strict mode has no `oneOf`) and Pydantic's `discriminator` annotation goes. The input is not modified.
    """
    if not isinstance(schema, Mapping):
        raise TypeError(f"a JSON schema must be a mapping, got {type(schema).__name__}")
    root: Dict[str, Any] = copy.deepcopy(dict(schema))
    _rename_defs(root)
    return _strict(root, root)


def _rename_defs(root: Dict[str, Any]) -> None:
    renames: Dict[str, str] = {}
    for key in _DEFS_KEYS:
        table = root.get(key)
        if not isinstance(table, dict):
            continue
        renamed: Dict[str, Any] = {}
        for name, definition in table.items():
            new = sanitize_name(str(name), fallback="def")
            while new in renamed:  # two names that sanitise alike
                new = f"{new[: _MAX_NAME - 2]}_{len(renamed)}"[-_MAX_NAME:]
            renamed[new] = definition
            renames[f"#/{key}/{name}"] = f"#/{key}/{new}"
        root[key] = renamed
    if any(old != new for old, new in renames.items()):
        _rewrite_refs(root, renames)


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


def _resolve(root: Mapping[str, Any], ref: str) -> Dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs (#/...) can be made strict, got {ref!r}")
    node: Any = root
    for escaped in ref[2:].split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"the JSON schema's $ref {ref!r} names nothing in the schema")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ValueError(f"the JSON schema's $ref {ref!r} names a {type(node).__name__}, not a schema")
    return dict(node)


def _admits_null(schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if "const" in schema and schema["const"] is None:
        return True
    if isinstance(schema.get("enum"), list) and None in schema["enum"]:
        return True
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and any(isinstance(o, Mapping) and _admits_null(o, root) for o in options):
            return True
    ref = schema.get("$ref")
    return isinstance(ref, str) and len(schema) == 1 and _admits_null(_resolve(root, ref), root)


def _strict(node: Dict[str, Any], root: Dict[str, Any]) -> Dict[str, Any]:
    for key in _DEFS_KEYS:
        table = node.get(key)
        if isinstance(table, dict):
            node[key] = {name: _strict(dict(definition), root) for name, definition in table.items()}

    node.pop("default", None)
    node.pop("discriminator", None)
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        # Strict mode ignores or rejects keywords next to a $ref: inline the definition under them. A recursive
        # definition stays finite: its own $refs have no siblings and are left as they are.
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _strict({**_resolve(root, ref), **siblings}, root)

    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")

    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        del node["allOf"]
        merged = {**dict(all_of[0]), **node}
        return _strict(merged, root)

    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False

    properties = node.get("properties")
    if isinstance(properties, dict):
        required = set(node.get("required") or ())
        strict_properties: Dict[str, Any] = {}
        for name, given in properties.items():
            prop = _strict(dict(given), root) if isinstance(given, Mapping) else given
            if name not in required and isinstance(prop, dict) and not _admits_null(prop, root):
                prop = _nullable(prop)
            strict_properties[name] = prop
        node["properties"] = strict_properties
        node["required"] = list(strict_properties)

    for key in _SUBSCHEMA:
        value = node.get(key)
        if isinstance(value, Mapping):
            node[key] = _strict(dict(value), root)
    for key in _SUBSCHEMA_LISTS:
        value = node.get(key)
        if isinstance(value, list):
            node[key] = [_strict(dict(item), root) if isinstance(item, Mapping) else item for item in value]
    for key in _SUBSCHEMA_TABLES:
        if key == "properties":
            continue
        value = node.get(key)
        if isinstance(value, dict):
            node[key] = {name: _strict(dict(item), root) for name, item in value.items() if isinstance(item, Mapping)}
    return node


def _nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    # The annotations stay on the outside, where a reader (and the model) sees them.
    annotations: Dict[str, Any] = {key: schema.pop(key) for key in ("title", "description") if key in schema}
    return {"anyOf": [schema, {"type": "null"}], **annotations}


# -- reading a reply -------------------------------------------------------------------------------------------------


def drop_added_nulls(value: Any, schema: Mapping[str, Any], root: Optional[Mapping[str, Any]] = None) -> Any:
    """`value` (decoded JSON) without the nulls that only `to_strict_json_schema` allowed: a null for a property
    `schema` (the original schema) leaves optional and does not allow null is left out, so the type's default
    applies. Returns a new value; the input is not modified."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        try:
            target = _resolve(root, ref)
        except ValueError:
            return value
        schema = {**target, **{key: item for key, item in schema.items() if key != "$ref"}}
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        schema = {**all_of[0], **{key: item for key, item in schema.items() if key != "allOf"}}
    options = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(options, list):
        # Only an unambiguous union is followed: one member that is not `null`.
        members = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
        return drop_added_nulls(value, members[0], root) if len(members) == 1 and value is not None else value
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return value
        required = set(schema.get("required") or ())
        cleaned: Dict[str, Any] = {}
        for key, item in value.items():
            prop = properties.get(key)
            if not isinstance(prop, Mapping):
                cleaned[key] = item
            elif item is None and key not in required and not _admits_null(prop, root):
                continue
            else:
                cleaned[key] = drop_added_nulls(item, prop, root)
        return cleaned
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [drop_added_nulls(item, items, root) for item in value]
    return value


class OutputFormat(Generic[T]):
    """A caller's output type, ready to send and to read back: its schema `name`, the JSON `schema` to send
    (strict unless `strict=False`), and `parse_json`, which turns the model's text into the type.

    Built by `output_format`; `T` is the parsed type (`Any` for a JSON-schema mapping: the decoded JSON).
    """

    __slots__ = ("_adapter", "_original", "description", "name", "schema", "strict")

    def __init__(
        self,
        *,
        name: str,
        schema: Dict[str, Any],
        original: Dict[str, Any],
        strict: bool,
        adapter: Optional[pydantic.TypeAdapter[T]],
        description: Optional[str],
    ) -> None:
        self.name = name
        self.schema = schema
        self.strict = strict
        self.description = description
        self._original = original
        self._adapter = adapter

    def parse_json(self, text: str) -> T:
        """The model's reply `text` as the type: decoded, then validated by Pydantic (or, for a schema mapping, by
        `jsonschema` when it is installed). Raises StructuredOutputValidationError with the text and the errors."""
        try:
            decoded = json.loads(text)
        except ValueError as error:
            raise self._invalid(
                text, [{"loc": [], "msg": f"not valid JSON: {error}", "type": "json_invalid"}]
            ) from None
        return self.parse_value(decoded, text=text)

    def parse_value(self, value: Any, *, text: Optional[str] = None) -> T:
        """`value`, decoded JSON (a forced tool's input arrives decoded), as the type; `text` is the raw reply for
        the error (by default `value` written as JSON). A null the strict schema allowed for an optional property
        is left out first, so the type's default applies."""
        raw = json.dumps(value) if text is None else text
        if self.strict:
            value = drop_added_nulls(value, self._original)
        if self._adapter is not None:
            import pydantic

            try:
                return self._adapter.validate_python(value)
            except pydantic.ValidationError as error:
                details: List[Dict[str, Any]] = [
                    {"loc": list(detail["loc"]), "msg": detail["msg"], "type": detail["type"], "input": detail["input"]}
                    for detail in error.errors(include_url=False)
                ]
                raise self._invalid(raw, details) from None
        errors = _jsonschema_errors(value, self._original)
        if errors:
            raise self._invalid(raw, errors)
        return cast(T, value)

    def _invalid(self, text: str, errors: List[Dict[str, Any]]) -> StructuredOutputValidationError:
        shown = "; ".join(_describe(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        return StructuredOutputValidationError(
            f"the model's reply does not match {self.name} ({count}): {shown}{more}",
            text=text,
            errors=errors,
        )


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc") or ()) or "(the whole reply)"
    return f"{location}: {error.get('msg')}"


def _check_schema(schema: Mapping[str, Any], parameter: str) -> None:
    """A JSON-schema mapping checked against its metaschema when jsonschema is installed: a broken schema is an
    error before the (billed) call, not an obscure one when the reply is validated."""
    import importlib

    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        return
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        raise TypeError(f"{parameter} is not a valid JSON schema (at {where}): {error.message}") from None


def _jsonschema_errors(value: Any, schema: Mapping[str, Any]) -> List[Dict[str, Any]]:
    import importlib

    try:
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:  # documented: a schema mapping is validated only when jsonschema is installed
        return []
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        {"loc": list(error.absolute_path), "msg": error.message, "type": str(error.validator), "input": error.instance}
        for error in found
    ]


def output_format(tp: Any, *, parameter: str, strict: bool = True, name: Optional[str] = None) -> OutputFormat[Any]:
    """The OutputFormat of `tp`: a JSON-schema mapping, or a type for Pydantic's TypeAdapter (`parameter` names
    the argument in errors). `name` defaults to the schema's `title` or the type's name, sanitised."""
    if isinstance(tp, Mapping):
        original: Dict[str, Any] = copy.deepcopy(dict(tp))
        _check_schema(original, parameter)
        adapter: Optional[pydantic.TypeAdapter[Any]] = None
        default_name = str(original.get("title") or "response")
        description = original.get("description")
    elif isinstance(tp, (str, bytes)) or tp is None:
        raise TypeError(
            f"{parameter} must be a type (a Pydantic model, a dataclass, a TypedDict) or a JSON-schema dict, got {tp!r}"
        )
    else:
        adapter = type_adapter(tp, parameter=parameter)
        original = _json_schema_of(adapter, tp, parameter)
        default_name = str(getattr(tp, "__name__", None) or original.get("title") or "response")
        description = original.get("description")
    try:
        schema = to_strict_json_schema(original) if strict else copy.deepcopy(original)
    except ValueError as error:
        raise ValueError(f"{parameter}: {error}") from None
    return OutputFormat(
        name=sanitize_name(name if name is not None else default_name),
        schema=schema,
        original=original,
        strict=strict,
        adapter=adapter,
        description=description if isinstance(description, str) else None,
    )


# Where a request body may carry the caller's output type, and the `parse` method that takes it.
_PARSE_METHODS: Mapping[Tuple[str, ...], str] = {
    ("response_format",): "client.chat.completions.parse(..., response_format={name})",
    ("text", "format"): "client.responses.parse(..., text_format={name})",
    ("output_format",): "client.messages.parse(..., output_format={name})",
}


def class_in_body(body: Any, path: Tuple[str, ...] = ()) -> Optional[str]:
    """Why `body` cannot be sent, when it holds a class (`create(response_format=Model)`): the message names the
    field and, for an output type, the `parse` method that takes it. None when there is no class in `body`."""
    if isinstance(body, type):
        name = body.__name__
        where = ".".join(path) or "the body"
        method = _PARSE_METHODS.get(path)
        if method is not None:
            return (
                f"{where}={name} is a class, not a JSON value: to send its JSON schema and get {name} objects back, "
                f"call {method.format(name=name)} instead of create()"
            )
        return f"{where}={name} is a class, which cannot be sent as JSON"
    if isinstance(body, Mapping):
        for key, value in body.items():
            found = class_in_body(value, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(body, (list, tuple)):
        for index, value in enumerate(body):
            found = class_in_body(value, (*path, str(index)))
            if found is not None:
                return found
    return None
