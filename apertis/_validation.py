"""Argument checks the generated methods run before anything touches the network.

The generated code does the cheap part inline (an `isinstance` on each required argument) and calls in here
only to build the error, or to look inside a list of objects, so a correct call pays next to nothing.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Collection, Mapping, Optional
from urllib.parse import quote

from ._models import BaseModel

__all__ = [
    "OPENAI_CLIENT_ARGUMENTS",
    "OPENAI_RESOURCES",
    "check_objects",
    "invalid_argument",
    "invalid_path_parameter",
    "missing_openai_resource",
    "path_segment",
    "unexpected_arguments",
]

# openai-python client arguments the Apertis clients deliberately lack, and what to do instead: code ported from
# openai-python passes them, and "unexpected keyword argument" alone would not say that dropping them is safe.
OPENAI_CLIENT_ARGUMENTS: Mapping[str, str] = {
    "organization": "Apertis has no organizations: the API key alone identifies the account; drop the argument",
    "project": "Apertis has no projects: the API key alone identifies the account; drop the argument",
    "websocket_base_url": "Apertis has no Realtime (WebSocket) API; drop the argument",
    "webhook_secret": "Apertis sends no webhooks; drop the argument",
    "_strict_response_validation": (
        "Apertis models are parsed leniently on purpose (a new field or enum value never breaks a call); "
        "drop the argument"
    ),
}

# openai-python client attributes (resources) the Apertis API does not serve, and what to use instead.
OPENAI_RESOURCES: Mapping[str, str] = {
    "beta": (
        "the Assistants, Threads and Realtime betas are not part of the Apertis API; use client.responses or "
        "client.chat.completions (tools, structured output via response_format)"
    ),
    "files": (
        "the Apertis API has no Files API: send content inline (a data: URL in an image_url part, file_data in a "
        "Responses input_file part) or pass files straight to the method that takes them (audio.transcriptions)"
    ),
    "moderations": (
        "the Apertis API has no moderation endpoint; ask a chat model to classify the text with "
        "client.chat.completions.create(..., response_format=...)"
    ),
    "completions": "the legacy Completions API is not served; use client.chat.completions.create",
    "fine_tuning": "the Apertis API has no fine-tuning",
    "batches": "the Apertis API has no Batch API; send the requests concurrently (AsyncApertis)",
    "uploads": "the Apertis API has no Uploads API; see `files`",
    "vector_stores": "the Apertis API has no vector stores; use client.embeddings.create and a store of your own",
    "realtime": "the Apertis API has no Realtime API",
    "containers": "the Apertis API has no containers",
    "evals": "the Apertis API has no Evals API",
    "webhooks": "the Apertis API sends no webhooks",
}


def missing_openai_resource(client: object, name: str) -> AttributeError:
    """The AttributeError of a client attribute that is not there, explaining openai-python names Apertis lacks."""
    message = f"{type(client).__name__!r} object has no attribute {name!r}"
    instead = OPENAI_RESOURCES.get(name)
    if instead is not None:
        message += f": openai-python's client.{name} has no Apertis equivalent; {instead}."
    return AttributeError(message)


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
    method: Callable[..., Any],
    display_name: str,
    unexpected: Mapping[str, Any],
    *,
    api_call: bool = True,
    known_absent: Optional[Mapping[str, str]] = None,
) -> TypeError:
    """The error for keyword arguments the method does not have, suggesting the closest real ones.

    Runs only when a call already failed, so reading the signature here costs nothing on correct calls.
    `known_absent` maps names the method deliberately lacks (openai-python's) to what to do instead.
    """
    known = [
        parameter.name
        for parameter in inspect.signature(method).parameters.values()
        if parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]
    import difflib  # here, not at the top: only a mistyped argument needs it, and it costs every first call

    lines = []
    for name in unexpected:
        if known_absent and name in known_absent:
            lines.append(f"{display_name}() has no {name!r} argument: {known_absent[name]}.")
            continue
        matches = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(match) for match in matches)}?" if matches else ""
        lines.append(f"{display_name}() got an unexpected keyword argument {name!r}.{hint}")
    if api_call:
        lines.append(
            "To send a field this SDK version does not know, pass it in extra_body={...} "
            "(or extra_query / extra_headers)."
        )
    return TypeError(" ".join(lines))
