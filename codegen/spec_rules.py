"""The rules spec/apertis.openapi.yaml follows: what the generator, the offline server and the tests rely on.

`python -m codegen` runs `check_spec` before openapi-python-client sees the spec, so a maintainer learns every
broken rule at once, each naming the operation or schema and what to add. tests/test_spec.py asserts that the
real spec passes and that each rule fires on a broken copy.

Each rule is a function returning a list of problems. The module needs only the standard library, jsonschema
(for the examples) and apertis/testing/_refs.py, loaded by path (see `refs`): tests/test_spec.py runs it on
interpreters without openapi-python-client.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import keyword
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Tuple

__all__ = [
    "RULES",
    "check_examples",
    "check_named_objects",
    "check_names",
    "check_operations",
    "check_refs",
    "check_request_fields_take_no_null",
    "check_spec",
    "check_streams",
    "check_unions",
    "operations",
    "refs",
    "schema_nodes",
    "schemas",
]

Spec = Dict[str, Any]
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
RESPONSE_KINDS = ("json", "binary", "text-or-json")
_REFS_FILE = Path(__file__).resolve().parent.parent / "apertis" / "testing" / "_refs.py"
_REFS_MODULE = "apertis_codegen_refs"


def refs() -> ModuleType:
    """apertis/testing/_refs.py, the one `$ref` resolver, loaded by path.

    Importing it as `apertis.testing._refs` would import the whole package, generated half included: a stale
    or half-written generated module must never stop the generator that repairs it.
    """
    module = sys.modules.get(_REFS_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(_REFS_MODULE, _REFS_FILE)
        assert spec is not None and spec.loader is not None, _REFS_FILE
        module = importlib.util.module_from_spec(spec)
        sys.modules[_REFS_MODULE] = module
        spec.loader.exec_module(module)
    return module


def operations(spec: Spec) -> Iterator[Tuple[str, str, Dict[str, Any]]]:
    """(path, method, operation) for every operation of the spec."""
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                yield path, method, item[method]


def schemas(spec: Spec) -> Dict[str, Any]:
    """components/schemas ({} when absent)."""
    found: Dict[str, Any] = (spec.get("components") or {}).get("schemas") or {}
    return found


def _resolve(spec: Spec, node: Any) -> Dict[str, Any]:
    resolved = refs().Resolver(spec).resolve(node) if isinstance(node, dict) else {}
    return dict(resolved)


def _walk(node: Any, path: str = "") -> Iterator[Tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def schema_nodes(spec: Spec) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every schema object of the document (components, parameters, bodies, responses), with its location."""

    def sub(path: str, node: Any) -> Iterator[Tuple[str, Dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        yield path, node
        for key in ("oneOf", "anyOf", "allOf"):
            for i, child in enumerate(node.get(key) or []):
                yield from sub(f"{path}/{key}/{i}", child)
        for name, child in (node.get("properties") or {}).items():
            yield from sub(f"{path}/properties/{name}", child)
        if isinstance(node.get("items"), dict):
            yield from sub(f"{path}/items", node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            yield from sub(f"{path}/additionalProperties", node["additionalProperties"])

    for name, node in schemas(spec).items():
        yield from sub(f"#/components/schemas/{name}", node)
    for path, value in _walk({k: v for k, v in spec.items() if k != "components"}):
        if path.endswith("/schema") and isinstance(value, dict):
            yield from sub(path, value)
    for kind in ("responses", "parameters", "headers", "requestBodies"):
        for path, value in _walk((spec.get("components") or {}).get(kind) or {}, f"#/components/{kind}"):
            if path.endswith("/schema") and isinstance(value, dict):
                yield from sub(path, value)


def _success(op: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """The first 2xx response of an operation: (status, response object); ("", {}) when there is none."""
    for code, response in (op.get("responses") or {}).items():
        if str(code).startswith("2") and isinstance(response, dict):
            return str(code), response
    return "", {}


# ------------------------------------------------------------------------------------------------------- rules
def check_refs(spec: Spec) -> List[str]:
    """Every `$ref` points at something (openapi-spec-validator accepts a dangling one)."""
    return [
        f"{where}: {error} (add the schema to components/schemas or correct the name)"
        for where, error in refs().dangling_refs(spec)
    ]


def check_operations(spec: Spec) -> List[str]:
    """Identity, documentation, `x-apertis-*` keys and the examples tests/test_operations.py calls the SDK with."""
    problems: List[str] = []
    seen_ids: Dict[str, str] = {}
    seen_methods: Dict[Tuple[str, str], str] = {}
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId")
        if not op_id:
            problems.append(f"{where}: no operationId (add a unique camelCase `operationId:`, e.g. createThing)")
        elif op_id in seen_ids:
            problems.append(f"{where}: operationId {op_id} is also used by {seen_ids[op_id]} (make it unique)")
        else:
            seen_ids[op_id] = where
        hints = {
            "summary": "a one-line `summary:`, the first line of the method's docstring",
            "description": "a `description:` paragraph, the body of the method's docstring",
            "tags": "`tags: [<Group>]`",
            "x-apertis-resource": "`x-apertis-resource:`, the client attribute path such as `chat.completions`",
            "x-apertis-method": "`x-apertis-method:`, the method name such as `create`",
        }
        problems.extend(f"{where}: missing {key} (add {hint})" for key, hint in hints.items() if not op.get(key))
        resource, name = op.get("x-apertis-resource"), op.get("x-apertis-method")
        if resource and not (isinstance(resource, str) and re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", resource)):
            problems.append(f"{where}: x-apertis-resource {resource!r} is not a dotted lower-case path like `a.b`")
        if name and not (isinstance(name, str) and re.fullmatch(r"[a-z_]+", name)):
            problems.append(f"{where}: x-apertis-method {name!r} is not a lower-case Python method name")
        if isinstance(resource, str) and isinstance(name, str):
            if (resource, name) in seen_methods:
                problems.append(f"{where}: {resource}.{name} is also used by {seen_methods[(resource, name)]}")
            seen_methods[(resource, name)] = where
        body = (op.get("requestBody") or {}).get("content") or {}
        for media_type, media in body.items():
            if "example" not in (media or {}):
                problems.append(
                    f"{where}: request {media_type} has no example (add `example:` next to its schema: "
                    "tests/test_operations.py calls the method with it)"
                )
        code, ok = _success(op)
        content = ok.get("content") or {}
        if not code:
            problems.append(f'{where}: no 2xx response (add a `"200"` response with content)')
        elif not content:
            problems.append(f"{where}: the {code} response has no content (add content with a named schema)")
        elif not any("example" in (media or {}) for media in content.values()):
            problems.append(
                f"{where}: the {code} response has no example (add `example:` next to its schema: the SDK's "
                "parsing of it is tested)"
            )
        if not [c for c in (op.get("responses") or {}) if not str(c).startswith("2")]:
            problems.append(
                f'{where}: no error responses (add at least a `"400"` one, such as '
                '`$ref: "#/components/responses/BadRequest"`)'
            )
        kind = op.get("x-apertis-response", "json")
        if kind not in RESPONSE_KINDS:
            problems.append(f"{where}: unknown x-apertis-response {kind!r} (one of {', '.join(RESPONSE_KINDS)})")
        if kind == "binary" and not any(
            ((media or {}).get("schema") or {}).get("format") == "binary" for media in content.values()
        ):
            problems.append(f"{where}: x-apertis-response binary without a binary {code or '200'} content")
        if kind == "text-or-json" and not ("application/json" in content and "text/plain" in content):
            problems.append(f"{where}: text-or-json needs application/json and text/plain {code or '200'} contents")
        if op.get("x-apertis-host-root") and not op.get("servers"):
            problems.append(f"{where}: host-root operation without a servers override (add `servers:` with the host)")
    return problems


def check_streams(spec: Spec) -> List[str]:
    """Operations whose body has `stream` declare x-apertis-stream and list JSON before the event stream."""
    problems: List[str] = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        body = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {}).get("schema")
        streams = body is not None and "stream" in (_resolve(spec, body).get("properties") or {})
        ext = op.get("x-apertis-stream")
        if streams != bool(ext):
            problems.append(
                f"{where}: the body's `stream` field and x-apertis-stream disagree (a body with `stream` needs "
                "`x-apertis-stream: {class: <Name>Stream, event: <EventSchema>}`, and only such a body)"
            )
            continue
        if not ext:
            continue
        if not isinstance(ext, dict) or set(ext) != {"class", "event"}:
            problems.append(f"{where}: x-apertis-stream must have exactly `class` and `event`")
            continue
        event = ext.get("event")
        if event not in schemas(spec):
            problems.append(f"{where}: stream event {event!r} is not a schema of components/schemas")
        _, ok = _success(op)
        content = ok.get("content") or {}
        if list(content)[:2] != ["application/json", "text/event-stream"]:
            problems.append(f"{where}: the 2xx content must list application/json first, then text/event-stream")
        elif (content["text/event-stream"] or {}).get("schema") != {"$ref": f"#/components/schemas/{event}"}:
            problems.append(f"{where}: the text/event-stream schema must be `$ref: #/components/schemas/{event}`")
    return problems


def _const_props(schema: Dict[str, Any]) -> Dict[str, Any]:
    required = set(schema.get("required") or [])
    return {
        name: prop["const"]
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and "const" in prop and name in required
    }


def check_unions(spec: Spec) -> List[str]:
    """Object variants of a union are told apart by a required const (the last one may be a catch-all).

    Variants sharing the same const must differ by a required key of the earlier one, or the later one is
    unreachable (the generated parser tries variants in declaration order).
    """
    problems: List[str] = []
    for where, node in schema_nodes(spec):
        for key in ("oneOf", "anyOf"):
            variants = node.get(key)
            if not variants:
                continue
            objects = []
            for variant in variants:
                target = _resolve(spec, variant)
                if target.get("type") == "object" or "properties" in target:
                    objects.append((refs().schema_name(variant.get("$ref")) or "<inline>", target))
            if len(objects) < 2:
                continue
            for index, (name, target) in enumerate(objects):
                if not _const_props(target) and index != len(objects) - 1:
                    problems.append(
                        f"{where}/{key}: variant {name} has no required const discriminator (add a property like "
                        "`type: {const: <value>}` and list it under `required`)"
                    )
            for i, (name_a, a) in enumerate(objects):
                for name_b, b in objects[i + 1 :]:
                    consts_a, consts_b = _const_props(a), _const_props(b)
                    if not consts_a or not consts_b:
                        continue
                    shared = set(consts_a) & set(consts_b)
                    same_const = bool(shared) and all(consts_a[k] == consts_b[k] for k in shared)
                    if same_const and not set(a.get("required") or []) - set(b.get("required") or []):
                        problems.append(
                            f"{where}/{key}: {name_b} is shadowed by {name_a} (same const; list {name_b} first "
                            f"or give {name_a} a required key {name_b} lacks)"
                        )
    return problems


def check_named_objects(spec: Spec) -> List[str]:
    """Object schemas live in components/schemas only; no closed objects; no `default:`; documented properties."""
    problems: List[str] = []
    top_level = {id(node) for node in schemas(spec).values()}
    for where, node in schema_nodes(spec):
        if (node.get("type") == "object" or "properties" in node) and id(node) not in top_level:
            problems.append(
                f"{where}: inline object schema (name it in components/schemas and use `$ref` here: every "
                "object becomes a public class)"
            )
        if node.get("additionalProperties") is False:
            problems.append(f"{where}: additionalProperties false (remove it: the generated models keep unknown keys)")
        if isinstance(node.get("additionalProperties"), dict) and node.get("properties"):
            problems.append(f"{where}: typed additionalProperties next to properties")
        if "default" in node:
            problems.append(
                f"{where}: default {node['default']!r} (remove it and state the default in the description)"
            )
        if "enum" in node and "const" in node:
            problems.append(f"{where}: enum and const together (keep one)")
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and "$ref" not in prop and not prop.get("description"):
                problems.append(f"{where}/properties/{name}: no description (add `description:`, the field's doc)")
        problems.extend(
            f"{where}: required {name!r} is not a property (declare it under properties)"
            for name in node.get("required") or []
            if name not in (node.get("properties") or {})
        )
    for name, node in schemas(spec).items():
        if not isinstance(node, dict) or not node.get("description"):
            problems.append(f"#/components/schemas/{name}: no description (add `description:`, the class docstring)")
    return problems


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def check_names(spec: Spec) -> List[str]:
    """Schema names are PascalCase, clash with no builtin, and map to distinct module names."""
    problems: List[str] = []
    modules: Dict[str, str] = {}
    for name in schemas(spec):
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
            problems.append(f"{name}: schema names are PascalCase identifiers (rename it)")
        if name in dir(builtins) or keyword.iskeyword(name) or name.lower() in dir(builtins):
            problems.append(f"{name}: clashes with a Python builtin (rename it)")
        snake = _snake(name)
        if snake in modules:
            problems.append(f"{name}: same module name as {modules[snake]} ({snake}; rename one)")
        modules[snake] = name
    return problems


def _takes_null(schema: Dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind) or schema.get("nullable") is True:
        return True
    return any(_takes_null(variant) for key in ("anyOf", "oneOf") for variant in schema.get(key) or [])


def check_request_fields_take_no_null(spec: Spec) -> List[str]:
    """No top-level request body field takes null: the generated methods leave out an argument passed as None
    (apertis 0.4.1's meaning of None), which would be wrong for a field where null means something."""
    problems = []
    for path, method, op in operations(spec):
        for media in ((op.get("requestBody") or {}).get("content") or {}).values():
            body = _resolve(spec, (media or {}).get("schema"))
            for name, prop in (body.get("properties") or {}).items():
                if _takes_null(_resolve(spec, prop)):
                    problems.append(
                        f"{method.upper()} {path}: body field {name} takes null (a None argument is left out of "
                        "the request; drop `null` from its type)"
                    )
    return problems


def _examples(spec: Spec) -> Iterator[Tuple[str, Dict[str, Any], Any, str]]:
    for path, method, op in operations(spec):
        for media_type, media in ((op.get("requestBody") or {}).get("content") or {}).items():
            if isinstance(media, dict) and "example" in media and isinstance(media.get("schema"), dict):
                yield f"{method.upper()} {path} request", media["schema"], media["example"], media_type
        for code, response in (op.get("responses") or {}).items():
            for media_type, media in (_resolve(spec, response).get("content") or {}).items():
                if isinstance(media, dict) and "example" in media and isinstance(media.get("schema"), dict):
                    yield f"{method.upper()} {path} {code}", media["schema"], media["example"], media_type


def check_examples(spec: Spec) -> List[str]:
    """JSON examples (and each `data:` payload of event-stream examples) validate against their schemas, and a
    JSON request example uses only declared body fields (tests/test_operations.py passes them as arguments)."""
    import jsonschema  # type: ignore[import-untyped]

    problems: List[str] = []
    components = spec.get("components") or {}
    for where, schema, example, media_type in _examples(spec):
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "components": components}
        validator = jsonschema.Draft202012Validator(root)
        if media_type == "text/event-stream":
            lines = example.splitlines() if isinstance(example, str) else []
            payloads = [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]
            if not payloads:
                problems.append(f"{where} {media_type}: example has no `data: {{...}}` lines")
        elif media_type == "application/json":
            payloads = [example]
            if where.endswith(" request"):
                declared = _resolve(spec, schema).get("properties") or {}
                unknown = sorted(set(example) - set(declared)) if isinstance(example, dict) else []
                problems.extend(
                    f"{where} {media_type}: example field {name!r} is not a property of the body schema "
                    "(declare it or drop it from the example)"
                    for name in unknown
                )
        else:
            continue
        problems.extend(
            f"{where} {media_type}: the example does not match its schema: {error.message[:200]} at "
            f"{list(error.absolute_path)} (fix the example or the schema)"
            for payload in payloads
            for error in validator.iter_errors(payload)
        )
    return problems


RULES: List[Callable[[Spec], List[str]]] = [
    check_operations,
    check_streams,
    check_unions,
    check_named_objects,
    check_names,
    check_request_fields_take_no_null,
    check_examples,
]


def check_spec(spec: Spec) -> List[str]:
    """Every broken rule of the spec. Dangling `$ref`s come alone: the other rules follow references."""
    dangling = check_refs(spec)
    if dangling:
        return dangling
    return [problem for rule in RULES for problem in rule(spec)]
