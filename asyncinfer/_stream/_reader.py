"""The reader: one response's body, bytes to events to items. The only hot loop.

:meth:`Reader.next_batch` awaits one read of whatever the socket has delivered (many events
per await) and turns it into items through the decoder's fast path for Elasticsearch's
framing; nothing reads ahead, so a slow consumer holds the server back through TCP. A
subclass says how an event becomes an item (:class:`CompletionReader`, :class:`ChatReader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from .._exceptions import AsyncInferError, IncompleteStreamError, SSEProtocolError, StreamApiError
from .._models import ChatCompletionChunk, Usage
from .._protocol import (
    DONE,
    completion_block_tokens,
    completion_tokens,
    error_from_event,
    loads_event,
)
from ..sse import MESSAGE_SEPARATOR, RawEvent, SSEDecoder
from ._ledger import TextLedger

if TYPE_CHECKING:
    from .._exchange import Deadlines
    from .._transport import Response
    from ._meter import Meter

__all__ = ["ChatReader", "CompletionReader", "Reader"]

_Item = TypeVar("_Item")


class Reader(Generic[_Item]):
    """Reads one response into items and keeps their text in :attr:`ledger`.

    Made when a response's headers arrive; a retry makes a new one. ``response`` is ``None``
    once the body is done with: after ``[DONE]`` (the connection given back or closed, never
    waited on; see :meth:`_finish`) or at a failure (closed).
    """

    __slots__ = ("_decoder", "_failure", "_request", "done", "ledger", "received", "response")

    def __init__(self, response: Response, *, max_event_bytes: int, keep: int | None) -> None:
        self.response: Response | None = response
        self._request = response.request  # for messages, once the response is gone
        self._decoder = SSEDecoder(bom_every_event=True, max_event_bytes=max_event_bytes)
        self.ledger = TextLedger(keep)
        self.done = False  # [DONE] arrived
        self.received = 0  # items made
        self._failure: AsyncInferError | None = None  # raised once the items before it went

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"`` of the request, for messages (made only when one is)."""
        return self._request.endpoint

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet parsed into events."""
        held = self._decoder.buffered_bytes
        if self.response is not None:
            held += self.response.buffered_bytes
        return held

    def has_output(self) -> bool:
        """Whether this attempt produced output: from then on it is never retried."""
        return self.ledger.received > 0

    def text_of(self, item: _Item) -> str | None:
        """The text an item carries for :attr:`CompletionStream.text` (``None``: none)."""
        raise NotImplementedError

    def yielded_texts(self, unyielded: Sequence[_Item]) -> int:
        """Pieces of text yielded: those received less those in ``unyielded``."""
        return self.ledger.received - sum(1 for item in unyielded if self.text_of(item))

    def unkept_output(self) -> bool:
        """Whether anything the whole answer needs was received and not kept."""
        return not self.ledger.keep and self.received > 0

    def partial_text(self, error: AsyncInferError, unyielded: int) -> str:
        """The text for ``error.partial_text``; a note on ``error`` says when it was dropped."""
        if self.ledger.dropped:
            error.add_note(
                "partial_text is empty: the stream dropped its text when the answer passed "
                "Limits.max_kept_text (the tokens were all yielded)"
            )
            return ""
        return self.ledger.text(unyielded)

    def done_data(self) -> dict[str, Any]:
        """The data of the SSE relay's closing ``done`` event."""
        return {"done": True}

    def discard(self, unyielded: Sequence[_Item]) -> None:
        """The stream closed before yielding these items: they are neither text nor counted."""
        self.received -= len(unyielded)
        self.ledger.retract(len(unyielded), sum(1 for item in unyielded if self.text_of(item)))

    def close(self) -> None:
        """Done with the body: drop the connection, unless it was read to its end (aiohttp
        has given it back to the pool then). Never waits, never hands a half-read body back."""
        response, self.response = self.response, None
        if response is not None:
            response.close()

    async def next_batch(self, deadlines: Deadlines, meter: Meter) -> list[_Item]:
        """The items of the next read that brings any, last first (``pop()`` yields them in
        order); ``[]`` once the stream ended at ``[DONE]``.

        Raises:
            AsyncInferError: The stream's failure (after the items before it were returned):
                a read error or time limit, an ``event: error``, bad framing, the body's end
                before ``[DONE]``.
        """
        while True:
            failure = self._failure
            if failure is not None:
                self._failure = None
                raise failure
            if self.done:
                self.close()  # every item before [DONE] was handed out (see _finish)
                return []
            response = self.response
            if response is None:
                return []
            with deadlines:
                try:
                    chunk = await response.read_chunk_raw()
                except Exception as exc:
                    failure = response.read_error(exc)
                    if failure is None:
                        raise
                    raise failure from exc
            items = self._received(chunk, deadlines, meter)
            if items:
                return items

    def _received(self, chunk: bytes, deadlines: Deadlines, meter: Meter) -> list[_Item]:
        decoder = self._decoder
        if not chunk:
            decoder.close()
            raise IncompleteStreamError(
                f"the response to {self.endpoint} ended without [DONE] "
                f"after {self.ledger.received} text parts"
            )
        meter.bytes += len(chunk)
        # Message events only (the common case) come as one block of their data.
        block = decoder.feed_message_block(chunk)
        events: list[RawEvent] = []
        if block is None:
            events = decoder.feed_raw(chunk)
            count = len(events)
        else:
            count = block[1]
        if not count:
            return []
        deadlines.event()
        now = deadlines.last_event
        assert now is not None
        meter.events_arrived(count, now)
        items = self._from_events(events) if block is None else self._from_block(*block)
        self.received += len(items)
        if meter.first_output_at is None and self.has_output():
            meter.first_output_at = now
        items.reverse()
        return items

    def _from_block(self, block: bytes, count: int) -> list[_Item]:
        """Items of ``count`` message events whose data ``block`` joins."""
        return self._from_messages(block.split(MESSAGE_SEPARATOR))

    def _from_messages(self, payloads: list[bytes]) -> list[_Item]:
        """Items of a read's message events, up to ``[DONE]``."""
        done = DONE in payloads
        if done:
            payloads = payloads[: payloads.index(DONE)]
        items, error = self._parse(payloads)
        if error is not None:
            self._fail(error)
        elif done:
            self._finish()
        return items

    def _from_events(self, events: list[RawEvent]) -> list[_Item]:
        """Items of decoded events: messages up to ``[DONE]`` or an ``event: error``."""
        payloads = []
        for event, data, _id, _retry in events:
            if event == "message":
                payloads.append(data)
                if data == DONE:
                    break
            elif event == "error":
                items = self._from_messages(payloads)
                if self._failure is None and not self.done:
                    self._fail(self._stream_error(data))
                return items
            # Other event types are not Elasticsearch's; ignored as EventSource would.
        return self._from_messages(payloads)

    def _stream_error(self, data: bytes) -> StreamApiError:
        info = error_from_event(data)
        return StreamApiError(
            status=info.status if info.status is not None else 500,
            error_type=info.error_type,
            reason=info.reason,
            body=info.body,
            endpoint=self.endpoint,
            code=info.code,
        )

    def _parse(self, payloads: list[bytes]) -> tuple[list[_Item], SSEProtocolError | None]:
        """Items of message payloads, and the error for the first bad one (the items are
        those before it); record their text in the ledger."""
        raise NotImplementedError

    def _fail(self, error: AsyncInferError) -> None:
        """End the body now; raise ``error`` once the items before it were yielded."""
        self._failure = error
        self.close()

    def _finish(self) -> None:
        """``[DONE]``: the body is done with. :meth:`close` lets the connection go (back to
        the pool if the body's end came too) when the loop next asks for items or the stream
        closes: after the last items are handed out, not before the first of them (on a
        one-read answer the release delayed the first token by ~5 µs).
        """
        self.done = True


class CompletionReader(Reader[str]):
    """Completion events to ``str`` tokens (their non-empty deltas)."""

    __slots__ = ()

    def text_of(self, item: str) -> str | None:
        return item

    def unkept_output(self) -> bool:
        return not self.ledger.keep and self.ledger.received > 0  # empty deltas lose nothing

    def _from_block(self, block: bytes, count: int) -> list[str]:
        # Below 3 events a read (live streaming: one event a read) is faster event by event:
        # the block path's fixed cost is ~0.5 us more.
        tokens = None if count < 3 else completion_block_tokens(block, count, MESSAGE_SEPARATOR)
        if tokens is None:  # few events, [DONE], an error, another shape: event by event
            return super()._from_block(block, count)
        if tokens:
            self.ledger.add_texts(tokens)
        return tokens

    def _parse(self, payloads: list[bytes]) -> tuple[list[str], SSEProtocolError | None]:
        tokens, error = completion_tokens(payloads)
        if tokens:
            self.ledger.add_texts(tokens)
        return tokens, error


class ChatReader(Reader[ChatCompletionChunk]):
    """Chat events to :class:`ChatCompletionChunk` values; tracks how choice 0 ended."""

    __slots__ = ("finish_reason", "output", "usage")

    def __init__(self, response: Response, *, max_event_bytes: int, keep: int | None) -> None:
        super().__init__(response, max_event_bytes=max_event_bytes, keep=keep)
        self.output = False  # content, a refusal, reasoning (text or details) or a tool call
        # Tracked whatever the ledger keeps: the relay's closing event and the CLI need them.
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def has_output(self) -> bool:
        return self.output

    def done_data(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "done": True,
            "finish_reason": self.finish_reason,
            "usage": None if usage is None else usage.raw,
        }

    def text_of(self, item: ChatCompletionChunk) -> str | None:
        for choice in item.choices:
            if choice.index == 0:
                return choice.delta.content
        return None

    def _parse(
        self, payloads: list[bytes]
    ) -> tuple[list[ChatCompletionChunk], SSEProtocolError | None]:
        chunks: list[ChatCompletionChunk] = []
        for data in payloads:
            try:
                payload: Any = loads_event(data)
            except orjson.JSONDecodeError:
                excerpt = data[:200].decode("utf-8", "replace")
                return chunks, SSEProtocolError(f"message event is not JSON: {excerpt!r}")
            try:
                chunk = ChatCompletionChunk.from_dict(payload)
            except SSEProtocolError as exc:
                return chunks, exc
            self._track(chunk)
            # The event data, not the chunk object: one bytes object a chunk, which the
            # garbage collector never scans (kept objects made parsing ~2.5x slower).
            self.ledger.add_chunk(self.text_of(chunk), data)
            chunks.append(chunk)
        return chunks, None

    def _track(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if (
                delta.content
                or delta.tool_calls
                or delta.refusal
                or delta.reasoning
                or delta.reasoning_details  # encrypted reasoning may come with no text
            ):
                self.output = True
            if choice.index == 0 and choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
