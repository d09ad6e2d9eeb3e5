"""One request/response exchange under deadlines: shared by streams and JSON calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ._config import Timeouts
from ._exceptions import (
    FirstEventTimeoutError,
    IdleTimeoutError,
    RequestTimeoutError,
    TotalTimeoutError,
    UnexpectedResponseError,
    api_error_class,
)
from ._protocol import Request, error_from_body

if TYPE_CHECKING:
    from ._transport import Response, Transport

__all__ = ["MAX_ERROR_BODY", "Deadlines", "raise_for_status", "request_json"]

_T = TypeVar("_T")

# How much of a non-2xx body we read to build the error: error envelopes are a few KB; a proxy's
# HTML page is cut here rather than buffered whole.
MAX_ERROR_BODY = 1024 * 1024


class Deadlines:
    """The total, first-event and idle deadlines of one call, on the loop's clock.

    Until :meth:`event` is first called, the first-event limit applies; after, the idle limit,
    measured from the latest event. The total limit applies throughout.
    """

    __slots__ = ("_first", "_loop", "_timeouts", "_total", "endpoint", "last_event")

    def __init__(self, timeouts: Timeouts, endpoint: str) -> None:
        self._loop = asyncio.get_running_loop()
        start = self._loop.time()
        self._timeouts = timeouts
        self._total = None if timeouts.total is None else start + timeouts.total
        self._first = None if timeouts.first_event is None else start + timeouts.first_event
        self.last_event: float | None = None
        self.endpoint = endpoint

    def event(self) -> None:
        """An event arrived: the idle limit restarts from now."""
        self.last_event = self._loop.time()

    def _nearest(self) -> tuple[float | None, type[RequestTimeoutError], float]:
        t = self._timeouts
        best: tuple[float | None, type[RequestTimeoutError], float] = (
            self._total,
            TotalTimeoutError,
            t.total or 0.0,
        )
        phase: float | None
        cls: type[RequestTimeoutError]
        seconds: float | None
        if self.last_event is None:
            phase, cls, seconds = self._first, FirstEventTimeoutError, t.first_event
        else:
            idle = None if t.idle is None else self.last_event + t.idle
            phase, cls, seconds = idle, IdleTimeoutError, t.idle
        if phase is not None and seconds is not None and (best[0] is None or phase < best[0]):
            best = (phase, cls, seconds)
        return best

    async def run(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` under the nearest deadline.

        Raises:
            RequestTimeoutError: The subclass naming the limit that fired.
        """
        deadline, error_class, seconds = self._nearest()
        if deadline is None:
            return await awaitable
        try:
            async with asyncio.timeout_at(deadline) as scope:
                return await awaitable
        except TimeoutError as exc:
            # Our own limits are TimeoutErrors too: only a scope that expired is ours to name.
            if scope.expired() and not isinstance(exc, RequestTimeoutError):
                raise error_class(seconds, detail=self.endpoint) from None
            raise


async def raise_for_status(response: Response, deadlines: Deadlines, request: Request) -> None:
    """Raise the :class:`ApiError` subclass for a non-2xx response, reading its body.

    Raises:
        ApiError: The status is 300 or more.
    """
    if response.status < 300:
        return
    body = await deadlines.run(response.read_all(MAX_ERROR_BODY))
    info = error_from_body(response.content_type, body)
    raise api_error_class(response.status)(
        status=response.status,
        error_type=info.error_type,
        reason=info.reason,
        body=info.body,
        endpoint=request.endpoint,
        code=info.code,
    )


async def request_json(transport: Transport, request: Request, timeouts: Timeouts) -> Any:
    """Send a JSON request and return the parsed JSON answer.

    The whole answer arrives at once, so ``first_event`` (and ``total``) bound the whole call.

    Raises:
        ApiError: Elasticsearch answered with an error.
        UnexpectedResponseError: A 2xx whose body is not JSON.
        TransportError: Connecting or reading failed, or a limit fired.
    """
    deadlines = Deadlines(timeouts, request.endpoint)
    response = await deadlines.run(transport.open(request, connect_timeout=timeouts.connect))
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
