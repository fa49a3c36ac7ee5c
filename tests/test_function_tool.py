"""`apertis.function_tool`: the tool definition built from a function's signature, annotations and docstring, in the
three APIs' formats, and the validation of what the model sends."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

import pytest
from pydantic import BaseModel

import apertis
from apertis import function_tool


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str
    postcode: Optional[str] = None


class Person(BaseModel):
    name: str
    address: Address
    friends: List[Person] = []


class Unschematic:
    """A class Pydantic has no schema for."""


@dataclass
class Window:
    start: int
    end: int


def book(
    person: Person,
    colour: Colour,
    size: Literal["s", "m", "l"] = "m",
    note: Optional[str] = None,
    window: Optional[Window] = None,
    count: int = 1,
) -> Dict[str, Any]:
    """Book a fitting for a person.

    Nothing is charged.

    Args:
        person: Who comes, with their address.
        colour: The colour of the suit.
        size (str): The size, one of s, m, l;
            m when in doubt.
        note: Anything else.

    Returns:
        The booking.
    """
    return {"person": person.name, "colour": colour.value, "size": size, "note": note, "count": count}


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    tool = function_tool(book)
    assert tool.name == "book" and tool.strict is True
    assert tool.description == "Book a fitting for a person.\n\nNothing is charged."
    schema = tool.parameters
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert "title" not in schema
    properties = schema["properties"]
    # strict: every property required, the optional ones nullable, no defaults
    assert schema["required"] == ["person", "colour", "size", "note", "window", "count"]
    assert properties["size"]["anyOf"] == [{"enum": ["s", "m", "l"], "type": "string"}, {"type": "null"}]
    assert properties["size"]["description"] == "The size, one of s, m, l; m when in doubt."
    assert properties["note"]["description"] == "Anything else."
    assert properties["person"]["description"] == "Who comes, with their address."
    assert properties["count"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert "description" not in properties["count"]  # no line in Args
    assert "default" not in repr(schema)
    # nested and recursive models under $defs, strict too
    definitions = schema["$defs"]
    assert definitions["Person"]["additionalProperties"] is False
    assert definitions["Person"]["properties"]["friends"]["anyOf"][0]["items"] == {"$ref": "#/$defs/Person"}
    assert definitions["Address"]["required"] == ["street", "city", "postcode"]
    assert definitions["Colour"]["enum"] == ["red", "blue"]


def test_strict_false_sends_the_schema_as_pydantic_writes_it() -> None:
    tool = function_tool(book, strict=False, name="book_fitting", description="Books.")
    assert tool.chat_tool() == {
        "type": "function",
        "function": {"name": "book_fitting", "parameters": tool.parameters, "strict": False, "description": "Books."},
    }
    assert tool.parameters["required"] == ["person", "colour"]
    assert tool.parameters["properties"]["size"]["default"] == "m"
    assert "additionalProperties" not in tool.parameters
    # left out, an optional argument takes its default
    arguments = tool.call_arguments(
        {"person": {"name": "Ann", "address": {"street": "1 Road", "city": "Oslo"}}, "colour": "red"}
    )
    assert arguments["size"] == "m" and arguments["count"] == 1 and arguments["colour"] is Colour.RED
    assert tool(**arguments)["person"] == "Ann"


def test_the_three_formats() -> None:
    tool = function_tool(book)
    assert tool.chat_tool()["function"]["parameters"] is tool.parameters
    assert tool.responses_tool() == {
        "type": "function",
        "name": "book",
        "parameters": tool.parameters,
        "strict": True,
        "description": tool.description,
    }
    assert tool.messages_tool() == {"name": "book", "input_schema": tool.parameters, "description": tool.description}


def test_arguments_are_validated_into_the_annotated_types() -> None:
    tool = function_tool(book)
    sent = (
        '{"person": {"name": "Ann", "address": {"street": "1 Road", "city": "Oslo", "postcode": null},'
        ' "friends": [{"name": "Bo", "address": {"street": "2 Road", "city": "Rome", "postcode": "00100"},'
        ' "friends": []}]}, "colour": "blue", "size": null, "note": null, "window": {"start": 1, "end": 2},'
        ' "count": null}'
    )
    arguments = tool.call_arguments(sent)
    person = arguments["person"]
    assert isinstance(person, Person) and isinstance(person.friends[0], Person)
    assert person.friends[0].address.postcode == "00100"
    assert arguments["colour"] is Colour.BLUE
    assert arguments["window"] == Window(1, 2)
    assert (arguments["size"], arguments["note"], arguments["count"]) == ("m", None, 1)  # nulls: the defaults
    with pytest.raises(
        apertis.ToolArgumentsError, match=r"'book' do not validate: colour: Input should be 'red' or"
    ) as caught:
        tool.call_arguments(sent.replace('"blue"', '"green"'))
    assert caught.value.errors[0]["loc"] == ["colour"]


def test_as_a_decorator_and_on_async_functions() -> None:
    @function_tool(name="lookup", strict=False)
    async def find(query: str) -> List[str]:
        """Search."""
        return [query]

    assert isinstance(find, apertis.FunctionTool) and find.name == "lookup" and find.is_async
    assert find.__doc__ == "Search."

    @function_tool
    def ping() -> str:
        return "pong"

    assert ping() == "pong" and ping.description is None and ping.call_arguments(None) == {}
    assert ping.parameters == {"properties": {}, "type": "object", "additionalProperties": False, "required": []}


def test_a_schema_of_your_own_needs_no_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic", None)  # `import pydantic` now fails
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

    @function_tool(parameters=schema)
    def weather(city: str) -> str:
        return f"sunny in {city}"

    assert weather.parameters["additionalProperties"] is False
    assert weather.call_arguments('{"city": "Oslo"}') == {"city": "Oslo"}
    with pytest.raises(apertis.ToolArgumentsError, match="is not of type 'string'"):  # jsonschema, when installed
        weather.call_arguments('{"city": 3}')


def test_without_pydantic_a_signature_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic", None)
    with pytest.raises(
        apertis.MissingDependencyError,
        match=r'function_tool\(book\) needs Pydantic.*pip install "apertis\[pydantic\]".*parameters=',
    ):
        function_tool(book)


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        (lambda *items: None, r"takes \*items; .* every parameter must be a named one"),
        (lambda **options: None, r"takes \*\*options"),
    ],
)
def test_signatures_a_tool_cannot_have(function: Any, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        function_tool(function, name="f")


def test_bad_names_and_values() -> None:
    assert function_tool(lambda: None).name == "_lambda_"  # a function's own name is made a valid one
    with pytest.raises(ValueError, match=r"`name` must be 1 to 64 letters, digits, `_` or `-`, got 'get weather'"):
        function_tool(book, name="get weather")
    with pytest.raises(TypeError, match="`function` must be a function, got int"):
        function_tool(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="`parameters` must be a JSON-schema dict, got list"):
        function_tool(book, parameters=[])  # type: ignore[call-overload]

    def unknown(value: Undefined) -> None:  # type: ignore[name-defined]  # noqa: F821
        """An annotation that names nothing."""

    with pytest.raises(TypeError, match="cannot read the signature of 'unknown'"):
        function_tool(unknown)

    def opaque(value: Unschematic) -> None:
        """A type Pydantic has no schema for."""

    with pytest.raises(TypeError, match="cannot build the arguments of 'opaque': Unable to generate pydantic-core"):
        function_tool(opaque)
    assert repr(function_tool(book)) == "FunctionTool(name='book', strict=True)"


def test_a_schema_that_allows_any_json_still_needs_an_object() -> None:
    tool = function_tool(lambda **kwargs: kwargs, name="anything", parameters={}, strict=False)
    assert tool.call_arguments('{"a": 1}') == {"a": 1}
    with pytest.raises(apertis.ToolArgumentsError, match="must be a JSON object, got \\[1\\]") as caught:
        tool.call_arguments("[1]")
    assert caught.value.errors[0]["type"] == "dict_type"
