"""The base of every generated model, and the serialisation of request arguments.

Models are attrs classes generated from the spec (apertis/types). They are built with `from_dict`, which is
lenient on purpose: an API that adds a field, an enum value or a union variant must never break an installed
SDK. What the server sent and the SDK did not know is kept (`additional_properties`, raw values).
"""

from __future__ import annotations

import copyreg
import json
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Mapping, Optional, SupportsIndex

from ._exceptions import APIResponseValidationError, invalid_data_error, type_error
from ._json import MAX_JSON_DEPTH, exceeds_depth
from ._types import NOT_GIVEN

if TYPE_CHECKING:
    from ._gateway import GatewayInfo

__all__ = ["BaseModel", "build_body", "not_an_object", "record_response", "serialize"]

_new = object.__new__


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
        """The model as a JSON string, as the server sent it (unknown fields included).

        Raises APIResponseValidationError for data JSON cannot hold (nested deeper than Python's recursion limit
        allows, an integer longer than its limit on digits), which only a model built from your own data can hold.
        """
        try:
            return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
        except (RecursionError, ValueError) as exc:
            raise _unusable(self, f"cannot be written as JSON ({type(exc).__name__}: {exc})") from None

    def model_dump(
        self,
        *,
        mode: str = "python",
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
        **unsupported: Any,
    ) -> dict[str, Any]:
        """`to_dict()` under openai-python's (pydantic's) name, for code ported from it.

        The keys are always the API's JSON names and only the ones the server sent (or, for a model built in
        code, the fields that are not None), so `mode`, `by_alias` and `exclude_unset` change nothing.
        `exclude_none=True` also drops the keys whose value is null, at every level. pydantic's other options
        (`include`, `exclude`, `exclude_defaults`, `round_trip`, ...) are not supported and raise TypeError.
        """
        _check_dump_options("model_dump", mode, unsupported)
        data = self.to_dict()
        return _without_none(data) if exclude_none else data

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        by_alias: bool = True,
        exclude_unset: bool = True,
        exclude_none: bool = False,
        **unsupported: Any,
    ) -> str:
        """`to_json()` under openai-python's (pydantic's) name: compact unless `indent` is given, as in pydantic.

        Takes the options of `model_dump` (`exclude_none`; the others change nothing), and raises TypeError for
        pydantic's unsupported ones.
        """
        _check_dump_options("model_dump_json", "json", unsupported)
        data = self.to_dict()
        return json.dumps(_without_none(data) if exclude_none else data, indent=indent, ensure_ascii=False)

    def __repr__(self) -> str:
        # Only the fields that are not None: a chat completion has dozens of optional fields, mostly absent.
        parts = []
        for name in self._field_names:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={_safe_repr(value)}")
        extra = getattr(self, "additional_properties", None)
        if extra:
            parts.append(f"additional_properties={_safe_repr(extra)}")
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

    def __copy__(self) -> Any:
        copied = _new(type(self))
        copied.__setstate__(self.__getstate__())
        return copied

    def __deepcopy__(self, memo: Dict[int, Any]) -> Any:
        import copy

        copied = _new(type(self))
        memo[id(self)] = copied
        try:
            state = copy.deepcopy(self.__getstate__(), memo)
        except RecursionError:
            problem = "cannot be copied: its data is nested deeper than Python's recursion limit allows"
            raise _unusable(self, problem) from None
        copied.__setstate__(state)
        return copied

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # pickle recurses in C, where a RecursionError cannot be caught on its way out, so the depth is checked
        # first (each model checks its own fields; the models inside them check theirs when they are pickled).
        state = self.__getstate__()
        for name, value in state.items():
            # additional_properties holds fields: its own level does not count.
            limit = MAX_JSON_DEPTH + 1 if name == "additional_properties" else MAX_JSON_DEPTH
            if name != "_source" and exceeds_depth(value, limit):
                raise _unusable(
                    self, f"cannot be pickled: its field {name!r} is nested deeper than {MAX_JSON_DEPTH} levels"
                )
        # What object.__reduce_ex__ returns, without calling __getstate__ a second time (the stubs omit __newobj__).
        return (copyreg.__newobj__, (type(self),), state)  # type: ignore[attr-defined]


def _check_dump_options(method: str, mode: str, unsupported: Mapping[str, Any]) -> None:
    if mode not in ("python", "json"):
        raise ValueError(f"{method}(mode=...) must be 'python' or 'json', got {mode!r}")
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise TypeError(
            f"{method}() does not support {names} (a pydantic option): apertis models are not pydantic models. "
            f"Supported: exclude_none; build the dict you need from to_dict() instead."
        )


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


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
    kind = type(value)
    if kind is list or kind is dict:  # the common case, before the slower checks against models and ABCs
        values = value if kind is list else value.values()
        if all(_is_plain(v) for v in values):
            return value
        if kind is dict:
            return {k: serialize(v) for k, v in value.items() if v is not NOT_GIVEN}
        return [serialize(v) for v in value]
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


_SCALARS = (str, int, float, bool)


def _is_plain(value: Any) -> bool:
    # Iterative rather than recursive: data of any depth is answered without a RecursionError (and faster).
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None or isinstance(item, _SCALARS):
            continue
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            return False
    return True


def not_an_object(cls: type, value: Any) -> APIResponseValidationError:
    """The error of a generated model's `from_dict` given data that is not a JSON object."""
    return type_error(f"{cls.__name__} data", "a JSON object", value)


def _unusable(model: BaseModel, problem: str) -> APIResponseValidationError:
    return invalid_data_error(f"this {type(model).__name__} {problem}")


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except (RecursionError, ValueError):  # nested too deeply, or an integer past Python's limit on digits
        return f"<{type(value).__name__} that cannot be shown>"


def build_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a request from a method's arguments: the rest serialised, and left out both when the argument
    was not given and when it is None.

    None means "leave it out", as in apertis 0.4.1 (and as the Optional-looking signatures users port from
    openai-python suggest): no body field of the API takes null, and a provider may reject a null it does not
    expect with a 400. An explicit null can still be sent through `extra_body`.
    """
    return {key: serialize(value) for key, value in fields.items() if value is not NOT_GIVEN and value is not None}
