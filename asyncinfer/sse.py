"""A sans-I/O decoder for Server-Sent Events (the WHATWG "event stream" format).

Bytes go in, complete events come out; nothing here awaits, logs or reads the clock::

    decoder = SSEDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            print(event.event, event.data)
    decoder.close()

The decoder follows the parsing rules of the HTML Standard, section 9.2.6 "Interpreting an event
stream", by default. ``SSEDecoder(bom_every_event=True)`` adds Elasticsearch's framing, which
writes a UTF-8 byte order mark before *every* event rather than once per stream.

Two lower-level calls serve a client that wants no per-event objects (asyncinfer's own streams
use them): :meth:`SSEDecoder.feed_message_block`, Elasticsearch's fast path, hands over the
data of a read's plain message events as one block (joined by :data:`MESSAGE_SEPARATOR`), and
:meth:`SSEDecoder.feed_raw` decodes any input into ``(type, data bytes, id, retry)`` tuples::

    block = decoder.feed_message_block(chunk)
    if block is None:
        events = decoder.feed_raw(chunk)         # anything: error events, comments, CRs
    else:
        data, count = block                      # count message events
        payloads = data.split(MESSAGE_SEPARATOR)
"""

from __future__ import annotations

from typing import Final, TypeAlias

import attrs

from ._config import DEFAULT_MAX_EVENT_BYTES
from ._exceptions import SSEProtocolError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "MESSAGE_SEPARATOR",
    "RawEvent",
    "SSEDecoder",
    "SSEProtocolError",
    "ServerSentEvent",
]

_BOM = b"\xef\xbb\xbf"
# Bytes as integers, for membership tests: `_LF in data` is a plain memchr, while `b"\n" in
# data` costs ten times as much on a short read (CPython first tries to read the bytes as an
# integer, and formats and discards the TypeError).
_COLON = 0x3A
_LF = 0x0A
_CR = 0x0D
_NUL = 0x00
_ES_EVENT_LINE = _BOM + b"event: message"
# Elasticsearch's whole events (spec §3.1): BOM, an event line, one data line, a blank line.
_ES_MESSAGE = _BOM + b"event: message\ndata: "
_ES_ERROR = _BOM + b"event: error\ndata: "
#: What joins the data of two events in a :meth:`SSEDecoder.feed_message_block` block: the
#: blank line ending one Elasticsearch message event and the prefix of the next.
MESSAGE_SEPARATOR: Final = b"\n\n" + _ES_MESSAGE


@attrs.frozen
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        event: The event type; ``"message"`` when the stream named none.
        data: The data lines joined with ``"\\n"``.
        id: The last event ID in effect when the event was dispatched (it persists across
            events, as the standard's "last event ID" does); ``None`` if never set.
        retry: The reconnection time in milliseconds in effect, or ``None`` if never set.
    """

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


#: One event as :meth:`SSEDecoder.feed_raw` gives it: type, data (UTF-8 bytes, undecoded),
#: last event ID, retry.
RawEvent: TypeAlias = tuple[str, bytes, "str | None", "int | None"]


class SSEDecoder:
    """Incremental event-stream decoder: ``feed(bytes) -> list[ServerSentEvent]``.

    Any split of the same bytes across ``feed`` calls yields the same events, in time linear in
    the bytes fed. Line ends may be CR, LF or CRLF, including a CR and LF split across feeds.
    Invalid UTF-8 becomes U+FFFD, as the standard requires; a character split across feeds
    decodes correctly.

    Args:
        bom_every_event: Skip a UTF-8 BOM at the start of every event, not only at the start of
            the stream. Elasticsearch writes one before each event; a strictly conforming
            decoder would read the second event's first line as the field ``"\\ufeffevent"``,
            ignore it, and so see every later ``event: error`` as a ``message``.
        max_event_bytes: Ceiling on the bytes held for one event: its ``data`` lines, counted
            whole (field name and any BOM included), plus the line being read. Exceeding it
            raises :class:`SSEProtocolError`, at the same point of the stream however the
            bytes are split across feeds.

    Raises:
        SSEProtocolError: From ``feed`` when an event grows past ``max_event_bytes``; the
            decoder is then unusable.
    """

    __slots__ = (
        "_at_event_start",
        "_bom_every_event",
        "_data",
        "_error",
        "_event_bytes",
        "_event_type",
        "_last_id",
        "_max_event_bytes",
        "_pending",
        "_raw_pending",
        "_retry",
        "_skip_lf",
    )

    def __init__(
        self, *, bom_every_event: bool = False, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be positive, got {max_event_bytes!r}")
        self._bom_every_event = bom_every_event
        self._max_event_bytes = max_event_bytes
        self._pending = bytearray()  # an unterminated line, waiting for its line end
        # Whether _pending holds whole unparsed lines of an unfinished Elasticsearch event
        # (see _feed), rather than only the unterminated line.
        self._raw_pending = False
        self._skip_lf = False  # the last line ended in CR: an LF opening the next feed is its pair
        self._at_event_start = True  # where a BOM may be skipped
        self._data: list[bytes] = []
        self._event_bytes = 0
        self._event_type = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._error: SSEProtocolError | None = None

    @property
    def max_event_bytes(self) -> int:
        """The ceiling on bytes buffered for one event."""
        return self._max_event_bytes

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the event in progress: its data lines (counted whole) and any
        unterminated line. Never more than ``max_event_bytes``."""
        return self._event_bytes + len(self._pending)

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Decode ``data`` and return the events it completes, in order.

        Raises:
            SSEProtocolError: The event in progress exceeds ``max_event_bytes``. Events
                completed earlier in the same ``data`` are returned first; the error is raised
                by the next call.
        """
        return [
            ServerSentEvent(t, d.decode("utf-8", "replace"), i, r)
            for t, d, i, r in self._feed(data)
        ]

    def close(self) -> list[ServerSentEvent]:
        """Signal the end of input and return the events it completes.

        The standard discards an event that is not terminated by a blank line, so this always
        returns an empty list; it exists so that callers treat end of input explicitly.

        Raises:
            SSEProtocolError: The decoder had already failed (an event exceeded
                ``max_event_bytes``), including when ``feed`` returned the events before the
                oversized one and deferred the error.
        """
        if self._error is not None:
            raise self._error.with_traceback(None)  # not a traceback that grows per call
        self._pending.clear()
        self._raw_pending = False
        self._skip_lf = False
        self._data.clear()
        self._event_bytes = 0
        self._event_type = ""
        return []

    def _feed(self, data: bytes) -> list[RawEvent]:
        """Decode ``data`` into raw events: (type, UTF-8 data bytes, last id, retry).

        This is the client's hot path (Elasticsearch sends three lines an event), so the loop
        keeps its state in locals and tries Elasticsearch's lines (``\ufeffevent: message``,
        ``data: ...``) before the general field split. Each shortcut gives exactly what the
        general rule gives; tests/test_sse.py checks the decoder against a literal
        transcription of the standard's algorithm.
        """
        messages = self.feed_message_block(data)
        if messages is not None:  # whole Elasticsearch message events: checked in C
            last_id, retry = self._last_id, self._retry
            return [
                ("message", payload, last_id, retry)
                for payload in messages[0].split(MESSAGE_SEPARATOR)
            ]
        return self.feed_raw(data)

    def feed_raw(self, data: bytes) -> list[RawEvent]:
        """:meth:`feed` without the event objects: ``(type, data, last id, retry)`` tuples,
        the data as the UTF-8 bytes the server sent (``feed`` decodes them with
        replacement). A complete decoder on its own; after :meth:`feed_message_block`
        declined ``data``, it is the call that takes it.

        Raises:
            SSEProtocolError: As :meth:`feed`.
        """
        if self._error is not None:
            raise self._error.with_traceback(None)  # not a traceback that grows per call
        if not data:
            # Returned before the CR check below, so that an empty read between a CR and its
            # LF does not make the LF a second line end.
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:  # the LF of a CRLF whose CR ended the previous feed
                data = data[1:]
                if not data:
                    return []
        pending = self._pending
        if _LF not in data and _CR not in data:
            # No line end: buffer it. bytearray appends are amortised O(1), which keeps
            # byte-at-a-time feeding linear. Check first, so an oversized read is not copied.
            buffered = self._event_bytes + len(pending) + len(data)
            if buffered > self._max_event_bytes:
                if self._raw_pending:
                    # The raw bytes overstate what the line parser counts: parse them now,
                    # then decide with its exact count.
                    self._parse_raw_pending()
                    return self.feed_raw(data)
                raise self._fail(buffered)
            pending += data
            return []
        self._raw_pending = False
        if pending:
            buf = b"".join((pending, data))  # one copy of data, where += then bytes() made two
            pending.clear()
        else:
            buf = data
        events: list[RawEvent] = []
        if (
            self._at_event_start
            and self._bom_every_event
            and not self._data
            and not self._event_type
            and _CR not in buf
        ):
            buf, unfinished = self._feed_es_events(buf, events)
            if not buf:
                return events  # the read ended at an event boundary
            if unfinished and len(buf) <= self._max_event_bytes:
                # An unfinished event at a boundary: keep its bytes whole until the blank line
                # arrives, so the next read starts at a boundary too and takes this path
                # again. Nothing observable is deferred: no event can be dispatched from it
                # yet, and the line parser would count no more than these bytes against the
                # ceiling.
                pending += buf
                self._raw_pending = True
                return events
        return self._feed_lines(buf, events)

    def feed_message_block(self, data: bytes) -> tuple[bytes, int] | None:
        """Elasticsearch's fast path: the data of the message events ``data`` completes, as
        one block, or ``None``, having consumed nothing (then call :meth:`feed_raw`).

        It takes ``data`` at an event boundary (or with only the raw start of an unfinished
        event held) when no CR is in sight and every event the bytes complete is exactly
        BOM, ``event: message``, one ``data:`` line and a blank line: what Elasticsearch
        writes. The check runs in C (a few ``bytes`` methods), not line by line.

        Returns:
            ``(block, n)``: the data of the ``n`` events joined by :data:`MESSAGE_SEPARATOR`
            (no data line holds an LF, so none can hold the separator). ``block.split(
            MESSAGE_SEPARATOR)`` is what :meth:`feed_raw` would give as ``("message", data,
            id, retry)`` tuples; a caller that knows the data's shape can skip the split.
        """
        if _LF not in data:
            return None  # completes no event; _feed buffers it in amortised O(1)
        if (
            not self._at_event_start
            or not self._bom_every_event
            or self._skip_lf
            or self._data
            or self._event_type
            or self._error is not None
        ):
            return None
        pending = self._pending
        if not pending:
            buf = data
        elif self._raw_pending:
            buf = b"".join((pending, data))
        else:
            return None
        end = buf.rfind(b"\n\n") + 2  # the end of the last whole event
        if end < 26 or _CR in buf:  # 26: the shortest event, BOM event: message\ndata: \n\n
            return None
        block = buf[24 : end - 2]
        events = block.count(MESSAGE_SEPARATOR) + 1
        limit = self._max_event_bytes
        if not (
            buf.startswith(_ES_MESSAGE)
            # The region holds the opening prefix (1 LF), n - 1 separators (3 LFs each, all
            # inside it) and the closing blank line (2): with no other LF, the separators are
            # exactly its event boundaries, and no data holds a line end.
            and buf.count(b"\n", 0, end) == 3 * events
            # Larger reads (rare: 16 MiB by default) are left to _feed, which checks each event.
            and end <= limit
            and len(buf) - end <= limit
        ):
            return None
        pending.clear()
        # What follows is an unfinished event: keep it raw, as _feed does (see there).
        self._raw_pending = end < len(buf)
        if self._raw_pending:
            pending += memoryview(buf)[end:]
        return block, events

    def _parse_raw_pending(self) -> None:
        """Run the line parser over the deferred bytes (it can dispatch nothing from them)."""
        self._raw_pending = False
        buf = bytes(self._pending)
        self._pending.clear()
        self._feed_lines(buf, [])

    def _feed_es_events(self, buf: bytes, events: list[RawEvent]) -> tuple[bytes, bool]:
        """Take whole Elasticsearch-shaped events off the front of ``buf``.

        Returns the rest, and whether it is only an unfinished event (no blank line in it).

        At an event boundary with no CR in sight, an event that is exactly BOM, ``event:
        message`` (or ``error``), one ``data:`` line and a blank line decodes to what the
        general rules give: type, and the data after one space. Anything else (and what
        follows it) is left to the line parser, so this is a shortcut, never a second parser.
        (Reads of message events only never get here: :meth:`feed_message_block` took them.)
        """
        blocks = buf.split(b"\n\n")
        rest = blocks.pop()  # after the last blank line: an unfinished event, or b""
        last_id = self._last_id
        retry = self._retry
        limit = self._max_event_bytes
        message, error = _ES_MESSAGE, _ES_ERROR
        for index, block in enumerate(blocks):
            if block.startswith(message):
                start, kind = 24, "message"  # len(_ES_MESSAGE)
            elif block.startswith(error):
                start, kind = 22, "error"  # len(_ES_ERROR)
            else:
                return b"\n\n".join([*blocks[index:], rest]), False
            if block.find(b"\n", start) >= 0 or len(block) > limit:
                return b"\n\n".join([*blocks[index:], rest]), False
            events.append((kind, block[start:], last_id, retry))
        return rest, True

    def _feed_lines(self, buf: bytes, events: list[RawEvent]) -> list[RawEvent]:
        """The standard's line-by-line interpretation of ``buf`` (pending already joined)."""
        lines, tail = self._split_lines(buf)
        limit = self._max_event_bytes
        event_bytes = self._event_bytes
        # Every byte of the event in progress was either counted in event_bytes or is in buf,
        # so the per-line ceiling checks are needed only when the two together exceed it.
        checked = event_bytes + len(buf) > limit
        bom_every_event = self._bom_every_event
        at_event_start = self._at_event_start
        event_type = self._event_type
        last_id = self._last_id
        retry = self._retry
        data_lines = self._data
        oversized = 0
        for line in lines:
            if at_event_start:
                # The standard strips one BOM at the start of the stream only; in
                # Elasticsearch mode every event may start with one.
                at_event_start = False
                if line == _ES_EVENT_LINE and not checked:
                    # Elasticsearch's first line, whole: what the BOM strip and the general
                    # rule below would do, in one comparison.
                    event_bytes += 3
                    event_type = "message"
                    continue
                if line[:3] == _BOM:
                    line = line[3:]
                    event_bytes += 3
            if checked and event_bytes + len(line) > limit:
                # Every line counts while it is read, even a BOM that turned out to be alone
                # on its line: as it does while buffered, which keeps the trip split-invariant.
                oversized = event_bytes + len(line)
                break
            if not line:
                # A blank line dispatches the event, unless its data buffer is empty.
                if data_lines:
                    payload = data_lines[0] if len(data_lines) == 1 else b"\n".join(data_lines)
                    events.append((event_type or "message", payload, last_id, retry))
                    data_lines.clear()
                event_type = ""
                event_bytes = 0
                at_event_start = bom_every_event
                continue
            # Elasticsearch's other lines next: same result as the general rule below.
            if line[:6] == b"data: ":
                data_lines.append(line[6:])
                event_bytes += len(line)
                continue
            if line == b"event: message":
                event_type = "message"
                continue
            if line[0] == _COLON:
                continue  # a comment
            colon = line.find(b":")
            if colon < 0:
                name, value = line, b""
            else:
                name = line[:colon]
                # One space after the colon is removed, and only one.
                value = (
                    line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
                )
            if name == b"data":
                data_lines.append(value)
                # The whole line counts (field name included), as an unterminated line does
                # while it is buffered: the ceiling then trips the same way however the bytes
                # are split.
                event_bytes += len(line)
            elif name == b"event":
                event_type = "message" if value == b"message" else value.decode("utf-8", "replace")
            elif name == b"id":
                if _NUL not in value:
                    last_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():  # bytes.isdigit() is ASCII-only
                retry = _parse_retry(value, retry)
            # any other field is ignored, as the standard says
        self._event_type = event_type
        self._last_id = last_id
        self._retry = retry
        self._at_event_start = at_event_start
        self._event_bytes = event_bytes
        return self._keep_tail(tail, events, oversized)

    def _split_lines(self, buf: bytes) -> tuple[list[bytes], bytes]:
        """``buf``'s complete lines, and the unterminated tail that waits for more bytes."""
        lines = buf.splitlines()  # bytes.splitlines splits on CR, LF and CRLF only
        last = buf[-1]
        if last == _CR:
            self._skip_lf = True  # the LF of a CRLF split across reads is not a second line
        elif last != _LF:
            return lines, lines.pop()
        return lines, b""

    def _keep_tail(self, tail: bytes, events: list[RawEvent], oversized: int) -> list[RawEvent]:
        """Buffer ``tail`` for the next call, unless the event in progress is over the ceiling
        (``oversized`` is then its size): then the decoder fails."""
        if not oversized:
            buffered = self._event_bytes + len(tail)
            if buffered <= self._max_event_bytes:
                if tail:
                    self._pending += tail
                return events
            oversized = buffered
        error = self._fail(oversized)
        if not events:
            raise error
        # Hand over the events that were complete; the error is raised by the next call, so
        # nothing the server sent before the oversized event is lost.
        return events

    def _fail(self, buffered: int) -> SSEProtocolError:
        """Make the decoder unusable, drop what it holds, and return the error to raise."""
        self._error = SSEProtocolError(
            f"event exceeds max_event_bytes={self._max_event_bytes} "
            f"({buffered} bytes without an event end)"
        )
        self._pending.clear()
        self._data.clear()
        self._event_bytes = 0
        return self._error


# Chromium's EventSourceParser ignores a retry value that does not fit in 64 bits; int() would
# also refuse one of more than 4300 digits (sys.get_int_max_str_digits) with a ValueError.
_MAX_RETRY_DIGITS = 20
_MAX_RETRY = 2**64 - 1


def _parse_retry(value: bytes, current: int | None) -> int | None:
    """The reconnection time an all-digits ``retry`` value sets, or ``current`` if too large."""
    digits = value.lstrip(b"0")
    if len(digits) > _MAX_RETRY_DIGITS:
        return current
    retry = int(digits) if digits else 0
    return retry if retry <= _MAX_RETRY else current
