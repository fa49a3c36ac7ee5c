"""The resource classes: one per node of the `x-apertis-resource` tree, one method per operation."""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from openapi_python_client import strings
from openapi_python_client.parser.bodies import BodyType
from openapi_python_client.parser.properties import ModelProperty
from openapi_python_client.parser.properties.file import FileProperty
from openapi_python_client.parser.properties.list_property import ListProperty

from .config import RESOURCE_PATH, HelperParams
from .params_gen import ParamTypes
from .spec_rules import refs
from .types_gen import CodegenError, Imports, TypeRegistry, split_union, text_of

__all__ = [
    "MIXINS_DIR",
    "REQUEST_OPTIONS",
    "Operation",
    "ResourceMixin",
    "ResourceTree",
    "build_resource_modules",
    "mixin_module",
]

# The request options every method takes after the spec's arguments: (name, annotation, default).
REQUEST_OPTIONS = [
    ("extra_headers", "Optional[Headers]", "None"),
    ("extra_query", "Optional[Query]", "None"),
    ("extra_body", "Optional[Body]", "None"),
    ("timeout", "Union[float, httpx.Timeout, NotGiven, None]", "NOT_GIVEN"),
    ("total_timeout", "Union[float, NotGiven, None]", "NOT_GIVEN"),
]
# Keyword arguments every method has; a body field with one of these names needs `x-apertis-argument`.
RESERVED_ARGUMENTS = {
    "self", *(name for name, _, _ in REQUEST_OPTIONS), "files", "result", "sdk_default", "body",
}  # fmt: skip

# Hand-written modules that `x-apertis-sdk-default` post-processing functions live in.
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "apertis"
SDK_DEFAULT_KEYS = {"argument", "value", "postprocess"}
SDK_DEFAULT_OPTIONAL_KEYS = {"doc"}

KIND_WORDS = {
    "path": "path parameter", "query": "query parameter", "header": "header", "body": "field of the request body",
    "data": "form field", "file": "file upload", "file_list": "file uploads",
}  # fmt: skip

RESPONSE_KINDS = {"json", "binary", "text-or-json"}

# Hand-written resource mixins (`resource_mixins`): one module per top-level resource, like the generated ones.
MIXINS_DIR = "apertis/_async/resource_mixins"


@dataclass
class Operation:
    """One operation of the spec with its `x-apertis-*` extensions (read from the raw YAML)."""

    path: str
    method: str
    raw: dict[str, Any]
    resource: str
    name: str
    stream: Optional[dict[str, str]]
    response: str
    host_root: bool
    # `x-apertis-sdk-default`: {argument, value, postprocess, doc?}, see ARCHITECTURE.md
    sdk_default: Optional[dict[str, Any]] = None

    @property
    def where(self) -> str:
        return f"{self.method.upper()} {self.path}"


def read_operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation with its extensions; a missing or malformed extension is an error naming the operation."""
    operations = []
    errors = []
    for path, item in (spec.get("paths") or {}).items():
        for method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
            raw = item.get(method)
            if raw is None:
                continue
            where = f"{method.upper()} {path}"
            resource = raw.get("x-apertis-resource")
            name = raw.get("x-apertis-method")
            if not isinstance(resource, str) or not RESOURCE_PATH.fullmatch(resource):
                errors.append(
                    f"{where}: missing or invalid x-apertis-resource (a dotted attribute path like `chat.completions`)"
                )
                continue
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                errors.append(f"{where}: missing or invalid x-apertis-method (a method name like `create`)")
                continue
            stream = raw.get("x-apertis-stream")
            if stream is not None and (
                not isinstance(stream, dict)
                or set(stream) != {"class", "event"}
                or not all(isinstance(v, str) for v in stream.values())
            ):
                errors.append(f"{where}: x-apertis-stream must be {{class: <StreamClass>, event: <EventSchema>}}")
                continue
            response = raw.get("x-apertis-response", "json")
            if response not in RESPONSE_KINDS:
                errors.append(f"{where}: x-apertis-response must be one of {', '.join(sorted(RESPONSE_KINDS))}")
                continue
            host_root = raw.get("x-apertis-host-root", False)
            if not isinstance(host_root, bool):
                errors.append(f"{where}: x-apertis-host-root must be true or false")
                continue
            sdk_default = raw.get("x-apertis-sdk-default")
            problem = _sdk_default_problem(sdk_default) if sdk_default is not None else None
            if problem:
                errors.append(f"{where}: x-apertis-sdk-default {problem}")
                continue
            operations.append(Operation(path, method, raw, resource, name, stream, response, host_root, sdk_default))
    if errors:
        raise CodegenError("\n".join(errors))
    seen: dict[tuple[str, str], str] = {}
    for op in operations:
        key = (op.resource, op.name)
        if key in seen:
            raise CodegenError(f"{op.where} and {seen[key]} both define `{op.resource}.{op.name}`")
        seen[key] = op.where
    return operations


def _sdk_default_problem(ext: Any) -> Optional[str]:
    """What is wrong with an `x-apertis-sdk-default` value (its shape and its function), or None."""
    if not isinstance(ext, dict) or not SDK_DEFAULT_KEYS <= set(ext) <= SDK_DEFAULT_KEYS | SDK_DEFAULT_OPTIONAL_KEYS:
        return "must be {argument: <body property>, value: <what the SDK sends>, postprocess: <module.function>, doc?}"
    if not isinstance(ext["argument"], str) or not isinstance(ext.get("doc", ""), str):
        return "argument and doc must be strings"
    if not isinstance(ext["value"], (str, int, float, bool)):
        return "value must be a JSON scalar"
    target = ext["postprocess"]
    if not isinstance(target, str) or not re.fullmatch(r"_[a-z0-9_]+\.[a-z_][a-z0-9_]*", target):
        return "postprocess must name a function of a hand-written module of apertis, like `_embeddings.decode`"
    module, function = target.split(".")
    source = PACKAGE_DIR / f"{module}.py"
    if not source.is_file():
        return f"postprocess: apertis/{module}.py does not exist"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    if not any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body):
        return f"postprocess: apertis/{module}.py defines no top-level function `{function}`"
    return None


def doc_text(value: Any) -> str:
    """Spec prose made safe for a docstring: paragraphs kept, each on one line, no escapes or closing quotes."""
    text = text_of(value).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def one_line(value: Any) -> str:
    return " ".join(doc_text(value).split())


def docstring(text: str, indent: str) -> str:
    """Docstring body: one line stays one line, more lines get the closing quotes on their own line."""
    text = text.strip()
    if text.endswith('"'):
        text += " "
    if "\n" not in text:
        return text
    lines = [(indent + line) if line else "" for line in text.split("\n")]
    return lines[0].lstrip() + "\n" + "\n".join(lines[1:]) + "\n" + indent


def class_name(segment: str) -> str:
    return "Async" + "".join(part[:1].upper() + part[1:] for part in segment.split("_"))


@dataclass
class ResourceMixin:
    """A hand-written class that a generated resource class inherits (`resource_mixins` in codegen/config.yaml)."""

    cls: str
    methods: list[str]  # its public methods, listed in the class docstring after the generated ones
    replaces: list[str] = field(default_factory=list)  # generated methods it replaces: generated as `_<name>`
    # wrapper mode ("raw", "streaming") -> the class of the same module that the `with_<mode>_response` wrapper
    # of the resource inherits
    wrappers: dict[str, str] = field(default_factory=dict)


def mixin_module(resource: str) -> str:
    """The file that defines the mixin of `resource` (`chat.completions` -> apertis/_async/resource_mixins/chat.py)."""
    return f"{MIXINS_DIR}/{module_name_of_top(resource.split('.', maxsplit=1)[0])}.py"


@dataclass
class Arg:
    name: str
    wire: str
    annotation: str
    required: bool
    doc: str
    kind: str  # body | data | file | file_list | query | header
    is_stream: bool = False
    schema: Optional[dict[str, Any]] = None  # the raw spec schema of a body field, for the argument checks
    sdk_default: Optional[str] = None  # the literal the request sends when the caller leaves the argument out


@dataclass
class Check:
    """A type check of a required argument, rendered by the `method` macro of resource_macros.py.jinja."""

    name: str
    types: str  # the isinstance() second argument: `str` or `(int, float)`
    expected: str  # words for the error message: "a str or a list"
    numeric: bool = False  # reject bool too (an int subclass, never a meaningful count or temperature)
    item_name: Optional[str] = None  # the object schema the elements of a list must match
    list_only: bool = False  # only a list of `item_name` objects is accepted


@dataclass
class Method:
    """One generated method: what resource_macros.py.jinja needs to render it."""

    name: str
    http_method: str
    path_expr: str
    path_params: list[Arg]
    args: list[Arg]
    return_type: str
    stream: Optional[str]
    summary: str
    description: list[str]  # paragraphs
    doc_args: list[tuple[str, str]]  # (argument, its line in Args:), spec arguments only
    body_kind: Optional[str]  # json | multipart | None
    cast_to: Optional[str]
    response_kind: Optional[str]  # binary | text-or-json; None for JSON
    host_root: bool
    display_name: str
    checks: list[Check] = field(default_factory=list)
    sdk_default: Optional[dict[str, str]] = None  # {arg, wire, function}: see _sdk_default
    # `x-apertis-json-formats` of a text-or-json operation: {arg, annotation, returns} of the overload whose values
    # of `arg` always get the JSON model back (the others may get text or JSON, decided by the Content-Type).
    json_formats: Optional[dict[str, str]] = None

    def args_of(self, *kinds: str) -> list[Arg]:
        return [a for a in self.args if a.kind in kinds]

    @property
    def public_name(self) -> str:
        """The name callers use: a method a mixin replaces is generated as `_<name>`, and the mixin's is public."""
        return self.display_name.rsplit(".", 1)[-1]

    @property
    def files_inline(self) -> bool:
        """Every upload is one required file: `files=[("file", file)]`, without building a list first."""
        return all(a.kind == "file" and a.required for a in self.args_of("file", "file_list"))


@dataclass
class Node:
    path: str
    cls: str
    children: dict[str, Node] = field(default_factory=dict)
    methods: list[Method] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    mixin: Optional[ResourceMixin] = None


@dataclass
class ResourceTree:
    """The resource nodes by top-level attribute, and every class name (for unasync and the re-exports)."""

    tops: dict[str, Node]
    modules: dict[str, dict[str, Any]]  # top attr -> module view
    class_names: list[str]
    stream_classes: list[str]


def _resolve(spec: dict[str, Any], node: Any) -> tuple[Optional[str], dict[str, Any]]:
    """(the components/schemas name a `$ref` chain ends at, or None; the resolved schema), by the one resolver."""
    try:
        name, schema = refs().Resolver(spec).resolve_named(node)
    except refs().RefError as exc:
        raise CodegenError(str(exc)) from None
    return name, dict(schema)


def argument_name(prop: Any, raw_props: dict[str, Any], where: str) -> str:
    wire = text_of(prop.name)
    override = (raw_props.get(wire) or {}).get("x-apertis-argument")
    if override is not None:
        if not isinstance(override, str) or not override.isidentifier() or keyword.iskeyword(override):
            raise CodegenError(f"{where}: x-apertis-argument of `{wire}` must be a Python identifier")
        return override
    if wire.isidentifier() and not keyword.iskeyword(wire):
        return wire
    return str(prop.python_name)


class ResourceBuilder:
    """Builds the module views of the async resources from the operations and the parsed endpoints."""

    def __init__(
        self,
        spec: dict[str, Any],
        registry: TypeRegistry,
        endpoints: dict[tuple[str, str], Any],
        mixins: dict[str, ResourceMixin],
        params: Optional[ParamTypes] = None,
        *,
        helper_params: Optional[dict[str, HelperParams]] = None,
    ):
        self.params = params or ParamTypes(spec, model_modules={}, enum_modules={})
        self.helper_params = helper_params or {}
        self.spec = spec
        self.registry = registry
        self.endpoints = endpoints
        self.mixins = mixins

    def build(self, operations: list[Operation]) -> ResourceTree:
        tops: dict[str, Node] = {}
        for op in operations:
            segments = op.resource.split(".")
            nodes = tops
            node: Optional[Node] = None
            for depth, segment in enumerate(segments):
                if segment not in nodes:
                    nodes[segment] = Node(path=".".join(segments[: depth + 1]), cls=class_name(segment))
                node = nodes[segment]
                nodes = node.children
            assert node is not None
            node.operations.append(op)
        for node in self._walk(tops.values()):
            node.mixin = self.mixins.get(node.path)
        seen: dict[str, str] = {}
        for node in self._walk(tops.values()):
            if node.cls in seen:
                raise CodegenError(
                    f"resources `{seen[node.cls]}` and `{node.path}` would both be class {node.cls}: rename one"
                )
            seen[node.cls] = node.path
            for child in node.children:
                if any(op.name == child for op in node.operations):
                    raise CodegenError(f"`{node.path}.{child}` is both a method and a sub-resource")
            for name in [*node.children, *(op.name for op in node.operations)]:
                if name in WRAPPER_ATTRIBUTES:
                    raise CodegenError(
                        f"`{node.path}.{name}` is the name of the SDK's raw-response wrappers: rename it"
                    )
        modules = {}
        stream_classes: set[str] = set()
        unused_helpers = dict(self.helper_params)
        for attr, top in tops.items():
            imports = Imports()
            classes = []
            helpers = []
            wrapper_imports: dict[str, list[str]] = {}  # module -> the wrapper mixins it defines
            for node in self._walk([top]):
                methods = [self._method(op, imports) for op in node.operations]
                for method in methods:
                    for name, helper in self.helper_params.items():
                        if helper.method == method.display_name:
                            helpers.append(self._helper_params(name, helper, method))
                            unused_helpers.pop(name)
                for method in methods:
                    if node.mixin is not None and method.name in node.mixin.replaces:
                        method.name = f"_{method.name}"  # still `display_name` in messages: the mixin calls it
                for op in node.operations:
                    if op.stream:
                        stream_classes.add(op.stream["class"])
                bases = ["AsyncAPIResource"]
                wrapper_bases = {}
                if node.mixin is not None:
                    module = mixin_module(node.path)[len("apertis/_async/") : -len(".py")].replace("/", ".")
                    imports.add(f"..{module}", node.mixin.cls, runtime=True)
                    bases.insert(0, node.mixin.cls)
                    for mode, wrapper_cls in node.mixin.wrappers.items():
                        wrapper_imports.setdefault(f"..{module}", []).append(wrapper_cls)
                        wrapper_bases[mode] = f"({wrapper_cls})"
                classes.append(
                    {
                        "name": node.cls,
                        "path": node.path,
                        "bases": ", ".join(bases),
                        "wrapper_bases": wrapper_bases,
                        "doc": self._node_doc(node),
                        "children": [
                            {"attr": a, "cls": c.cls, "doc": self._node_doc(c)} for a, c in node.children.items()
                        ],
                        "methods": methods,
                    }
                )
            runtime, typing_only = imports.finalize()
            modules[attr] = {
                "top": attr,
                "name": module_name_of_top(attr),
                "doc": "",
                "classes": classes,
                "runtime_imports": [self._import_line(m, n) for m, n in runtime],
                "typing_imports": [self._import_line(m, n) for m, n in typing_only],
                "helper_params": helpers,
                "wrapper_mixin_imports": [
                    self._import_line(m, sorted(names)) for m, names in sorted(wrapper_imports.items())
                ],
            }
        for name, helper in unused_helpers.items():
            raise CodegenError(f"helper_params: `{name}`: `{helper.method}` is not a generated method")
        return ResourceTree(
            tops=tops,
            modules=modules,
            class_names=sorted(seen),
            stream_classes=sorted(stream_classes),
        )

    @staticmethod
    def _import_line(module: str, names: list[str]) -> str:
        if module.startswith("."):
            return f"from {module} import {', '.join(names)}"
        return f"from ...types.{module} import {', '.join(names)}"

    def _walk(self, nodes: Any) -> list[Node]:
        out = []
        for node in nodes:
            out.append(node)
            out.extend(self._walk(node.children.values()))
        return out

    @staticmethod
    def _node_doc(node: Node) -> str:
        mixin = node.mixin or ResourceMixin(cls="", methods=[])
        names = [op.name for op in node.operations if op.name not in mixin.replaces] + mixin.methods
        names += list(node.children)
        parts = [f"`{name}`" for name in names]
        return f"The `{node.path}` endpoints: {', '.join(parts)}."

    @staticmethod
    def _helper_params(name: str, helper: HelperParams, method: Method) -> dict[str, Any]:
        """The TypedDict view of a `helper_params` entry: the method's keyword arguments and request options, as
        the method annotates them, minus `without`."""
        if method.path_params:
            raise CodegenError(f"helper_params: `{name}`: `{method.display_name}` has path parameters")
        arguments = [(a.name, f"Required[{a.annotation}]" if a.required else a.annotation) for a in method.args]
        arguments += [(option, annotation) for option, annotation, _ in REQUEST_OPTIONS]
        unknown = sorted(set(helper.without) - {argument for argument, _ in arguments})
        if unknown:
            raise CodegenError(
                f"helper_params: `{name}`: `{method.display_name}` has no argument(s) {', '.join(unknown)}"
            )
        return {
            "name": name,
            "doc": f"The keyword arguments of `{method.public_name}`"
            + (f" except {', '.join(f'`{a}`' for a in helper.without)}" if helper.without else "")
            + f" (`{method.display_name}` says what each means): `**params: Unpack[{name}]` of a helper that calls it.",
            "fields": [{"name": a, "annotation": t} for a, t in arguments if a not in helper.without],
        }

    # --------------------------------------------------------------------------------------- methods
    def _method(self, op: Operation, imports: Imports) -> Method:
        endpoint = self.endpoints.get((op.path, op.method))
        if endpoint is None:
            raise CodegenError(f"{op.where}: the generator skipped this operation (see its warnings)")
        path_params = [
            Arg(name=str(p.python_name), wire=text_of(p.name), annotation="str", required=True,
                doc=one_line(p.description), kind="path")
            for p in endpoint.path_parameters
        ]  # fmt: skip
        path = op.path
        for p in path_params:
            path = path.replace("{" + p.wire + "}", "{path_segment(" + p.name + ")}")
        path_expr = f'f"{path}"' if path_params else f'"{path}"'
        if re.search(r"\{(?!path_segment\()", path):
            raise CodegenError(f"{op.where}: the path has a parameter that is not declared `in: path`")

        args: list[Arg] = []
        body_kind = None
        if endpoint.bodies:
            body = endpoint.bodies[0]
            if len(endpoint.bodies) > 1:
                raise CodegenError(f"{op.where}: one request body content type is supported, found several")
            if not isinstance(body.prop, ModelProperty):
                raise CodegenError(f"{op.where}: the request body must be an object schema")
            body_kind = "multipart" if body.body_type in (BodyType.FILES, BodyType.DATA) else "json"
            content = (op.raw.get("requestBody") or {}).get("content") or {}
            media_type: dict[str, Any] = next(iter(content.values()), {})
            raw_schema = media_type.get("schema")
            _, raw_body = _resolve(self.spec, raw_schema)
            raw_props = raw_body.get("properties") or {}
            model = self.registry.canonical(body.prop)
            for required, props in ((True, model.required_properties or []), (False, model.optional_properties or [])):
                args.extend(
                    self._body_arg(op, prop, required, raw_props, body_kind=body_kind, imports=imports)
                    for prop in props
                )
        for param, kind in [(p, "query") for p in endpoint.query_parameters] + [
            (p, "header") for p in endpoint.header_parameters
        ]:
            annotation = self.registry.annotation(param, imports, arg=True)
            args.append(
                Arg(name=str(param.python_name), wire=text_of(param.name),
                    annotation=annotation if param.required else self._optional(annotation),
                    required=param.required, doc=one_line(param.description), kind=kind)
            )  # fmt: skip
        args.sort(key=lambda a: not a.required)  # stable: spec order within the two groups
        names = [a.name for a in path_params + args]
        for name in names:
            if name in RESERVED_ARGUMENTS:
                raise CodegenError(
                    f"{op.where}: argument `{name}` collides with a built-in argument; give it an x-apertis-argument"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise CodegenError(f"{op.where}: duplicate argument(s) {', '.join(duplicates)}")

        stream_cls = None
        if op.stream:
            stream_args = [a for a in args if a.wire == "stream" and a.kind == "body"]
            if not stream_args:
                raise CodegenError(f"{op.where}: x-apertis-stream is set but the body has no `stream` property")
            stream_args[0].is_stream = True
            stream_args[0].name = "stream"
            event = op.stream["event"]
            if event not in (self.spec.get("components", {}).get("schemas") or {}):
                raise CodegenError(f"{op.where}: x-apertis-stream event `{event}` is not a schema in components")
            stream_cls = "Async" + op.stream["class"]
            # For the annotations only: the first streamed call imports the class (resource_macros.py.jinja).
            imports.add(".._streaming", stream_cls, runtime=False)

        sdk_default = self._sdk_default(op, args, imports) if op.sdk_default else None
        return_type, cast_to = self._response(op, imports)
        json_formats = None
        if op.raw.get("x-apertis-json-formats") is not None:
            json_formats = {**self._json_formats(op, args), "returns": split_union(return_type)[0]}
        if sdk_default is not None and cast_to is None:
            raise CodegenError(f"{op.where}: x-apertis-sdk-default needs a JSON response to post-process")
        return Method(
            name=op.name, http_method=op.method.upper(), path_expr=path_expr, path_params=path_params, args=args,
            return_type=return_type, stream=stream_cls,
            summary=one_line(op.raw.get("summary")) or f"`{op.resource}.{op.name}`.",
            description=[p for p in doc_text(op.raw.get("description")).split("\n\n") if p],
            doc_args=[(a.name, a.doc or f"The `{a.wire}` {KIND_WORDS[a.kind]}.") for a in path_params + args],
            body_kind=body_kind, cast_to=cast_to, response_kind=None if op.response == "json" else op.response,
            host_root=op.host_root, display_name=f"{op.resource}.{op.name}",
            checks=[check for a in args if a.required for check in self._checks(a)], sdk_default=sdk_default,
            json_formats=json_formats,
        )  # fmt: skip

    def _json_formats(self, op: Operation, args: list[Arg]) -> dict[str, str]:
        """The overload of a text-or-json operation whose argument values always get JSON back
        (`x-apertis-json-formats: {argument: response_format, values: [json, verbose_json]}`)."""
        ext = op.raw["x-apertis-json-formats"]
        if op.response != "text-or-json":
            raise CodegenError(f"{op.where}: x-apertis-json-formats applies to x-apertis-response text-or-json only")
        if not isinstance(ext, dict) or set(ext) != {"argument", "values"} or not isinstance(ext["values"], list):
            raise CodegenError(f"{op.where}: x-apertis-json-formats must be {{argument: <field>, values: [...]}}")
        matches = [a for a in args if a.wire == ext["argument"] and not a.required]
        if not matches:
            raise CodegenError(f"{op.where}: x-apertis-json-formats argument `{ext['argument']}` is no optional field")
        _, schema = _resolve(self.spec, matches[0].schema or {})
        unknown = [v for v in ext["values"] if v not in (schema.get("enum") or [])]
        if unknown or not ext["values"]:
            raise CodegenError(f"{op.where}: x-apertis-json-formats values {unknown} are not in the field's enum")
        literal = f"Literal[{', '.join(repr(v) for v in ext['values'])}]"
        return {"arg": matches[0].name, "annotation": f"Union[{literal}, NotGiven, None]"}

    def _sdk_default(self, op: Operation, args: list[Arg], imports: Imports) -> dict[str, str]:
        """An SDK-side default (`x-apertis-sdk-default`): when the caller leaves the argument out (and does not
        set it through extra_body either), the request carries `value` and the parsed result goes through the
        hand-written `postprocess` function. Returns {arg, wire, function} for the template.
        """
        ext = op.sdk_default
        assert ext is not None
        if op.stream or op.response != "json":
            raise CodegenError(f"{op.where}: x-apertis-sdk-default applies to plain JSON operations only")
        matches = [a for a in args if a.wire == ext["argument"] and a.kind == "body"]
        if not matches:
            raise CodegenError(f"{op.where}: x-apertis-sdk-default argument `{ext['argument']}` is not a body field")
        arg = matches[0]
        if arg.required:
            raise CodegenError(
                f"{op.where}: x-apertis-sdk-default argument `{arg.wire}` is required: there is nothing to default"
            )
        _, schema = _resolve(self.spec, arg.schema or {})
        allowed = schema.get("enum")
        if allowed is not None and ext["value"] not in allowed:
            raise CodegenError(
                f"{op.where}: x-apertis-sdk-default value {ext['value']!r} is not one of {arg.wire}'s enum {allowed}"
            )
        module, function = ext["postprocess"].split(".")
        imports.add(f"...{module}", function, runtime=True)
        arg.sdk_default = repr(ext["value"])
        if ext.get("doc"):
            arg.doc = f"{arg.doc} {one_line(ext['doc'])}".strip()
        return {"arg": arg.name, "wire": arg.wire, "function": function}

    @staticmethod
    def _optional(annotation: str, *, none: bool = True) -> str:
        """An optional argument also takes None (not a file upload): the request leaves it out then (build_body),
        as with NOT_GIVEN."""
        inner = annotation[len("Optional[") : -1] if annotation.startswith("Optional[") else annotation
        parts = [p for p in split_union(inner) if p != "None"] + ["NotGiven"]
        if none or "None" in split_union(inner):
            parts.append("None")
        return f"Union[{', '.join(parts)}]"

    def _body_arg(
        self, op: Operation, prop: Any, required: bool, raw_props: dict[str, Any], *, body_kind: str, imports: Imports
    ) -> Arg:
        name = argument_name(prop, raw_props, op.where)
        kind = "body" if body_kind == "json" else "data"
        if isinstance(prop, FileProperty):
            kind = "file"
        elif isinstance(prop, ListProperty) and isinstance(prop.inner_property, FileProperty):
            kind = "file_list"
        if kind.startswith("file") and body_kind != "multipart":
            raise CodegenError(f"{op.where}: binary property `{text_of(prop.name)}` outside a multipart body")
        raw = raw_props.get(text_of(prop.name))
        uploads = kind.startswith("file")  # None is no upload: files are not built with build_body
        if uploads or raw is None:
            annotation = self.registry.annotation(prop, imports, arg=True)
        else:
            # The request types (apertis.types.params): dict literals are checked key by key.
            annotation = self.params.annotation(raw, imports)
        if not required:
            annotation = self._optional(annotation, none=not uploads)
        return Arg(
            name=name, wire=text_of(prop.name), annotation=annotation,
            required=required, doc=one_line(prop.description), kind=kind, schema=raw,
        )  # fmt: skip

    # ------------------------------------------------------------------------------ argument checks
    def _shape(self, schema: Any) -> Optional[tuple[list[str], list[str], Optional[str]]]:
        """What a value of `schema` may be at runtime: (Python types, words for the message, the name of the
        object schema its list elements must match, if any). None when the schema is too loose to check.
        """
        name, node = _resolve(self.spec, schema)
        variants = node.get("oneOf") or node.get("anyOf")
        if variants:
            types: list[str] = []
            words: list[str] = []
            item_name: Optional[str] = None
            for variant in variants:
                shape = self._shape(variant)
                if shape is None:
                    return None
                types += [t for t in shape[0] if t not in types]
                words += [w for w in shape[1] if w not in words]
                item_name = item_name or shape[2]
            return types, words, item_name
        kind = node.get("type")
        if kind == "string" and node.get("format") != "binary":
            return ["str"], ["a str"], None
        if kind == "integer":
            return ["int"], ["an int"], None
        if kind == "number":
            return ["int", "float"], ["a number"], None
        if kind == "boolean":
            return ["bool"], ["a bool"], None
        if kind == "array":
            item_ref, item = _resolve(self.spec, node.get("items") or {})
            if item_ref is not None and (item.get("type") == "object" or item.get("oneOf") or item.get("anyOf")):
                return ["list", "tuple"], [f"a list of {item_ref} (dicts or models)"], item_ref
            return ["list", "tuple"], ["a list"], None
        if name is not None and node.get("type") == "object":
            return ["Mapping", "BaseModel"], [f"a {name} (a dict or the model)"], None
        return None

    def _checks(self, arg: Arg) -> list[Check]:
        """The type check of a required argument, made before the request is built (none or one).

        Only the outer type is checked (plus the elements of a list of objects): enough to catch the usual
        mistakes (None, a dict for a list, a str for a list of messages) at the price of one isinstance.
        """
        if arg.kind not in ("body", "data") or arg.schema is None:
            return []
        shape = self._shape(arg.schema)
        if shape is None:
            return []
        types, words, item_name = shape
        scalar = [t for t in types if t not in ("list", "tuple")] if item_name else types
        return [
            Check(
                name=arg.name,
                types=scalar[0] if len(scalar) == 1 else f"({', '.join(scalar)})",
                expected=" or ".join(words),
                numeric="int" in types and "bool" not in types,
                item_name=item_name,
                list_only=not scalar,
            )
        ]

    def _response(self, op: Operation, imports: Imports) -> tuple[str, Optional[str]]:
        if op.response == "binary":
            imports.add(".._response", "AsyncBinaryResponse", runtime=False)
            return "AsyncBinaryResponse", None
        responses = op.raw.get("responses") or {}
        success = [code for code in responses if str(code).startswith("2")]
        if not success:
            raise CodegenError(f"{op.where}: no 2xx response")
        content = (responses[success[0]] or {}).get("content") or {}
        json_content = content.get("application/json")
        if json_content is None:
            raise CodegenError(f"{op.where}: the 2xx response has no application/json content (use x-apertis-response)")
        name, _ = _resolve(self.spec, json_content.get("schema"))
        if name is None:
            raise CodegenError(f"{op.where}: the JSON response schema must be a $ref to a named schema")
        if name in self.registry.named_unions:
            module = self.registry.union_module(name)
            parser = self.registry.union_parser(name)
            imports.add(module, parser, runtime=True)
            imports.add(module, name, runtime=False)
            cast_to = parser
        elif name in self.registry.models:
            model = self.registry.models[name]
            imports.add(str(model.class_info.module_name), name, runtime=True)
            cast_to = f"{name}.from_dict"
        else:
            raise CodegenError(f"{op.where}: response schema {name} is not an object or a union of objects")
        if op.response == "text-or-json":
            return f"Union[{name}, str]", cast_to
        return name, cast_to


# The attributes every resource class gets (resource_module.py.jinja): no spec method or sub-resource may take them.
WRAPPER_ATTRIBUTES = ("with_raw_response", "with_streaming_response")


def module_name_of_top(attr: str) -> str:
    return str(strings.PythonIdentifier(attr, prefix="resource"))


def build_resource_modules(
    spec: dict[str, Any],
    registry: TypeRegistry,
    endpoints: dict[tuple[str, str], Any],
    operations: list[Operation],
    mixins: Optional[dict[str, ResourceMixin]] = None,
    *,
    params: Optional[ParamTypes] = None,
    helper_params: Optional[dict[str, HelperParams]] = None,
) -> ResourceTree:
    """The async resource modules (one per top-level attribute) as template views; `mixins` (resource path ->
    mixin, checked by the driver) adds hand-written base classes."""
    return ResourceBuilder(spec, registry, endpoints, mixins or {}, params, helper_params=helper_params).build(
        operations
    )
