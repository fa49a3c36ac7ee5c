"""Argument checks the generated methods run before anything touches the network.

The generated code does the cheap part inline (an `isinstance` on each required argument) and calls in here
only to build the error, or to look inside a list of objects, so a correct call pays next to nothing.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Collection, Mapping
from urllib.parse import quote

from ._models import BaseModel

__all__ = ["check_objects", "invalid_argument", "invalid_path_parameter", "path_segment", "unexpected_arguments"]

# What "an object" may be in a request: a plain dict (checked first, the common case), any mapping, or a model;
# failing those, anything with a `to_dict()`, such as a model of another copy of this SDK (a vendored one).
_OBJECT_TYPES = (dict, Mapping, BaseModel)


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if value is not None else "None"


def invalid_argument(name: str, value: object, expected: str) -> TypeError:
    """The error for a required argument of the wrong type (None included)."""
    return TypeError(f"`{name}` must be {expected}, got {_describe(value)}")


def invalid_path_parameter(name: str, value: object) -> Exception:
    """The error for a path parameter that is not a non-empty str (it would build a wrong URL)."""
    if isinstance(value, str):
        return ValueError(f"Expected a non-empty value for `{name}` but received {value!r}")
    return TypeError(f"`{name}` must be a non-empty str, got {_describe(value)}")


def path_segment(value: str) -> str:
    """`value` escaped as one segment of a URL path, so it always names the resource it was given for.

    Every reserved character is percent-encoded, `/` included. A value that is exactly `.` or `..` is encoded as
    `%2E` / `%2E%2E`: left as is, httpx (like any URL normaliser) would treat it as a dot segment and send the
    request to another endpoint (`models.retrieve("..")` would reach `/v1`). The encoded forms are kept as
    written, and the server decodes them back to the id.
    """
    if value in {".", ".."}:
        return "%2E" * len(value)
    return quote(value, safe="")


def check_objects(name: str, items: Collection[Any], expected: str) -> None:
    """Raise a TypeError naming the position when an element of the list `items` is not a mapping or a model
    (of this copy of the SDK, or anything else with a `to_dict()`)."""
    for index, item in enumerate(items):
        if not isinstance(item, _OBJECT_TYPES) and not callable(getattr(item, "to_dict", None)):
            kind = type(item)
            # A class of the same name from elsewhere (another copy of the SDK, an older one) says where it is from.
            origin = (
                "" if kind.__module__ == "builtins" else f" (a {kind.__module__}.{kind.__qualname__}, no to_dict())"
            )
            raise TypeError(
                f"`{name}[{index}]` must be {expected} (a dict or the model), got {_describe(item)}{origin}; "
                f"`{name}` is a list of such objects"
            )


def unexpected_arguments(
    method: Callable[..., Any], display_name: str, unexpected: Mapping[str, Any], *, api_call: bool = True
) -> TypeError:
    """The error for keyword arguments the method does not have, suggesting the closest real ones.

    Runs only when a call already failed, so reading the signature here costs nothing on correct calls.
    """
    known = [
        parameter.name
        for parameter in inspect.signature(method).parameters.values()
        if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]
    import difflib  # here, not at the top: only a mistyped argument needs it, and it costs every first call

    lines = []
    for name in unexpected:
        matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(match) for match in matches)}?" if matches else ""
        lines.append(f"{display_name}() got an unexpected keyword argument {name!r}.{hint}")
    if api_call:
        lines.append(
            "To send a field this SDK version does not know, pass it in extra_body={...} "
            "(or extra_query / extra_headers)."
        )
    return TypeError(" ".join(lines))
