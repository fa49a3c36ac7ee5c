"""Hand-written behaviour of some generated models.

`codegen/config.yaml` (`model_mixins`) names the models that inherit a class from here; the generator checks
that the class exists. A mixin adds read-only conveniences computed from the generated fields, never fields of
its own (the attrs model owns the fields and their parsing), and keeps `__slots__ = ()` so the models stay slotted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ResponseMixin"]

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
        joined in order; "" when there is none. Refusals, reasoning and tool calls are left out."""
        parts = []
        output = getattr(self, "output", None)
        for item in output if isinstance(output, list) else ():
            if _field(item, "type") != "message":
                continue
            content = _field(item, "content")
            for part in content if isinstance(content, list) else ():
                if _field(part, "type") in _TEXT_PART_TYPES:
                    text = _field(part, "text")
                    if isinstance(text, str):
                        parts.append(text)
        return "".join(parts)
