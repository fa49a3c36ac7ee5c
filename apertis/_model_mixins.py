"""Hand-written behaviour of some generated models.

`codegen/config.yaml` (`model_mixins`) names the models that inherit a class from here; the generator checks
that the class exists. A mixin adds read-only conveniences computed from the generated fields, never fields of
its own (the attrs model owns the fields and their parsing), and keeps `__slots__ = ()` so the models stay slotted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, List, Union, overload

from ._exceptions import type_error

if TYPE_CHECKING:
    from .types.model import Model

__all__ = ["ModelListMixin", "ResponseMixin"]

# Content part types that carry the answer's text: `output_text`, and `text` from older gateway conversions.
_TEXT_PART_TYPES = frozenset(("output_text", "text"))


def _field(value: Any, name: str) -> Any:
    # Output items and parts are models, or the raw dicts of variants this SDK does not know.
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


class ResponseMixin:
    """Conveniences of `Response` (the Responses API result)."""

    __slots__ = ()

    @property
    def output_text(self) -> str:
        """The text of the response: every `output_text` (and legacy `text`) part of its `message` output items,
        joined in order; "" when there is none. Refusals, reasoning and tool calls are left out.

        Items and parts of types this SDK does not know are skipped; a field it reads that has the wrong type (an
        `output` that is not an array, a text that is not a string) raises APIResponseValidationError naming it.
        """
        parts = []
        output = getattr(self, "output", None)
        if output is None:
            return ""
        if not isinstance(output, list):
            raise type_error("output", "an array", output)
        for item_index, item in enumerate(output):
            if _field(item, "type") != "message":
                continue
            content = _field(item, "content")
            if content is None:
                continue
            if not isinstance(content, list):
                raise type_error(f"output[{item_index}].content", "an array", content)
            for part_index, part in enumerate(content):
                kind = _field(part, "type")
                if isinstance(kind, str) and kind in _TEXT_PART_TYPES:
                    text = _field(part, "text")
                    if text is None:
                        continue
                    if not isinstance(text, str):
                        raise type_error(f"output[{item_index}].content[{part_index}].text", "a string", text)
                    parts.append(text)
        return "".join(parts)


class ModelListMixin:
    """`ModelList` (what `client.models.list()` returns) reads as its list of models, as in openai-python:
    `for model in client.models.list():`, `len(...)`, `[0]` and slices go to `.data`.

    Only the model list iterates: the other list-shaped answers (embeddings, rerank results, images) are read
    through their field (`.data`, `.results`), as in openai-python. A list is always truthy, even when empty, like
    every other model (it is a response, not a container: `if models:` tests that there is one).
    """

    __slots__ = ()
    data: List[Model]

    def __iter__(self) -> Iterator[Model]:
        return iter(self.data or ())

    def __len__(self) -> int:
        return len(self.data or ())

    @overload
    def __getitem__(self, index: int) -> Model: ...

    @overload
    def __getitem__(self, index: slice) -> List[Model]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Model, List[Model]]:
        return (self.data or [])[index]

    def __bool__(self) -> bool:
        return True
