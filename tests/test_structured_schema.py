"""The strict JSON schema of structured outputs (apertis._structured), and Pydantic as an optional extra."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Optional

import jsonschema  # type: ignore[import-untyped]
import pydantic
import pytest
from typing_extensions import TypedDict

import apertis
from apertis._structured import (
    drop_added_nulls,
    output_format,
    sanitize_name,
    to_strict_json_schema,
    type_adapter,
)


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Node(pydantic.BaseModel):
    """A node of a tree."""

    name: str = pydantic.Field(description="what the node is called")
    color: Color = Color.RED
    weight: int = 3
    note: Optional[str] = None
    children: List[Node] = []


class Tree(pydantic.BaseModel):
    root: Node = pydantic.Field(description="the top node")
    tags: List[str]


def _objects(schema: Any) -> List[Dict[str, Any]]:
    """Every object schema inside `schema`."""
    found: List[Dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


def _keys(schema: Any) -> List[str]:
    """Every keyword used anywhere in `schema` (property names included, which is fine for these checks)."""
    if isinstance(schema, dict):
        return [key for key, value in schema.items() for key in [key, *_keys(value)]]
    if isinstance(schema, list):
        return [key for value in schema for key in _keys(value)]
    return []


def test_every_object_is_closed_and_requires_all_its_properties() -> None:
    strict = to_strict_json_schema(Tree.model_json_schema())
    objects = _objects(strict)
    assert len(objects) >= 3  # the root, the inlined `root` node, the Node definition
    for schema in objects:
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])
    jsonschema.Draft202012Validator.check_schema(strict)


def test_defaults_go_and_optional_fields_become_nullable() -> None:
    strict = to_strict_json_schema(Tree.model_json_schema())
    assert "default" not in _keys(strict)
    node = strict["$defs"]["Node"]["properties"]
    assert node["weight"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert node["color"]["anyOf"] == [{"$ref": "#/$defs/Color"}, {"type": "null"}]
    assert node["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]  # already nullable: not wrapped twice
    assert node["name"] == {"description": "what the node is called", "title": "Name", "type": "string"}


def test_a_ref_with_siblings_is_inlined_and_recursion_stays_a_ref() -> None:
    strict = to_strict_json_schema(Tree.model_json_schema())
    root = strict["properties"]["root"]
    assert "$ref" not in root
    assert root["description"] == "the top node"
    assert root["properties"]["children"]["anyOf"][0] == {"type": "array", "items": {"$ref": "#/$defs/Node"}}


def test_the_input_is_left_alone() -> None:
    schema = Tree.model_json_schema()
    before = json.dumps(schema, sort_keys=True)
    to_strict_json_schema(schema)
    assert json.dumps(schema, sort_keys=True) == before


def test_def_names_are_sanitised_and_refs_follow() -> None:
    schema = {
        "type": "object",
        "properties": {"box": {"$ref": "#/$defs/Box[int]"}},
        "required": ["box"],
        "$defs": {"Box[int]": {"type": "object", "properties": {"item": {"type": "integer"}}, "required": ["item"]}},
    }
    strict = to_strict_json_schema(schema)
    assert list(strict["$defs"]) == ["Box_int_"]
    assert strict["properties"]["box"] == {"$ref": "#/$defs/Box_int_"}


def test_one_of_becomes_any_of_and_a_single_all_of_is_merged() -> None:
    schema = {
        "type": "object",
        "properties": {
            "pet": {"oneOf": [{"type": "string"}, {"type": "integer"}], "discriminator": {"propertyName": "x"}},
            "owner": {"allOf": [{"type": "object", "properties": {"n": {"type": "string"}}}], "title": "Owner"},
        },
        "required": ["pet", "owner"],
    }
    strict = to_strict_json_schema(schema)
    assert strict["properties"]["pet"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    owner = strict["properties"]["owner"]
    assert "allOf" not in owner
    assert owner["title"] == "Owner"
    assert owner["additionalProperties"] is False
    assert owner["required"] == ["n"]


def test_a_ref_to_nothing_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"#/\$defs/Missing"):
        to_strict_json_schema({"$ref": "#/$defs/Missing", "description": "x"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Tree", "Tree"), ("Box[int]", "Box_int_"), ("", "response"), ("x" * 80, "x" * 64), ("a b.c", "a_b_c")],
)
def test_sanitize_name(name: str, expected: str) -> None:
    assert sanitize_name(name) == expected


def test_nulls_the_strict_schema_added_are_read_as_left_out() -> None:
    schema = Tree.model_json_schema()
    reply = {"root": {"name": "a", "color": None, "weight": None, "note": None, "children": None}, "tags": []}
    assert drop_added_nulls(reply, schema) == {"root": {"name": "a", "note": None}, "tags": []}
    parsed = output_format(Tree, parameter="response_format").parse_json(json.dumps(reply))
    assert parsed.root == Node(name="a")


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int


@pytest.mark.parametrize(
    ("tp", "reply", "expected"),
    [(Point, {"x": 1, "y": 2}, Point(1, 2)), (Movie, {"title": "T", "year": 1}, {"title": "T", "year": 1})],
)
def test_dataclasses_and_typed_dicts_go_through_type_adapter(tp: Any, reply: Any, expected: Any) -> None:
    fmt = output_format(tp, parameter="response_format")
    assert fmt.schema["additionalProperties"] is False
    assert fmt.parse_json(json.dumps(reply)) == expected


def test_type_adapter_rejects_what_pydantic_cannot_read() -> None:
    with pytest.raises(TypeError, match="response_format must be a type Pydantic can validate"):
        type_adapter(object(), parameter="response_format")


def test_a_reply_that_does_not_validate() -> None:
    fmt = output_format(Tree, parameter="response_format")
    with pytest.raises(apertis.StructuredOutputValidationError) as caught:
        fmt.parse_json('{"root": {"name": 1}, "tags": "x"}')
    error = caught.value
    assert isinstance(error, apertis.APIResponseValidationError)
    assert str(error) == (
        "the model's reply does not match Tree (2 errors): root.name: Input should be a valid string; "
        "tags: Input should be a valid list"
    )
    assert error.text == '{"root": {"name": 1}, "tags": "x"}'
    assert [e["loc"] for e in error.errors] == [["root", "name"], ["tags"]]


def test_a_reply_that_is_not_json() -> None:
    with pytest.raises(apertis.StructuredOutputValidationError, match="not valid JSON") as caught:
        output_format(Tree, parameter="response_format").parse_json('{"root": ')
    assert caught.value.errors[0]["type"] == "json_invalid"


def test_a_schema_dict_is_validated_by_jsonschema() -> None:
    schema = {"title": "Answer", "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = output_format(schema, parameter="response_format")
    assert fmt.name == "Answer"
    assert fmt.parse_json('{"n": 1}') == {"n": 1}
    with pytest.raises(apertis.StructuredOutputValidationError, match="n: 'x' is not of type 'integer'"):
        fmt.parse_json('{"n": "x"}')


def test_strict_false_sends_pydantic_schema_unchanged() -> None:
    fmt = output_format(Tree, parameter="response_format", strict=False)
    assert fmt.schema == Tree.model_json_schema()
    assert fmt.strict is False


def test_a_string_is_not_a_type() -> None:
    with pytest.raises(TypeError, match="response_format must be a type"):
        output_format("Tree", parameter="response_format")


def test_the_errors_pickle() -> None:
    import pickle

    error = apertis.StructuredOutputValidationError("bad", text="{}", errors=[{"loc": ["a"], "msg": "m"}])
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.text, copy.errors) == (type(error), "{}", error.errors)
    length = pickle.loads(pickle.dumps(apertis.LengthFinishReasonError("cut", completion={"id": "x"})))
    assert length.completion == {"id": "x"}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )


# A child interpreter where `import pydantic` fails, as on a machine without the extra.
_NO_PYDANTIC = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pydantic" or name.startswith("pydantic."):
            raise ImportError("blocked for the test")
        return None
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.slow
def test_without_pydantic_a_python_type_names_the_extra() -> None:
    result = _run(
        _NO_PYDANTIC
        + """
import dataclasses
import apertis
from apertis._structured import output_format
@dataclasses.dataclass
class Point:
    x: int
try:
    output_format(Point, parameter="response_format")
except apertis.MissingDependencyError as error:
    assert isinstance(error, ImportError)
    print(error)
print(output_format({"type": "object", "properties": {}}, parameter="response_format").parse_json("{}"))
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "response_format=Point needs Pydantic to build its JSON schema and validate the reply: pip install "
        '"apertis[pydantic]" (or pydantic>=2.7), or pass a JSON-schema dict as response_format',
        "{}",
    ]


@pytest.mark.slow
def test_the_sdk_imports_no_pydantic_unless_asked() -> None:
    result = _run(
        """
import sys
import apertis
from apertis._structured import output_format
client = apertis.Apertis(api_key="k")
output_format({"type": "object", "properties": {}}, parameter="response_format")
assert "pydantic" not in sys.modules, "pydantic was imported"
print("ok")
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_type_pydantic_cannot_describe_is_a_type_error() -> None:
    class Broken(pydantic.BaseModel):
        child: Undefined  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"response_format=.*Broken: Pydantic cannot build its JSON schema"):
        output_format(Broken, parameter="response_format")


def test_a_broken_schema_dict_is_refused_before_any_call() -> None:
    with pytest.raises(TypeError, match=r"text_format is not a valid JSON schema \(at properties/n/type\)"):
        output_format({"type": "object", "properties": {"n": {"type": "integr"}}}, parameter="text_format")
    with pytest.raises(ValueError, match=r"text_format: the JSON schema's \$ref '#/\$defs/Gone' names nothing"):
        output_format({"type": "object", "properties": {"n": {"$ref": "#/$defs/Gone"}}}, parameter="text_format")
