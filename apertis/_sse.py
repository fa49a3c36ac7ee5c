"""The Server-Sent Events decoder shared by the sync and async streams.

It works on bytes: network chunks go in, complete events come out. Lines are split on LF, CRLF and CR only
(never on the other characters `str.splitlines` knows), a CR at the end of one chunk and the LF at the start of
the next count as one line ending, and a multi-byte UTF-8 character cut by a chunk boundary is decoded only
once its line is complete. A partial line is kept in one growing buffer, so a large event costs time and memory
linear in its size whatever the chunking (a line arriving a byte at a time included).

One line, and the data of one event, may reach MAX_SSE_EVENT bytes (apertis._constants): past it `feed` raises
EventTooLarge, which the streams report as APIResponseValidationError. A single network chunk that completes
lines is decoded whole, so the bound is checked on what the decoder keeps between chunks.

The hot path (a stream of `data: {...}` events) avoids regular expressions and per-line allocations beyond
the slices it has to make.
"""

from __future__ import annotations

from typing import List, Optional, Union

import attrs

from ._constants import MAX_SSE_EVENT

__all__ = ["EventTooLarge", "SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"

_new_event = object.__new__


class EventTooLarge(ValueError):
    """A line or an event's data grew past MAX_SSE_EVENT bytes before it ended."""


@attrs.define
class ServerSentEvent:
    """One dispatched event: its `event` type (None when the stream sent no `event:` field), data, id, retry."""

    data: str
    event: Optional[str] = None
    id: Optional[str] = None
    retry: Optional[int] = None

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"


class SSEDecoder:
    """Incremental SSE decoder: `feed(chunk)` returns the events that chunk completed.

    An event is dispatched at the blank line that ends it; one still open when the stream ends is dropped
    (`pending` tells whether that happened), as the SSE specification requires. Events whose data is empty are
    skipped, so a keep-alive made of `id:` or `event:` lines alone never reaches a JSON parser.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_idle",
        "_last_cr",
        "_partial",
        "_retry",
        "_started",
        "last_event_id",
    )

    def __init__(self) -> None:
        self._partial = bytearray()  # the current unterminated line
        self._last_cr = False  # the previous chunk ended with CR: a leading LF now belongs to that line ending
        self._started = False  # the byte-order mark has been checked for
        self._idle = False  # started, and nothing of a line or an event pending (see feed)
        self._data: List[str] = []
        self._data_size = 0  # the bytes of the lines in _data
        self._event: Optional[str] = None
        self._retry: Optional[int] = None
        self.last_event_id: Optional[str] = None
        """The last `id` the stream sent; it carries over to later events, as in the SSE specification."""

    @property
    def pending(self) -> bool:
        """True when bytes of an event (or a line) were received but the event was never terminated."""
        return bool(self._partial or self._data or self._event is not None)

    def single_data(self, chunk: bytes) -> Optional[str]:
        """The data of `chunk` when it is exactly one whole `data: ...` event and nothing else is pending, else None.

        The usual shape of a streamed answer (one event per network chunk), decoded without the general line
        loop and without building a ServerSentEvent: the streams call this first, and `feed` when it returns
        None. The event it returns would have had no `event` type, the current `last_event_id` and retry;
        the decoder's state is left as `feed` would leave it. Empty data also returns None (`feed` skips it).
        """
        if (
            self._idle
            and chunk.startswith(b"data: ")
            # The first LF is the second-to-last byte and the last byte is LF too: one line and a blank line.
            # A byte scan costs about as much as decoding, so there are only two (this one and the CR one).
            and chunk.find(b"\n", 6) == len(chunk) - 2
            and chunk[-1] == 0x0A
            and chunk.find(b"\r", 6) < 0
        ):
            return chunk[6:-2].decode("utf-8", "replace") or None
        return None

    def feed(self, chunk: bytes) -> List[ServerSentEvent]:
        """Decode one network chunk; return the events it completed, in order."""
        if not chunk:
            return []
        data = self.single_data(chunk)
        if data is not None:
            # Built without the Python-level __init__.
            event = _new_event(ServerSentEvent)
            event.data = data
            event.event = None
            event.id = self.last_event_id
            event.retry = self._retry
            return [event]
        events = self._feed_lines(chunk)
        # Whether the next chunk may take the single-event shortcut: no line, event or byte-order check pending.
        self._idle = (
            self._started and not self._partial and not self._data and self._event is None and not self._last_cr
        )
        return events

    def _feed_lines(self, chunk: bytes) -> List[ServerSentEvent]:
        if not self._started:
            if self._partial:
                chunk = bytes(self._partial) + chunk
                self._partial = bytearray()
            if len(chunk) < 3 and _BOM.startswith(chunk):
                # So short a start may be a byte-order mark cut by the chunking: wait for more to decide.
                self._partial += chunk
                return []
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
            self._started = True
        if self._last_cr:
            self._last_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []

        # Only the new chunk is searched for a line ending; the bytes before it are known to contain none.
        end = chunk.rfind(b"\n")
        cr = chunk.rfind(b"\r")
        end = max(end, cr)
        if end < 0:
            self._partial += chunk
            if len(self._partial) > MAX_SSE_EVENT:
                self._partial = bytearray()
                raise EventTooLarge(f"a line of the stream grew past {MAX_SSE_EVENT:,} bytes without ending")
            return []
        complete: Union[bytes, bytearray]
        if end == len(chunk) - 1:
            complete = chunk
            if cr == end:
                self._last_cr = True
        else:
            complete = chunk[: end + 1]
        if self._partial:
            self._partial += complete
            complete = self._partial
            self._partial = bytearray()
        if end != len(chunk) - 1:
            self._partial += chunk[end + 1 :]

        events: List[ServerSentEvent] = []
        # bytes.splitlines splits on exactly LF, CRLF and CR, the three SSE line endings.
        for line in complete.splitlines():
            if not line:
                if self._data:
                    data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
                    self._data = []
                    self._data_size = 0
                    if data:
                        events.append(ServerSentEvent(data, self._event, self.last_event_id, self._retry))
                elif self._event is None:
                    continue
                self._event = None
            elif line.startswith(b"data: "):
                self._add_data(line[6:])
            else:
                self._field(line)
        return events

    def _add_data(self, value: Union[bytes, bytearray]) -> None:
        self._data_size += len(value) + 1  # and the LF that joins it to the next line
        if self._data_size > MAX_SSE_EVENT:
            self._data = []
            self._data_size = 0
            raise EventTooLarge(f"the data of one event grew past {MAX_SSE_EVENT:,} bytes")
        self._data.append(value.decode("utf-8", "replace"))

    def _field(self, line: Union[bytes, bytearray]) -> None:
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives are often sent this way)
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in value:
                self.last_event_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        # Any other field name is ignored, as the specification says.
