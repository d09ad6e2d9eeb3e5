"""The attempt driver: a connection slot, the clocks, the send, back-off between attempts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .._exceptions import AsyncInferError, UnexpectedResponseError
from .._exchange import Deadlines, raise_for_status, retry_delay, with_budget

if TYPE_CHECKING:
    from .._config import RetryPolicy, Timeouts
    from .._protocol import Request
    from .._transport import Response, Sending, Transport
    from ._meter import Meter

__all__ = ["Attempts"]


class Attempts:
    """Sends one stream's request, and again after a retryable failure.

    It holds the stream's connection slot and :class:`Deadlines` (made on the first attempt);
    :meth:`stop` (the stream was closed) ends a wait for a slot or a back-off at once.
    """

    __slots__ = (
        "_retries",
        "_timeouts",
        "_wakeup",
        "count",
        "deadlines",
        "request",
        "slot",
        "stopped",
        "transport",
    )

    def __init__(
        self, transport: Transport, request: Request, timeouts: Timeouts, retries: RetryPolicy
    ) -> None:
        self.transport = transport
        self.request = request
        self._timeouts = timeouts
        self._retries = retries
        self.count = 0  # attempts after the first
        self.deadlines: Deadlines | None = None
        self.slot = False  # holds one of the client's connection slots
        self.stopped = False
        self._wakeup: asyncio.Future[None] | None = None

    async def prepare(self, meter: Meter, route: str, inference_id: str) -> Sending | None:
        """Start an attempt: clocks, a slot, a 429's cool-down, the first sniff, the send;
        ``None`` if stopped meanwhile. The long wait for the answer is the caller's, so that
        this frame is gone by then (thousands of streams wait at once)."""
        deadlines = self.deadlines
        if deadlines is None:
            deadlines = self.deadlines = Deadlines(
                self._timeouts, self.request, self.transport.alarms
            )
            meter.start(deadlines.started, route, inference_id)
        transport = self.transport
        if not self.slot:
            # Waiting for a slot is not waiting for Elasticsearch: the first-event clock
            # starts after it.
            if transport.slot_wait():
                await deadlines.run_total(self._wait_for_slot())
            else:
                await transport.acquire_slot()  # free: no suspension
                self.slot = True
        cooldown = transport.cooldown_remaining()
        if cooldown > 0 and not self.stopped:
            await self.backoff(cooldown)  # after a 429 elsewhere
        if not self.stopped:
            deadlines.attempt()
            if transport.sniff_pending:
                with deadlines:
                    await transport.sniff_on_start()
        if self.stopped:
            self.release()
            return None
        return transport.send(
            with_budget(self.request, deadlines),
            connect_timeout=self._timeouts.connect,
            attempt=self.count,
        )

    async def refuse(self, response: Response) -> None:
        """Raise the error for a response that is not a 2xx event stream (reading its body).

        Raises:
            ApiError: A non-2xx status.
            UnexpectedResponseError: A 2xx of another content type.
        """
        deadlines = self.deadlines
        assert deadlines is not None
        await raise_for_status(response, deadlines, self.request)
        body = await deadlines.run(response.read_all(4096))
        raise UnexpectedResponseError(
            f"expected text/event-stream from {self.request.endpoint}, got status "
            f"{response.status} with Content-Type {response.content_type or '(none)'!r}",
            status=response.status,
            content_type=response.content_type,
            body=body.decode("utf-8", "replace"),
        )

    def retry_delay(self, error: AsyncInferError) -> float | None:
        """The back-off before retrying ``error``, counting the attempt; ``None`` if the
        policy does not retry it (or the stream was stopped)."""
        if self.stopped or self.deadlines is None:
            return None
        delay = retry_delay(error, self._retries, self.count + 1, self.deadlines, self.transport)
        if delay is not None:
            self.count += 1
            self.release()
        return delay

    async def backoff(self, delay: float) -> None:
        """Sleep before a retry; :meth:`stop` ends the sleep at once."""
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((self._wakeup,), timeout=delay)
        finally:
            self._wakeup = None

    def stop(self) -> None:
        """The stream was closed: no further attempt; a wait under way ends now."""
        self.stopped = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def release(self) -> None:
        """Give back the slot and stop the clock (until the next attempt)."""
        if self.slot:
            self.slot = False
            self.transport.release_slot()
        if self.deadlines is not None:
            self.deadlines.close()

    async def _wait_for_slot(self) -> None:
        """Wait for a connection slot in a way :meth:`stop` ends at once (then without one)."""
        transport = self.transport
        taking = asyncio.ensure_future(transport.acquire_slot())
        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((taking, wakeup), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wakeup = None
            if taking.done() and not taking.cancelled() and taking.exception() is None:
                self.slot = True  # given back by release() if the stream was closed meanwhile
            else:
                taking.cancel()  # the semaphore hands a slot granted meanwhile on
