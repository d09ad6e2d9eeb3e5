"""A stream's public state values and its meter: clocks, counts and the telemetry span."""

from __future__ import annotations

import asyncio
import enum
from typing import Any, Literal

import attrs

from .._tracing import end_span, start_span

__all__ = ["Ending", "Meter", "StreamState", "StreamStats"]


class StreamState(enum.Enum):
    """Where a stream is in its life."""

    NEW = "new"  #: created; no request sent yet
    OPEN = "open"  #: the server accepted the request; events are being read
    DONE = "done"  #: the loop ended at ``[DONE]``: every item was yielded
    #: an error was raised; ``partial_text`` has what was yielded (unless past max_kept_text)
    FAILED = "failed"
    CLOSED = "closed"  #: closed early: leaving ``async with``, ``aclose()``, cancellation


Ending = Literal["done", "error", "cancelled", "timeout", "incomplete"]


@attrs.frozen(kw_only=True)
class StreamStats:
    """How a stream went, from :attr:`CompletionStream.stats` (times in seconds).

    Attributes:
        time_to_first_token: From sending the request to the arrival of the first piece of
            text (``None`` before it arrives).
        duration: From sending the request to the end (or to now, while open).
        tokens: Pieces of text yielded to the consumer (what :attr:`CompletionStream.text`
            joins).
        bytes: Body bytes received.
        events: Server-sent events parsed.
        longest_gap: The longest wait between two reads that brought events.
        retries: Attempts after the first.
        ended: ``"done"``, ``"error"``, ``"cancelled"``, ``"timeout"`` or ``"incomplete"``;
            ``None`` while the stream is open.
    """

    time_to_first_token: float | None
    duration: float
    tokens: int
    bytes: int
    events: int
    longest_gap: float
    retries: int
    ended: Ending | None


class Meter:
    """What a stream measures across its attempts, and its span (one per stream)."""

    __slots__ = (
        "bytes",
        "ended",
        "events",
        "first_output_at",
        "last_event_at",
        "longest_gap",
        "span",
        "started_at",
        "stopped_at",
    )

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.first_output_at: float | None = None
        self.last_event_at: float | None = None
        self.bytes = 0
        self.events = 0
        self.longest_gap = 0.0
        self.ended: Ending | None = None
        self.span: Any = None

    def start(self, started_at: float, route: str, inference_id: str) -> None:
        """The first attempt starts: the clock and the span."""
        self.started_at = started_at
        self.span = start_span(
            f"POST /_inference/{route}/{{inference_id}}/_stream",
            {"asyncinfer.inference_id": inference_id, "http.request.method": "POST"},
        )

    def events_arrived(self, count: int, now: float) -> None:
        """A read brought ``count`` events at ``now`` (the loop's clock)."""
        previous = self.last_event_at
        if previous is not None and now - previous > self.longest_gap:
            self.longest_gap = now - previous
        self.last_event_at = now
        self.events += count

    def end(
        self, how: Ending, *, tokens: int, retries: int, error: BaseException | None = None
    ) -> None:
        """The stream ended (the first call counts): stop the clock, end the span."""
        if self.ended is not None:
            return
        self.ended = how
        if self.started_at is not None:
            self.stopped_at = asyncio.get_running_loop().time()
        span, self.span = self.span, None
        if span is not None:
            end_span(
                span,
                error=error,
                ended=how,
                tokens=tokens,
                retries=retries,
                time_to_first_token=self._first_token(),
            )

    def abandon(self) -> None:
        """End the span of a stream collected before it ended (no loop needed)."""
        span, self.span = self.span, None
        if span is not None:
            end_span(span, ended="cancelled")

    def _first_token(self) -> float | None:
        first, start = self.first_output_at, self.started_at
        return None if first is None or start is None else first - start

    def stats(self, *, tokens: int, retries: int) -> StreamStats:
        """The figures so far."""
        start, end = self.started_at, self.stopped_at
        if start is not None and end is None:
            end = asyncio.get_running_loop().time()
        return StreamStats(
            time_to_first_token=self._first_token(),
            duration=0.0 if start is None or end is None else end - start,
            tokens=tokens,
            bytes=self.bytes,
            events=self.events,
            longest_gap=self.longest_gap,
            retries=retries,
            ended=self.ended,
        )
