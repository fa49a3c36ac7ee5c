"""Bounded memory: a compression bomb is refused, error bodies are kept short, an SSE line or event has a size
limit and costs memory linear in its size; legitimate large bodies (float embeddings of 2,048 x 3,072) still pass.
"""

from __future__ import annotations

import gzip
import json
import random
import tracemalloc
import zlib
from typing import Any, AsyncIterator, Callable, Iterator

import httpx
import pytest
from rawserver import LoopbackServer, busy_connections, close, loopback_servers, make, raw, sse_response

import apertis
from apertis._constants import MAX_ERROR_BODY, MAX_SSE_EVENT

MiB = 1024 * 1024
MESSAGES = [{"role": "user", "content": "hi"}]
CHUNK_HEAD = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]'


@pytest.fixture
def loopback() -> Iterator[Callable[..., LoopbackServer]]:
    yield from loopback_servers()


def gzipped(*parts: bytes, repeat_last: int = 1) -> bytes:
    """The gzip encoding of the parts, the last one repeated (built piece by piece: no huge plain copy)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [compressor.compress(part) for part in parts[:-1]]
    out += [compressor.compress(parts[-1]) for _ in range(repeat_last)]
    out.append(compressor.flush())
    return b"".join(out)


def response_bytes(
    body: bytes, *, status: str = "200 OK", encoding: str = "", content_type: str = "application/json"
) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    if encoding:
        head += f"Content-Encoding: {encoding}\r\n"
    return head.encode() + b"\r\n" + body


async def test_a_gzip_bomb_is_refused_before_it_is_inflated(kind: str, loopback: Any, call: Any) -> None:
    # Valid JSON (a model list and 256 MiB of trailing spaces) in about 250 KB: accepted whole before the limit.
    bomb = gzipped(b'{"object":"list","data":[]}', b" " * MiB, repeat_last=256)
    assert len(bomb) < 300_000
    server = loopback(raw(response_bytes(bomb, encoding="gzip")))
    client = make(kind, server, max_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(apertis.APIResponseValidationError, match="compression bomb") as caught:
            await call(client.models.list)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await close(client)
    assert caught.value.status_code == 200
    assert "MAX_DECOMPRESSION_RATIO" in str(caught.value)
    # The pieces below the limit and one inflated network read (64 MiB of spaces), not 256 MiB and its copy.
    assert peak < 192 * MiB


async def test_a_large_error_body_is_cut_to_the_limit(kind: str, loopback: Any, call: Any) -> None:
    body = b'{"error":{"message":"bad"}}' + b" " * (8 * MiB)
    server = loopback(raw(response_bytes(body, status="400 Bad Request")))
    client = make(kind, server, max_retries=0)
    try:
        with pytest.raises(apertis.BadRequestError) as caught:
            await call(client.models.list)
        assert busy_connections(client) == []
    finally:
        await close(client)
    assert caught.value.response is not None
    assert len(caught.value.response.content) == MAX_ERROR_BODY


def float_embeddings_body(rows: int, columns: int) -> bytes:
    generator = random.Random(7)
    row = [round(generator.uniform(-0.1, 0.1), 9) for _ in range(columns)]
    data = [{"object": "embedding", "index": i, "embedding": row} for i in range(rows)]
    answer = {"object": "list", "data": data, "model": "text-embedding-3-large", "usage": {"prompt_tokens": 1}}
    return json.dumps(answer).encode()


async def check_float_embeddings(kind: str, loopback: Any, call: Any, rows: int, encoding: str) -> None:
    body = float_embeddings_body(rows, 3072)
    wire = gzip.compress(body, 1) if encoding else body
    # Kept open after the answer: closing it at once could drop the end of so large a body still in the buffers.
    server = loopback(raw(response_bytes(wire, encoding=encoding), keep_alive=True))
    client = make(kind, server, max_retries=0, timeout=120)
    try:
        result = await call(
            client.embeddings.create, model="text-embedding-3-large", input=["x"] * rows, encoding_format="float"
        )
    finally:
        await close(client)
    assert len(result.data) == rows
    assert len(result.data[-1].embedding) == 3072


@pytest.mark.parametrize("encoding", ["", "gzip"])
async def test_large_float_embeddings_pass(kind: str, loopback: Any, call: Any, encoding: str) -> None:
    # 256 rows: about 17 MB of JSON, past the size below which the compression ratio is not checked.
    await check_float_embeddings(kind, loopback, call, 256, encoding)


@pytest.mark.slow
async def test_float_embeddings_of_2048_by_3072_pass_gzipped(kind: str, loopback: Any, call: Any) -> None:
    # About 130 MB of JSON in about 55 MB of gzip: well within the ratio, far past the unchecked size.
    await check_float_embeddings(kind, loopback, call, 2048, "gzip")


def one_byte_stream(kind: str, *bodies: bytes) -> Any:
    """An http_client whose transport answers its n-th request with `bodies[n]` as an event stream, a byte at a
    time."""
    answers = list(bodies)

    class Sync(httpx.SyncByteStream):
        def __init__(self, body: bytes) -> None:
            self.body = body

        def __iter__(self) -> Iterator[bytes]:
            for index in range(len(self.body)):
                yield self.body[index : index + 1]

    class Async(httpx.AsyncByteStream):
        def __init__(self, body: bytes) -> None:
            self.body = body

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for index in range(len(self.body)):
                yield self.body[index : index + 1]

    def handler(request: httpx.Request) -> httpx.Response:
        body = answers.pop(0)
        stream: Any = Async(body) if kind == "async" else Sync(body)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    transport = httpx.MockTransport(handler)
    return httpx.AsyncClient(transport=transport) if kind == "async" else httpx.Client(transport=transport)


async def test_a_long_line_in_one_byte_pieces_costs_memory_linear_in_its_size(
    kind: str, make_client: Any, call: Any
) -> None:
    def body(content: str) -> bytes:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []}
        chunk["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
        return b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"

    content = "a" * (128 * 1024)
    http_client = one_byte_stream(kind, body("warm-up"), body(content))
    client = make_client(http_client=http_client, base_url="http://127.0.0.1:9/v1")
    try:
        await read_stream(call, client)  # the first stream's imports and caches are not what is measured
        tracemalloc.start()
        stream = await call(client.chat.completions.create, model="m", messages=MESSAGES, stream=True)
        final = await call(stream.get_final_completion)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await close(client)
    assert final.choices[0].message.content == content
    # The line, its decoded text and the parsed chunk: a few times its size. A piece object per byte was ~90x.
    assert peak < 16 * len(content)


async def read_stream(call: Any, client: Any) -> None:
    stream = await call(client.chat.completions.create, model="m", messages=MESSAGES, stream=True)
    await call(stream.get_final_completion)


async def test_an_sse_line_past_the_limit_is_refused(kind: str, loopback: Any, call: Any) -> None:
    line = b"data: " + CHUNK_HEAD + b" " * (MAX_SSE_EVENT + MiB) + b"}\n\n"
    server = loopback(raw(sse_response(line, b"data: [DONE]\n\n")))
    client = make(kind, server, max_retries=0)
    try:
        with pytest.raises(apertis.APIResponseValidationError, match="MAX_SSE_EVENT"):
            await read_stream(call, client)
        assert busy_connections(client) == []
    finally:
        await close(client)


async def test_sse_event_data_past_the_limit_is_refused(kind: str, loopback: Any, call: Any) -> None:
    # Many data lines of one event, each short: valid JSON once joined (the lines are whitespace).
    spaces = b"data: " + b" " * MiB + b"\n"
    lines = [b"data: " + CHUNK_HEAD + b"\n"] + [spaces] * (MAX_SSE_EVENT // MiB + 1) + [b"data: }\n\n"]
    server = loopback(raw(sse_response(*lines, b"data: [DONE]\n\n")))
    client = make(kind, server, max_retries=0)
    try:
        with pytest.raises(apertis.APIResponseValidationError, match="data of one event"):
            await read_stream(call, client)
        assert busy_connections(client) == []
    finally:
        await close(client)
