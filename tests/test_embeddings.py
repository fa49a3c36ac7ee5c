"""Embeddings' SDK-side default: base64 on the wire, lists of floats for the caller (x-apertis-sdk-default)."""

from __future__ import annotations

import array
import base64
import importlib
import json
import math
import struct
import sys
from typing import Any, Callable, Iterator, List

import pytest
from pytest_httpx import HTTPXMock

import apertis

embeddings_module = importlib.import_module("apertis._embeddings")
RealArray = array.array

# float32 values whose decoding must be exact: signs, a subnormal, the smallest normal, the largest finite,
# values that are not exact in binary, and negative zero.
KNOWN = [
    1.0,
    -2.5,
    struct.unpack("<f", struct.pack("<f", 0.1))[0],
    struct.unpack("<f", struct.pack("<f", -123456.789))[0],
    1.401298464324817e-45,
    -1.1754943508222875e-38,
    3.4028234663852886e38,
    -3.4028234663852886e38,
    0.0,
    -0.0,
]
VECTORS = [KNOWN, list(reversed(KNOWN))]


def as_base64(values: List[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def answer(embeddings: List[Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(embeddings)],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }


def same_floats(got: Any, expected: List[float]) -> bool:
    """Equal bit for bit: also tells -0.0 from 0.0."""
    return (
        isinstance(got, list)
        and all(type(v) is float for v in got)
        and [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in expected]
    )


@pytest.fixture(params=["numpy", "array"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test with the numpy decoder and with the array-module one (numpy's import made to fail)."""
    if request.param == "numpy":
        pytest.importorskip("numpy")
    else:
        monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now raises ImportError
    monkeypatch.setattr(embeddings_module, "_decoder", None)
    yield str(request.param)


def used_decoder() -> str:
    chosen = embeddings_module._decoder
    assert chosen is not None
    return "numpy" if "_numpy_decoder" in chosen.__qualname__ else "array"


async def create(client: Any, call: Callable[..., Any], **kwargs: Any) -> Any:
    kwargs.setdefault("model", "text-embedding-3-small")
    kwargs.setdefault("input", ["a", "b"])
    try:
        return await call(client.embeddings.create, **kwargs)
    finally:
        await call(client.close)


async def test_default_asks_for_base64_and_decodes_exactly(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any], decoder: str
) -> None:
    httpx_mock.add_response(json=answer([as_base64(v) for v in VECTORS]))
    result = await create(make_client(), call)
    sent = json.loads(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent == {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"}
    assert isinstance(result, apertis.EmbeddingResponse)
    for item, expected in zip(result.data, VECTORS):
        assert same_floats(item.embedding, expected), item.embedding
    assert result.usage is not None and result.usage.total_tokens == 2
    assert used_decoder() == decoder


@pytest.mark.parametrize("chosen", ["float", "base64"])
async def test_a_chosen_format_is_sent_and_returned_as_is(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any], chosen: str
) -> None:
    wire = [as_base64(v) for v in VECTORS] if chosen == "base64" else VECTORS
    httpx_mock.add_response(json=answer(wire))
    result = await create(make_client(), call, encoding_format=chosen)
    assert json.loads(httpx_mock.get_request().content)["encoding_format"] == chosen  # type: ignore[union-attr]
    assert [item.embedding for item in result.data] == wire


async def test_a_format_chosen_through_extra_body_is_respected(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=answer([as_base64(KNOWN)]))
    result = await create(make_client(), call, extra_body={"encoding_format": "base64"})
    assert json.loads(httpx_mock.get_request().content)["encoding_format"] == "base64"  # type: ignore[union-attr]
    assert result.data[0].embedding == as_base64(KNOWN)


async def test_a_server_answering_floats_anyway_still_works(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any]
) -> None:
    httpx_mock.add_response(json=answer([[0.5, -0.25], "AACAPw=="]))  # one list, one base64 1.0
    result = await create(make_client(), call)
    assert [item.embedding for item in result.data] == [[0.5, -0.25], [1.0]]


@pytest.mark.parametrize(
    ("embedding", "problem"),
    [("AACAPwA=", "whole float32 values"), ("not base64!", "valid base64")],
)
async def test_a_malformed_base64_embedding_is_a_validation_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Any], call: Callable[..., Any], embedding: str, problem: str
) -> None:
    httpx_mock.add_response(json=answer([embedding]))
    with pytest.raises(apertis.APIResponseValidationError, match=problem):
        await create(make_client(), call)


class BigEndianArray:
    """array.array("f") as it behaves on a big-endian machine: bytes are read in big-endian order."""

    def __init__(self, typecode: str) -> None:
        assert typecode == "f"
        self._values = RealArray("f")

    @property
    def itemsize(self) -> int:
        return self._values.itemsize

    def frombytes(self, raw: bytes) -> None:
        native = RealArray("f")
        native.frombytes(raw)
        native.byteswap()  # what a big-endian machine would read from these little-endian bytes
        self._values = native

    def byteswap(self) -> None:
        self._values.byteswap()

    def tolist(self) -> List[float]:
        return self._values.tolist()


@pytest.mark.skipif(sys.byteorder != "little", reason="simulates a big-endian machine on a little-endian one")
async def test_the_array_decoder_swaps_bytes_on_a_big_endian_machine(
    httpx_mock: HTTPXMock,
    make_client: Callable[..., Any],
    call: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    monkeypatch.setattr(embeddings_module, "_decoder", None)
    monkeypatch.setattr(sys, "byteorder", "big")
    monkeypatch.setattr(array, "array", BigEndianArray)
    httpx_mock.add_response(json=answer([as_base64(KNOWN)]))
    result = await create(make_client(), call)
    assert same_floats(result.data[0].embedding, KNOWN)


async def test_the_offline_server_gives_the_same_vectors_either_way(
    fake_apertis: Any, make_client: Callable[..., Any], call: Callable[..., Any], decoder: str
) -> None:
    client = make_client(base_url=fake_apertis.url)
    try:
        default = await call(client.embeddings.create, model="text-embedding-3-small", input=["x", "y"])
        floats = await call(
            client.embeddings.create, model="text-embedding-3-small", input=["x", "y"], encoding_format="float"
        )
    finally:
        await call(client.close)
    assert [d.embedding for d in default.data] == [f.embedding for f in floats.data]
    assert len(default.data[0].embedding) == 1536
    assert all(math.isfinite(v) for v in default.data[0].embedding)
