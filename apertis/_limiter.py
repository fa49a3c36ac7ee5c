"""The client-side rate limiter: keeps a client's calls within the limits of its key (opt-in).

One `RateLimiter` is shared by every task and thread using a client and by its `with_options` copies. Before each
attempt the request loop takes a place from it (`AsyncRateLimiting.acquire`, or its blocking twin
`SyncRateLimiting.acquire` in the generated sync code); after the response it gives the place back and learns from
the response (`RateLimiter.finish`). Its state sits behind a `threading.Lock`, so it may be shared between event
loops and threads alike; waits are the caller's own (an asyncio sleep or future, a thread sleep or event).

Until a first answer it lets one call through at a time. What it learns: `X-RateLimit-Limit`, `-Remaining` and
`-Reset` (Unix seconds on the server's clock, converted to ours with the response's `Date` header) give the budget
of the current window, which is spread evenly over the time left (a quarter second's worth may go at once), so
that when another limit runs out few calls are in flight; two successive resets give the window's length, so the
next window is paced from its start. A 429's `Retry-After` stops every call until then and makes the limiter
cautious (it paces at up to half the rate), a caution that wears off over the successful calls that follow. A 429
that no header explains comes from a window the answers do not report (an IP's): the calls the server let through
since the window began, over the time to its reset, give its rate, kept from then on with a margin
(`RateLimitState.learned_requests_per_minute`).
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import math
import re
import threading
import time
from typing import Any, Deque, Dict, Optional, Set, Union

import attrs
import httpx

from ._exceptions import APITimeoutError
from ._utils import parse_retry_after

__all__ = ["AsyncRateLimiting", "RateLimitState", "RateLimiter", "SyncRateLimiting", "estimate_tokens"]

_MAX_OUTPUT = re.compile(rb'"max(?:_completion|_output)?_tokens"\s*:\s*([0-9]{1,9})')
"""The output budget a request asks for (chat, responses, messages): counted as tokens it may use."""

_CAUTION_AFTER_429 = 1.0
"""Right after a 429 the calls are spaced twice as far apart as the window's budget allows."""
_CAUTION_KEPT_PER_SUCCESS = 0.9
"""Each successful call keeps this share of the caution: about 40 calls after a 429 the full rate is back."""

_PACING_TOLERANCE = 0.25
"""Seconds of a window's even pace that may be spent at once: small bursts go out together, while the calls in
flight at any moment stay few (those are the ones a limit the headers do not report refuses when it runs out)."""

_KNOWN_RATE_MARGIN = 0.02
"""The share of a rate you set that is left unused: calls sent at exactly the limit's pace reach the server
unevenly (network, scheduling), and one arriving early in a window would be refused."""

_UNREPORTED_LOOKBACK = 180.0
"""Seconds before its reset that a window the answers do not report is assumed to span at most, when no reset of
it was seen before: the documented IP window (1,500 requests per 3 minutes). A shorter window then yields a rate
on the low side; a longer one a first estimate on the high side, corrected by its next 429."""

_RESET_RESOLUTION = 1.0
"""Seconds: X-RateLimit-Reset and Retry-After are whole seconds, so a reset learned from them may be this late."""

_ROLLOVER_MARGIN = 0.05
"""Seconds waited past a window's reset before its budget is spent again (the server's clock ticks too)."""

_UNKNOWN_WINDOW_POLL = 0.05
"""A new window's budget is spent before any of its responses told when it resets: wait for one, polling."""


def estimate_tokens(request: httpx.Request) -> int:
    """The tokens a request may use, estimated before it is sent: its body's bytes / 4, plus the output budget it
    asks for (`max_tokens`, `max_completion_tokens`, `max_output_tokens`). A body not in memory counts as 0."""
    try:
        content = request.content
    except httpx.RequestNotRead:
        return 0
    found = _MAX_OUTPUT.search(content)
    return len(content) // 4 + (int(found.group(1)) if found else 0)


@attrs.frozen(kw_only=True)
class RateLimitState:
    """What a RateLimiter knows at one moment (for progress displays and logs)."""

    in_flight: int
    """Attempts holding a place (sent, or waiting for the budget)."""
    waiting: int
    """Attempts waiting for a place."""
    limit: Optional[int]
    """The window's request limit, as the server last said (None: not learned yet)."""
    remaining: Optional[int]
    """The requests the limiter believes are left in the current window."""
    reset_in: Optional[float]
    """Seconds until the current window resets (None: not known)."""
    rate_limited: int
    """429 answers seen so far."""
    learned_requests_per_minute: Optional[float] = None
    """The rate of a window the answers do not report (an IP's), learned from its 429s (None: none met yet)."""
    caution: float = 0.0
    """How much slower than the announced budget calls are paced: 1.0 (half the rate) right after a 429, wearing
    off over the successful calls that follow, down to 0."""


@attrs.frozen
class _Ticket:
    seq: int
    tokens: int
    admitted_at: float


class _Window:
    """One rate-limit window the server announced: its limit, what is left of it, when it resets."""

    __slots__ = ("fresh", "length", "limit", "paced", "previous_reset", "probe", "remaining", "reset")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit
        self.reset: Optional[float] = None  # time.monotonic() of the reset; None: a new window, not yet reported
        self.previous_reset: Optional[float] = None
        self.length: Optional[float] = None  # seconds from one reset to the next, once two were reported
        # The theoretical time of the next call at the window's even pace (see _PACING_TOLERANCE).
        self.paced = 0.0
        # A window spent before any response told when it resets (one the successes do not report, such as an
        # IP's) lets one call through at a time, a probe: its answer tells whether the window has room again (a
        # success) or when it resets (a 429). The first call of a window whose reset is not known yet goes alone
        # too (`fresh`), so that a window already spent elsewhere refuses one call, not a burst.
        self.probe: Optional[int] = None
        self.fresh = False

    def roll_over(self, now: float) -> None:
        reset = self.reset
        if reset is not None and now >= reset + _ROLLOVER_MARGIN:
            # The window is over: its successor's budget is whole, until a response says otherwise.
            self.remaining = self.limit
            if self.length is not None:
                # Its reset follows from the length, so its calls are paced from its start.
                self.reset = reset + (math.floor((now - reset - _ROLLOVER_MARGIN) / self.length) + 1) * self.length
            else:
                self.previous_reset, self.reset, self.fresh = reset, None, True

    def wait(self, now: float, idle: bool) -> float:
        """Seconds to wait before the next call (`idle`: no call is in flight, so no answer is on its way)."""
        if self.reset is not None:
            if self.remaining <= 0:
                return self.reset + _ROLLOVER_MARGIN - now
            return max(0.0, self.paced - _PACING_TOLERANCE - now)
        if self.probe is None and (self.remaining > 0 or idle):
            return 0.0
        return _UNKNOWN_WINDOW_POLL

    def admit(self, seq: int, now: float, caution: float) -> None:
        """Count one call against the window (`caution`: how much slower than its even pace to go)."""
        if self.reset is None:
            if self.remaining <= 0 or self.fresh:
                self.probe = seq
        else:
            # Reset is whole seconds, rounded up: the budget is spread so as to be spent a second before it.
            spacing = max(self.reset - _RESET_RESOLUTION - now, 0.0) / max(self.remaining, 1)
            self.paced = max(self.paced, now) + spacing * (1.0 + caution)
        self.remaining -= 1

    def learn(self, remaining: int, reset: float) -> None:
        if self.reset is None:
            if self.length is None and self.previous_reset is not None and reset > self.previous_reset + 0.5:
                self.length = reset - self.previous_reset
            self.reset, self.remaining = reset, min(self.remaining, remaining)
        elif reset > self.reset + (0.5 if self.length is None else self.length / 2):
            # A window newer than the one we counted in: the server's figure is the fresher.
            if self.length is None:
                self.length = reset - self.reset
            self.reset, self.remaining = reset, remaining
        else:
            # The window we count in: its reset only moves later (the clock estimate improves, or the one
            # predicted from the length was early), its remaining budget only down.
            self.reset = max(self.reset, reset)
            self.remaining = min(self.remaining, remaining)


class _Bucket:
    """A token bucket: `rate` per second, holding at most `capacity` (starts full)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.updated = time.monotonic()

    @classmethod
    def for_window(cls, limit: float, seconds: float) -> _Bucket:
        """A bucket that lets at most `limit` calls into any `seconds` (a fixed window's, wherever it starts, or a
        shorter one's in proportion): as many at once as the pace allows in _PACING_TOLERANCE, the rest at a pace
        that leaves room for that burst."""
        capacity = max(1.0, limit / seconds * _PACING_TOLERANCE)
        # Calls spaced exactly `seconds / limit` apart put `limit` into a window; a burst of more than one
        # is paid for by a slower pace, and uneven arrivals by a margin.
        return cls(max(limit * (1.0 - _KNOWN_RATE_MARGIN) - (capacity - 1.0), 1.0) / seconds, capacity)

    def wait(self, now: float, amount: float) -> float:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    """Keeps a client's calls within its key's limits: a client-wide cap on concurrent calls, and the request
    budget the server announces (learned from `X-RateLimit-*` headers and 429s), plus optional budgets you set.

    Pass one to a client, `AsyncApertis(limiter=apertis.RateLimiter(max_concurrency=32))`, or `limiter=True` for
    the defaults. Every attempt (retries included) waits for a place before it is sent; the wait for a place is
    bounded by the pool timeout (`timeout=httpx.Timeout(..., pool=...)`), every wait by the call's `total_timeout`
    (past them the call raises APITimeoutError).

    - `max_concurrency`: attempts in flight at once, across every task and thread using the client (default 64;
      None: no cap).
    - `requests_per_minute`: a request rate you know applies but the headers do not announce, such as the IP
      limit (1,500 per 3 minutes: `requests_per_minute=500`); calls are spread evenly, a quarter second's worth
      at once at most, so that no minute (and no window of another length at that rate) holds more. Default None:
      only the budget learned from the answers (a window they do not report is learned from its first 429).
    - `tokens_per_minute`: a token budget; each request's tokens are estimated before it is sent (body bytes / 4
      plus its `max_tokens`). Default None: no token budget.
    """

    def __init__(
        self,
        *,
        max_concurrency: Optional[int] = 64,
        requests_per_minute: Optional[float] = None,
        tokens_per_minute: Optional[float] = None,
    ) -> None:
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency must be a whole number of at least 1 or None, got {max_concurrency!r}")
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0
            ):
                raise ValueError(f"{name} must be a number more than 0 or None, got {value!r}")
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: Deque[Any] = collections.deque()
        self._requests = None if requests_per_minute is None else _Bucket.for_window(requests_per_minute, 60.0)
        self._tokens = None if tokens_per_minute is None else _Bucket(tokens_per_minute / 60.0, tokens_per_minute)
        self._seq = 0
        self._admitted: Set[int] = set()
        # The windows the server reported, by limit: a key's (3,000 a minute) and an IP's (1,500 in 3 minutes)
        # differ, a response may report either, and each call counts against all of them.
        self._windows: Dict[int, _Window] = {}
        self._clock_offset: Optional[float] = None  # server clock minus ours, a lower bound
        self._blocked_until = 0.0
        # Until a first answer tells the windows' state, one call at a time: a process restarted in a window
        # already spent (a batch resumed at once) meets one 429, not a burst of max_concurrency.
        self._answered = False
        self._caution = 0.0
        self._rate_limited = 0
        # A window the answers do not report, learned from its 429s: its pace, the start of the window being
        # counted (the reset its last 429 announced), and when the calls the server let through were sent.
        self._unreported: Optional[_Bucket] = None
        self._unreported_since: Optional[float] = None
        self._let_through: Deque[float] = collections.deque()

    def __repr__(self) -> str:
        return (
            f"RateLimiter(max_concurrency={self.max_concurrency!r}, requests_per_minute={self.requests_per_minute!r},"
            f" tokens_per_minute={self.tokens_per_minute!r})"
        )

    def __reduce__(self) -> Any:
        # What is learned belongs to this process's calls; a copy elsewhere starts afresh with the same settings.
        return (
            _rebuild,
            (self.max_concurrency, self.requests_per_minute, self.tokens_per_minute),
        )

    @property
    def state(self) -> RateLimitState:
        """A snapshot of what the limiter knows."""
        with self._lock:
            tightest = min(self._windows.values(), key=lambda window: window.remaining, default=None)
            reset = None if tightest is None else tightest.reset
            return RateLimitState(
                in_flight=self._in_flight,
                waiting=len(self._waiters),
                limit=None if tightest is None else tightest.limit,
                remaining=None if tightest is None else tightest.remaining,
                reset_in=None if reset is None else max(0.0, reset - time.monotonic()),
                rate_limited=self._rate_limited,
                learned_requests_per_minute=None if self._unreported is None else self._unreported.rate * 60.0,
                caution=self._caution,
            )

    # -- places (max_concurrency) ---------------------------------------------------------------------

    def _take_place_or_queue(self, waiter: Any) -> bool:
        """Take a place now (True), or queue `waiter` to be handed one when a call ends (False)."""
        with self._lock:
            if self.max_concurrency is None or (self._in_flight < self.max_concurrency and not self._waiters):
                self._in_flight += 1
                return True
            self._waiters.append(waiter)
            return False

    def _withdraw(self, waiter: Any) -> bool:
        """Take `waiter` out of the queue (it gave up); False when it was already handed a place."""
        with self._lock:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                return False
            return True

    def _give_back_place(self) -> None:
        """End a call's hold on its place: hand it to the first waiter still able to take it, or free it."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if waiter.wake():
                    return
            self._in_flight -= 1

    # -- budget ---------------------------------------------------------------------------------------

    def _admit(self, tokens: int) -> Union[_Ticket, float]:
        """Spend the budget of one attempt and return its ticket, or the seconds to wait before asking again."""
        with self._lock:
            now = time.monotonic()
            wait = self._blocked_until - now
            if not self._answered and self._admitted:
                wait = max(wait, _UNKNOWN_WINDOW_POLL)
            for window in self._windows.values():
                window.roll_over(now)
                wait = max(wait, window.wait(now, not self._admitted))
            for bucket in (self._requests, self._unreported):
                if bucket is not None:
                    wait = max(wait, bucket.wait(now, 1))
            if self._tokens is not None:
                wait = max(wait, self._tokens.wait(now, tokens))
            if wait > 0:
                return wait
            self._seq += 1
            for window in self._windows.values():
                window.admit(self._seq, now, self._caution)
            for bucket in (self._requests, self._unreported):
                if bucket is not None:
                    bucket.take(1)
            if self._tokens is not None:
                self._tokens.take(tokens)
            let_through = self._let_through
            let_through.append(now)
            while let_through[0] < now - _UNREPORTED_LOOKBACK:
                let_through.popleft()
            self._admitted.add(self._seq)
            return _Ticket(self._seq, tokens, now)

    def finish(self, ticket: _Ticket, response: Optional[httpx.Response]) -> None:
        """The attempt of `ticket` ended (with `response`, or None when it failed): learn, and give back its place."""
        try:
            with self._lock:
                self._admitted.discard(ticket.seq)
                if response is not None:
                    self._answered = True
                    self._learn(response, ticket)
                for window in self._windows.values():
                    if window.probe == ticket.seq:
                        window.probe = None
                        window.fresh = False
                        if response is not None and response.is_success and window.reset is None:
                            # The window has room again (the server's rolled over); when it resets, a 429 will tell.
                            window.remaining = max(window.remaining, window.limit - 1 - len(self._admitted))
        finally:
            self._give_back_place()

    def _learn(self, response: httpx.Response, ticket: _Ticket) -> None:
        headers = response.headers
        now = time.monotonic()
        limit = _whole_number(headers.get("x-ratelimit-limit"))
        remaining = _whole_number(headers.get("x-ratelimit-remaining"))
        reset_at = _number(headers.get("x-ratelimit-reset"))
        if response.status_code == 429:
            self._rate_limited += 1
            self._caution = _CAUTION_AFTER_429
            delay = parse_retry_after(headers)
            if delay is not None and delay > 0:
                self._blocked_until = max(self._blocked_until, now + delay)
            with contextlib.suppress(ValueError):  # (already out of the lookback)
                self._let_through.remove(ticket.admitted_at)  # refused, so not counted by the server
            if remaining != 0 and delay is not None and delay > 0:
                # No reported window is spent: the refusal is a window the answers do not report.
                self._learn_unreported_window(now + delay)
        elif response.is_success:
            self._caution *= _CAUTION_KEPT_PER_SUCCESS
            if self._caution < 0.01:
                self._caution = 0.0
        date = headers.get("date")
        if date is not None:
            self._learn_clock(date)
        if limit is None or remaining is None or reset_at is None:
            return
        reset = now + reset_at - (time.time() + (self._clock_offset or 0.0))
        if reset <= now:
            return  # an answer from a window that is already over
        window = self._windows.get(limit)
        if window is None:
            window = self._windows[limit] = _Window(limit)
        # The server counted this call; those still in flight it may not have counted yet.
        window.learn(remaining - len(self._admitted), reset)

    def _learn_unreported_window(self, reset: float) -> None:
        """A 429 no header explains, from a window that resets at `reset`: learn the window's rate from the calls
        the server let through since it began (a first estimate when our first call was not at its start, exact
        from its second 429 on, which counts from a reset it announced)."""
        last_reset = self._unreported_since
        if last_reset is not None and abs(reset - last_reset) <= _RESET_RESOLUTION:
            return  # another refusal of the window already learned from (a call that was in flight)
        self._unreported_since = reset
        since = reset - _UNREPORTED_LOOKBACK if last_reset is None else max(last_reset, reset - _UNREPORTED_LOOKBACK)
        # Only the calls answered already count as let through: of those in flight, the ones that reached the
        # server after the window ran out will be refused (on a slow link, every one of them).
        let_through = sum(1 for sent in self._let_through if sent >= since) - len(self._admitted)
        if let_through < 2:
            return  # a lone 429 (an overloaded upstream, say) tells no rate
        # One call less (a margin for calls counted twice or late), over a window that may be longer than measured:
        # a reset from Retry-After may be up to a second late; with none, our first call came at or after its start.
        first = next(sent for sent in self._let_through if sent >= since)
        anchored = since == last_reset
        length = reset - since + _RESET_RESOLUTION if anchored else reset - first
        rate = (let_through - 1) / length
        # A window counted from its start is measured whole; otherwise keep the lower estimate.
        if self._unreported is None or anchored or rate < self._unreported.rate:
            self._unreported = _Bucket(rate, 1.0)

    def _learn_clock(self, date: str) -> None:
        try:
            server_now = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        # Date is truncated to the second and was written before we read it, so this is a lower bound of the
        # offset; the largest seen is the closest. A clock step (ours or theirs) shows as a much lower figure.
        observed = server_now - time.time()
        offset = self._clock_offset
        if offset is None or observed > offset or observed < offset - 2.0:
            self._clock_offset = observed


def _rebuild(
    max_concurrency: Optional[int], requests_per_minute: Optional[float], tokens_per_minute: Optional[float]
) -> RateLimiter:
    return RateLimiter(
        max_concurrency=max_concurrency, requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
    )


def _whole_number(raw: Optional[str]) -> Optional[int]:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


def _number(raw: Optional[str]) -> Optional[float]:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _AsyncWaiter:
    __slots__ = ("future", "loop")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.future = loop.create_future()

    def wake(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its event loop is closed: nobody is waiting any more
            return False
        return True


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class _SyncWaiter:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()

    def wake(self) -> bool:
        self.event.set()
        return True


def _place_timeout(limiter: RateLimiter, waited: float, deadline: Optional[float], total: Optional[float]) -> Exception:
    """The error of a call that waited `waited` seconds for a place in `limiter` and found none."""
    if deadline is not None and total is not None and time.monotonic() >= deadline - 0.001:
        setting = f"its total_timeout={total:g} s ran out; raise total_timeout"
    else:
        setting = "raise the pool timeout (timeout=httpx.Timeout(..., pool=SECONDS))"
    return APITimeoutError(
        f"Timed out after {waited:.2f} s waiting for a place in the client's RateLimiter: all "
        f"max_concurrency={limiter.max_concurrency} places stayed in use. To wait longer, {setting}; or raise "
        "max_concurrency, or send fewer calls at once."
    )


def _budget_timeout(wait: float, total: Optional[float]) -> Exception:
    """The error of a call whose RateLimiter admits it only in `wait` seconds, past its total_timeout."""
    return APITimeoutError(
        f"Timed out waiting for the client's RateLimiter: the rate limit allows this call in {wait:.2f} s, past the "
        f"end of its total_timeout={total:g} s. Raise total_timeout, or send fewer calls (the limit is the "
        "server's, or the requests_per_minute / tokens_per_minute you set)."
    )


class AsyncRateLimiting:
    """The asyncio flavour of waiting for a RateLimiter."""

    @staticmethod
    async def acquire(
        limiter: RateLimiter,
        request: httpx.Request,
        place_timeout: Optional[float] = None,
        deadline: Optional[float] = None,
        total_timeout: Optional[float] = None,
    ) -> _Ticket:
        """Wait for a place (at most `place_timeout` seconds) and for the budget of one attempt of `request` (until
        the call's `deadline`, a time.monotonic(), of its `total_timeout`); its ticket goes to `finish`. Raises
        APITimeoutError when the time runs out; a place taken is given back however the wait ends."""
        import asyncio

        waiter = _AsyncWaiter(asyncio.get_running_loop())
        if not limiter._take_place_or_queue(waiter):
            started = time.monotonic()
            try:
                await asyncio.wait_for(waiter.future, place_timeout)
            except BaseException as exc:
                if not limiter._withdraw(waiter):
                    limiter._give_back_place()
                if isinstance(exc, asyncio.TimeoutError):
                    raise _place_timeout(limiter, time.monotonic() - started, deadline, total_timeout) from None
                raise
        tokens = estimate_tokens(request) if limiter.tokens_per_minute is not None else 0
        try:
            while True:
                admitted = limiter._admit(tokens)
                if isinstance(admitted, _Ticket):
                    return admitted
                if deadline is not None and time.monotonic() + admitted >= deadline:
                    raise _budget_timeout(admitted, total_timeout)
                await asyncio.sleep(admitted)
        except BaseException:
            limiter._give_back_place()
            raise


class SyncRateLimiting:
    """The blocking flavour of waiting for a RateLimiter, for threads sharing a sync client."""

    @staticmethod
    def acquire(
        limiter: RateLimiter,
        request: httpx.Request,
        place_timeout: Optional[float] = None,
        deadline: Optional[float] = None,
        total_timeout: Optional[float] = None,
    ) -> _Ticket:
        """Wait for a place (at most `place_timeout` seconds) and for the budget of one attempt of `request` (until
        the call's `deadline`, a time.monotonic(), of its `total_timeout`); its ticket goes to `finish`. Raises
        APITimeoutError when the time runs out; a place taken is given back however the wait ends."""
        waiter = _SyncWaiter()
        if not limiter._take_place_or_queue(waiter):
            started = time.monotonic()
            try:
                woken = waiter.event.wait(place_timeout)
            except BaseException:
                if not limiter._withdraw(waiter):
                    limiter._give_back_place()
                raise
            if not woken and limiter._withdraw(waiter):
                raise _place_timeout(limiter, time.monotonic() - started, deadline, total_timeout)
        tokens = estimate_tokens(request) if limiter.tokens_per_minute is not None else 0
        try:
            while True:
                admitted = limiter._admit(tokens)
                if isinstance(admitted, _Ticket):
                    return admitted
                if deadline is not None and time.monotonic() + admitted >= deadline:
                    raise _budget_timeout(admitted, total_timeout)
                time.sleep(admitted)
        except BaseException:
            limiter._give_back_place()
            raise
