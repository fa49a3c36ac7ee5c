"""Loading and validating codegen/config.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openapi_python_client.config import ConfigFile
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["CodegenConfig", "ConfigError", "HelperParams", "load_config"]

# Our own keys, next to openapi-python-client's.
OWN_KEYS = {
    "spec",
    "unasync_replacements",
    "model_mixins",
    "resource_mixins",
    "raw_response_mixins",
    "streaming_response_mixins",
    "replaced_methods",
    "extra_type_exports",
    "union_fallbacks",
    "helper_params",
}

# `x-apertis-resource` values: dotted attribute paths such as `chat.completions`.
RESOURCE_PATH = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")
# Mixin classes live in apertis/_async and get their sync name by dropping `Async` (AsyncModelsMixin -> ModelsMixin).
ASYNC_CLASS = re.compile(r"Async[A-Z][A-Za-z0-9_]*")


class ConfigError(Exception):
    """codegen/config.yaml is invalid."""


@dataclass
class CodegenConfig:
    """The validated configuration: the generator's part and ours."""

    generator: ConfigFile
    spec: str
    unasync_replacements: dict[str, str] = field(default_factory=dict)
    # schema name -> class in apertis/_model_mixins.py that the generated model inherits (hand-written helpers)
    model_mixins: dict[str, str] = field(default_factory=dict)
    # resource path (`x-apertis-resource`) -> class in apertis/_async/resource_mixins/<top-level resource>.py that
    # the generated resource class inherits (hand-written methods)
    resource_mixins: dict[str, str] = field(default_factory=dict)
    # resource path -> class of the same module that its `with_raw_response` wrapper inherits (hand-written raw
    # methods, such as `parse`, for the resource mixin's methods)
    raw_response_mixins: dict[str, str] = field(default_factory=dict)
    # the same for the `with_streaming_response` wrapper
    streaming_response_mixins: dict[str, str] = field(default_factory=dict)
    # `<resource path>.<method>`: generated methods that the resource's mixin replaces (the generated one is
    # renamed `_<method>`, for the mixin to call)
    replaced_methods: list[str] = field(default_factory=list)
    # public name -> module relative to apertis.types (`.._stream_events`) for hand-written names in apertis.types
    extra_type_exports: dict[str, str] = field(default_factory=dict)
    # named union schema -> one of extra_type_exports: the class the union's parser builds for an object that
    # matches no variant, added to the union's type (the streams' UnknownStreamEvent)
    union_fallbacks: dict[str, str] = field(default_factory=dict)
    # TypedDict name -> HelperParams: the keyword arguments of a generated method, minus some, as a TypedDict that
    # hand-written helpers wrapping the method take as `**params: Unpack[...]`
    helper_params: dict[str, HelperParams] = field(default_factory=dict)


@dataclass
class HelperParams:
    """A `helper_params` entry: the arguments of `method` (`chat.completions.create`) except those `without`."""

    method: str
    without: list[str] = field(default_factory=list)


def load_config(path: Path) -> CodegenConfig:
    """Read the config, rejecting unknown keys (openapi-python-client silently ignores them)."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    known = set(ConfigFile.model_fields) | OWN_KEYS
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}. Known keys: {', '.join(sorted(known))} (check the spelling)."
        )
    own = {key: data.pop(key) for key in OWN_KEYS if key in data}
    if data.get("literal_enums") is not True:
        raise ConfigError(f"{path}: `literal_enums: true` is required (the lenient models rely on Literal enums)")
    if data.get("post_hooks") != []:
        raise ConfigError(f"{path}: `post_hooks: []` is required (the driver runs the pinned ruff itself)")
    spec = own.get("spec")
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{path}: `spec` must name the OpenAPI file, relative to the repository root")
    replacements: Any = own.get("unasync_replacements") or {}
    if not isinstance(replacements, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.isidentifier() and v.isidentifier()
        for k, v in replacements.items()
    ):
        raise ConfigError(f"{path}: `unasync_replacements` must map identifiers to identifiers")
    mixins: Any = own.get("model_mixins") or {}
    if not isinstance(mixins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.isidentifier() and v.isidentifier() for k, v in mixins.items()
    ):
        raise ConfigError(f"{path}: `model_mixins` must map schema names to class names in apertis/_model_mixins.py")
    resource_mixins: Any = own.get("resource_mixins") or {}
    if not isinstance(resource_mixins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and RESOURCE_PATH.fullmatch(k) and ASYNC_CLASS.fullmatch(v)
        for k, v in resource_mixins.items()
    ):
        raise ConfigError(
            f"{path}: `resource_mixins` must map resource paths (x-apertis-resource, such as `chat.completions`) "
            "to Async<Name> classes of apertis/_async/resource_mixins/, such as `models: AsyncModelsMixin`"
        )
    wrapper_mixins: dict[str, dict[str, str]] = {}
    for key in ("raw_response_mixins", "streaming_response_mixins"):
        entries: Any = own.get(key) or {}
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k in resource_mixins and ASYNC_CLASS.fullmatch(v)
            for k, v in entries.items()
        ):
            raise ConfigError(
                f"{path}: `{key}` must map resource paths of `resource_mixins` to Async<Name> classes of the same "
                "module, such as `chat.completions: AsyncCompletionsRawMixin`"
            )
        wrapper_mixins[key] = dict(entries)
    replaced: Any = own.get("replaced_methods") or []
    if not isinstance(replaced, list) or not all(
        isinstance(m, str) and "." in m and RESOURCE_PATH.fullmatch(m) for m in replaced
    ):
        raise ConfigError(
            f"{path}: `replaced_methods` must list generated methods by resource path and name, "
            "such as `chat.completions.create`"
        )
    exports: Any = own.get("extra_type_exports") or {}
    if not isinstance(exports, dict) or not all(
        isinstance(k, str)
        and isinstance(v, str)
        and k.isidentifier()
        and v.startswith("..")
        and all(part.isidentifier() for part in v.lstrip(".").split("."))
        for k, v in exports.items()
    ):
        raise ConfigError(
            f"{path}: `extra_type_exports` must map public names to modules relative to apertis.types, "
            "such as `UnknownStreamEvent: .._stream_events`"
        )
    fallbacks: Any = own.get("union_fallbacks") or {}
    if not isinstance(fallbacks, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.isidentifier() and v in exports for k, v in fallbacks.items()
    ):
        raise ConfigError(
            f"{path}: `union_fallbacks` must map union schema names to names listed in `extra_type_exports`, "
            "such as `MessageStreamEvent: UnknownStreamEvent`"
        )
    helpers: Any = own.get("helper_params") or {}
    if not isinstance(helpers, dict) or not all(
        isinstance(name, str)
        and name.isidentifier()
        and isinstance(entry, dict)
        and set(entry) <= {"method", "without"}
        and isinstance(entry.get("method"), str)
        and "." in entry["method"]
        and RESOURCE_PATH.fullmatch(entry["method"])
        and isinstance(entry.get("without", []), list)
        and all(isinstance(arg, str) and arg.isidentifier() for arg in entry.get("without", []))
        for name, entry in helpers.items()
    ):
        raise ConfigError(
            f"{path}: `helper_params` must map TypedDict names to {{method: <resource path>.<method>, without: "
            "[arguments]}}, such as `ChatCompletionParseParams: {method: chat.completions.create, without: [stream]}`"
        )
    try:
        generator = ConfigFile(**data)
    except Exception as exc:  # pydantic's ValidationError: report it as a config error
        raise ConfigError(f"{path}: {exc}") from exc
    return CodegenConfig(
        generator=generator,
        spec=spec,
        unasync_replacements=dict(replacements),
        model_mixins=dict(mixins),
        resource_mixins=dict(resource_mixins),
        raw_response_mixins=wrapper_mixins["raw_response_mixins"],
        streaming_response_mixins=wrapper_mixins["streaming_response_mixins"],
        replaced_methods=list(replaced),
        extra_type_exports=dict(exports),
        union_fallbacks=dict(fallbacks),
        helper_params={
            name: HelperParams(method=entry["method"], without=list(entry.get("without", [])))
            for name, entry in helpers.items()
        },
    )
