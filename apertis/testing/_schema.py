"""A small JSON-schema subset: validation of request bodies and synthesis of example values.

It understands what the Apertis spec uses: `type` (including lists such as `["string", "null"]`), `required`,
`properties`, `additionalProperties`, `enum`, `const`, `oneOf`/`anyOf`/`allOf`, `items`, `$ref`, numeric bounds,
length and item-count bounds. Anything else (`format`, `description`, vendor extensions) is ignored, the way a
lenient gateway ignores it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ._refs import Resolver

__all__ = ["SchemaError", "Resolver", "validate", "synthesize", "json_type_of"]

_MAX_DEPTH = 64


class SchemaError(Exception):
    """A value does not conform to its schema.

    `param` is the path of the offending field the way error bodies name it (`messages[0].role`), `code` is
    `missing_parameter` for an absent required field and `invalid_parameter` otherwise.
    """

    def __init__(self, message: str, *, param: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def json_type_of(value: Any) -> str:
    """The JSON type name of a decoded JSON value (`integer` for whole numbers, as JSON Schema counts them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_matches(value: Any, expected: str) -> bool:
    actual = json_type_of(value)
    if expected == "number":
        return actual in ("integer", "number")
    return actual == expected


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(value: Any, schema: Mapping[str, Any], resolver: Resolver, path: str = "", depth: int = 0) -> None:
    """Raise `SchemaError` naming the first offending field when `value` does not conform to `schema`."""
    if depth > _MAX_DEPTH:
        return
    schema = resolver.resolve(schema)
    where = path or "body"

    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if schema.get("nullable") is True:
            allowed.append("null")
        if not any(_type_matches(value, t) for t in allowed):
            raise SchemaError(
                f"Invalid type for '{where}': expected {' or '.join(allowed)}, got {json_type_of(value)}.",
                param=path,
            )

    if "const" in schema and value != schema["const"]:
        raise SchemaError(
            f"Invalid value for '{where}': expected {schema['const']!r}, got {_describe(value)}.", param=path
        )
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        raise SchemaError(
            f"Invalid value for '{where}': {_describe(value)} is not one of {', '.join(repr(e) for e in enum)}.",
            param=path,
        )

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, where)
    elif isinstance(value, str):
        _check_string(value, schema, path, where)
    elif isinstance(value, list):
        _check_array(value, schema, resolver, path, depth)
    elif isinstance(value, dict):
        _check_object(value, schema, resolver, path, depth)

    for sub in schema.get("allOf", ()):
        validate(value, sub, resolver, path, depth + 1)
    for keyword in ("oneOf", "anyOf"):
        variants = schema.get(keyword)
        if variants:
            _check_union(value, variants, resolver, path, depth)


def _check_number(value: float, schema: Mapping[str, Any], path: str, where: str) -> None:
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if minimum is not None and value < minimum:
        raise SchemaError(f"Invalid value for '{where}': {value} is below the minimum of {minimum}.", param=path)
    if maximum is not None and value > maximum:
        raise SchemaError(f"Invalid value for '{where}': {value} is above the maximum of {maximum}.", param=path)
    low, high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, (int, float)) and not isinstance(low, bool) and value <= low:
        raise SchemaError(f"Invalid value for '{where}': {value} must be greater than {low}.", param=path)
    if isinstance(high, (int, float)) and not isinstance(high, bool) and value >= high:
        raise SchemaError(f"Invalid value for '{where}': {value} must be less than {high}.", param=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"Invalid value for '{where}': {value} is not a finite number.", param=path)


def _check_string(value: str, schema: Mapping[str, Any], path: str, where: str) -> None:
    min_length, max_length = schema.get("minLength"), schema.get("maxLength")
    if min_length is not None and len(value) < min_length:
        raise SchemaError(f"Invalid value for '{where}': shorter than {min_length} characters.", param=path)
    if max_length is not None and len(value) > max_length:
        raise SchemaError(f"Invalid value for '{where}': longer than {max_length} characters.", param=path)
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        raise SchemaError(f"Invalid value for '{where}': does not match the pattern {pattern!r}.", param=path)


def _check_array(value: List[Any], schema: Mapping[str, Any], resolver: Resolver, path: str, depth: int) -> None:
    where = path or "body"
    min_items, max_items = schema.get("minItems"), schema.get("maxItems")
    if min_items is not None and len(value) < min_items:
        raise SchemaError(f"Invalid value for '{where}': needs at least {min_items} item(s).", param=path)
    if max_items is not None and len(value) > max_items:
        raise SchemaError(f"Invalid value for '{where}': allows at most {max_items} item(s).", param=path)
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            validate(item, items, resolver, f"{path}[{index}]", depth + 1)


def _check_object(value: Dict[str, Any], schema: Mapping[str, Any], resolver: Resolver, path: str, depth: int) -> None:
    where = path or "body"
    for name in schema.get("required", ()):
        if name not in value:
            field = _join(path, name)
            raise SchemaError(f"Missing required parameter '{field}'.", param=field, code="missing_parameter")
    max_properties = schema.get("maxProperties")
    if max_properties is not None and len(value) > max_properties:
        raise SchemaError(f"Invalid value for '{where}': allows at most {max_properties} entries.", param=path)
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        field = _join(path, name)
        if name in properties:
            validate(item, properties[name], resolver, field, depth + 1)
        elif extra is False:
            raise SchemaError(f"Unrecognized request argument supplied: '{field}'.", param=field)
        elif isinstance(extra, Mapping):
            validate(item, extra, resolver, field, depth + 1)


def _discriminators(schema: Mapping[str, Any], resolver: Resolver) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for name, raw in (schema.get("properties") or {}).items():
        prop = resolver.resolve(raw)
        if "const" in prop:
            found[name] = prop["const"]
        elif isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
            found[name] = prop["enum"][0]
    return found


def _check_union(value: Any, variants: Sequence[Mapping[str, Any]], resolver: Resolver, path: str, depth: int) -> None:
    where = path or "body"
    # oneOf is checked like anyOf: overlapping variants (a function tool in its nested and its flat form) are
    # legitimate in this spec, and the gateway accepts a value that fits any of them.
    errors: List[Tuple[int, SchemaError]] = []
    for variant in variants:
        try:
            validate(value, variant, resolver, path, depth + 1)
        except SchemaError as exc:  # noqa: PERF203 - each variant is a separate attempt
            resolved = resolver.resolve(variant)
            score = 0
            if isinstance(value, dict):
                marks = _discriminators(resolved, resolver)
                if marks and all(value.get(k) == v for k, v in marks.items()):
                    score = 2
                elif marks and any(k in value for k in marks):
                    score = -1
            types = resolved.get("type")
            if types is not None:
                allowed = [types] if isinstance(types, str) else list(types)
                if any(_type_matches(value, t) for t in allowed):
                    score += 1
            errors.append((score, exc))
        else:
            return
    # Report the variant the caller most plausibly meant: the one whose discriminator matches, else one of the
    # right JSON type, so the message names the real offending field rather than "matches nothing".
    best_score, best = max(errors, key=lambda pair: pair[0])
    if isinstance(value, dict) and best_score < 2:
        tags = _common_discriminator(variants, resolver)
        if tags is not None:
            key, allowed = tags
            field = _join(path, key)
            if key not in value:
                raise SchemaError(f"Missing required parameter '{field}'.", param=field, code="missing_parameter")
            raise SchemaError(
                f"Invalid value for '{field}': {_describe(value[key])} is not one of "
                f"{', '.join(repr(a) for a in allowed)}.",
                param=field,
            )
    if best_score >= 2 or (best_score == 1 and sum(1 for s, _ in errors if s == 1) == 1):
        raise best
    kinds = _variant_names(variants, resolver)
    raise SchemaError(
        f"Invalid value for '{where}': {_describe(value)} does not match any allowed form ({kinds}).", param=path
    )


def _common_discriminator(variants: Sequence[Mapping[str, Any]], resolver: Resolver) -> Optional[Tuple[str, List[Any]]]:
    """The property every variant pins to a constant (`role`, `type`), with the allowed constants."""
    common: Optional[Set[str]] = None
    per_variant: List[Dict[str, Any]] = []
    for variant in variants:
        marks = _discriminators(resolver.resolve(variant), resolver)
        per_variant.append(marks)
        common = set(marks) if common is None else common & set(marks)
    if not common:
        return None
    key = sorted(common)[0]
    return key, [marks[key] for marks in per_variant]


def _variant_names(variants: Sequence[Mapping[str, Any]], resolver: Resolver) -> str:
    names: List[str] = []
    for variant in variants:
        ref = variant.get("$ref")
        if isinstance(ref, str):
            names.append(ref.rsplit("/", 1)[-1])
            continue
        resolved = resolver.resolve(variant)
        marks = _discriminators(resolved, resolver)
        if marks:
            names.append(", ".join(f"{k}={v!r}" for k, v in marks.items()))
        else:
            types = resolved.get("type", "any")
            names.append(types if isinstance(types, str) else "/".join(types))
    return "; ".join(names)


def synthesize(schema: Mapping[str, Any], resolver: Resolver, depth: int = 0, name: str = "") -> Any:
    """A deterministic value that conforms to `schema`, for operations without a dedicated fake answer."""
    schema = resolver.resolve(schema)
    if depth > 12:
        return None
    if "const" in schema:
        return schema["const"]
    if "example" in schema:
        return schema["example"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for keyword in ("oneOf", "anyOf"):
        variants = schema.get(keyword)
        if variants:
            return synthesize(variants[0], resolver, depth + 1, name)
    if schema.get("allOf"):
        merged: Dict[str, Any] = {}
        for sub in schema["allOf"]:
            part = synthesize(sub, resolver, depth + 1, name)
            if isinstance(part, dict):
                merged.update(part)
        return merged
    types = schema.get("type")
    kind: Optional[str] = next((t for t in types if t != "null"), None) if isinstance(types, list) else types
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties") or {}
        return {key: synthesize(sub, resolver, depth + 1, key) for key, sub in props.items()}
    if kind == "array":
        items = schema.get("items")
        count = max(1, int(schema.get("minItems", 1)))
        return (
            [synthesize(items, resolver, depth + 1, name) for _ in range(count)] if isinstance(items, Mapping) else []
        )
    if kind == "integer":
        return int(schema.get("minimum", 1) if schema.get("minimum", 1) > 0 else 1)
    if kind == "number":
        return float(schema.get("minimum", 0.5) if schema.get("minimum", 0.5) > 0 else 0.5)
    if kind == "boolean":
        # Off: optional switches (stream, store, ...) then ask for the plain behaviour.
        return False
    if kind == "string":
        return f"example-{name}" if name else "example"
    return None


_FORMAT_EXAMPLES = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}
# Past this depth a structured answer takes the shortest way out: null where allowed, empty arrays, no optional
# properties, so a recursive schema (a tree of nodes) ends.
_SHALLOW = 4


def answer_for_schema(schema: Mapping[str, Any]) -> Any:
    """A deterministic value that validates against `schema`, a caller's JSON schema (structured outputs): its own
    `$defs` and `$ref`s, enums, `anyOf` with null, recursion, arrays and nested objects, string formats and bounds."""
    return _answer(schema, Resolver(schema), 0, "")


def _answer(schema: Mapping[str, Any], resolver: Resolver, depth: int, name: str) -> Any:
    if "$ref" in schema:
        schema = {**resolver.lookup(schema["$ref"]), **{k: v for k, v in schema.items() if k != "$ref"}}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        variants = [v for v in schema.get(keyword) or () if isinstance(v, Mapping)]
        if variants:
            nulls = [v for v in variants if v.get("type") == "null"]
            others = [v for v in variants if v.get("type") != "null"]
            if (depth >= _SHALLOW and nulls) or not others:
                return None
            return _answer(others[0], resolver, depth + 1, name)
    if schema.get("allOf"):
        merged: Dict[str, Any] = {}
        for sub in schema["allOf"]:
            merged.update(sub)
        return _answer({**merged, **{k: v for k, v in schema.items() if k != "allOf"}}, resolver, depth, name)
    types = schema.get("type")
    if isinstance(types, list):
        if depth >= _SHALLOW and "null" in types:
            return None
        kind = next((t for t in types if t != "null"), "null")
    else:
        kind = types if isinstance(types, str) else ("object" if "properties" in schema else "null")
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        return {
            key: _answer(sub, resolver, depth + 1, key)
            for key, sub in props.items()
            if key in required or depth < _SHALLOW
        }
    if kind == "array":
        items = schema.get("items")
        count = int(schema.get("minItems", 0)) if depth >= _SHALLOW else max(1, int(schema.get("minItems", 1)))
        return [_answer(items, resolver, depth + 1, name) for _ in range(count)] if isinstance(items, Mapping) else []
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + (1 if kind == "integer" else 0.5))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value = max(low, 1) if high is None or high >= 1 else low
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "string":
        text = _FORMAT_EXAMPLES.get(str(schema.get("format")), f"example-{name}" if name else "example")
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        text = text.ljust(low, "x")
        return text[: int(high)] if high is not None else text
    return None
