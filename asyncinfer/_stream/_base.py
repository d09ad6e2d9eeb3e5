"""The lifecycle every stream shares: states, the one driver loop, closing, errors.

``__anext__`` pops the next item of the last read; only when none is left does it run
:meth:`EventStream._run`, which opens the request (through :class:`Attempts`), reads (through
a :class:`Reader`) and starts over after a retryable failure before any output. Errors keep
what was yielded; cancellation closes the connection and is re-raised untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Coroutine
from typing import TYPE_CHECKING, Any, Self, TypeVar

import orjson

from .._exceptions import (
    AsyncInferError,
    ClientClosedError,
    IncompleteStreamError,
    RequestTimeoutError,
    TextNotKeptError,
    UsageError,
)
from ._attempts import Attempts
from ._meter import Ending, Meter, StreamState
from ._reader import Reader
from ._view import StreamView

if TYPE_CHECKING:
    from types import TracebackType

    from .._config import RetryPolicy, Timeouts
    from .._protocol import Request
    from .._transport import Response, Transport

__all__ = ["EventStream"]

_Item = TypeVar("_Item")

_CLIENT_CLOSED = "the InferenceClient was closed while this stream was open"


def _ending(error: AsyncInferError) -> Ending:
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, IncompleteStreamError):
        return "incomplete"
    return "error"


class EventStream(StreamView[_Item]):
    """What :class:`CompletionStream` and :class:`ChatCompletionStream` share; they differ
    in their :class:`Reader` (how an event becomes an item) and a few properties."""

    __slots__ = (
        "__weakref__",
        "_attempts",
        "_failure",
        "_keep",
        "_max_event_bytes",
        "_meter",
        "_pending",
        "_reader",
        "_reading",
        "_state",
        "inference_id",
    )

    _reader_class: type[Reader[Any]] = Reader

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
        self.inference_id = inference_id
        self._attempts = Attempts(transport, request, timeouts, retries)
        self._meter = Meter()
        self._max_event_bytes = max_event_bytes
        self._keep = keep  # what a reader keeps: 0 nothing, None everything
        self._state = StreamState.NEW
        self._reader: Reader[_Item] | None = None  # made when a response opens
        # The last read's items not yet yielded, last first: pop() is O(1), and () until the
        # first read (a list is 56 bytes more per open stream, thousands at once).
        self._pending: list[_Item] | tuple[()] = ()
        self._failure: AsyncInferError | None = None  # the error that ended the stream
        self._reading = False

    def _keep_all(self) -> None:
        """For calls that return the whole answer: keep every item from now on.

        Raises:
            UsageError: Another task is reading the stream.
            TextNotKeptError: Items were received and not kept; the whole answer is gone.
        """
        if self._reading:
            raise UsageError("a stream can be read by one task at a time")
        self._keep = None
        reader = self._reader
        if reader is not None:
            reader.ledger.check(self._label, self._whole_answer)
            if reader.unkept_output():
                raise TextNotKeptError(
                    f"{self._label}: the stream was made with keep_text=False and has "
                    f"received {reader.received} items already: the whole answer can no "
                    "longer be returned."
                )
            reader.ledger.keep_all()

    # --- lifecycle --------------------------------------------------------------------------

    def __aenter__(self) -> Coroutine[Any, Any, Self]:
        if self._state is StreamState.NEW:
            # _run's coroutine itself, not one awaiting it: its frame would be held for as long
            # as the request is on its way (thousands of streams at once).
            return self._run(entering=True)
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

        Idempotent. What was yielded stays available (:attr:`text`); items received but not
        yet yielded are dropped.
        """
        self._drop()
        self._attempts.stop()
        if self.state is StreamState.DONE and self._state is StreamState.OPEN:
            self._state = StreamState.DONE
            self._end("done")
        elif self._state in (StreamState.NEW, StreamState.OPEN):
            self._state = StreamState.CLOSED
            if self._reader is not None:
                self._reader.discard(self._pending)
            self._pending = ()
            self._end("cancelled")

    def _drop(self) -> None:
        """Close the connection (if still open), give back the slot, stop the clock."""
        if self._reader is not None:
            self._reader.close()
        self._attempts.release()

    def _end(self, how: Ending, error: BaseException | None = None) -> None:
        reader = self._reader
        tokens = 0 if reader is None else reader.yielded_texts(self._pending)
        self._meter.end(how, tokens=tokens, retries=self._attempts.count, error=error)

    def __del__(self) -> None:
        # An abandoned stream (``break`` without aclose) must not leave an open connection, a
        # slot, a timer or a span behind. All synchronous; the loop may be closed already at
        # shutdown, hence the suppressed errors.
        try:
            reader, attempts, meter = self._reader, self._attempts, self._meter
        except AttributeError:
            return  # __init__ failed: nothing was opened
        with contextlib.suppress(Exception):
            if reader is not None:
                reader.close()
        with contextlib.suppress(Exception):
            attempts.release()
        with contextlib.suppress(Exception):
            meter.abandon()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        if self._pending:
            return self._pending.pop()
        if self._failure is not None:
            # A failed stream stays failed: never a silent, shorter answer on a second read.
            raise self._failure.with_traceback(None)
        if self._state is StreamState.DONE or self._state is StreamState.CLOSED:
            self._check_client()  # closed with the client: say so, not a quiet short answer
            raise StopAsyncIteration
        item: _Item = await self._run()
        return item

    def sse(self) -> AsyncGenerator[bytes, None]:
        """Relay the stream to a browser as standard Server-Sent Events (no BOM).

        Yields ``event: token`` (data ``{"text": ...}``) per piece of text, then one
        ``event: done`` (data ``{"done": true, ...}``), or one ``event: error`` (data
        ``{"error": <class name>, "message": ..., "status": ...}``) instead, after which it
        ends. Send the bytes as a ``text/event-stream`` response from any ASGI or aiohttp.web
        app; a browser's ``EventSource`` reads them. The stream is closed when the relay ends,
        however it ends: a browser that goes away closes the upstream connection at once.
        """
        return _relay(self)

    # --- the driver loop --------------------------------------------------------------------

    async def _run(self, entering: bool = False) -> Any:
        """Open the request if it is not out yet, then (unless ``entering``) read the next
        batch and return its first item; start over after a retryable failure before any
        output; on any other failure close the connection and keep what was yielded.

        Entering returns the stream; closed meanwhile (aclose() from another task), entering
        returns it too and reading ends the iteration.

        One coroutine for every job: the wait for the answer and every suspended read hold
        this frame, and another per stream (an open coroutine, a retry wrapper) measured
        1 KB more per stream in the 10,000-stream fan-out benchmark.
        """
        if self._reading:
            raise UsageError("a stream can be read by one task at a time")
        self._reading = True
        attempts = self._attempts
        try:
            while True:
                try:
                    if self._state is StreamState.NEW:
                        sending = await attempts.prepare(
                            self._meter, self._task_type, self.inference_id
                        )
                        if sending is None:
                            return self._closed_meanwhile(entering)
                        assert attempts.deadlines is not None
                        with attempts.deadlines:  # Transport.open's wait, inline (see Sending)
                            try:
                                answer = await sending.answer
                            except Exception as error:
                                sending.fail(error)
                                raise
                        response = sending.answered(answer)
                        if not self._opened(response):
                            return self._closed_meanwhile(entering)
                        if response.status >= 300 or not response.content_type.startswith(
                            "text/event-stream"
                        ):
                            await attempts.refuse(response)
                    if entering:
                        return self
                    reader = self._reader
                    assert reader is not None
                    assert attempts.deadlines is not None
                    items = await reader.next_batch(attempts.deadlines, self._meter)
                    break
                except AsyncInferError as exc:
                    delay = self._retry_delay(exc)
                    if delay is None:
                        raise
                await attempts.backoff(delay)
                if self._state is StreamState.CLOSED:
                    return self._closed_meanwhile(entering)
        except StopAsyncIteration:
            raise
        except AsyncInferError as exc:
            return self._failed(exc, entering)
        except BaseException:
            # Cancellation (or anything unforeseen): close at once, re-raise untouched.
            self._drop()
            if self._state in (StreamState.NEW, StreamState.OPEN):
                self._state = StreamState.CLOSED
            self._end("cancelled")
            raise
        finally:
            self._reading = False
        if reader.response is None:
            attempts.release()  # [DONE] or a failure to come: the slot is free now
        if items:
            self._pending = items
            return items.pop()
        self._state = StreamState.DONE
        self._end("done")
        raise StopAsyncIteration

    def _opened(self, response: Response) -> bool:
        """Take the response whose headers arrived; ``False`` if the stream was closed
        meanwhile (the response is closed then)."""
        if self._state is not StreamState.NEW:
            response.close()  # aclose() came while the headers were on their way
            return False
        self._reader = self._reader_class(
            response, max_event_bytes=self._max_event_bytes, keep=self._keep
        )
        self._state = StreamState.OPEN
        return True

    def _closed_meanwhile(self, entering: bool) -> Self:
        """What a read cut short by aclose() (or the client's close()) gives."""
        self._check_client()
        if entering:
            return self
        raise StopAsyncIteration from None  # not chained to the error that was cut short

    def _failed(self, error: AsyncInferError, entering: bool) -> Self:
        """End the stream with ``error`` and raise it (or, closed meanwhile, end quietly)."""
        self._drop()
        if self._state is StreamState.CLOSED:
            self._check_client(error)
            return self._closed_meanwhile(entering)
        self._state = StreamState.FAILED
        error.partial_text = self._partial_text(error)
        self._failure = error
        self._end(_ending(error), error)
        raise error

    def _check_client(self, cause: BaseException | None = None) -> None:
        """For a stream closed before its end: raise ClientClosedError (with what was
        yielded) if it was closed with its client.

        Raises:
            ClientClosedError: The client is closed and the stream did not reach its end.
        """
        if self._state is StreamState.CLOSED and self._attempts.transport.closed:
            error = ClientClosedError(_CLIENT_CLOSED)
            error.partial_text = self._partial_text(error)
            raise error from cause

    def _partial_text(self, error: AsyncInferError) -> str:
        reader = self._reader
        return "" if reader is None else reader.partial_text(error, len(self._pending))

    def _retry_delay(self, error: AsyncInferError) -> float | None:
        """Before a retry of ``error``: forget the failed attempt and return the back-off;
        ``None`` if it is not retried (after output, once closed, or as the policy says)."""
        reader = self._reader
        if (reader is not None and reader.has_output()) or self._state is StreamState.CLOSED:
            return None
        delay = self._attempts.retry_delay(error)
        if delay is None:
            return None
        if reader is not None:
            reader.close()
        self._reader = None  # the next response gets a new reader: the attempt is forgotten
        self._pending = ()
        self._state = StreamState.NEW
        return delay


async def _relay(stream: EventStream[Any]) -> AsyncGenerator[bytes, None]:
    try:
        async for item in stream:
            reader = stream._reader
            text = None if reader is None else reader.text_of(item)
            if text:
                yield b"event: token\ndata: " + orjson.dumps({"text": text}) + b"\n\n"
        done = {"done": True} if stream._reader is None else stream._reader.done_data()
        yield b"event: done\ndata: " + orjson.dumps(done) + b"\n\n"
    except AsyncInferError as exc:
        status = getattr(exc, "status", None)
        data = {"error": type(exc).__name__, "message": str(exc), "status": status}
        yield b"event: error\ndata: " + orjson.dumps(data) + b"\n\n"
    finally:
        await stream.aclose()
