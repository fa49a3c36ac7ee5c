"""A pytest plugin with a `fake_apertis` fixture. Enable it in your conftest.py:

    pytest_plugins = ["apertis.testing.pytest_plugin"]

It is deliberately not registered as a pytest11 entry point: installing an SDK should not change every test run
on the machine, and pytest rewrites the assertions of every module of a package that registers one.

    def test_my_service(fake_apertis):
        client = Apertis(base_url=fake_apertis.url, api_key="test")
        ...

    @pytest.mark.fake_apertis(faults=["status=503;times=2"], api_key="sk-test")
    def test_retries(fake_apertis): ...

The fixture starts a fresh `apertis.testing.FakeApertis` on 127.0.0.1 for each test and stops it afterwards;
the marker's keyword arguments go to its constructor. Nothing is imported until the fixture is used, so the
plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from . import FakeApertis

__all__ = ["fake_apertis", "pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the `fake_apertis` marker."""
    config.addinivalue_line(
        "markers", "fake_apertis(**options): options for the fake_apertis fixture's FakeApertis(...) server"
    )


@pytest.fixture
def fake_apertis(request: pytest.FixtureRequest) -> Iterator[FakeApertis]:
    """A running offline Apertis server for this test; `fake_apertis.url` is the base URL for a client."""
    from ._server import FakeApertis

    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("fake_apertis"))):
        if marker.args:
            raise TypeError("@pytest.mark.fake_apertis takes keyword arguments only, e.g. faults=['status=503']")
        options.update(marker.kwargs)
    with FakeApertis(**options) as server:
        yield server
