"""One request/response exchange under deadlines: shared by streams and JSON calls."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import orjson

from ._alarms import Alarm, Alarms
from ._config import RetryPolicy, Timeouts
from ._exceptions import (
    ApiError,
    AsyncInferError,
    ConnectError,
    FirstEventTimeoutError,
    IdleTimeoutError,
    ReadError,
    RequestTimeoutError,
    TLSError,
    TotalTimeoutError,
    UnexpectedResponseError,
    api_error_class,
)
from ._protocol import Request, error_from_body
from ._tracing import end_span, start_span
from ._transport import CircuitOpenError

if TYPE_CHECKING:
    from types import TracebackType

    from ._transport import Response, Transport

__all__ = [
    "MAX_ERROR_BODY",
    "Deadlines",
    "raise_for_status",
    "request_json",
    "retry_delay",
    "with_budget",
]

logger = logging.getLogger("asyncinfer")

_T = TypeVar("_T")

# How much of a non-2xx body we read to build the error: error envelopes are a few KB; a proxy's
# HTML page is cut here rather than buffered whole.
MAX_ERROR_BODY = 1024 * 1024


class Deadlines:
    """The total, first-event and idle deadlines of one call, on the loop's clock.

    Until :meth:`event` is first called, the first-event limit applies; after, the idle limit,
    measured from the latest event. The total limit applies throughout.

    One alarm serves the whole call, not one per await: it is set at the nearest deadline
    and, when an event has moved the idle deadline on by the time it rings, set again for the
    new one. A stream of many reads thus sets a handful of alarms; a scope per read would set
    and cancel one each time. The alarms are the client's (:class:`Alarms`: one loop timer
    for all its calls). :meth:`close` cancels it.
    """

    __slots__ = (
        "_alarms",
        "_cancelling",
        "_close_after",
        "_expired",
        "_first",
        "_loop",
        "_request",
        "_timeouts",
        "_timer",
        "_timer_at",
        "_total",
        "_waiter",
        "last_event",
        "started",
    )

    def __init__(self, timeouts: Timeouts, request: Request, alarms: Alarms) -> None:
        self._alarms = alarms
        self._loop = asyncio.get_running_loop()
        start = self._loop.time()
        self._timeouts = timeouts
        self._total = None if timeouts.total is None else start + timeouts.total
        self._first: float | None = None
        self.last_event: float | None = None
        self._request = request  # for messages only: not a string per call held meanwhile
        self._timer: Alarm | None = None
        self._timer_at = 0.0
        self._waiter: asyncio.Task[Any] | None = None  # the task awaiting in run()
        self._expired: RequestTimeoutError | None = None  # what the timer cut short, if it did
        self._cancelling = 0  # the waiter's cancellation requests before it waited
        self._close_after = False  # close() came while an await was under way
        self.started = start
        self._start_attempt(start)

    def attempt(self) -> None:
        """A new attempt starts: the first-event limit restarts; the total one does not."""
        self._start_attempt(self._loop.time())

    def _start_attempt(self, now: float) -> None:
        first_event = self._timeouts.first_event
        self._first = None if first_event is None else now + first_event
        self.last_event = None

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"`` of the call, for messages."""
        return self._request.endpoint

    @property
    def connect_timeout(self) -> float | None:
        """The connect limit of each attempt."""
        return self._timeouts.connect

    def remaining(self) -> float | None:
        """Seconds left of the total limit (``None`` without one)."""
        return None if self._total is None else self._total - self._loop.time()

    def event(self) -> None:
        """An event arrived: the idle limit restarts from now."""
        self.last_event = self._loop.time()

    def close(self) -> None:
        """Cancel the timer (the call ended); a later :meth:`run` arms it again.

        Called from another task while an await is under way (``aclose()`` during the
        request), it waits for that await to end: the await keeps its limit meanwhile.
        """
        if self._waiter is not None:
            self._close_after = True
        elif self._timer is not None:
            self._alarms.cancel(self._timer)
            self._timer = None

    def _deadline(self) -> float | None:
        """The nearest deadline: the total one, or the first-event or idle one if sooner."""
        if self.last_event is None:
            phase = self._first
        else:
            idle = self._timeouts.idle
            phase = None if idle is None else self.last_event + idle
        total = self._total
        if phase is None or (total is not None and total <= phase):
            return total
        return phase

    def _nearest(self) -> tuple[float | None, type[RequestTimeoutError], float]:
        """The nearest deadline, the error that names it and its limit in seconds."""
        deadline, t = self._deadline(), self._timeouts
        if deadline is None or deadline == self._total:
            return deadline, TotalTimeoutError, t.total or 0.0
        if self.last_event is None:
            return deadline, FirstEventTimeoutError, t.first_event or 0.0
        return deadline, IdleTimeoutError, t.idle or 0.0

    def _fire(self) -> None:
        self._timer = None
        deadline, error_class, seconds = self._nearest()
        if deadline is None:
            return
        if deadline > self._timer_at:
            # An event moved the deadline on since the timer was armed. (Not compared with
            # the clock: the loop runs timers up to its clock resolution early.)
            self._timer = self._alarms.set(deadline, self._fire)
            self._timer_at = deadline
            return
        waiter = self._waiter
        if waiter is not None and self._expired is None:
            self._expired = error_class(seconds, detail=self.endpoint)
            waiter.cancel()
        # With nobody waiting, the next run() arms a timer at the passed deadline: it fires at
        # that await's first suspension, as a timeout scope entered late would.

    async def run_total(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` under the total limit only (e.g. waiting for a connection slot).

        Raises:
            TotalTimeoutError: The total limit fired.
        """
        if self._total is None:
            return await awaitable
        try:
            async with asyncio.timeout_at(self._total) as scope:
                return await awaitable
        except TimeoutError:
            if scope.expired():
                raise TotalTimeoutError(self._timeouts.total or 0.0, detail=self.endpoint) from None
            raise

    def __enter__(self) -> None:
        """Put the await that follows under the nearest deadline: ``with deadlines: await ...``.

        A plain ``with`` around the await, not a coroutine of its own, so that a suspended
        read holds no extra frame (thousands of streams hold one each).

        Raises (from ``__exit__``):
            RequestTimeoutError: The subclass naming the limit that fired.
        """
        deadline = self._deadline()
        if deadline is None:
            return
        timer = self._timer
        if timer is None or self._timer_at > deadline:
            if timer is not None:
                self._alarms.cancel(timer)
            self._timer = self._alarms.set(deadline, self._fire)
            self._timer_at = deadline
        assert self._waiter is None, "one await at a time under a Deadlines"
        task = asyncio.current_task(self._loop)
        assert task is not None
        # The cancellation the timer makes is told from any other one as asyncio.timeout does:
        # by the task's count of pending cancellation requests.
        self._cancelling = task.cancelling()
        self._waiter = task

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._waiter = self._waiter, None
        if self._close_after:
            self._close_after = False
            self.close()
        expired, self._expired = self._expired, None
        if expired is None or task is None:
            return
        # The timer fired: withdraw its cancellation, and name the limit if it was ours alone.
        if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise expired from None

    async def run(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` under the nearest deadline (``with self``, as a coroutine).

        Raises:
            RequestTimeoutError: The subclass naming the limit that fired.
        """
        with self:
            return await awaitable


async def raise_for_status(response: Response, deadlines: Deadlines, request: Request) -> None:
    """Raise the :class:`ApiError` subclass for a non-2xx response, reading its body.

    Raises:
        ApiError: The status is 300 or more.
    """
    if response.status < 300:
        return
    body = await deadlines.run(response.read_all(MAX_ERROR_BODY))
    info = error_from_body(response.content_type, body)
    error = api_error_class(response.status)(
        status=response.status,
        error_type=info.error_type,
        reason=info.reason,
        body=info.body,
        endpoint=request.endpoint,
        code=info.code,
    )
    error.retry_after = _retry_after(response.headers)
    raise error


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(error: AsyncInferError, policy: RetryPolicy) -> bool:
    if isinstance(error, TLSError | CircuitOpenError):
        # The same certificate will be refused again; an open circuit stays open until a
        # node's back-off ends, longer than any retry should wait.
        return False
    if isinstance(error, ConnectError | ReadError):
        return True
    if isinstance(error, RequestTimeoutError):
        return error.limit == "connect"
    if isinstance(error, ApiError):
        if error.status in policy.retry_on_status:
            return True
        timed_out = error.error_type == "timeout_exception" or "timed out" in (error.reason or "")
        return policy.retry_on_timeout_answers and error.status in (408, 429) and timed_out
    return False


def retry_delay(
    error: AsyncInferError,
    policy: RetryPolicy,
    retry: int,
    deadlines: Deadlines,
    transport: Transport,
) -> float | None:
    """Seconds to wait before retry number ``retry`` after ``error``, or ``None`` to give up.

    Gives up when the error is not worth retrying, the retries are spent, or the wait would
    run past the call's total timeout. A 429 cools the whole client down for the wait: the
    limit is usually the provider's, shared by every call.
    """
    if retry > policy.max_retries or not _retryable(error, policy):
        return None
    delay = policy.backoff(retry, random.random())
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after))
    remaining = deadlines.remaining()
    if remaining is not None and delay >= remaining:
        return None
    if isinstance(error, ApiError) and error.status == 429:
        transport.cool_down(delay)
    logger.debug("retry %d of %s in %.2fs after %s", retry, deadlines.endpoint, delay, error)
    return delay


def with_budget(request: Request, deadlines: Deadlines) -> Request:
    """Send the caller's remaining total budget as Elasticsearch's ``timeout`` parameter.

    Only when the caller set a total timeout and no ``server_timeout``: then the server gives
    up when the caller does, instead of finishing a paid call nobody waits for.
    """
    remaining = deadlines.remaining()
    if remaining is None or any(name == "timeout" for name, _ in request.query):
        return request
    millis = max(1, int(remaining * 1000))
    return attrs.evolve(request, query=(*request.query, ("timeout", f"{millis}ms")))


async def request_json(
    transport: Transport, request: Request, timeouts: Timeouts, retries: RetryPolicy
) -> Any:
    """Send a JSON request and return the parsed JSON answer, retrying as ``retries`` allows.

    The whole answer arrives at once, so ``first_event`` (and ``total``) bound each attempt.

    Raises:
        ApiError: Elasticsearch answered with an error.
        UnexpectedResponseError: A 2xx whose body is not JSON.
        TransportError: Connecting or reading failed, or a limit fired.
    """
    deadlines = Deadlines(timeouts, request, transport.alarms)
    span = start_span(request.endpoint, {"http.request.method": request.method})
    retry = 0
    try:
        while True:
            try:
                await deadlines.run_total(transport.acquire_slot())
                try:
                    cooldown = transport.cooldown_remaining()
                    if cooldown > 0:
                        await asyncio.sleep(cooldown)  # a 429 elsewhere: the limit is shared
                    deadlines.attempt()
                    attempt = with_budget(request, deadlines)
                    answer = await _json_attempt(transport, attempt, deadlines, retry)
                finally:
                    transport.release_slot()
            except AsyncInferError as exc:
                delay = retry_delay(exc, retries, retry + 1, deadlines, transport)
                if delay is None:
                    raise
                retry += 1
                await asyncio.sleep(delay)
            else:
                end_span(span, retries=retry)
                return answer
    except BaseException as exc:
        end_span(span, error=exc, retries=retry)
        raise
    finally:
        deadlines.close()


async def _json_attempt(
    transport: Transport, request: Request, deadlines: Deadlines, retry: int
) -> Any:
    response = await deadlines.run(
        transport.open(request, connect_timeout=deadlines.connect_timeout, attempt=retry)
    )
    try:
        await raise_for_status(response, deadlines, request)
        body = await deadlines.run(response.read_all(1 << 62))
    except BaseException:
        response.close()
        raise
    response.release()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UnexpectedResponseError(
            f"expected JSON from {request.endpoint}, got {body[:200]!r}",
            status=response.status,
            content_type=response.content_type,
            body=body[:4096].decode("utf-8", "replace"),
        ) from None
