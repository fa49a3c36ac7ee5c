"""Faults on demand: how they are written, parsed and counted.

A fault is a `;`-separated list of `key=value` items (flags need no value), given per server
(`FakeApertis(faults=[...])`, `python -m apertis.testing --fault ...`) or per request in the `x-fake-fault`
header (repeat the header for several faults). `EXAMPLES` below shows every item; `python -m apertis.testing
--help` and the README list the same examples.

Attempts are counted per fault and per Idempotency-Key header when the request carries one (the SDK sends one
key for all the attempts of a POST call, so a client's retries of one call count together, and every new call
starts again at one); otherwise, and with `scope=global`, they are counted across all requests.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Dict, Mapping, Optional, Tuple, Union

import attrs

__all__ = ["EXAMPLES", "FAULT_HEADER", "Fault", "FaultError", "FaultCounters", "RateLimiter", "RateDecision"]

FAULT_HEADER = "x-fake-fault"

# (fault, what it does): one example per item of the syntax.
EXAMPLES = (
    ("status=503;times=2;retry_after=1", "the first two attempts get a 503 with Retry-After: 1"),
    ("status=429;every=3", "every third attempt gets a 429"),
    ("latency=0.5", "answer every request half a second late"),
    ("stall=10", "accept the request, say nothing for 10 s, then drop the connection"),
    ("stall", "accept the request and say nothing until the client gives up or the server stops"),
    ("reset;times=1", "close the connection without an answer (TCP reset), once"),
    ("cut=3", "streams: send 3 events, then drop the connection; other answers: send half the body, then drop it"),
    ("error_event=2;error_type=overloaded_error", "streams: send 2 events, then an error event in the stream's format"),
    ("rate_limit=5;window=60", "at most 5 requests per 60 s window (x-ratelimit-* headers, then 429)"),
    (
        "rate_limit=100;window=30;report=none",
        "a window the answers do not report (an IP's): no x-ratelimit-* headers for it, its 429s carry Retry-After",
    ),
    ("status=500;path=/embeddings", "only requests whose path (after /v1) starts with /embeddings"),
    ("status=500;code=server_error;message=Boom", "the error body's code and message"),
    ("status=503;scope=global", "count attempts across all requests, not per Idempotency-Key"),
)

_FLOAT_KEYS = ("retry_after", "latency", "stall", "window")
_INT_KEYS = ("status", "times", "every", "cut", "error_event", "rate_limit")
_STR_KEYS = ("error_type", "code", "message", "path", "scope", "report")
_FLAGS = ("reset", "stall")


class FaultError(ValueError):
    """A fault description could not be parsed; the message names the offending item and the fix."""


@attrs.define(kw_only=True, eq=False)
class Fault:
    """One parsed fault description (see the module docstring for the syntax)."""

    status: Optional[int] = None
    times: Optional[int] = None
    every: Optional[int] = None
    retry_after: Optional[float] = None
    latency: Optional[float] = None
    stall: Optional[float] = None
    reset: bool = False
    cut: Optional[int] = None
    error_event: Optional[int] = None
    error_type: Optional[str] = None
    code: Optional[str] = None
    message: Optional[str] = None
    rate_limit: Optional[int] = None
    window: Optional[float] = None
    path: Optional[str] = None
    scope: Optional[str] = None
    report: Optional[str] = None
    """Which answers carry a rate limit's x-ratelimit-* headers: all (the default), 429 (its refusals only), none."""
    source: str = ""

    def __attrs_post_init__(self) -> None:
        status, reset, stall, cut, error_event = self.status, self.reset, self.stall, self.cut, self.error_event
        source = self.source
        if status is not None and not 400 <= status <= 599:
            raise FaultError(f"fault 'status={status}': give an HTTP error status between 400 and 599")
        for name, value in (("times", self.times), ("every", self.every), ("rate_limit", self.rate_limit)):
            if value is not None and value < 1:
                raise FaultError(f"fault '{name}={value}': give a whole number of at least 1")
        for name, number in (("cut", cut), ("error_event", error_event)):
            if number is not None and number < 0:
                raise FaultError(f"fault '{name}={number}': give the number of events to send first (0 or more)")
        for name, seconds in (("retry_after", self.retry_after), ("latency", self.latency), ("stall", stall)):
            # An endless stall (math.inf, written as a bare `stall`) is allowed; it ends when the client
            # disconnects or the server stops.
            if seconds is not None and (
                seconds < 0 or math.isnan(seconds) or (name != "stall" and math.isinf(seconds))
            ):
                raise FaultError(f"fault '{name}={seconds}': give a number of seconds of 0 or more")
        window = self.window
        if window is not None and (window <= 0 or not math.isfinite(window)):
            raise FaultError(f"fault 'window={window}': give the rate-limit window in seconds, more than 0")
        if self.report not in (None, "all", "429", "none"):
            raise FaultError(f"fault 'report={self.report}': use report=all, report=429 or report=none")
        if self.report is not None and self.rate_limit is None:
            raise FaultError(f"fault {source or '(constructed)'!r}: report= goes with rate_limit=")
        if self.scope not in (None, "key", "global"):
            raise FaultError(f"fault 'scope={self.scope}': use scope=key or scope=global")
        actions = sum(
            1
            for flag in (status is not None, reset, stall is not None, cut is not None, error_event is not None)
            if flag
        )
        if actions > 1:
            raise FaultError(
                f"fault {source or '(constructed)'!r}: choose one of status, reset, stall, cut and error_event"
            )
        if actions == 0 and self.latency is None and self.rate_limit is None:
            raise FaultError(
                f"fault {source or '(constructed)'!r} does nothing: give status=, reset, stall, cut=, error_event=,"
                " latency= or rate_limit="
            )
        self.source = source or self._render()

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Parse `status=503;times=2;retry_after=1`-style text; raise `FaultError` naming a bad item."""
        values: Dict[str, Union[int, float, str, bool]] = {}
        stall_forever = False
        for raw in text.split(";"):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            value = value.strip()
            if not sep:
                if key not in _FLAGS:
                    raise FaultError(f"fault item {item!r} in {text!r} needs a value, like {key}=...")
                if key == "stall":
                    stall_forever = True
                else:
                    values[key] = True
                continue
            try:
                if key in _INT_KEYS:
                    values[key] = int(value)
                elif key in _FLOAT_KEYS:
                    values[key] = float(value)
                elif key in _STR_KEYS:
                    values[key] = value
                elif key == "reset":
                    values[key] = value.lower() in ("1", "true", "yes", "on")
                else:
                    known = ", ".join(sorted({*_INT_KEYS, *_FLOAT_KEYS, *_STR_KEYS, *_FLAGS}))
                    raise FaultError(f"unknown fault item {key!r} in {text!r}; known items: {known}")
            except ValueError as exc:
                if isinstance(exc, FaultError):
                    raise
                raise FaultError(f"fault item {item!r} in {text!r}: {value!r} is not a number") from None
        if stall_forever and "stall" not in values:
            values["stall"] = math.inf
        return cls(source=text.strip(), **values)  # type: ignore[arg-type]

    def applies_to(self, path: str) -> bool:
        """Whether this fault considers a request for `path` (relative to /v1 for OpenAI-style operations)."""
        return self.path is None or path.startswith(self.path)

    @property
    def acts(self) -> bool:
        """Whether this fault replaces or disturbs the answer (rather than only delaying it)."""
        return (
            self.status is not None
            or self.reset
            or self.stall is not None
            or self.cut is not None
            or self.error_event is not None
        )

    @property
    def is_rate_limit(self) -> bool:
        """Whether this fault is a rate limit rather than a per-attempt fault."""
        return self.rate_limit is not None

    def _render(self) -> str:
        parts = []
        for field in attrs.fields(Fault):
            if field.name == "source":
                continue
            value = getattr(self, field.name)
            if value is True:
                parts.append(field.name)
            elif value not in (None, False):
                parts.append(f"{field.name}={value}")
        return ";".join(parts)

    def __repr__(self) -> str:
        return f"Fault({self.source!r})"


class FaultCounters:
    """Attempt counters shared by every connection of one server (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[Tuple[str, str], int] = {}

    def fires(self, fault: Fault, origin: str, headers: Mapping[str, str]) -> bool:
        """Count this attempt for `fault` and say whether the fault acts on it."""
        key = headers.get("idempotency-key")
        scope = "*" if fault.scope == "global" or not key else f"key:{key}"
        with self._lock:
            count = self._counts.get((origin, scope), 0) + 1
            self._counts[(origin, scope)] = count
            if len(self._counts) > 100_000:
                # Bounded memory for long-running servers that see endless fresh idempotency keys.
                self._counts.clear()
        if fault.times is not None and count > fault.times:
            return False
        return fault.every is None or count % fault.every == 0

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()


@attrs.frozen
class RateDecision:
    """The outcome of a rate-limit check: the headers to send and, when refused, the seconds to wait."""

    headers: Dict[str, str]
    retry_after: Optional[int]


class RateLimiter:
    """Fixed-window limits: at most `limit` requests per `window` seconds per fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: Dict[str, Tuple[float, int]] = {}

    def check(self, fault: Fault, origin: str) -> RateDecision:
        """Count one request against the fault's window and decide whether it may pass."""
        limit = fault.rate_limit or 0
        window = fault.window or 60.0
        now = time.time()
        with self._lock:
            start, used = self._windows.get(origin, (now, 0))
            if now >= start + window:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[origin] = (start, used)
        reset_at = start + window
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-reset": str(math.ceil(reset_at)),
        }
        return RateDecision(headers, None if allowed else max(1, math.ceil(reset_at - now)))

    def clear(self) -> None:
        """Start every window afresh."""
        with self._lock:
            self._windows.clear()
