"""Generated models: lenient parsing, required arrays, Response.output_text, public type exports, and the
codegen keys behind them (model_mixins, extra_type_exports)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict

import pytest
from pytest_httpx import HTTPXMock

import apertis
from apertis import types
from apertis.types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse, Message, ModelList, Response

# The driver's config checks need openapi-python-client, which needs Python >= 3.11 (see test_codegen.py).
pytest.importorskip("openapi_python_client", reason="the generator needs Python >= 3.11 and the dev extra")

from codegen.config import ConfigError, load_config
from codegen.generate import GenerationFailed, check_extra_exports, check_model_mixins

ROOT = Path(__file__).resolve().parent.parent

RESPONSE: Dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4.1",
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Paris is ", "annotations": []},
                {"type": "refusal", "refusal": "not this"},
                {"type": "text", "text": "the capital."},
            ],
        },
        {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": " Yes."}]},
        {"type": "brand_new_item", "content": [{"type": "output_text", "text": "not a message"}]},
    ],
}


# ---------------------------------------------------------------------------------------------- output_text


async def test_output_text_on_a_non_streamed_response(
    httpx_mock: HTTPXMock, make_client: Any, call: Any, kind: str
) -> None:
    httpx_mock.add_response(method="POST", json=RESPONSE)
    client = make_client(max_retries=0)
    try:
        response = await call(client.responses.create, model="gpt-4.1", input="Capital of France?")
    finally:
        await call(client.close)
    assert isinstance(response, Response)
    assert response.output_text == "Paris is the capital. Yes."


@pytest.mark.parametrize(
    "output",
    [[], None, "garbage", [{"type": "function_call", "name": "f"}], [{"type": "message", "content": None}]],
)
def test_output_text_is_empty_without_text(output: Any) -> None:
    data = {**RESPONSE, "output": output}
    if output is None:
        del data["output"]
    assert Response.from_dict(data).output_text == ""


def test_output_text_reads_unknown_items_kept_as_dicts() -> None:
    # An item of a type the SDK does not know stays a dict; a message among them still counts.
    response = Response.from_dict(RESPONSE)
    assert isinstance(response.output[-1], dict)
    assert response.output_text.endswith("Yes.")
    assert "output_text" not in response.to_dict()  # a property, never a wire field


def test_response_is_still_a_slotted_attrs_model() -> None:
    response = Response.from_dict(RESPONSE)
    with pytest.raises(AttributeError):
        response.not_a_field = 1  # type: ignore[attr-defined]
    assert response.to_dict() == RESPONSE


# ---------------------------------------------------------------------------------------------- required arrays


@pytest.mark.parametrize("missing", ["absent", "null"])
@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (ChatCompletion, {"model": "m", "choices": 1}, "choices"),
        (EmbeddingResponse, {"object": "list", "model": "m", "data": 1}, "data"),
        (Message, {"id": "m", "type": "message", "role": "assistant", "model": "c", "content": 1}, "content"),
        (ModelList, {"object": "list", "data": 1}, "data"),
        (Response, {"id": "r", "model": "m", "output": 1}, "output"),
    ],
)
def test_a_required_array_left_out_or_null_reads_as_empty_list(cls: Any, data: dict, field: str, missing: str) -> None:
    data = dict(data)
    if missing == "absent":
        del data[field]
    else:
        data[field] = None
    model = cls.from_dict(data)
    assert getattr(model, field) == []
    assert list(getattr(model, field)) == []


def test_required_scalars_stay_none_and_optional_fields_unset() -> None:
    completion = ChatCompletion.from_dict({"choices": [{"index": 0, "message": {"role": "assistant"}}]})
    assert completion.model is None
    assert completion.id is apertis.NOT_GIVEN
    assert completion.choices[0].message.content is apertis.NOT_GIVEN
    nullable = ChatCompletion.from_dict({"model": "m", "choices": [], "usage": None})
    assert nullable.usage is None


def test_a_required_array_of_the_wrong_type_is_kept_as_it_came() -> None:
    assert ChatCompletion.from_dict({"model": "m", "choices": "oops"}).choices == "oops"


# ---------------------------------------------------------------------------------------------- lenient parsing


def test_unknown_keys_are_kept_and_the_input_is_not_modified() -> None:
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "x", "new_delta_field": 1}, "brand_new": True}],
        "top_level_new": {"a": [1]},
    }
    original = copy.deepcopy(chunk)
    parsed = ChatCompletionChunk.from_dict(chunk)
    assert chunk == original
    assert parsed.additional_properties == {"top_level_new": {"a": [1]}}
    assert parsed.choices[0].additional_properties == {"brand_new": True}
    assert parsed.choices[0].delta.additional_properties == {"new_delta_field": 1}
    assert parsed.to_dict() == original
    # Models built separately never share their additional_properties dict.
    plain = ChatCompletionChunk.from_dict({"id": "c"})
    assert plain.additional_properties == {}
    assert plain.additional_properties is not ChatCompletionChunk.from_dict({"id": "d"}).additional_properties


def test_from_dict_accepts_any_mapping_and_nullable_single_model_unions() -> None:
    from types import MappingProxyType

    data = {"model": "m", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    completion = ChatCompletion.from_dict(MappingProxyType(data))
    assert completion.usage.total_tokens == 3
    assert json.loads(completion.to_json()) == data


def test_models_keep_their_readable_repr() -> None:
    assert repr(ChatCompletionChunk.from_dict({"id": "c", "x": 1})) == (
        "ChatCompletionChunk(id='c', additional_properties={'x': 1})"
    )


# ---------------------------------------------------------------------------------------------- exports


def test_stream_event_types_are_exported_from_apertis_types() -> None:
    from apertis._stream_events import UnknownStreamEvent

    assert types.UnknownStreamEvent is UnknownStreamEvent
    assert {"UnknownStreamEvent", "MessageStreamEvent", "ResponseStreamEvent"} <= set(types.__all__)
    assert "UnknownStreamEvent" in dir(types)
    message_event = types.MessageStreamEvent
    response_event = types.ResponseStreamEvent
    assert types.MessageStartEvent in message_event.__args__
    assert types.ResponseCompletedEvent in response_event.__args__


# ---------------------------------------------------------------------------------------------- codegen keys


class _Registry:
    """The two things the mixin check asks of the generator's TypeRegistry."""

    def __init__(self, models: Dict[str, bool]) -> None:
        self.models = models  # name -> is a free-form dict

    def is_dict_model(self, model: bool) -> bool:
        return model


def test_model_mixins_must_name_a_generated_model_and_a_defined_class(tmp_path: Path) -> None:
    registry: Any = _Registry({"Response": False, "Metadata": True})
    check_model_mixins(ROOT, registry, {"Response": "ResponseMixin"})
    with pytest.raises(GenerationFailed, match="`Respons` is not a generated model"):
        check_model_mixins(ROOT, registry, {"Respons": "ResponseMixin"})
    with pytest.raises(GenerationFailed, match="`Metadata` is not a generated model"):
        check_model_mixins(ROOT, registry, {"Metadata": "ResponseMixin"})
    with pytest.raises(GenerationFailed, match=r"class `NoSuchMixin` .* is not defined in apertis/_model_mixins\.py"):
        check_model_mixins(ROOT, registry, {"Response": "NoSuchMixin"})
    with pytest.raises(GenerationFailed, match="does not exist"):
        check_model_mixins(tmp_path, registry, {"Response": "ResponseMixin"})


def test_extra_type_exports_must_be_defined(tmp_path: Path) -> None:
    assert check_extra_exports(ROOT, {"UnknownStreamEvent": ".._stream_events"}, set()) == [
        ("UnknownStreamEvent", ".._stream_events")
    ]
    with pytest.raises(GenerationFailed, match=r"`Nope` is not defined in apertis/_stream_events\.py"):
        check_extra_exports(ROOT, {"Nope": ".._stream_events"}, set())
    with pytest.raises(GenerationFailed, match="does not exist"):
        check_extra_exports(ROOT, {"X": ".._no_such_module"}, set())
    with pytest.raises(GenerationFailed, match="already a generated type"):
        check_extra_exports(ROOT, {"Response": ".._stream_events"}, {"Response"})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("model_mixins: [Response]\n", "model_mixins"),
        ("model_mixins:\n  Response: not-a-class\n", "model_mixins"),
        ("extra_type_exports:\n  UnknownStreamEvent: _stream_events\n", "extra_type_exports"),
        ("extra_type_exports:\n  UnknownStreamEvent: ..bad-module\n", "extra_type_exports"),
    ],
)
def test_config_rejects_malformed_model_keys(tmp_path: Path, extra: str, message: str) -> None:
    base = "literal_enums: true\npost_hooks: []\nspec: spec/apertis.openapi.yaml\n"
    path = tmp_path / "config.yaml"
    path.write_text(base + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    path.write_text(base + "model_mixins:\n  Response: ResponseMixin\n", encoding="utf-8")
    assert load_config(path).model_mixins == {"Response": "ResponseMixin"}
