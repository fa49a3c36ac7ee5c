"""An offline Apertis-compatible server for examples, demos and tests.

    from apertis import Apertis
    from apertis.testing import FakeApertis

    with FakeApertis() as server:
        client = Apertis(base_url=server.url, api_key="test")
        print(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]))

It speaks every operation of the SDK's API description on 127.0.0.1 with deterministic answers, answers a
spec-shaped 400 naming the offending field when a request does not conform, and injects faults on demand
(`FakeApertis(faults=["status=503;times=2"])` or an `x-fake-fault` request header; see `Fault`). Run it
stand-alone with `python -m apertis.testing`; in pytest, use the `fake_apertis` fixture.

Only the standard library is imported here (lazily), so loading the pytest plugin costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import FAULT_HEADER, Fault, FaultError
    from ._server import FakeApertis, RecordedRequest

__all__ = ["FAULT_HEADER", "FakeApertis", "Fault", "FaultError", "RecordedRequest"]

_LOCATIONS = {
    "FAULT_HEADER": "._faults",
    "Fault": "._faults",
    "FaultError": "._faults",
    "FakeApertis": "._server",
    "RecordedRequest": "._server",
}


def __getattr__(name: str) -> Any:
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(location, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
