"""The API description the fake server speaks: loading it and matching requests to its operations."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple, Union
from urllib.parse import unquote, urlsplit

from ._schema import Resolver

__all__ = ["Operation", "Spec", "load_spec"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGED = os.path.join(os.path.dirname(_HERE), "_spec.json")
_SOURCE_YAML = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "spec", "apertis.openapi.yaml")

_METHODS = ("get", "post", "put", "patch", "delete")


class Operation:
    """One operation of the spec, with what the server needs to route, check and answer it."""

    def __init__(self, spec: Spec, method: str, path: str, host_root: bool, raw: Mapping[str, Any]) -> None:
        self.method = method.upper()
        self.path = path
        self.host_root = host_root
        self.operation_id: str = raw.get("operationId") or f"{method} {path}"
        self.streams = bool(raw.get("x-apertis-stream"))
        self.response_kind: str = raw.get("x-apertis-response", "json")
        security = raw.get("security", spec.document.get("security"))
        self.needs_auth = bool(security) and all(bool(requirement) for requirement in security)
        self.json_schema: Optional[Mapping[str, Any]] = None
        self.form_schema: Optional[Mapping[str, Any]] = None
        self.body_required = False
        body = raw.get("requestBody")
        if isinstance(body, Mapping):
            body = spec.resolver.resolve(body)
            self.body_required = bool(body.get("required"))
            for media, content in (body.get("content") or {}).items():
                schema = content.get("schema") if isinstance(content, Mapping) else None
                if schema is None:
                    continue
                if media.startswith("application/json"):
                    self.json_schema = schema
                elif media.startswith("multipart/form-data"):
                    self.form_schema = schema
        self.parameters: List[Mapping[str, Any]] = []
        for group in (spec.path_parameters.get(path, []), raw.get("parameters", [])):
            for param in group:
                self.parameters.append(spec.resolver.resolve(param))
        self.responses: Mapping[str, Any] = raw.get("responses") or {}
        self._regex = _compile(path)
        self.literal_weight = len(re.sub(r"\{[^}]+\}", "", path))

    def match(self, path: str) -> Optional[Dict[str, str]]:
        """The decoded path parameters when `path` (still percent-encoded) is this operation's path."""
        found = self._regex.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}

    def success_schema(self, spec: Spec, media: str = "application/json") -> Optional[Mapping[str, Any]]:
        """The schema of the 2xx answer of the given media type, if the spec gives one."""
        for status, response in self.responses.items():
            if not str(status).startswith("2"):
                continue
            resolved = spec.resolver.resolve(response)
            content = (resolved.get("content") or {}).get(media)
            if isinstance(content, Mapping) and "schema" in content:
                schema: Mapping[str, Any] = content["schema"]
                return schema
        return None

    def __repr__(self) -> str:
        return f"<Operation {self.operation_id}: {self.method} {self.path}>"


def _compile(path: str) -> Pattern[str]:
    pattern = ""
    last = 0
    params = list(re.finditer(r"\{([^}]+)\}", path))
    for index, found in enumerate(params):
        pattern += re.escape(path[last : found.start()])
        name = re.sub(r"\W", "_", found.group(1))
        at_end = index == len(params) - 1 and found.end() == len(path)
        # The last parameter may span slashes: model ids such as `BAAI/bge-reranker-v2-m3` arrive unescaped.
        pattern += f"(?P<{name}>.+)" if at_end else f"(?P<{name}>[^/]+)"
        last = found.end()
    pattern += re.escape(path[last:])
    return re.compile(pattern)


class Spec:
    """A loaded OpenAPI document and its operations, most specific paths first."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.resolver = Resolver(document)
        servers = document.get("servers") or [{"url": "/v1"}]
        self.prefix = urlsplit(str(servers[0].get("url", "/v1"))).path.rstrip("/")
        self.path_parameters: Dict[str, List[Mapping[str, Any]]] = {}
        self.operations: List[Operation] = []
        for path, item in (document.get("paths") or {}).items():
            if not isinstance(item, Mapping):
                continue
            self.path_parameters[path] = list(item.get("parameters", []))
            for method in _METHODS:
                raw = item.get(method)
                if not isinstance(raw, Mapping):
                    continue
                host_root = bool(raw.get("x-apertis-host-root")) or _declares_host_root(raw.get("servers"))
                self.operations.append(Operation(self, method, path, host_root, raw))
        self.operations.sort(key=lambda op: -op.literal_weight)

    def find(self, method: str, raw_path: str) -> Tuple[Optional[Operation], Dict[str, str], bool]:
        """The operation for a request, its path parameters, and whether the path exists for another method."""
        path_known = False
        for op in self.operations:
            if op.host_root:
                relative: Optional[str] = raw_path
            elif raw_path.startswith(self.prefix + "/"):
                relative = raw_path[len(self.prefix) :]
            else:
                relative = None
            if relative is None:
                continue
            params = op.match(relative)
            if params is None:
                continue
            if op.method == method.upper():
                return op, params, True
            path_known = True
        return None, {}, path_known

    def operation(self, operation_id: str) -> Operation:
        """Look an operation up by its operationId."""
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)


def _declares_host_root(servers: Any) -> bool:
    if not isinstance(servers, list) or not servers:
        return False
    path = urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")
    return path == ""


_cache: Dict[str, Spec] = {}


def load_spec(source: Union[str, os.PathLike[str], Mapping[str, Any], None] = None) -> Spec:
    """Load the spec: a mapping, a JSON/YAML file, or by default the `_spec.json` packaged with the SDK."""
    if isinstance(source, Mapping):
        return Spec(source)
    if source is None:
        if os.path.exists(_PACKAGED):
            path = _PACKAGED
        elif os.path.exists(_SOURCE_YAML):
            # A source checkout before `make codegen` has written apertis/_spec.json.
            path = _SOURCE_YAML
        else:
            raise FileNotFoundError(
                f"the API description {_PACKAGED} is missing; reinstall the SDK or run `make codegen` in a checkout"
            )
    else:
        path = os.fspath(source)
    mtime = os.path.getmtime(path)
    key = f"{os.path.abspath(path)}:{mtime}"
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with open(path, encoding="utf-8") as handle:
        if path.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                raise RuntimeError(
                    f"reading {path} needs PyYAML (pip install pyyaml), or pass the JSON form of the spec"
                ) from None
            document = yaml.safe_load(handle)
        else:
            document = json.load(handle)
    if not isinstance(document, Mapping) or "paths" not in document:
        raise ValueError(f"{path} is not an OpenAPI document (no 'paths')")
    spec = Spec(document)
    _cache[key] = spec
    return spec
