"""The offline Apertis-compatible HTTP server: an asyncio HTTP/1.1 server on a background thread."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import json
import math
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Type, Union
from urllib.parse import parse_qs, urlsplit

import attrs

from ._answers import (
    Answer,
    FakeRequest,
    StreamAnswer,
    VideoTasks,
    error_answer,
    handler_for,
    synthesized_answer,
)
from ._faults import FAULT_HEADER, Fault, FaultCounters, FaultError, RateLimiter
from ._gateway_headers import PlausibleRateLimit
from ._media import png_bytes
from ._multipart import FilePart, MultipartError, parse_multipart
from ._schema import SchemaError, validate
from ._spec import Operation, Spec, load_spec

__all__ = ["FakeApertis", "RecordedRequest"]

_MAX_HEAD = 64 * 1024
_IDLE_SECONDS = 30.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


@attrs.define(kw_only=True, eq=False)
class RecordedRequest:
    """A request the server received, with the status it answered (`None` for a dropped connection).

    `json` is the parsed JSON body, and `operation_id` the spec operation the path matched; both are filled in
    as the server handles the request, like `status`.
    """

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    json: Any = None
    operation_id: Optional[str] = None
    status: Optional[int] = None

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.path} -> {self.status}>"


class _Drop(Exception):
    """Close the connection without (completing) an answer."""


@attrs.define(eq=False)
class _Raw:
    method: str
    target: str
    version: str
    headers: Dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and "close" not in self.headers.get("connection", "").lower()


class _HTTPError(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"host={host!r}: the fake server only binds loopback addresses; use host='127.0.0.1'")


class FakeApertis:
    """An offline Apertis-compatible server on 127.0.0.1, for examples, demos and tests.

    It speaks every operation of the SDK's OpenAPI description with deterministic answers derived from the
    request, checks every request against the spec (a spec-shaped 400 names the offending field), and injects
    faults on demand. Use it as a context manager (sync or async)::

        with FakeApertis() as server:
            client = Apertis(base_url=server.url, api_key="test")

    `faults` are fault descriptions (see `apertis.testing.Fault`) applied to every request; a request can add
    its own in the `x-fake-fault` header. `api_key` makes the server accept only that key (otherwise any
    non-empty key passes). `port=0` picks a free port.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Iterable[Union[str, Fault]] = (),
        api_key: Optional[str] = None,
        spec: Union[str, Mapping[str, Any], None] = None,
        validate_requests: bool = True,
        max_connections: int = 512,
        max_body_bytes: int = 32 * 1024 * 1024,
        history: int = 1000,
    ) -> None:
        _check_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port={port}: give 0 (any free port) or a port number up to 65535")
        if max_connections < 1 or max_body_bytes < 1 or history < 0:
            raise ValueError("max_connections and max_body_bytes must be positive and history not negative")
        self.host = host
        self.faults: List[Fault] = [f if isinstance(f, Fault) else Fault.parse(f) for f in faults]
        self.api_key = api_key
        self.validate_requests = validate_requests
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self._spec_source = spec
        self._requested_port = port
        self._port: Optional[int] = None
        self._spec: Optional[Spec] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._connections: Set[asyncio.Task[None]] = set()
        self._history: Deque[RecordedRequest] = collections.deque(maxlen=history)
        self._history_lock = threading.Lock()
        self._counters = FaultCounters()
        self._limiter = RateLimiter()
        self._plausible_rate_limit = PlausibleRateLimit()
        self._tasks = VideoTasks()
        self._seq = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after `start()`)."""
        if self._port is None:
            raise RuntimeError("the server is not running; call start() or use it as a context manager")
        return self._port

    @property
    def root_url(self) -> str:
        """The host root, e.g. `http://127.0.0.1:8123` (where the host-root operations live)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give a client, e.g. `http://127.0.0.1:8123/v1`."""
        assert self._spec is not None
        return self.root_url + self._spec.prefix

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._thread is not None and self._thread.is_alive() and self._port is not None

    def start(self) -> FakeApertis:
        """Bind and serve on a background thread; returns once the port is open."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        self._spec = load_spec(self._spec_source)
        ready = threading.Event()
        failure: List[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"FakeApertis-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection (ending stalls and streams) and stop the server thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._close(), loop)
            try:
                future.result(timeout=10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._port = None

    def __enter__(self) -> FakeApertis:
        return self.start()

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeApertis:
        # The server keeps its own thread and loop, so a sync client in the same test cannot deadlock it.
        return await asyncio.get_running_loop().run_in_executor(None, self.start)

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # -- inspection ------------------------------------------------------------------------------------------

    @property
    def requests(self) -> List[RecordedRequest]:
        """The requests received so far, oldest first (the last `history` of them)."""
        with self._history_lock:
            return list(self._history)

    def reset(self) -> None:
        """Forget recorded requests, fault attempt counts, rate-limit windows and video tasks."""
        with self._history_lock:
            self._history.clear()
        self._counters.clear()
        self._limiter.clear()
        self._tasks.clear()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<FakeApertis {where}>"

    # -- serving ---------------------------------------------------------------------------------------------

    async def _open(self) -> None:
        # Runs on the server thread while the starting thread waits: whatever the serving path imports lazily
        # is imported now, so the server thread never compiles a module while the caller's thread does (CPython
        # 3.11 can fail with "AST constructor recursion depth mismatch" when two threads compile at once, and
        # pytest compiles the SDK's modules when it rewrites assertions).
        _warm_up(self)
        self._server = await asyncio.start_server(
            self._connection, self.host, self._requested_port, limit=_MAX_HEAD, backlog=self.max_connections
        )
        sockets = self._server.sockets or ()
        self._port = int(sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                await self._send(writer, error_answer(503, "Too many connections to the offline server"), False)
                return
            while True:
                try:
                    raw = await asyncio.wait_for(self._read(reader), _IDLE_SECONDS)
                except _HTTPError as exc:
                    await self._send(writer, exc.answer, False)
                    return
                if raw is None:
                    return
                keep = await self._serve(raw, reader, writer)
                if not keep:
                    return
        except (_Drop, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            _abort(writer)

    async def _read(self, reader: asyncio.StreamReader) -> Optional[_Raw]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError:
            raise _HTTPError(error_answer(431, "Request headers are larger than 64 KiB")) from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HTTPError(error_answer(400, "Malformed HTTP request line"))
        method, target, version = parts
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _HTTPError(error_answer(400, f"Malformed header line {line[:60]!r}"))
            key = name.strip().lower()
            value = value.strip()
            # Repeated headers are joined, except the fault header whose values stay separable.
            joiner = "\n" if key == FAULT_HEADER else ", "
            headers[key] = f"{headers[key]}{joiner}{value}" if key in headers else value
        body = b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked(reader)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise _HTTPError(error_answer(400, "Invalid Content-Length header")) from None
            if length > self.max_body_bytes:
                raise _HTTPError(error_answer(413, f"Request body larger than {self.max_body_bytes} bytes"))
            body = await reader.readexactly(length)
        return _Raw(method, target, version, headers, body)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: List[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _HTTPError(error_answer(400, "Malformed chunked body")) from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_body_bytes:
                raise _HTTPError(error_answer(413, f"Request body larger than {self.max_body_bytes} bytes"))
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _serve(self, raw: _Raw, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        self._seq += 1
        split = urlsplit(raw.target)
        query = parse_qs(split.query, keep_blank_values=True)
        record = RecordedRequest(
            method=raw.method,
            path=split.path,
            query=query,
            headers=raw.headers,
            body=raw.body,
        )
        with self._history_lock:
            self._history.append(record)
        try:
            outcome, effect = self._prepare(raw, split.path, query, record)
        except _HTTPError as exc:
            outcome, effect = exc.answer, _Effect(0.0, None)
        if record.operation_id == "createMessage" and isinstance(outcome, Answer) and outcome.status >= 400:
            # /messages passes Anthropic traffic through, so its errors also carry the Anthropic `"type": "error"`.
            payload = outcome.payload
            if isinstance(payload, dict) and "type" not in payload:
                extra = {k: v for k, v in outcome.headers.items() if k != "content-type"}
                outcome = error_answer(outcome.status, **_error_fields(payload), anthropic=True, headers=extra)
        if effect.latency:
            await asyncio.sleep(effect.latency)
        fault = effect.fault
        if fault is not None and fault.stall is not None:
            await self._stall(reader, fault.stall)
            raise _Drop
        if fault is not None and fault.reset:
            _reset(writer)
            raise _Drop
        record.status = outcome.status
        keep = raw.keep_alive
        if isinstance(outcome, StreamAnswer):
            await self._send_stream(writer, outcome, fault, keep)
        else:
            await self._send(writer, outcome, keep, cut=fault is not None and fault.cut is not None)
        return keep

    def _prepare(
        self, raw: _Raw, path: str, query: Dict[str, List[str]], record: RecordedRequest
    ) -> Tuple[Union[Answer, StreamAnswer], _Effect]:
        assert self._spec is not None
        spec = self._spec
        if raw.method == "GET" and path.startswith("/fake-assets/"):
            return _asset(path), _Effect(0.0, None)
        op, params, path_known = spec.find(raw.method, path)
        if op is None:
            if path_known:
                return error_answer(405, f"Method {raw.method} is not allowed on {path}"), _Effect(0.0, None)
            return error_answer(404, f"The requested endpoint does not exist: {raw.method} {path}"), _Effect(0.0, None)
        record.operation_id = op.operation_id
        relative = path if op.host_root else path[len(spec.prefix) :]

        if op.needs_auth:
            denied = self._authenticate(raw.headers)
            if denied is not None:
                return denied, _Effect(0.0, None)

        try:
            faults = self.faults + [
                Fault.parse(text) for text in raw.headers.get(FAULT_HEADER, "").split("\n") if text.strip()
            ]
        except FaultError as exc:
            return error_answer(400, f"Bad {FAULT_HEADER} header: {exc}", param=FAULT_HEADER), _Effect(0.0, None)
        extra_headers: Dict[str, str] = {}
        for index, fault in enumerate(faults):
            if fault.is_rate_limit and fault.applies_to(relative):
                decision = self._limiter.check(fault, f"{index}:{fault.source}")
                # A window reported on its refusals only, or never (an IP's, on a gateway that reports the key's),
                # leaves the headers of the windows checked before it.
                if fault.report in (None, "all") or (fault.report == "429" and decision.retry_after is not None):
                    extra_headers.update(decision.headers)
                if decision.retry_after is not None:
                    extra_headers["retry-after"] = str(decision.retry_after)
                    return error_answer(429, headers=extra_headers), _Effect(0.0, None)

        request = self._parse(raw, path, query, op, params)
        record.json = request.json if request.json is not None else (request.form_values or None)

        chosen: Optional[Fault] = None
        latency = 0.0
        for index, fault in enumerate(faults):
            if fault.is_rate_limit or not fault.applies_to(relative):
                continue
            origin = f"{index}:{fault.source}" if index < len(self.faults) else f"header:{fault.source}"
            if not self._counters.fires(fault, origin, raw.headers):
                continue
            latency += fault.latency or 0.0
            if chosen is None and fault.acts:
                chosen = fault
        effect = _Effect(latency, chosen)
        if chosen is not None and chosen.status is not None:
            headers = dict(extra_headers)
            if chosen.retry_after is not None:
                headers["retry-after"] = _seconds(chosen.retry_after)
            answer = error_answer(
                chosen.status, chosen.message, code=chosen.code, error_type=chosen.error_type, headers=headers
            )
            return answer, _Effect(latency, None)

        handler = handler_for(op.method, op.path, self._tasks)
        if handler is not None:
            outcome = handler(request, spec.resolver)
        else:
            outcome = synthesized_answer(op.success_schema(spec), spec.resolver)
        if op.needs_auth:  # the API's calls, not the host-root health checks
            outcome.headers.update(self._plausible_rate_limit.headers())
        outcome.headers.update(extra_headers)
        return outcome, effect

    def _authenticate(self, headers: Mapping[str, str]) -> Optional[Answer]:
        authorization = headers.get("authorization", "")
        key = ""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return error_answer(
                    401, "Malformed Authorization header: send 'Authorization: Bearer <key>'", code="invalid_api_key"
                )
            key = token.strip()
        else:
            key = headers.get("x-api-key", "").strip()
        if not key:
            return error_answer(
                401,
                "API key is missing: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                code="missing_api_key",
            )
        if self.api_key is not None and key != self.api_key:
            return error_answer(401, "Invalid API key provided", code="invalid_api_key")
        return None

    def _parse(
        self, raw: _Raw, path: str, query: Dict[str, List[str]], op: Operation, params: Dict[str, str]
    ) -> FakeRequest:
        assert self._spec is not None
        resolver = self._spec.resolver
        content_type = raw.headers.get("content-type", "")
        json_body: Any = None
        form: Dict[str, List[str]] = {}
        files: List[FilePart] = []
        body_schema: Optional[Mapping[str, Any]] = None
        checked: Any = None
        if raw.body or op.body_required:
            if op.form_schema is not None and content_type.lower().startswith("multipart/"):
                try:
                    fields, files = parse_multipart(content_type, raw.body)
                except MultipartError as exc:
                    raise _HTTPError(error_answer(400, f"Invalid multipart body: {exc}")) from None
                for name, value in fields:
                    form.setdefault(name, []).append(value)
                body_schema = op.form_schema
                checked, form = _coerce_form(form, files, resolver.resolve(op.form_schema), resolver)
            elif op.json_schema is not None:
                if not raw.body:
                    raise _HTTPError(
                        error_answer(400, "The request body is missing: send a JSON object", code="invalid_request")
                    )
                if "json" not in content_type.lower():
                    sent = content_type or "nothing"
                    raise _HTTPError(
                        error_answer(400, f"Send the body as application/json, not {sent!r}", code="invalid_request")
                    )
                try:
                    json_body = json.loads(raw.body)
                except ValueError as exc:
                    message = f"We could not parse the JSON body of your request: {exc}"
                    raise _HTTPError(error_answer(400, message, code="invalid_request")) from None
                body_schema = op.json_schema
                checked = json_body
            elif op.form_schema is not None and content_type.lower().startswith("application/x-www-form-urlencoded"):
                # A form without files may arrive url-encoded; gateways parse both encodings alike.
                form = parse_qs(raw.body.decode("utf-8", "replace"), keep_blank_values=True)
                body_schema = op.form_schema
                checked, form = _coerce_form(form, files, resolver.resolve(op.form_schema), resolver)
            elif op.form_schema is not None:
                raise _HTTPError(error_answer(400, "Send the body as multipart/form-data", code="invalid_request"))
        if self.validate_requests:
            self._check_parameters(op, query, params)
            if body_schema is not None:
                try:
                    validate(checked, body_schema, resolver)
                except SchemaError as exc:
                    raise _HTTPError(error_answer(400, exc.message, code=exc.code, param=exc.param or None)) from None
        return FakeRequest(
            method=raw.method,
            path=path,
            query=query,
            headers=raw.headers,
            body=raw.body,
            json_body=json_body,
            form=form,
            form_values=checked if isinstance(checked, dict) and json_body is None else None,
            files=files,
            params=params,
            operation_id=op.operation_id,
            base_url=self.root_url,
            api_prefix=self._spec.prefix,
            seq=self._seq,
        )

    def _check_parameters(self, op: Operation, query: Dict[str, List[str]], params: Dict[str, str]) -> None:
        assert self._spec is not None
        for param in op.parameters:
            name = str(param.get("name"))
            where = param.get("in")
            if where == "query":
                values = query.get(name)
                value: Optional[str] = values[0] if values else None
            elif where == "path":
                value = params.get(name) or params.get(name.replace("-", "_"))
                if value == "":
                    value = None
            else:
                continue
            if value is None:
                if param.get("required"):
                    raise _HTTPError(
                        error_answer(400, f"Missing required parameter '{name}'.", code="missing_parameter", param=name)
                    )
                continue
            schema = param.get("schema")
            if isinstance(schema, Mapping):
                resolved = self._spec.resolver.resolve(schema)
                try:
                    validate(_coerce(value, resolved), resolved, self._spec.resolver, name)
                except SchemaError as exc:
                    raise _HTTPError(error_answer(400, exc.message, code=exc.code, param=exc.param)) from None

    # -- writing ---------------------------------------------------------------------------------------------

    @staticmethod
    def _head(status: int, headers: Mapping[str, str], keep: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        for name, value in headers.items():
            lines.append(f"{name}: {value}")
        lines.append(f"date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}")
        lines.append("server: apertis-testing")
        lines.append(f"connection: {'keep-alive' if keep else 'close'}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, answer: Answer, keep: bool, cut: bool = False) -> None:
        headers = {**answer.headers, "content-length": str(len(answer.body)), "x-request-id": f"req_{self._seq:012d}"}
        if cut:
            writer.write(self._head(answer.status, headers, keep) + answer.body[: len(answer.body) // 2])
            await writer.drain()
            raise _Drop
        writer.write(self._head(answer.status, headers, keep) + answer.body)
        await writer.drain()

    async def _send_stream(
        self, writer: asyncio.StreamWriter, answer: StreamAnswer, fault: Optional[Fault], keep: bool
    ) -> None:
        headers = {**answer.headers, "transfer-encoding": "chunked", "x-request-id": f"req_{self._seq:012d}"}
        writer.write(self._head(200, headers, keep))
        events = list(answer.events)
        if fault is not None and fault.error_event is not None:
            at = min(fault.error_event, len(events))
            events = [*events[:at], answer.error_event(fault.error_type, fault.code, fault.message)]
        for index, event in enumerate(events):
            if fault is not None and fault.cut is not None and index >= fault.cut:
                await writer.drain()
                raise _Drop
            data = StreamAnswer.render(event)
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _stall(self, reader: asyncio.StreamReader, seconds: float) -> None:
        # Wait for the client to give up (EOF) or for the stall to end, whichever is first.
        try:
            if math.isinf(seconds):
                await reader.read(1)
            else:
                await asyncio.wait_for(reader.read(1), seconds)
        except (asyncio.TimeoutError, ConnectionError):
            pass


def _warm_up(server: FakeApertis) -> None:
    assert server._spec is not None
    boundary = "warmup"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        f"Content-Type: audio/wav\r\n\r\nRIFF\r\n--{boundary}\r\nContent-Disposition: form-data; "
        f'name="model"\r\n\r\nwhisper-1\r\n--{boundary}--\r\n'
    ).encode()
    fields, files = parse_multipart(f"multipart/form-data; boundary={boundary}", body)
    samples: List[Tuple[str, str, Any]] = [
        ("POST", "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}),
        ("POST", "/responses", {"model": "m", "input": "hi", "stream": True}),
        (
            "POST",
            "/messages",
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        ),
        ("POST", "/embeddings", {"model": "m", "input": "hi", "encoding_format": "base64"}),
        ("POST", "/audio/speech", {"model": "m", "input": "hi", "voice": "alloy"}),
        ("POST", "/images/generations", {"prompt": "hi", "model": "gpt-image-1", "size": "8x8"}),
        ("POST", "/audio/transcriptions", None),
    ]
    for method, path, payload in samples:
        handler = handler_for(method, path, VideoTasks())
        if handler is None:
            continue
        request = FakeRequest(
            method=method,
            path=path,
            query={},
            headers={},
            body=json.dumps(payload).encode(),
            json_body=payload,
            form={k: [v] for k, v in fields},
            form_values=dict(fields),
            files=files,
        )
        outcome = handler(request, server._spec.resolver)
        if isinstance(outcome, StreamAnswer):
            for event in outcome.events:
                StreamAnswer.render(event)
            outcome.error_event(None, None, None)
    error_answer(400, "warm-up", anthropic=True)
    _head = FakeApertis._head(200, {}, True)
    parse_qs("a=1")


@attrs.define(frozen=True)
class _Effect:
    """What the faults do to one answer: a delay first, then at most one acting fault."""

    latency: float
    fault: Optional[Fault]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error_fields(payload: Mapping[str, Any]) -> Dict[str, Any]:
    error = payload.get("error") or {}
    return {
        "message": error.get("message"),
        "code": error.get("code"),
        "param": error.get("param"),
        "error_type": error.get("type"),
    }


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Linger 0 makes close() send a TCP RST instead of a FIN: a genuine "connection reset by peer".
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _asset(path: str) -> Answer:
    name = path.rsplit("/", 1)[-1]
    seed, width, height = 0x7F7F7F, 64, 64
    parts = name[: -len(".png")].split("-") if name.endswith(".png") else []
    if len(parts) == 3 and parts[0] == "image":
        try:
            seed = int(parts[1], 16)
            width, height = (min(2048, int(v)) for v in parts[2].split("x"))
        except ValueError:
            pass
    return Answer(200, png_bytes(width, height, seed), "image/png")


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A text value (query parameter or form field) as the JSON value its schema expects."""
    types = schema.get("type")
    allowed = [types] if isinstance(types, str) else list(types or [])
    for kind in allowed:
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value)
        except ValueError:
            continue
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind in ("object", "array"):
            try:
                return json.loads(value)
            except ValueError:
                continue
    return value


def _is_file_schema(schema: Mapping[str, Any]) -> bool:
    return schema.get("format") == "binary" or "contentMediaType" in schema or schema.get("contentEncoding") == "binary"


def _coerce_form(
    form: Dict[str, List[str]], files: Sequence[Any], schema: Mapping[str, Any], resolver: Any
) -> Tuple[Dict[str, Any], Dict[str, List[str]]]:
    """The multipart fields as a JSON object to validate: typed values, `name[]` repeats as arrays, files as names."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    checked: Dict[str, Any] = {}
    for raw_name, values in form.items():
        name = raw_name[:-2] if raw_name.endswith("[]") else raw_name
        prop = resolver.resolve(properties.get(name, {}))
        if _is_file_schema(prop) or (
            prop.get("type") == "array" and _is_file_schema(resolver.resolve(prop.get("items", {})))
        ):
            raise _HTTPError(
                error_answer(
                    400,
                    f"'{name}' must be uploaded as a file, not sent as a text field.",
                    code="invalid_parameter",
                    param=name,
                )
            )
        if prop.get("type") == "array" or raw_name.endswith("[]"):
            items = resolver.resolve(prop.get("items", {}))
            checked[name] = [_coerce(v, items) for v in values]
        else:
            checked[name] = _coerce(values[-1], prop)
    for upload in files:
        name = upload.name[:-2] if upload.name.endswith("[]") else upload.name
        prop = resolver.resolve(properties.get(name, {}))
        if prop.get("type") == "array":
            checked.setdefault(name, []).append(upload.filename or "upload")
        else:
            checked[name] = upload.filename or "upload"
    return checked, form
