"""JSON nesting: the cap every JSON value the SDK decodes is held to, and the checks that enforce it.

Python's JSON decoder, repr, copy.deepcopy and pickle all recurse once or twice per level of nesting, and the
interpreter stops them at its recursion limit (1,000 frames by default) with a bare RecursionError. A server, or
anything between it and the client, can send a value nested ten thousand deep in a few kilobytes. So the SDK
rejects, while decoding, any value nested deeper than `MAX_JSON_DEPTH` levels; a model built from what it accepts
can be copied, pickled, printed and serialised from any reasonable call stack.

256: deepcopy takes two frames per level (pickle two C levels on Python 3.9 to 3.11), so a value at the cap
needs about 512 frames plus a few per model around it, which leaves some 450 of the default limit to the caller.
Real API payloads stay under twenty levels.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, List, Union

__all__ = ["MAX_JSON_DEPTH", "JSONNestingError", "exceeds_depth", "loads", "long_int", "text_exceeds_depth"]

MAX_JSON_DEPTH = 256
"""The deepest nesting of arrays and objects the SDK decodes (`[[1]]` is 2 levels deep)."""

# A valid JSON text nested N levels deep holds at least N opening and N closing brackets: anything shorter than
# this cannot exceed the cap, which is what keeps the check off the path of a typical streamed chunk.
CHECKED_ABOVE = 2 * MAX_JSON_DEPTH

_STRUCTURAL = b'"[]{}'
_NOT_STRUCTURAL = bytes(byte for byte in range(256) if byte not in _STRUCTURAL)
_STRINGS = rb'"[^"]*"'  # compiled by `re` at its first use, not at import
_CONTAINERS = frozenset((dict, list, tuple))
_STEP = tuple(1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256))


class JSONNestingError(ValueError):
    """A JSON text nested deeper than MAX_JSON_DEPTH levels (a ValueError, as for any text that is not JSON)."""

    def __init__(self) -> None:
        super().__init__(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels, the SDK's cap")


def text_exceeds_depth(text: Union[bytes, str]) -> bool:
    """True when the JSON text `text` nests arrays and objects deeper than MAX_JSON_DEPTH levels.

    Linear and mostly C-speed: only the structural characters are kept (bytes.translate), escaped quotes and
    backslashes dropped first so that what is left of each string is a pair of quotes, strings removed, and the
    running depth of what remains measured. Exact for valid JSON; for invalid JSON the answer does not matter,
    as the decoder rejects it anyway (and a RecursionError it raises is turned into JSONNestingError).
    """
    if len(text) <= CHECKED_ABOVE:
        return False
    # Too few opening brackets to nest that deep, in any encoding (each bracket holds a 0x5B or 0x7B byte): the
    # answer for a typical response, in two C-speed passes.
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
            return False
    elif text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
        return False
    if isinstance(text, str):
        raw = text.encode("utf-8", "surrogatepass")
    elif json.detect_encoding(text) == "utf-8":
        raw = text
    else:  # UTF-16 or UTF-32: their bytes do not map one to one onto characters
        raw = text.decode(json.detect_encoding(text), "replace").encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = raw.translate(None, _NOT_STRUCTURAL)
    if structure.count(b"[") + structure.count(b"{") <= MAX_JSON_DEPTH:
        return False
    if b'"' in structure:
        structure = re.sub(_STRINGS, b"", structure)
    return max(accumulate(map(_STEP.__getitem__, structure)), default=0) > MAX_JSON_DEPTH


def loads(text: Union[bytes, str]) -> Any:
    """`json.loads(text)`, except that a value nested deeper than MAX_JSON_DEPTH raises JSONNestingError."""
    if len(text) > CHECKED_ABOVE and text_exceeds_depth(text):
        raise JSONNestingError
    try:
        return json.loads(text)
    except RecursionError:
        # Invalid JSON the check let through, or a caller whose own stack is already deep.
        raise JSONNestingError from None
    except ValueError as exc:
        if not _is_digit_limit(exc):
            raise
        return json.loads(text, parse_int=long_int)


def _is_digit_limit(exc: ValueError) -> bool:
    # Python 3.11+ refuses str -> int conversions of more than sys.get_int_max_str_digits() digits (4,300 by
    # default), and json.loads lets that ValueError out as if the text were not JSON. It is JSON.
    return "integer string conversion" in str(exc)


def long_int(digits: str) -> int:
    """`int(digits)` for a JSON integer of any length: past Python's limit on digits (3.11+), through Decimal,
    whose conversion to int that limit does not cover. Only ever called on the rare text that needs it."""
    try:
        return int(digits)
    except ValueError:
        import decimal

        return int(decimal.Decimal(digits))


def exceeds_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the plain data `value` (dicts, lists, tuples) nests deeper than `limit` levels.

    Iterative, level by level; the types of a container's items are collected at C speed, so a long list of
    numbers (an embedding) costs little. Anything else, models included, counts as a leaf: each model checks its
    own fields.
    """
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        children: List[Any] = []
        for container in level:
            items = container.values() if type(container) is dict else container
            if not _CONTAINERS.isdisjoint(set(map(type, items))):
                children.extend(item for item in items if type(item) in _CONTAINERS)
        level = children
    return False
