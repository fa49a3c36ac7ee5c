"""A fast loopback server with canned, pre-serialised OpenAI-style answers, for the benchmark.

It must cost far less than the clients it serves, so every answer is built once (per shape) and written as
one pre-framed bytes object; the request parser only finds the head, the body length and a few JSON keys.

Routes (HTTP/1.1, keep-alive):
  POST /v1/chat/completions   a chat completion; with "stream": true an SSE stream of N chunks, where N is
                              the number at the end of the model name (``bench-stream-20000``), default 20
  POST /v1/embeddings         len(input) embeddings of D floats, D from the model name (``bench-emb-1536``),
                              as float JSON or, with "encoding_format": "base64", as little-endian float32
  GET  /v1/models             a short model list
Anything else answers 404 with an OpenAI-style error body.

Run: ``python bench/server.py [--port 0]``; it prints ``PORT <n>`` on stdout once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import resource
import signal
import struct
import sys
from typing import Callable, Dict, Optional, Tuple

CREATED = 1767225600
_MODEL_NUMBER = re.compile(rb"-(\d+)$")


def _http(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 " + status.encode() + b"\r\n"
        b"content-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"x-request-id: req_bench\r\n"
        b"\r\n" + body
    )


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def chat_completion_body(model: str) -> bytes:
    """A typical non-streamed chat completion, about 700 bytes."""
    return _json(
        {
            "id": "chatcmpl-bench0000000000000000000000",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! The capital of France is Paris. Is there anything else I can help with?",
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 24,
                "completion_tokens": 18,
                "total_tokens": 42,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
        }
    )


def _chunk(model: str, delta: Dict[str, object], finish: Optional[str]) -> bytes:
    return _json(
        {
            "id": "chatcmpl-bench0000000000000000000000",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def stream_response(model: str, n: int) -> bytes:
    """An SSE stream of ``n`` chunks, each event in its own HTTP chunk (as a server that flushes per token)."""
    events = [_chunk(model, {"role": "assistant", "content": "", "refusal": None}, None)]
    middle = _chunk(model, {"content": " token"}, None)
    events.extend([middle] * max(n - 2, 0))
    events.append(_chunk(model, {}, "stop"))
    events = events[:n]
    frames = []
    for event in [*events, b"[DONE]"]:
        payload = b"data: " + event + b"\n\n"
        frames.append(b"%x\r\n%b\r\n" % (len(payload), payload))
    frames.append(b"0\r\n\r\n")
    head = (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/event-stream; charset=utf-8\r\n"
        b"transfer-encoding: chunked\r\n"
        b"cache-control: no-cache\r\n"
        b"x-request-id: req_bench\r\n"
        b"\r\n"
    )
    return head + b"".join(frames)


def _vectors(k: int, d: int) -> list[list[float]]:
    # float32-exact values, so float JSON and base64 carry the same numbers.
    rng = random.Random(1536)
    packed = struct.pack(f"<{d}f", *(rng.uniform(-0.1, 0.1) for _ in range(d)))
    row = list(struct.unpack(f"<{d}f", packed))
    return [row[i:] + row[:i] for i in range(k)]


def embeddings_body(model: str, k: int, d: int, fmt: str) -> bytes:
    """``k`` embeddings of ``d`` dimensions; float JSON as 9 significant digits, like real servers."""
    rows = _vectors(k, d)
    items = []
    for i, row in enumerate(rows):
        if fmt == "base64":
            value = b'"' + base64.b64encode(struct.pack(f"<{d}f", *row)) + b'"'
        else:
            value = b"[" + ",".join(f"{x:.9g}" for x in row).encode() + b"]"
        items.append(b'{"object":"embedding","index":%d,"embedding":%b}' % (i, value))
    usage = _json({"prompt_tokens": 4 * k, "total_tokens": 4 * k})
    return (
        b'{"object":"list","data":[' + b",".join(items) + b'],"model":"' + model.encode() + b'","usage":' + usage + b"}"
    )


MODELS_BODY = _json(
    {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "bench"} for m in ("gpt-4o", "bench")],
    }
)
NOT_FOUND = _http(
    "404 Not Found",
    _json({"error": {"message": "no such route", "type": "invalid_request_error", "code": "not_found"}}),
)


class Answers:
    """Caches every answer by its shape, so only the first request of a shape pays for building it."""

    def __init__(self) -> None:
        self._cache: Dict[Tuple[object, ...], bytes] = {}

    def _cached(self, key: Tuple[object, ...], build: Callable[[], bytes]) -> bytes:
        answer = self._cache.get(key)
        if answer is None:
            answer = self._cache[key] = build()
        return answer

    def answer(self, method: bytes, path: bytes, body: bytes) -> bytes:
        path = path.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            req = json.loads(body)
            model = str(req.get("model", "gpt-4o"))
            if req.get("stream") is True:
                m = _MODEL_NUMBER.search(model.encode())
                n = int(m.group(1)) if m else 20
                return self._cached(("stream", model, n), lambda: stream_response(model, n))
            return self._cached(("chat", model), lambda: _http("200 OK", chat_completion_body(model)))
        if method == b"POST" and path == b"/v1/embeddings":
            req = json.loads(body)
            model = str(req.get("model", "bench-emb-1536"))
            inp = req.get("input")
            k = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
            m = _MODEL_NUMBER.search(model.encode())
            d = int(m.group(1)) if m else 1536
            fmt = "base64" if req.get("encoding_format") == "base64" else "float"
            return self._cached(("emb", model, k, d, fmt), lambda: _http("200 OK", embeddings_body(model, k, d, fmt)))
        if method == b"GET" and path == b"/v1/models":
            return self._cached(("models",), lambda: _http("200 OK", MODELS_BODY))
        return NOT_FOUND


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: parses requests off the buffer and writes canned answers."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.buf = bytearray()
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            start = end + 4
            if b"\r\ntransfer-encoding: chunked" in head:
                parsed = _dechunk(self.buf, start)
                if parsed is None:
                    return
                body, consumed = parsed
            else:
                i = head.find(b"\r\ncontent-length:")
                length = int(head[i + 17 :].split(b"\r\n", 1)[0]) if i >= 0 else 0
                if len(self.buf) < start + length:
                    return
                body, consumed = bytes(self.buf[start : start + length]), start + length
            del self.buf[:consumed]
            method, path = head.split(b" ", 2)[:2]
            self.transport.write(self.answers.answer(method.upper(), path, body))
            if b"\r\nconnection: close" in head:
                self.transport.close()
                self.transport = None

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.transport = None


def _dechunk(buf: bytearray, pos: int) -> Optional[Tuple[bytes, int]]:
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
        if size == 0:
            return bytes(out), pos


async def serve(port: int) -> None:
    """Listens on 127.0.0.1 until SIGTERM/SIGINT; prints ``PORT <n>`` once ready."""
    loop = asyncio.get_running_loop()
    answers = Answers()
    server = await loop.create_server(lambda: Connection(answers), "127.0.0.1", port, backlog=4096)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # The 1,000-in-flight scenario opens up to 1,000 connections.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
