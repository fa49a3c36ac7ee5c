"""Decoding of base64 embeddings, for the SDK-side default of `embeddings.create` (`x-apertis-sdk-default`).

When the caller leaves `encoding_format` out, the SDK asks for base64 (about a quarter of the JSON size and
several times cheaper to parse than float JSON) and turns each embedding back into a list of floats here, so the
result looks exactly as if float JSON had been asked for. A server that ignores the request and answers floats
is fine: only string embeddings are decoded.
"""

from __future__ import annotations

import binascii
import sys
from typing import TYPE_CHECKING, Callable, List, Optional

from ._exceptions import invalid_data_error, type_error

if TYPE_CHECKING:
    from .types.embedding_response import EmbeddingResponse

__all__ = ["decode_base64_embeddings"]

_decoder: Optional[Callable[[bytes], List[float]]] = None


def _numpy_decoder() -> Optional[Callable[[bytes], List[float]]]:
    try:
        import numpy
    except ImportError:
        return None
    frombuffer = numpy.frombuffer
    # An explicit little-endian dtype: numpy converts on big-endian machines by itself.
    dtype = numpy.dtype("<f4")

    def decode(raw: bytes) -> List[float]:
        values: List[float] = frombuffer(raw, dtype=dtype).tolist()
        return values

    return decode


def _array_decoder() -> Callable[[bytes], List[float]]:
    import array

    if array.array("f").itemsize != 4:  # pragma: no cover - no supported platform has a C float of another size
        raise RuntimeError("this platform's C float is not 32 bits; install numpy to decode base64 embeddings")
    swap = sys.byteorder == "big"

    def decode(raw: bytes) -> List[float]:
        values = array.array("f")
        values.frombytes(raw)
        if swap:
            # The wire format is little-endian float32; array reads the machine's order.
            values.byteswap()
        return values.tolist()

    return decode


def _choose_decoder() -> Callable[[bytes], List[float]]:
    global _decoder  # noqa: PLW0603 - chosen once: a failed `import numpy` searches sys.path every time
    decoder = _numpy_decoder() or _array_decoder()
    _decoder = decoder
    return decoder


def decode_base64_embeddings(response: EmbeddingResponse) -> EmbeddingResponse:
    """Replace each base64 string embedding of `response` by its list of floats (in place); returns `response`.

    Raises APIResponseValidationError (the request loop adds the response) for a `data` that is not an array and
    for a string that is not base64 of whole float32 values.
    """
    data = response.data
    if not data:
        return response
    if not isinstance(data, list):
        raise type_error("data", "an array", data)
    # The decoder is looked up once for the whole loop: one call per embedding is most of what this loop adds
    # to the floor's decode.
    decoder = _decoder or _choose_decoder()
    a2b_base64 = binascii.a2b_base64
    for position, item in enumerate(data):
        value = getattr(item, "embedding", None)
        if isinstance(value, str):
            try:
                raw = a2b_base64(value)
            except (binascii.Error, ValueError) as exc:  # ValueError: a non-ASCII character
                raise invalid_data_error(f"data[{position}].embedding is not valid base64 ({exc})") from None
            if len(raw) % 4:
                raise invalid_data_error(
                    f"data[{position}].embedding must hold whole float32 values, got {len(raw)} bytes"
                )
            item.embedding = decoder(raw)
    return response
