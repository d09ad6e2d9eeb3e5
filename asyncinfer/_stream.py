"""Streams: the one read loop between the socket and the consumer.

The loop asks the decoder first; only when nothing is ready does it await one read from the
body, which returns every byte the socket has delivered (many events per await). Nothing reads
ahead: the socket is read only inside ``__anext__``, so a slow consumer holds the server back
through TCP instead of growing a buffer here.

:class:`CompletionStream` yields ``str`` tokens, :class:`ChatCompletionStream` yields
:class:`ChatCompletionChunk` values; both share the lifecycle of :class:`_EventStream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, Literal, Self, TypeVar

import attrs
import orjson

from ._config import RetryPolicy, Timeouts
from ._exceptions import (
    AsyncInferError,
    ClientClosedError,
    IncompleteStreamError,
    RequestTimeoutError,
    SSEProtocolError,
    StreamApiError,
    TextNotKeptError,
    UnexpectedResponseError,
    UsageError,
)
from ._exchange import Deadlines, raise_for_status, retry_delay, with_budget
from ._models import ChatCompletionChunk, ChatCompletionMessage, FunctionCall, ToolCall, Usage
from ._protocol import (
    DONE,
    Request,
    completion_block_tokens,
    completion_tokens,
    error_from_event,
)
from ._tracing import end_span, start_span
from .sse import _ES_NEXT_MESSAGE, SSEDecoder

if TYPE_CHECKING:
    from types import TracebackType

    from ._transport import Response, Sending, Transport

__all__ = ["ChatCompletionStream", "CompletionStream", "StreamState", "StreamStats"]

_T = TypeVar("_T")
_Item = TypeVar("_Item")

# How much may follow [DONE] before the end of the body; more means a broken server, and the
# connection is dropped instead of returned to the pool.
_MAX_AFTER_DONE = 64 * 1024


class StreamState(enum.Enum):
    """Where a stream is in its life."""

    NEW = "new"  #: created; no request sent yet
    OPEN = "open"  #: the server accepted the request; events are being read
    DONE = "done"  #: ``[DONE]`` arrived; everything was received
    #: an error was raised; ``partial_text`` has what arrived (unless past max_kept_text)
    FAILED = "failed"
    CLOSED = "closed"  #: closed early: leaving ``async with``, ``aclose()``, cancellation


# States in which nothing is left to read once the connection is gone.
_SETTLED = frozenset({StreamState.DONE, StreamState.CLOSED})


class _Stop(enum.Enum):
    STOP = enum.auto()


_STOP = _Stop.STOP  # _run's default when closed meanwhile: raise StopAsyncIteration


def _closed_meanwhile(closed: _T | _Stop) -> _T:
    if closed is _STOP:
        raise StopAsyncIteration from None  # not chained to the error that was cut short
    return closed


_CLIENT_CLOSED = "the InferenceClient was closed while this stream was open"


Ending = Literal["done", "error", "cancelled", "timeout", "incomplete"]


@attrs.frozen(kw_only=True)
class StreamStats:
    """How a stream went, from :attr:`CompletionStream.stats` (times in seconds).

    Attributes:
        time_to_first_token: From sending the request to the first piece of text (``None``
            before it arrives).
        duration: From sending the request to the end (or to now, while open).
        tokens: Pieces of text received.
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


class _EventStream(Generic[_Item]):
    """The lifecycle, read loop and error handling shared by every stream."""

    __slots__ = (
        "__weakref__",
        "_attempt",
        "_bytes",
        "_deadlines",
        "_decoder",
        "_deferred",
        "_ended",
        "_events",
        "_failure",
        "_first_token_at",
        "_keep_text",
        "_longest_gap",
        "_max_event_bytes",
        "_part_count",
        "_parts",
        "_pending",
        "_reading",
        "_request",
        "_response",
        "_retries",
        "_room",
        "_slot",
        "_span",
        "_started_at",
        "_state",
        "_stopped_at",
        "_text_cache",
        "_timeouts",
        "_transport",
        "_wakeup",
        "inference_id",
    )

    _task_type = ""
    _whole_answer = "read_text()"  # the call that keeps the whole answer, for messages

    def __init__(
        self,
        transport: Transport,
        request: Request,
        *,
        inference_id: str,
        timeouts: Timeouts,
        max_event_bytes: int,
        retries: RetryPolicy,
        keep: int | None = None,
    ) -> None:
        self._transport = transport
        self._request = request
        self._timeouts = timeouts
        self._retries = retries
        self.inference_id = inference_id
        self._max_event_bytes = max_event_bytes
        # Made when a response opens: not held by thousands of requests on their way.
        self._decoder: SSEDecoder | None = None
        self._attempt = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._first_token_at: float | None = None
        self._bytes = 0
        self._events = 0
        self._longest_gap = 0.0
        self._ended: Ending | None = None
        self._span: Any = None
        self._failure: AsyncInferError | None = None  # the error that ended the stream
        self._slot = False  # holds one of the client's connection slots
        self._state = StreamState.NEW
        self._response: Response | None = None
        self._deadlines: Deadlines | None = None
        # The text received, in pieces (if kept). The lists start as () and are made when the
        # first items come: an empty list is 56 bytes more per open stream, thousands at once.
        self._parts: list[str] | tuple[()] = ()
        self._part_count = 0  # pieces of text received, kept or not
        # keep: how much text to keep (0: none, None: all). _room is what may still be kept;
        # below 0 the text was dropped past the limit, and asking for it raises.
        self._keep_text = keep != 0
        self._room = keep
        # Received, not yet yielded, in reverse: pop() from the end is O(1) (and a deque
        # allocates a 624-byte block per open stream).
        self._pending: list[_Item] | tuple[()] = ()
        self._deferred: AsyncInferError | None = None  # raised once _pending is drained
        self._reading = False
        self._text_cache: str | None = None

    # --- public state ---------------------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """Where the stream is in its life."""
        return self._state

    @property
    def text(self) -> str:
        """The text received so far, joined ("" when the stream was made with
        ``keep_text=False``).

        Raises:
            TextNotKeptError: The answer passed ``Limits.max_kept_text``: the stream dropped
                its text to keep memory bounded.
        """
        self._check_kept()
        if self._text_cache is None:
            self._text_cache = "".join(self._parts)
        return self._text_cache

    @property
    def partial_text(self) -> str:
        """The text received so far (the same as :attr:`text`)."""
        return self.text

    @property
    def text_kept(self) -> bool:
        """Whether :attr:`text` holds every token received: ``False`` once the stream dropped
        its text past ``Limits.max_kept_text``, or when made with ``keep_text=False``."""
        return self._keep_text

    def _dropped(self) -> bool:
        """Whether the text was dropped past the limit."""
        return self._room is not None and self._room < 0

    def _spend(self, cost: int) -> None:
        """Count ``cost`` against the limit (``_room`` is not None); drop the text past it."""
        assert self._room is not None
        self._room -= cost
        if self._room < 0:
            self._drop_text()

    def _check_kept(self) -> None:
        if self._dropped():
            raise TextNotKeptError(
                f"{self._task_type}/{self.inference_id}: the stream no longer keeps its text: "
                "the answer passed the client's Limits.max_kept_text. Keep the pieces as they "
                f"are yielded, call {self._whole_answer} before reading, or raise the limit "
                "(None keeps everything)."
            )

    def _drop_text(self) -> None:
        """Past the limit: forget what was kept, so memory stays bounded however long the
        answer (the tokens themselves are all yielded)."""
        self._keep_text = False
        self._parts = ()
        self._text_cache = None

    def _keep_all(self) -> None:
        """For calls that return the whole answer: keep every token from now on.

        Raises:
            UsageError: Another task is reading the stream.
            TextNotKeptError: Tokens were yielded and not kept; the whole answer is gone.
        """
        if self._reading:
            raise UsageError("a stream can be read by one task at a time")
        if not self._keep_text:
            self._check_kept()
            if self._unkept_output():
                raise TextNotKeptError(
                    f"{self._task_type}/{self.inference_id}: the stream was made with "
                    f"keep_text=False and has received {self._events} events already: "
                    "the whole answer can no longer be returned."
                )
            self._keep_text = True
        self._room = None

    def _unkept_output(self) -> bool:
        """Whether anything was received that the whole answer needs (not kept)."""
        return self._events > 0  # a chat stream's role or tool-call chunks count too

    def _received_text(self, error: AsyncInferError) -> str:
        """The text for ``error.partial_text``; a note on ``error`` says when it was dropped."""
        if self._dropped():
            error.add_note(
                "partial_text is empty: the stream dropped its text when the answer passed "
                "Limits.max_kept_text (the tokens were all yielded)"
            )
            return ""
        return self.text

    @property
    def done(self) -> bool:
        """Whether ``[DONE]`` arrived: the answer is complete."""
        return self._state is StreamState.DONE

    @property
    def stats(self) -> StreamStats:
        """How the stream went so far: times, counts, retries and how it ended."""
        start = self._started_at
        end = self._stopped_at
        if start is not None and end is None:
            end = asyncio.get_running_loop().time()
        return StreamStats(
            time_to_first_token=None
            if self._first_token_at is None or start is None
            else self._first_token_at - start,
            duration=0.0 if start is None or end is None else end - start,
            tokens=self._part_count,
            bytes=self._bytes,
            events=self._events,
            longest_gap=self._longest_gap,
            retries=self._attempt,
            ended=self._ended,
        )

    @property
    def buffered_bytes(self) -> int:
        """Bytes received from the network and not yet parsed into events."""
        held = 0 if self._decoder is None else self._decoder.buffered_bytes
        if self._response is not None:
            held += self._response.buffered_bytes
        return held

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._task_type}/{self.inference_id} {self._state.value} "
            f"{self._count_label()}>"
        )

    def _count_label(self) -> str:
        return f"parts={self._part_count}"

    # --- lifecycle ------------------------------------------------------------------------

    def __aenter__(self) -> Coroutine[Any, Any, Self]:
        if self._state is StreamState.NEW:
            # _run's coroutine itself, not one awaiting it: its frame would be held for as long
            # as the request is on its way (thousands of streams at once). Closed meanwhile
            # (aclose() from another task), it gives the stream back quietly.
            return self._run(_EventStream._itself, self)
        return self._entered()

    async def _entered(self) -> Self:
        if self._failure is not None:
            raise self._failure.with_traceback(None)  # when awaited, as any __aenter__
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the stream; drops the connection unless the body was read to its end.

        Idempotent. What was received stays available (:attr:`text`).
        """
        # A body whose end arrived (even unread, after the last tokens) has already given its
        # connection back to the pool (aiohttp releases it at the end): close() keeps it.
        self._drop()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)  # ends a retry back-off at once
        if self._state in (StreamState.NEW, StreamState.OPEN):
            self._state = StreamState.CLOSED
            self._pending = ()
            self._end("cancelled")

    def _end(self, how: Ending, error: BaseException | None = None) -> None:
        if self._ended is None:
            self._ended = how
            if self._started_at is not None:
                self._stopped_at = asyncio.get_running_loop().time()
            span, self._span = self._span, None
            if span is not None:
                first, start = self._first_token_at, self._started_at
                end_span(
                    span,
                    error=error,
                    ended=how,
                    tokens=self._part_count,
                    retries=self._attempt,
                    time_to_first_token=None if first is None or start is None else first - start,
                )

    def __del__(self) -> None:
        # An abandoned stream (``break`` without aclose) must not leave an open connection or
        # an "Unclosed response" warning behind, nor a connection slot, a timer or a span.
        # Everything here is synchronous, so this is safe; the loop may already be closed at
        # shutdown, hence the suppressed errors.
        try:
            response, slot, deadlines, span = (
                self._response,
                self._slot,
                self._deadlines,
                self._span,
            )
        except AttributeError:
            return  # __init__ failed: nothing was opened
        if response is not None:
            self._response = None
            with contextlib.suppress(Exception):
                response.close()
        if slot:
            with contextlib.suppress(Exception):
                self._release_slot()
        if deadlines is not None:
            deadlines.close()
        if span is not None:
            with contextlib.suppress(Exception):
                end_span(span, ended="cancelled")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        if self._pending:
            return self._pending.pop()
        if self._failure is not None:
            # A failed stream stays failed: never a silent, shorter answer on a second read.
            raise self._failure.with_traceback(None)
        if self._response is None and self._deferred is None and self._state in _SETTLED:
            self._check_client()  # closed with the client: say so, not a quiet short answer
            raise StopAsyncIteration  # read to its end (or closed): no I/O left to do
        return await self._run(_EventStream._next_item)

    async def sse(self) -> AsyncGenerator[bytes, None]:
        """Relay the stream to a browser as standard Server-Sent Events (no BOM).

        Yields ``event: token`` (data ``{"text": ...}``) per piece of text, then one
        ``event: done`` (data ``{"done": true, ...}``), or one ``event: error`` (data
        ``{"error": <class name>, "message": ..., "status": ...}``) instead, after which it
        ends. Send the bytes as a ``text/event-stream`` response from any ASGI or aiohttp.web
        app; a browser's ``EventSource`` reads them. The stream is closed when the relay ends,
        however it ends: a browser that goes away closes the upstream connection at once.
        """
        try:
            async for item in self:
                text = self._item_text(item)
                if text:
                    yield b"event: token\ndata: " + orjson.dumps({"text": text}) + b"\n\n"
            yield b"event: done\ndata: " + orjson.dumps(self._done_data()) + b"\n\n"
        except AsyncInferError as exc:
            status = getattr(exc, "status", None)
            data = {"error": type(exc).__name__, "message": str(exc), "status": status}
            yield b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
        finally:
            await self.aclose()

    def _item_text(self, item: _Item) -> str | None:
        raise NotImplementedError

    def _done_data(self) -> dict[str, Any]:
        return {"done": True}

    # --- the read loop --------------------------------------------------------------------

    async def _run(self, step: Callable[[Self], Awaitable[_T]], closed: _T | _Stop = _STOP) -> _T:
        """Run one step of I/O, sending the request first if it is not out yet, and starting
        it over after a retryable failure before any output; on any other failure close the
        connection and keep what arrived.

        When the stream is closed meanwhile (aclose() from another task), return ``closed``
        (by default: raise StopAsyncIteration).

        One coroutine for all three jobs: the wait for the answer and every suspended read
        hold this frame, so with thousands of streams open another one (an open coroutine,
        a retry wrapper) would cost memory for nothing.
        """
        if self._reading:
            raise UsageError("a stream can be read by one task at a time")
        self._reading = True
        try:
            while True:
                try:
                    if self._state is StreamState.NEW:
                        sending = await self._prepare()
                        if sending is None:
                            self._check_client()
                            return _closed_meanwhile(closed)
                        # Transport.open's wait, inline (see Sending).
                        assert self._deadlines is not None
                        with self._deadlines:
                            try:
                                answer = await sending.answer
                            except Exception as error:
                                sending.fail(error)
                                raise
                        if not self._opened(sending.answered(answer)):
                            self._check_client()
                            return _closed_meanwhile(closed)
                        if not self._usable():
                            await self._refuse()
                    return await step(self)  # a plain function: no bound method held meanwhile
                except AsyncInferError as exc:
                    delay = self._retry_delay(exc)
                    if delay is None:
                        raise
                await self._backoff(delay)
                if self._state is StreamState.CLOSED:
                    self._check_client()
                    return _closed_meanwhile(closed)
        except StopAsyncIteration:
            raise
        except AsyncInferError as exc:
            self._drop()
            if self._state is StreamState.CLOSED:
                # aclose() (or the client's close()) from another task cut this read short.
                self._check_client(exc)
                return _closed_meanwhile(closed)
            self._state = StreamState.FAILED
            exc.partial_text = self._received_text(exc)
            self._failure = exc
            if isinstance(exc, RequestTimeoutError):
                self._end("timeout", exc)
            elif isinstance(exc, IncompleteStreamError):
                self._end("incomplete", exc)
            else:
                self._end("error", exc)
            raise
        except BaseException:
            # Cancellation (or anything unforeseen): close at once, re-raise untouched.
            self._drop()
            if self._state in (StreamState.NEW, StreamState.OPEN):
                self._state = StreamState.CLOSED
            self._end("cancelled")
            raise
        finally:
            self._reading = False

    def _check_client(self, cause: BaseException | None = None) -> None:
        """For a stream closed before its end: raise ClientClosedError (with what arrived)
        if it was closed with its client.

        Raises:
            ClientClosedError: The client is closed and the stream did not reach its end.
        """
        if self._state is StreamState.CLOSED and self._transport.closed:
            error = ClientClosedError(_CLIENT_CLOSED)
            error.partial_text = self._received_text(error)
            raise error from cause

    def _has_output(self) -> bool:
        """Whether the stream produced output; from then on it is never sent again."""
        return self._part_count > 0

    def _retry_delay(self, error: AsyncInferError) -> float | None:
        """Before a retry of ``error``: forget the failed attempt and return the back-off;
        ``None`` if it is not retried (after output, once closed, or as the policy says)."""
        if self._has_output() or self._state is StreamState.CLOSED:
            return None
        assert self._deadlines is not None
        delay = retry_delay(
            error, self._retries, self._attempt + 1, self._deadlines, self._transport
        )
        if delay is None:
            return None
        self._attempt += 1
        self._drop()
        self._decoder = None  # the next response gets a new one
        self._deferred = None
        self._pending = ()
        self._reset_attempt()
        self._state = StreamState.NEW
        return delay

    def _reset_attempt(self) -> None:
        """Forget what a failed attempt parsed (it produced no output)."""

    async def _backoff(self, delay: float) -> None:
        """Sleep before a retry; ``aclose()`` ends the sleep at once."""
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((self._wakeup,), timeout=delay)
        finally:
            self._wakeup = None

    def _drop(self) -> None:
        response = self._response
        if response is not None:
            self._response = None
            response.close()
        if self._slot:
            self._release_slot()
        if self._deadlines is not None:
            self._deadlines.close()

    def _release_slot(self) -> None:
        self._slot = False
        self._transport.release_slot()

    async def _acquire_slot(self) -> None:
        """Take a connection slot; when none is free, wait for one in a way ``aclose()`` ends
        at once (then without a slot)."""
        transport = self._transport
        if not transport.slot_wait():
            await transport.acquire_slot()  # free: no suspension, no task
            self._slot = True
            return
        taking = asyncio.ensure_future(transport.acquire_slot())
        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((taking, wakeup), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wakeup = None
            if taking.done() and not taking.cancelled() and taking.exception() is None:
                self._slot = True  # released by _drop() if the stream was closed meanwhile
            else:
                taking.cancel()  # the semaphore hands a slot granted meanwhile on

    async def _itself(self) -> Self:
        """The step of entering: the stream, once open (see :meth:`_run`)."""
        return self

    async def _prepare(self) -> Sending | None:
        """Start the request: the stream's clocks, a connection slot, a 429's cool-down, the
        first sniff; ``None`` if the stream was closed meanwhile. Done before the long wait,
        so this frame is gone by then."""
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = Deadlines(
                self._timeouts, self._request, self._transport.timer_context
            )
            self._started_at = deadlines.started
            self._span = start_span(
                f"POST /_inference/{self._task_type}/{{inference_id}}/_stream",
                {"asyncinfer.inference_id": self.inference_id, "http.request.method": "POST"},
            )
        if not self._slot:
            # A slot of the client-wide connection limit: waiting for one is not waiting for
            # Elasticsearch, so the first-event clock starts after it.
            await deadlines.run_total(self._acquire_slot())
        cooldown = self._transport.cooldown_remaining()
        if cooldown > 0 and self._state is StreamState.NEW:
            await self._backoff(cooldown)  # after a 429 elsewhere; aclose() ends it at once
        if self._state is not StreamState.NEW:
            self._drop()  # closed meanwhile: give back the slot (and stop the clock)
            return None
        deadlines.attempt()
        transport = self._transport
        with deadlines:
            await transport.sniff_on_start()
        if self._state is not StreamState.NEW:
            self._drop()  # closed during the sniff: send nothing
            return None
        return transport.send(
            with_budget(self._request, deadlines),
            connect_timeout=self._timeouts.connect,
            attempt=self._attempt,
        )

    def _opened(self, response: Response) -> bool:
        """Take the response whose headers arrived; ``False`` if the stream was closed
        meanwhile (the response is closed then)."""
        if self._state is not StreamState.NEW:
            response.close()  # aclose() came while the headers were on their way
            return False
        self._response = response
        self._decoder = SSEDecoder(bom_every_event=True, max_event_bytes=self._max_event_bytes)
        self._state = StreamState.OPEN
        return True

    def _usable(self) -> bool:
        """Whether the response is a 2xx event stream."""
        response = self._response
        assert response is not None
        return response.status < 300 and response.content_type.startswith("text/event-stream")

    async def _refuse(self) -> None:
        """Raise the error for a response that is not a 2xx event stream (reading its body).

        Raises:
            ApiError: A non-2xx status.
            UnexpectedResponseError: A 2xx of another content type.
        """
        response, deadlines = self._response, self._deadlines
        assert response is not None
        assert deadlines is not None
        await raise_for_status(response, deadlines, self._request)
        body = await deadlines.run(response.read_all(4096))
        raise UnexpectedResponseError(
            f"expected text/event-stream from {self._request.endpoint}, got status "
            f"{response.status} with Content-Type {response.content_type or '(none)'!r}",
            status=response.status,
            content_type=response.content_type,
            body=body.decode("utf-8", "replace"),
        )

    async def _next_item(self) -> _Item:
        # Every suspended read holds this frame: the work between reads is in _received, so
        # that its locals are not part of it. (_run has opened the stream.)
        if self._state is StreamState.DONE and self._response is not None:
            assert self._deadlines is not None
            await self._finish(self._response, self._deadlines)
        while not self._pending:
            if self._deferred is not None:
                error, self._deferred = self._deferred, None
                raise error
            if self._state is not StreamState.OPEN:
                raise StopAsyncIteration
            response, deadlines = self._response, self._deadlines
            assert response is not None
            assert deadlines is not None
            with deadlines:
                try:
                    chunk = await response.read_chunk_raw()
                except Exception as exc:
                    failure = response.read_error(exc)
                    if failure is None:
                        raise
                    raise failure from exc
            if self._received(chunk, deadlines):
                if self._pending:
                    break  # yield what came with [DONE] now; the body's end can wait
                await self._finish(response, deadlines)
        return self._pending.pop()

    def _received(self, chunk: bytes, deadlines: Deadlines) -> bool:
        """Take one read's events; ``True`` once ``[DONE]`` arrived."""
        decoder = self._decoder
        assert decoder is not None  # made when the response opened
        if not chunk:
            decoder.close()
            raise IncompleteStreamError(
                f"the response to {self._request.endpoint} ended without [DONE] "
                f"after {self._part_count} text parts"
            )
        self._bytes += len(chunk)
        # Message events only (the common case) come as one block of their data; anything
        # else as decoded events.
        events = None
        block = b""
        messages = decoder._feed_messages(chunk)
        if messages is None:
            events = decoder._feed_general(chunk)
            count = len(events)
        else:
            block, count = messages
        if not count:
            return False
        previous = deadlines.last_event
        deadlines.event()
        now = deadlines.last_event
        assert now is not None
        if previous is not None and now - previous > self._longest_gap:
            self._longest_gap = now - previous
        self._events += count
        had_output = self._has_output()
        done = self._take(events) if events is not None else self._take_block(block, count)
        if not had_output and self._has_output():
            self._first_token_at = now
        if done:
            self._end("done")
        return done

    def _take(self, events: list[tuple[str, bytes, str | None, int | None]]) -> bool:
        """Turn decoded events into pending items; stop at [DONE] (returning True) or an error.

        The message payloads of one read are parsed as one batch: one call per read, not per
        event, on the hot path.
        """
        payloads = [data for event, data, _id, _retry in events if event == "message"]
        if len(payloads) == len(events):
            return self._take_messages(payloads)
        payloads = []
        done = False
        failure: AsyncInferError | None = None
        for event, data, _id, _retry in events:
            if event == "message":
                if data == DONE:
                    done = True
                    break
                payloads.append(data)
            elif event == "error":
                info = error_from_event(data)
                failure = StreamApiError(
                    status=info.status if info.status is not None else 500,
                    error_type=info.error_type,
                    reason=info.reason,
                    body=info.body,
                    endpoint=self._request.endpoint,
                    code=info.code,
                )
                break
            # Other event types are not Elasticsearch's; ignore them as EventSource would.
        if payloads:
            try:
                self._parse(payloads)
            except SSEProtocolError as exc:
                failure = exc  # what came before the bad event was kept
        if failure is not None:
            # Raised once the items of the events before it have been yielded.
            self._fail_later(failure)
            return False
        if done:
            self._state = StreamState.DONE
        return done

    def _take_block(self, block: bytes, count: int) -> bool:
        """:meth:`_take` for ``count`` message events whose data ``block`` holds (see
        ``SSEDecoder._feed_messages``)."""
        return self._take_messages(block.split(_ES_NEXT_MESSAGE))

    def _take_messages(self, payloads: list[bytes]) -> bool:
        """:meth:`_take` for a read of message events only: their data, without a per-event
        test in Python."""
        done = DONE in payloads
        if done:
            payloads = payloads[: payloads.index(DONE)]
        try:
            self._parse(payloads)
        except SSEProtocolError as exc:
            self._fail_later(exc)  # raised once what came before it was yielded
            return False
        if done:
            self._state = StreamState.DONE
        return done

    def _parse(self, payloads: list[bytes]) -> None:
        """Parse message payloads into ``_pending`` (empty before: it is read to its end
        before the next read) and ``_parts``, keeping what parsed before raising for a bad
        one."""
        raise NotImplementedError

    def _fail_later(self, error: AsyncInferError) -> None:
        """End the stream now; raise ``error`` once the items before it were yielded."""
        self._deferred = error
        self._drop()
        self._state = StreamState.FAILED

    async def _finish(self, response: Response, deadlines: Deadlines) -> None:
        """After [DONE]: read the end of the body so the connection can be reused."""
        try:
            rest = 0
            while not response.at_eof() and rest <= _MAX_AFTER_DONE:
                with deadlines:
                    rest += len(await response.read_chunk())
        except AsyncInferError:
            # The answer is complete; a broken connection after [DONE] costs only the reuse.
            self._drop()
            return
        if self._response is response:
            self._response = None
            if response.at_eof():
                response.release()
            else:
                response.close()
            if self._slot:
                self._release_slot()
        deadlines.close()


class CompletionStream(_EventStream[str]):
    """An incremental completion answer: ``async for token in stream`` yields ``str`` deltas.

    Get one from :meth:`InferenceClient.stream_completion`. The request is sent on entering
    ``async with`` (or on the first iteration when used without it); errors that happen before
    the stream starts are raised there.

    Leaving ``async with`` early, ``aclose()``, a timeout, or cancelling the consuming task
    closes the HTTP connection at once. A stream read to ``[DONE]`` returns its connection to
    the pool. A stream abandoned without closing is closed when it is garbage-collected.

    Every error raised after the request was sent carries ``partial_text``, and the tokens
    received stay available as :attr:`text` and :attr:`tokens`.

    Entering, iterating or :meth:`read_text` can raise:

    Raises:
        ApiError: A non-2xx answer before the stream began (a subclass by status).
        StreamApiError: An ``event: error`` after the stream began.
        IncompleteStreamError: The body ended without ``[DONE]``.
        SSEProtocolError: Bad framing, invalid JSON, or an event that is not a completion chunk.
        UnexpectedResponseError: A 2xx that is not ``text/event-stream``.
        TransportError: Connecting or reading failed (``ConnectError``, ``ReadError``), or a
            time limit fired (a ``RequestTimeoutError`` subclass naming the limit).
        UsageError: Two tasks iterated the stream at once.
    """

    __slots__ = ()
    _task_type = "completion"

    @property
    def tokens(self) -> list[str]:
        """Every non-empty token received so far (a copy; ``[]`` with ``keep_text=False``).

        Raises:
            TextNotKeptError: The answer passed ``Limits.max_kept_text``.
        """
        self._check_kept()
        return list(self._parts)

    def _count_label(self) -> str:
        return f"tokens={self._part_count}"

    def _unkept_output(self) -> bool:
        return self._part_count > 0  # events without text (the empty first one) lose nothing

    def _item_text(self, item: str) -> str | None:
        return item

    def _take_block(self, block: bytes, count: int) -> bool:
        # Below 3 events a read (live streaming: one event a read) is faster event by event:
        # the block path's fixed cost is ~0.5 us more.
        tokens = None if count < 3 else completion_block_tokens(block, count, _ES_NEXT_MESSAGE)
        if tokens is None:  # few events, [DONE], an error, another shape: event by event
            return super()._take_block(block, count)
        self._add(tokens)
        return False

    def _parse(self, payloads: list[bytes]) -> None:
        tokens, error = completion_tokens(payloads)
        self._add(tokens)
        if error is not None:
            raise error

    def _add(self, tokens: list[str]) -> None:
        if tokens:
            self._part_count += len(tokens)
            if self._keep_text:
                parts = self._parts
                if parts:
                    parts += tokens
                else:
                    self._parts = tokens.copy()
                self._text_cache = None
                if self._room is not None:
                    self._spend(sum(map(len, tokens)))
            tokens.reverse()
            self._pending = tokens

    async def read_text(self) -> str:
        """Read the rest of the stream and return the whole text (:attr:`text`).

        The stream keeps the whole answer for this, however long (``Limits.max_kept_text``
        and ``keep_text=False`` bound only what iterating keeps).

        Raises:
            TextNotKeptError: Tokens already yielded were not kept (see :attr:`text`).
        """
        self._keep_all()
        async for _ in self:
            pass
        return self.text


class ChatCompletionStream(_EventStream[ChatCompletionChunk]):
    """A chat completion answer: ``async for chunk in stream`` yields :class:`ChatCompletionChunk`.

    Get one from :meth:`InferenceClient.stream_chat_completion`. It has the lifecycle,
    cancellation, backpressure, timeout and error guarantees of :class:`CompletionStream`;
    :attr:`text` and ``partial_text`` hold the assistant content received so far.
    """

    __slots__ = ("_chunk_count", "_chunks", "_finish_reason", "_keep", "_output", "_usage")
    _task_type = "chat_completion"
    _whole_answer = "final_message()"

    def __init__(
        self,
        transport: Transport,
        request: Request,
        *,
        inference_id: str,
        timeouts: Timeouts,
        max_event_bytes: int,
        retries: RetryPolicy,
        keep: int | None = None,
    ) -> None:
        super().__init__(
            transport,
            request,
            inference_id=inference_id,
            timeouts=timeouts,
            max_event_bytes=max_event_bytes,
            retries=retries,
            keep=keep,
        )
        # The event data of each chunk, not the chunk objects: a long answer then costs one
        # bytes object a chunk, which the garbage collector never scans (kept objects made
        # every chunk ~2.5x slower to parse, through ever longer collections).
        self._chunks: list[bytes] | tuple[()] = ()  # made on the first chunk, as _parts
        self._chunk_count = 0  # kept or not
        self._keep = keep  # what a retry starts from again
        self._output = False  # a chunk with content, a refusal or a tool call arrived
        # Kept whatever is kept of the chunks: the relay's closing event and the CLI need them.
        self._finish_reason: str | None = None
        self._usage: Usage | None = None

    def _has_output(self) -> bool:
        return self._output

    def _reset_attempt(self) -> None:
        # The failed attempt's chunks carried no output: forget them, and what they cost
        # (even past the limit: the next attempt starts afresh).
        if self._room is not None:  # None: final_message() keeps everything
            self._room = self._keep
            self._keep_text = self._keep != 0
        self._chunks = self._parts = ()
        self._text_cache = None
        self._chunk_count = 0
        self._finish_reason = self._usage = None

    def _drop_text(self) -> None:
        super()._drop_text()
        self._chunks = ()

    @property
    def chunks(self) -> list[ChatCompletionChunk]:
        """Every chunk received so far: new objects, equal to those yielded, rebuilt from the
        event data the stream keeps (``[]`` with ``keep_text=False``).

        Raises:
            TextNotKeptError: The chunk data passed ``Limits.max_kept_text``.
        """
        self._check_kept()
        return [ChatCompletionChunk.from_dict(orjson.loads(data)) for data in self._chunks]

    @property
    def finish_reason(self) -> str | None:
        """Why choice 0 ended (e.g. ``"stop"``, ``"length"``, ``"tool_calls"``), once known."""
        return self._finish_reason

    @property
    def usage(self) -> Usage | None:
        """Token usage, from the usage chunk (usually the last before ``[DONE]``), once it
        arrived."""
        return self._usage

    @property
    def partial_text(self) -> str:
        """The assistant content received so far (the same as :attr:`text`)."""
        return self.text

    def _count_label(self) -> str:
        return f"chunks={self._chunk_count}"

    def _item_text(self, item: ChatCompletionChunk) -> str | None:
        for choice in item.choices:
            if choice.index == 0:
                return choice.delta.content
        return None

    def _done_data(self) -> dict[str, Any]:
        usage = self._usage
        return {
            "done": True,
            "finish_reason": self._finish_reason,
            "usage": None if usage is None else usage.raw,
        }

    def _parse(self, payloads: list[bytes]) -> None:
        chunks: list[ChatCompletionChunk] = []
        try:
            for data in payloads:
                chunks.append(self._parse_chunk(data))  # noqa: PERF401 (keeps those before a bad one)
        finally:
            chunks.reverse()
            self._pending = chunks

    def _parse_chunk(self, data: bytes) -> ChatCompletionChunk:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise SSEProtocolError(
                f"message event is not JSON: {data[:200].decode('utf-8', 'replace')!r}"
            ) from None
        chunk = ChatCompletionChunk.from_dict(payload)
        self._chunk_count += 1
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content or delta.tool_calls or delta.refusal or delta.reasoning:
                self._output = True
            if choice.index == 0:
                if choice.finish_reason is not None:
                    self._finish_reason = choice.finish_reason
                if delta.content:
                    self._part_count += 1
                    if self._keep_text:
                        if self._parts:
                            self._parts.append(delta.content)
                        else:
                            self._parts = [delta.content]
                        self._text_cache = None
        if self._keep_text:
            if self._chunks:
                self._chunks.append(data)
            else:
                self._chunks = [data]
            if self._room is not None:
                self._spend(len(data))
        return chunk

    async def text_deltas(self) -> AsyncIterator[str]:
        """Iterate the non-empty content strings of choice 0, as they arrive."""
        async for chunk in self:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content

    async def final_message(self) -> ChatCompletionMessage:
        """Read the rest of the stream and return the whole assistant message (choice 0).

        Tool calls are assembled from their fragments; ``usage`` comes from the usage chunk.

        The stream keeps every chunk for this, however long (as
        :meth:`CompletionStream.read_text` does).

        Raises:
            TextNotKeptError: Chunks already yielded were not kept.
            AsyncInferError: The errors of :class:`CompletionStream`, from reading the rest.
        """
        self._keep_all()
        async for _ in self:
            pass
        return assemble_message(self.chunks)


def assemble_message(chunks: list[ChatCompletionChunk]) -> ChatCompletionMessage:
    """Join the deltas of choice 0 into one message."""
    role = "assistant"
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    finish_reason: str | None = None
    usage: Usage | None = None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            role = delta.role or role
            if delta.content:
                content.append(delta.content)
            if delta.refusal:
                refusal.append(delta.refusal)
            if delta.reasoning:
                reasoning.append(delta.reasoning)
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
            for fragment in delta.tool_calls:
                call = calls.setdefault(
                    fragment.index, {"id": None, "type": None, "name": "", "arguments": []}
                )
                call["id"] = fragment.id or call["id"]
                call["type"] = fragment.type or call["type"]
                if fragment.function is not None:
                    call["name"] += fragment.function.name or ""
                    call["arguments"].append(fragment.function.arguments or "")
    tool_calls = [
        ToolCall(
            id=call["id"] or "",
            type=call["type"] or "function",
            function=FunctionCall(name=call["name"], arguments="".join(call["arguments"])),
        )
        for _, call in sorted(calls.items())
    ]
    return ChatCompletionMessage(
        role=role,
        content="".join(content) if content or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        refusal="".join(refusal) or None,
        reasoning="".join(reasoning) or None,
        usage=usage,
    )
