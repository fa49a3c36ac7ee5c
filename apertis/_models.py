"""The base of every generated model, and the serialisation of request arguments.

Models are attrs classes generated from the spec (apertis/types). They are built with `from_dict`, which is
lenient on purpose: an API that adds a field, an enum value or a union variant must never break an installed
SDK. What the server sent and the SDK did not know is kept (`additional_properties`, raw values).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional

from ._types import NOT_GIVEN

if TYPE_CHECKING:
    from ._gateway import GatewayInfo

__all__ = ["BaseModel", "build_body", "record_response", "serialize"]


class BaseModel:
    """Behaviour shared by every response and request model: a readable repr, dict and JSON conversion, pickling.

    An optional field reads as None both when the server sent null and when it left the field out. A parsed
    model keeps a reference to the mapping it was built from (`_source`, no copy), which is how `to_dict()`
    still gives back exactly the keys the server sent; a model built in code has no source and leaves its None
    optional fields out of `to_dict()`.
    """

    # What the request loop records on the object a call returned. Slots, not attrs fields: they take no part in
    # equality, repr or to_dict, and cost nothing on the nested models and stream chunks that never get them.
    # The headers are the response's own object (no copy, nothing parsed): `_gateway` reads them when asked.
    __slots__ = ("_meta_headers", "_meta_retries_taken")
    _meta_retries_taken: int
    _meta_headers: Mapping[str, str]
    _field_names: ClassVar[tuple[str, ...]] = ()

    @property
    def retries_taken(self) -> int:
        """How many times the SDK retried the call that returned this object (0: the first attempt succeeded).

        Set on the object a method returned; nested models, stream chunks and models built in code read 0.
        """
        return getattr(self, "_meta_retries_taken", 0)

    @property
    def _request_id(self) -> Optional[str]:
        """The `x-request-id` (or `request-id`) header of the response this object came from, for support requests.

        Named as in openai-python. None on nested models, stream chunks and models built in code.
        """
        headers = getattr(self, "_meta_headers", None)
        if headers is None:
            return None
        value: Optional[str] = headers.get("x-request-id") or headers.get("request-id")
        return value

    @property
    def _gateway(self) -> GatewayInfo:
        """What the Apertis gateway reported about the call that returned this object, from its response headers:
        the model that actually served (`actual_model`, another one after a fallback), `fallback`, `web_search`,
        `compression`, `rate_limit`, `request_id`, `retries_taken` (see apertis.GatewayInfo).

        The leading underscore keeps it apart from the API's fields (a field the API adds later can never shadow
        it), as openai-python's `_request_id`. Like `retries_taken`, it takes no part in equality or repr. On
        nested models, stream chunks and models built in code every field is None.
        """
        from ._gateway import gateway_info

        return gateway_info(getattr(self, "_meta_headers", None), self.retries_taken)

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every generated model overrides it
        raise NotImplementedError

    def to_json(self, *, indent: int | None = 2) -> str:
        """The model as a JSON string, as the server sent it (unknown fields included)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def __repr__(self) -> str:
        # Only the fields that are not None: a chat completion has dozens of optional fields, mostly absent.
        parts = []
        for name in self._field_names:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        extra = getattr(self, "additional_properties", None)
        if extra:
            parts.append(f"additional_properties={extra!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __rich_repr__(self) -> Any:  # pragma: no cover - only used when rich is installed
        for name in self._field_names:
            value = getattr(self, name)
            if value is not None:
                yield name, value

    def __getstate__(self) -> dict[str, Any]:
        # The generated classes are slotted attrs classes built with getstate_setstate=False, so pickle and copy
        # come here. Of the source mapping only what to_dict reads is kept (which keys there were, and which were
        # null): the whole mapping would store the payload twice, and need not be picklable (any Mapping is).
        fields = getattr(type(self), "__attrs_attrs__", ())
        state = {field.name: getattr(self, field.name) for field in fields}
        source = state.get("_source")
        if source is not None:
            state["_source"] = {key: None if value is None else True for key, value in source.items()}
        for name in BaseModel.__slots__:
            if hasattr(self, name):
                state[name] = getattr(self, name)
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


def record_response(model: BaseModel, *, retries_taken: int, headers: Mapping[str, str]) -> None:
    """Note on the object a call returned what its `retries_taken`, `_request_id` and `_gateway` report."""
    model._meta_retries_taken = retries_taken
    model._meta_headers = headers


def serialize(value: Any) -> Any:
    """Turn an argument into JSON-ready data: models (and objects with a `to_dict()`) become dicts, tuples lists;
    plain data passes through.

    Users pass plain dicts far more often than models, so the common case (str, number, dict of plain data)
    returns quickly without copying.
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None and isinstance(value, BaseModel):
        return to_dict()
    if isinstance(value, Mapping):
        if all(_is_plain(v) for v in value.values()):
            return value if isinstance(value, dict) else dict(value)
        return {k: serialize(v) for k, v in value.items() if v is not NOT_GIVEN}
    if isinstance(value, (list, tuple)):
        if all(_is_plain(v) for v in value):
            return value if isinstance(value, list) else list(value)
        return [serialize(v) for v in value]
    if callable(to_dict):
        # A model of another copy of this SDK (an installed apertis next to a vendored one): another class, the
        # same to_dict().
        return to_dict()
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return False


def build_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a request from a method's arguments: the rest serialised, and left out both when the argument
    was not given and when it is None.

    None means "leave it out", as in apertis 0.4.1 (and as the Optional-looking signatures users port from
    openai-python suggest): no body field of the API takes null, and a provider may reject a null it does not
    expect with a 400. An explicit null can still be sent through `extra_body`.
    """
    return {key: serialize(value) for key, value in fields.items() if value is not NOT_GIVEN and value is not None}
