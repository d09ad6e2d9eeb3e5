"""CompletionStream: the one read loop between the socket and the consumer.

The loop asks the decoder first; only when no token is ready does it await one read from the
body, which returns every byte the socket has delivered (many events per await). Nothing reads
ahead: the socket is read only inside ``__anext__``, so a slow consumer holds the server back
through TCP instead of growing a buffer here.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import Timeouts
from ._exceptions import (
    AsyncInferError,
    FirstEventTimeoutError,
    IdleTimeoutError,
    IncompleteStreamError,
    RequestTimeoutError,
    SSEProtocolError,
    StreamApiError,
    TotalTimeoutError,
    UnexpectedResponseError,
    UsageError,
    api_error_class,
)
from ._protocol import DONE, Request, completion_tokens, error_from_body, error_from_event
from .sse import SSEDecoder

if TYPE_CHECKING:
    from types import TracebackType

    from ._transport import Response, Transport

__all__ = ["CompletionStream", "StreamState"]

_T = TypeVar("_T")

# How much of a non-2xx body we read to build the error: error envelopes are a few KB; a proxy's
# HTML page is cut here rather than buffered whole.
_MAX_ERROR_BODY = 1024 * 1024
# How much may follow [DONE] before the end of the body; more means a broken server, and the
# connection is dropped instead of returned to the pool.
_MAX_AFTER_DONE = 64 * 1024


class StreamState(enum.Enum):
    """Where a stream is in its life."""

    NEW = "new"  #: created; no request sent yet
    OPEN = "open"  #: the server accepted the request; events are being read
    DONE = "done"  #: ``[DONE]`` arrived; every token was received
    FAILED = "failed"  #: an error was raised; ``partial_text`` has what arrived
    CLOSED = "closed"  #: closed early by the caller (``break``, ``aclose()``, cancellation)


class CompletionStream:
    """An incremental completion answer: ``async for token in stream`` yields ``str`` deltas.

    Get one from :meth:`InferenceClient.stream_completion`. The request is sent on entering
    ``async with`` (or on the first iteration when used without it); errors that happen before
    the stream starts are raised there.

    Leaving ``async with`` early, ``break`` followed by ``aclose()``, a timeout, or cancelling
    the consuming task closes the HTTP connection at once. A stream read to ``[DONE]`` returns
    its connection to the pool. A stream abandoned without closing is closed when it is
    garbage-collected.

    Every error raised after the request was sent carries ``partial_text``, and the tokens
    received stay available as :attr:`text` and :attr:`tokens`.

    Raises (from entering, iterating or :meth:`read_text`):
        ApiError: A non-2xx answer before the stream began (a subclass by status).
        StreamApiError: An ``event: error`` after the stream began.
        IncompleteStreamError: The body ended without ``[DONE]``.
        SSEProtocolError: Bad framing, invalid JSON, or an event that is not a completion chunk.
        UnexpectedResponseError: A 2xx that is not ``text/event-stream``.
        TransportError: Connecting or reading failed (``ConnectError``, ``ReadError``), or a
            time limit fired (a ``RequestTimeoutError`` subclass naming the limit).
        UsageError: Two tasks iterated the stream at once.
    """

    __slots__ = (
        "__weakref__",
        "_decoder",
        "_deferred",
        "_first_deadline",
        "_last_event",
        "_loop",
        "_pending",
        "_reading",
        "_request",
        "_response",
        "_state",
        "_text_cache",
        "_timeouts",
        "_tokens",
        "_total_deadline",
        "_transport",
        "inference_id",
    )

    def __init__(
        self,
        transport: Transport,
        request: Request,
        *,
        inference_id: str,
        timeouts: Timeouts,
        max_event_bytes: int,
    ) -> None:
        self._transport = transport
        self._request = request
        self._timeouts = timeouts
        self.inference_id = inference_id
        self._decoder = SSEDecoder(bom_every_event=True, max_event_bytes=max_event_bytes)
        self._state = StreamState.NEW
        self._response: Response | None = None
        self._tokens: list[str] = []
        self._pending: deque[str] = deque()  # received, not yet yielded
        self._deferred: AsyncInferError | None = None  # raised once _pending is drained
        self._reading = False
        self._text_cache: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._total_deadline: float | None = None
        self._first_deadline: float | None = None
        self._last_event: float | None = None

    # --- public state ---------------------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """Where the stream is in its life."""
        return self._state

    @property
    def text(self) -> str:
        """Every token received so far, joined."""
        if self._text_cache is None:
            self._text_cache = "".join(self._tokens)
        return self._text_cache

    @property
    def tokens(self) -> list[str]:
        """Every non-empty token received so far (a copy)."""
        return list(self._tokens)

    @property
    def done(self) -> bool:
        """Whether ``[DONE]`` arrived: the answer is complete."""
        return self._state is StreamState.DONE

    @property
    def buffered_bytes(self) -> int:
        """Bytes received from the network and not yet turned into tokens."""
        held = self._decoder.buffered_bytes
        if self._response is not None and self._state is StreamState.OPEN:
            held += self._response.buffered_bytes
        return held

    def __repr__(self) -> str:
        return (
            f"<CompletionStream completion/{self.inference_id} {self._state.value} "
            f"tokens={len(self._tokens)}>"
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> CompletionStream:
        if self._state is StreamState.NEW:
            await self._guard(self._open())
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

        Idempotent. Tokens received stay in :attr:`text`.
        """
        self._drop()
        if self._state in (StreamState.NEW, StreamState.OPEN):
            self._state = StreamState.CLOSED

    def __del__(self) -> None:
        # An abandoned stream (``break`` without aclose) must not leave an open connection or
        # an "Unclosed response" warning behind. close() is synchronous, so this is safe here.
        response = self._response
        if response is not None:
            self._response = None
            with contextlib.suppress(Exception):  # the loop may already be closed at shutdown
                response.close()

    def __aiter__(self) -> CompletionStream:
        return self

    async def __anext__(self) -> str:
        if self._pending:
            return self._pending.popleft()
        return await self._guard(self._next_token())

    async def read_text(self) -> str:
        """Read the rest of the stream and return the whole text (:attr:`text`)."""
        async for _ in self:
            pass
        return self.text

    # --- the read loop --------------------------------------------------------------------

    async def _guard(self, step: Coroutine[Any, Any, _T]) -> _T:
        """Run one step of I/O; on any failure close the connection, keep what arrived."""
        if self._reading:
            step.close()
            raise UsageError("a stream can be read by one task at a time")
        self._reading = True
        try:
            return await step
        except StopAsyncIteration:
            raise
        except AsyncInferError as exc:
            self._drop()
            self._state = StreamState.FAILED
            exc.partial_text = self.text
            raise
        except BaseException:
            # Cancellation (or anything unforeseen): close at once, re-raise untouched.
            self._drop()
            if self._state in (StreamState.NEW, StreamState.OPEN):
                self._state = StreamState.CLOSED
            raise
        finally:
            self._reading = False

    def _drop(self) -> None:
        response = self._response
        if response is not None:
            self._response = None
            response.close()

    async def _open(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        start = loop.time()
        t = self._timeouts
        self._total_deadline = None if t.total is None else start + t.total
        self._first_deadline = None if t.first_event is None else start + t.first_event
        response = self._response = await self._with_deadline(
            self._transport.open(self._request, connect_timeout=t.connect)
        )
        self._state = StreamState.OPEN
        if response.status >= 300:
            body = await self._with_deadline(response.read_all(_MAX_ERROR_BODY))
            info = error_from_body(response.content_type, body)
            raise api_error_class(response.status)(
                status=response.status,
                error_type=info.error_type,
                reason=info.reason,
                body=info.body,
                endpoint=self._request.endpoint,
                code=info.code,
            )
        if not response.content_type.startswith("text/event-stream"):
            body = await self._with_deadline(response.read_all(4096))
            raise UnexpectedResponseError(
                f"expected text/event-stream from {self._request.endpoint}, got status "
                f"{response.status} with Content-Type {response.content_type or '(none)'!r}",
                status=response.status,
                content_type=response.content_type,
                body=body.decode("utf-8", "replace"),
            )

    async def _next_token(self) -> str:
        if self._state is StreamState.NEW:
            await self._open()
        while not self._pending:
            if self._deferred is not None:
                error, self._deferred = self._deferred, None
                raise error
            if self._state is not StreamState.OPEN:
                raise StopAsyncIteration
            response = self._response
            assert response is not None
            chunk = await self._with_deadline(response.read_chunk())
            if not chunk:
                self._decoder.close()
                raise IncompleteStreamError(
                    f"the response to {self._request.endpoint} ended without [DONE] "
                    f"after {len(self._tokens)} tokens"
                )
            if self._take(self._decoder._feed(chunk)):
                await self._finish(response)
        return self._pending.popleft()

    def _take(self, events: list[tuple[str, bytes, str | None, int | None]]) -> bool:
        """Turn decoded events into pending tokens; stop at [DONE] (returning True) or an error."""
        if not events:
            return False
        assert self._loop is not None
        self._last_event = self._loop.time()
        received: list[str] = []
        done = False
        for event, data, _id, _retry in events:
            if event == "message":
                if data == DONE:
                    self._state = StreamState.DONE
                    done = True
                    break
                try:
                    received += completion_tokens(data)
                except SSEProtocolError as exc:
                    # Raised once the tokens of the events before it have been yielded.
                    self._fail_later(exc)
                    break
            elif event == "error":
                info = error_from_event(data)
                self._fail_later(
                    StreamApiError(
                        status=info.status if info.status is not None else 500,
                        error_type=info.error_type,
                        reason=info.reason,
                        body=info.body,
                        endpoint=self._request.endpoint,
                        code=info.code,
                    )
                )
                break
            # Other event types are not Elasticsearch's; ignore them as EventSource would.
        if received:
            self._tokens.extend(received)
            self._pending.extend(received)
            self._text_cache = None
        return done

    def _fail_later(self, error: AsyncInferError) -> None:
        """End the stream now; raise ``error`` once the tokens before it were yielded."""
        self._deferred = error
        self._drop()
        self._state = StreamState.FAILED

    async def _finish(self, response: Response) -> None:
        """After [DONE]: read the end of the body so the connection can be reused."""
        try:
            rest = 0
            while not response.at_eof() and rest <= _MAX_AFTER_DONE:
                rest += len(await self._with_deadline(response.read_chunk()))
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

    async def _with_deadline(self, awaitable: Any) -> Any:
        """Await ``awaitable`` under the nearest of the total, first-event and idle deadlines."""
        deadline, error_class, seconds = self._deadline()
        if deadline is None:
            return await awaitable
        try:
            async with asyncio.timeout_at(deadline) as scope:
                return await awaitable
        except TimeoutError as exc:
            # Our own limits are TimeoutErrors too: only a scope that expired is ours to name.
            if scope.expired() and not isinstance(exc, RequestTimeoutError):
                raise error_class(seconds, detail=self._request.endpoint) from None
            raise

    def _deadline(self) -> tuple[float | None, type[RequestTimeoutError], float]:
        t = self._timeouts
        best: tuple[float | None, type[RequestTimeoutError], float] = (
            None,
            TotalTimeoutError,
            0.0,
        )
        if self._total_deadline is not None and t.total is not None:
            best = (self._total_deadline, TotalTimeoutError, t.total)
        phase: tuple[float | None, type[RequestTimeoutError], float | None]
        if self._last_event is None:
            phase = (self._first_deadline, FirstEventTimeoutError, t.first_event)
        else:
            idle = None if t.idle is None else self._last_event + t.idle
            phase = (idle, IdleTimeoutError, t.idle)
        if (
            phase[0] is not None
            and phase[2] is not None
            and (best[0] is None or phase[0] < best[0])
        ):
            best = (phase[0], phase[1], phase[2])
        return best
