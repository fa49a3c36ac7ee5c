"""The generator's parts as functions: the `$ref` resolver, annotations, converters, union parsers, argument checks.

tests/test_codegen.py runs the whole generator on a copy of the repository; these pin each part's behaviour on
a tiny spec, so a regression names the part instead of a diff in 270 generated files.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict

import pytest

from apertis._models import BaseModel
from apertis._validation import check_objects, invalid_argument
from apertis.testing._refs import RefError, Resolver, dangling_refs, schema_name

ROOT = Path(__file__).resolve().parent.parent
REF = "#/components/schemas/"


def _needs_generator() -> None:
    # openapi-python-client 0.29.1 needs Python >= 3.11: nox's 3.9/3.10 runs test only the resolver here.
    pytest.importorskip("openapi_python_client", reason="the generator needs Python >= 3.11 and the dev extra")


# ------------------------------------------------------------------------------------------ the one resolver
DOC: dict[str, Any] = {
    "components": {
        "schemas": {
            "Alias": {"$ref": REF + "Target"},
            "Target": {"type": "object", "description": "the target"},
            "a/b": {"type": "string"},
            "Loop": {"$ref": REF + "Loop"},
        },
        "responses": {"Bad": {"description": "bad", "content": {}}},
    }
}


def test_the_resolver_follows_chains_merges_siblings_and_names_the_schema() -> None:
    resolver = Resolver(DOC)
    assert resolver.resolve({"$ref": REF + "Alias"}) == {"type": "object", "description": "the target"}
    assert resolver.resolve({"$ref": REF + "Target", "description": "here"})["description"] == "here"
    assert resolver.resolve_named({"$ref": REF + "Alias"})[0] == "Target"
    assert resolver.resolve_named({"type": "string"}) == (None, {"type": "string"})
    assert resolver.resolve_named(None) == (None, {})
    assert resolver.resolve({"$ref": "#/components/responses/Bad"})["description"] == "bad"
    assert resolver.resolve({"$ref": REF + "a~1b"}) == {"type": "string"}
    assert schema_name(REF + "Target") == "Target"
    assert schema_name("#/components/responses/Bad") is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (REF + "Targte", "$ref '#/components/schemas/Targte' points at nothing: components/schemas has no `Targte` "
         "(did you mean `Target`?)"),
        ("#/components/nothing/X", "points at nothing: components has no `nothing`"),
        (REF + "Loop", "is part of a reference cycle"),
        ("other.yaml#/X", "is not a local pointer"),
    ],
)  # fmt: skip
def test_the_resolver_names_a_bad_reference(ref: str, message: str) -> None:
    with pytest.raises(RefError) as info:
        Resolver(DOC).resolve({"$ref": ref})
    assert message in str(info.value)
    assert info.value.ref == ref


def test_dangling_refs_say_where_each_one_is() -> None:
    doc = {**DOC, "paths": {"/x": {"post": {"requestBody": {"$ref": "#/components/requestBodies/Missing"}}}}}
    found = {where: str(error) for where, error in dangling_refs(doc)}
    assert list(found) == ["#/paths/~1x/post/requestBody"]
    assert "components has no `requestBodies`" in found["#/paths/~1x/post/requestBody"]
    assert dangling_refs(DOC) == []  # a cycle is not dangling: every step exists


# ------------------------------------------------------------------------------------------ annotations
def test_split_union_keeps_nested_brackets_whole() -> None:
    _needs_generator()
    from codegen.types_gen import split_union

    assert split_union("Union[A, List[Union[B, C]], Dict[str, Any], None]") == [
        "A",
        "List[Union[B, C]]",
        "Dict[str, Any]",
        "None",
    ]
    assert split_union("Dict[str, Union[A, B]]") == ["Dict[str, Union[A, B]]"]
    assert split_union("str") == ["str"]


@pytest.mark.parametrize(
    ("annotation", "optional"),
    [
        ("str", "Optional[str]"),
        ("Union[str, None]", "Optional[str]"),
        ("Union[A, List[B]]", "Union[A, List[B], None]"),
        ("Union[None, A, B]", "Union[A, B, None]"),
    ],
)
def test_optional_annotation_puts_none_last_once(annotation: str, optional: str) -> None:
    _needs_generator()
    from codegen.types_gen import optional_annotation

    assert optional_annotation(annotation) == optional


# ------------------------------------------------------------------------------------------ a tiny parsed spec
TINY: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tiny", "version": "1"},
    "paths": {},
    "components": {
        "schemas": {
            "Cat": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "cat"}, "name": {"type": "string"}},
            },
            "Dog": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "dog"}, "bark": {"type": "boolean"}},
            },
            "Pet": {"oneOf": [{"$ref": REF + "Cat"}, {"$ref": REF + "Dog"}]},
            "Owner": {
                "type": "object",
                "required": ["pets"],
                "properties": {
                    "pets": {"type": "array", "items": {"$ref": REF + "Pet"}},
                    "best": {"$ref": REF + "Cat"},
                    "cats": {"type": "array", "items": {"$ref": REF + "Cat"}},
                    "age": {"type": "integer"},
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    "nick": {"anyOf": [{"$ref": REF + "Cat"}, {"type": "null"}]},
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _needs_generator()
    import yaml

    from codegen.config import load_config
    from codegen.generate import parse_spec
    from codegen.types_gen import TypeRegistry

    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    data, _, named_unions = parse_spec(load_config(ROOT / "codegen" / "config.yaml"), path, TINY)
    return TypeRegistry(data.models, data.enums, named_unions)


def _prop(registry: Any, model: str, wire: str) -> Any:
    from codegen.types_gen import text_of

    found = registry.models[model]
    return next(p for p in found.required_properties + found.optional_properties if text_of(p.name) == wire)


def test_annotations_of_fields_and_arguments(registry: Any) -> None:
    from codegen.types_gen import Imports

    imports = Imports()
    assert registry.annotation(_prop(registry, "Owner", "pets"), imports) == "List[Pet]"
    assert (
        registry.annotation(_prop(registry, "Owner", "pets"), imports, arg=True)
        == "Sequence[Union[Pet, Mapping[str, Any]]]"
    )
    assert registry.annotation(_prop(registry, "Owner", "best"), imports, arg=True) == "Union[Cat, Mapping[str, Any]]"
    assert registry.annotation(_prop(registry, "Owner", "tags"), imports) == "Dict[str, str]"
    assert registry.annotation(_prop(registry, "Owner", "nick"), imports) == "Union[Cat, None]"
    assert registry.annotation(_prop(registry, "Cat", "type"), imports) == "Literal['cat']"
    runtime, typing_only = imports.finalize()
    assert runtime == []
    assert ("cat", ["Cat"]) in typing_only and ("pet", ["Pet"]) in typing_only


def _converted(registry: Any, model: str, wire: str) -> Callable[[str], str] | None:
    from codegen.types_gen import Imports

    return registry.converter(_prop(registry, model, wire), Imports(), {}, wire)  # type: ignore[no-any-return]


def test_converters_touch_only_what_needs_converting(registry: Any) -> None:
    for wire in ("age", "tags"):
        assert _converted(registry, "Owner", wire) is None, wire  # passes through, no copy
    best = _converted(registry, "Owner", "best")
    assert best is not None and best("v") == "Cat.from_dict(v) if isinstance(v, dict) else v"
    cats = _converted(registry, "Owner", "cats")
    assert cats is not None
    assert cats("v") == "[Cat.from_dict(i0) if isinstance(i0, dict) else i0 for i0 in v] if isinstance(v, list) else v"
    nick = _converted(registry, "Owner", "nick")  # `anyOf: [Cat, null]` is parsed inline, no function call
    assert nick is not None and nick("v") == "Cat.from_dict(v) if isinstance(v, dict) else v"
    pets = _converted(registry, "Owner", "pets")
    assert pets is not None and "parse_pet(i0)" in pets("v")


def test_a_union_parser_dispatches_on_its_const_discriminator(registry: Any) -> None:
    from codegen.types_gen import Imports, UnionFunction

    functions: dict[str, UnionFunction] = {}
    parser = registry.union_parser("Pet")
    assert parser == "parse_pet"
    function = registry.union_function(registry.named_unions["Pet"], parser, Imports(), functions)
    assert function is not None
    assert function.lines == [
        "def parse_pet(data: Any) -> Any:",
        "    if isinstance(data, dict):",
        "        tag = data.get('type')",
        "        variant = _PET_BY_TYPE.get(tag) if isinstance(tag, str) else None",
        "        if variant is not None:",
        "            return variant.from_dict(data)",
        "        return data",
        "    return data",
    ]
    assert functions["_PET_BY_TYPE"].lines == ["_PET_BY_TYPE: Dict[Any, Any] = {'cat': Cat, 'dog': Dog}"]


def test_a_named_union_publishes_its_table_and_may_build_a_fallback(registry: Any) -> None:
    from codegen.types_gen import Imports, UnionFunction

    functions: dict[str, UnionFunction] = {}
    union = registry.named_unions["Pet"]
    function = registry.union_function(union, "parse_pet", Imports(), functions, public="Pet", fallback="OtherPet")
    assert function is not None
    assert "        variant = PET_BY_TYPE.get(tag) if isinstance(tag, str) else None" in function.lines
    assert function.lines[-2:] == ["        return OtherPet.from_dict(data)", "    return data"]
    assert functions["PET_BY_TYPE"].lines[0] == "PET_BY_TYPE: Dict[str, Type[Pet]] = {'cat': Cat, 'dog': Dog}"


# ------------------------------------------------------------------------------------------ argument checks
def _builder(spec: dict[str, Any]) -> Any:
    _needs_generator()
    from codegen.resources_gen import ResourceBuilder

    return ResourceBuilder(spec, registry=None, endpoints={}, mixins={})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("schema", "shape"),
    [
        ({"type": "string"}, (["str"], ["a str"], None)),
        ({"type": "string", "format": "binary"}, None),
        ({"type": "integer"}, (["int"], ["an int"], None)),
        ({"type": "number"}, (["int", "float"], ["a number"], None)),
        ({"type": "boolean"}, (["bool"], ["a bool"], None)),
        ({"type": "array", "items": {"type": "string"}}, (["list", "tuple"], ["a list"], None)),
        ({"type": "array", "items": {"$ref": REF + "Pet"}},
         (["list", "tuple"], ["a list of Pet (dicts or models)"], "Pet")),
        ({"$ref": REF + "Cat"}, (["Mapping", "BaseModel"], ["a Cat (a dict or the model)"], None)),
        ({"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": REF + "Cat"}}]},
         (["str", "list", "tuple"], ["a str", "a list of Cat (dicts or models)"], "Cat")),
        ({"anyOf": [{"type": "string"}, {}]}, None),  # one loose variant: nothing to check
        ({"description": "anything"}, None),
    ],
)  # fmt: skip
def test_the_shape_resolver(schema: dict[str, Any], shape: Any) -> None:
    assert _builder(TINY)._shape(schema) == shape


def _check_function(schema: dict[str, Any], name: str = "value") -> Callable[[Any], str]:
    """The generated checks of a required argument, compiled against the runtime helpers they call."""
    _needs_generator()
    import jinja2

    from codegen.resources_gen import Arg

    arg = Arg(name=name, wire=name, annotation="Any", required=True, doc="", kind="body", schema=schema)
    method = SimpleNamespace(path_params=[], checks=_builder(TINY)._checks(arg))
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "codegen" / "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    body = templates.get_template("resource_macros.py.jinja").module.argument_checks(method)  # type: ignore[attr-defined]
    source = f"def check({name}):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "    return 'ok'\n"
    namespace: Dict[str, Any] = {"invalid_argument": invalid_argument, "check_objects": check_objects}
    namespace.update(Mapping=Mapping, BaseModel=BaseModel)
    exec(source, namespace)
    return namespace["check"]  # type: ignore[no-any-return]


def test_generated_checks_reject_the_usual_mistakes_and_name_the_argument() -> None:
    number = _check_function({"type": "number"}, "temperature")
    assert number(0.5) == "ok" and number(1) == "ok"
    with pytest.raises(TypeError, match="`temperature` must be a number, got bool True"):
        number(True)
    with pytest.raises(TypeError, match="`temperature` must be a number, got None"):
        number(None)

    pets = _check_function({"type": "array", "items": {"$ref": REF + "Pet"}}, "pets")
    assert pets([{"type": "cat"}]) == "ok" and pets(()) == "ok"
    with pytest.raises(TypeError, match=r"`pets` must be a list of Pet \(dicts or models\), got dict"):
        pets({"type": "cat"})
    with pytest.raises(TypeError, match=r"`pets\[1\]` must be a Pet"):
        pets([{"type": "cat"}, "dog"])

    text_or_cats = _check_function(
        {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": REF + "Cat"}}]}, "content"
    )
    assert text_or_cats("hi") == "ok" and text_or_cats([{"type": "cat"}]) == "ok"
    with pytest.raises(TypeError, match=r"`content\[0\]` must be a Cat"):
        text_or_cats([3])
    with pytest.raises(TypeError, match="`content` must be a str or a list of Cat"):
        text_or_cats(3)
    assert _builder(TINY)._checks(SimpleNamespace(kind="file", schema={})) == []  # uploads are checked elsewhere


def test_argument_name_keeps_wire_names_renames_keywords_and_checks_overrides() -> None:
    _needs_generator()
    from codegen.resources_gen import argument_name
    from codegen.types_gen import CodegenError

    def prop(wire: str, python_name: str) -> Any:
        return SimpleNamespace(name=wire, python_name=python_name)

    assert argument_name(prop("input", "input_"), {}, "POST /x") == "input"  # builtin names stay (0.4.1)
    assert argument_name(prop("from", "from_"), {}, "POST /x") == "from_"
    assert argument_name(prop("timestamp_granularities[]", "timestamp_granularities"), {}, "POST /x") == (
        "timestamp_granularities"
    )
    override = {"extra_body": {"x-apertis-argument": "provider_extra_body"}}
    assert argument_name(prop("extra_body", "extra_body"), override, "POST /x") == "provider_extra_body"
    with pytest.raises(CodegenError, match="POST /x: x-apertis-argument of `extra_body` must be a Python identifier"):
        argument_name(prop("extra_body", "extra_body"), {"extra_body": {"x-apertis-argument": "class"}}, "POST /x")


@pytest.mark.parametrize(
    ("ext", "problem"),
    [
        ({"argument": "encoding_format", "value": "base64", "postprocess": "_embeddings.decode_base64_embeddings"},
         None),
        ("base64", "must be {argument: <body property>, value: <what the SDK sends>, postprocess:"),
        ({"argument": "a", "value": "b"}, "must be {argument:"),
        ({"argument": "a", "value": "b", "postprocess": "_embeddings.decode_base64_embeddings", "extra": 1},
         "must be {argument:"),
        ({"argument": 1, "value": "b", "postprocess": "_m.f"}, "argument and doc must be strings"),
        ({"argument": "a", "value": [1], "postprocess": "_m.f"}, "value must be a JSON scalar"),
        ({"argument": "a", "value": "b", "postprocess": "json.loads"}, "postprocess must name a function of a hand"),
        ({"argument": "a", "value": "b", "postprocess": "_nowhere.f"},
         "postprocess: apertis/_nowhere.py does not exist"),
        ({"argument": "a", "value": "b", "postprocess": "_embeddings.nothing"},
         "postprocess: apertis/_embeddings.py defines no top-level function `nothing`"),
    ],
)  # fmt: skip
def test_sdk_default_problems_are_named(ext: Any, problem: str | None) -> None:
    _needs_generator()
    from codegen.resources_gen import _sdk_default_problem

    found = _sdk_default_problem(ext)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


# ------------------------------------------------------------------------------------------ request types
def _op(schema: str) -> dict[str, Any]:
    return {
        "post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}},
        }
    }


def _params(schemas: dict[str, Any]) -> Any:
    _needs_generator()
    from codegen.params_gen import ParamTypes

    spec = {"paths": {"/x": _op("Body")}, "components": {"schemas": schemas}}
    return ParamTypes(spec, model_modules={"Call": "call", "Reply": "reply"}, enum_modules={"Mode": "mode"})


OBJ = {"type": "object", "description": "d"}
PARAM_SCHEMAS: dict[str, Any] = {
    "Body": {**OBJ, "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
        "mode": {"$ref": "#/components/schemas/Mode"}}},
    "Item": {"oneOf": [{"$ref": "#/components/schemas/Ask"}, {"$ref": "#/components/schemas/Call"}]},
    "Ask": {**OBJ, "required": ["role"], "x-apertis-param-name": "AskMessageParam",
            "x-apertis-param-accepts": ["Reply"],
            "properties": {"role": {"type": "string", "const": "user"}, "n": {"type": ["integer", "null"]}}},
    "Call": {**OBJ, "required": ["type"], "properties": {"type": {"type": "string", "const": "call"}}},
    "Mode": {"type": "string", "enum": ["a", "b"]},
    "Out": {**OBJ, "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}}},
    "Reply": {**OBJ, "properties": {"text": {"type": "string"}}},
}  # fmt: skip


def test_request_types_follow_the_spec() -> None:
    from codegen.types_gen import Imports

    params = _params(PARAM_SCHEMAS)
    imports = Imports()
    body = PARAM_SCHEMAS["Body"]["properties"]
    # A list of a union: the alias; an enum: its Literal alias, imported for annotations only.
    assert params.annotation(body["items"], imports) == "Sequence[ItemParam]"
    assert params.annotation(body["mode"], imports) == "Mode"
    assert imports.typing_only == {"params": {"ItemParam"}, "mode": {"Mode"}} and not imports.runtime
    view = params.module_view()
    ask = next(c for c in view["classes"] if c["name"] == "AskMessageParam")
    assert [(f["name"], f["annotation"]) for f in ask["fields"]] == [
        ("role", "Required[Literal['user']]"),
        ("n", "Optional[int]"),
    ]
    # Call is in responses too: its model is accepted back; Ask accepts Reply (x-apertis-param-accepts).
    assert view["aliases"] == [
        {
            "name": "ItemParam",
            "annotation": "Union[AskMessageParam, Reply, CallParam, Call]",
            "doc": "A `Item` request value.",
        }
    ]
    assert view["names"] == ["AskMessageParam", "CallParam", "ItemParam"]


def test_request_type_names_must_not_collide() -> None:
    from codegen.types_gen import CodegenError

    with pytest.raises(CodegenError, match="schemas Ask and Call would both be the request type CallParam"):
        _params({**PARAM_SCHEMAS, "Ask": {**PARAM_SCHEMAS["Ask"], "x-apertis-param-name": "CallParam"}})
    renamed = {**PARAM_SCHEMAS, "CallParam": {**OBJ, "properties": {"x": {"type": "string"}}}}
    with pytest.raises(CodegenError, match="schema Call: its request type CallParam is the name of another schema"):
        _params(renamed)
