"""Fan-out: many requests or streams at once, with bounded concurrency and clean cancellation.

A fixed number of worker tasks pull work from one iterator, so a million inputs cost no more
tasks or memory than ``concurrency`` of them; results travel through a queue as small as the
number of workers, so nothing runs ahead of the consumer. Leaving early (``break``, an error,
cancellation) cancels every worker, which closes every connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Self, TypeVar, overload

from ._exceptions import InvalidRequestError

if TYPE_CHECKING:
    from types import TracebackType

    from ._stream import _EventStream

__all__ = ["AsCompleted", "MergedStreams", "merge_streams"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")
_Item = TypeVar("_Item")

_DONE: Any = object()  # a worker's "no more" marker


def _check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(f"concurrency must be a positive int, got {concurrency!r}")
    return concurrency


class _Closing:
    """``async with`` and ``async for`` for objects that ``aclose()``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def aclose(self) -> None:
        """Stop, and release what is held. Idempotent."""
        raise NotImplementedError


class AsCompleted(_Closing, Generic[_In, _Out]):
    """``(index, result or exception)`` pairs, as each call finishes.

    Get one from :meth:`InferenceClient.as_completed`. Use ``async with`` (or ``aclose()``)
    to stop early: the calls still running are cancelled and their connections closed.
    """

    def __init__(
        self,
        call: Callable[[_In], Awaitable[_Out]],
        inputs: Iterable[_In],
        concurrency: int,
    ) -> None:
        self._call = call
        self._inputs = enumerate(inputs)
        self._concurrency = _check_concurrency(concurrency)
        self._queue: asyncio.Queue[tuple[int, _Out | BaseException]] = asyncio.Queue(
            maxsize=self._concurrency
        )
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self._closed = False

    async def __anext__(self) -> tuple[int, _Out | BaseException]:
        if self._closed:
            raise StopAsyncIteration
        if not self._workers:
            self._running = self._concurrency
            # The workers hold the call, the inputs and the queue, never self: an abandoned
            # AsCompleted is then collected at once and its __del__ cancels them.
            self._workers = [
                asyncio.create_task(_work(self._call, self._inputs, self._queue))
                for _ in range(self._concurrency)
            ]
        while True:
            try:
                index, result = await self._queue.get()
            except BaseException:
                await self.aclose()
                raise
            if result is _DONE:
                self._running -= 1
                if self._running == 0:
                    self._closed = True
                    raise StopAsyncIteration
                continue
            if isinstance(result, _Broken):
                # The inputs themselves failed: no index to report it under.
                await self.aclose()
                raise result.error
            return index, result

    def __del__(self) -> None:
        # Abandoned without aclose(): at least stop the workers (closing their connections).
        for worker in self._workers:
            worker.cancel()

    async def aclose(self) -> None:
        """Cancel the calls still running and wait until they have let go. Idempotent."""
        self._closed = True
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)


class _Broken:
    """The input iterator raised: the fan-out cannot go on."""

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _work(
    call: Callable[[_In], Awaitable[_Out]],
    inputs: Iterator[tuple[int, _In]],
    queue: asyncio.Queue[tuple[int, Any]],
) -> None:
    while True:
        try:
            index, value = next(inputs)  # shared: each input is taken by one worker
        except StopIteration:
            break
        except Exception as exc:
            await queue.put((-1, _Broken(exc)))
            return
        try:
            result: Any = await call(value)
        except Exception as exc:  # an error is a result; cancellation is not caught
            result = exc
        await queue.put((index, result))
    await queue.put((-1, _DONE))


async def map_results(
    call: Callable[[_In], Awaitable[_Out]],
    inputs: Iterable[_In],
    *,
    concurrency: int,
    return_exceptions: bool,
) -> list[_Out | BaseException]:
    """Run ``call`` over ``inputs`` and return the results in input order.

    Raises:
        Exception: The first error, unless ``return_exceptions`` (then errors are results);
            the calls still running are cancelled first.
    """
    values = list(inputs)
    results: list[Any] = [None] * len(values)
    async with AsCompleted(call, values, concurrency) as pending:
        async for index, result in pending:
            if isinstance(result, BaseException) and not return_exceptions:
                raise result
            results[index] = result
    return results


class MergedStreams(_Closing, Generic[_Item]):
    """Items of many streams as they arrive, tagged with the stream's index.

    ``_Item`` is what it yields beside the index: a stream's item type, or that or
    ``BaseException`` when made with ``return_exceptions=True``.

    Each stream is read by its own task into a queue of one slot per stream, so a slow
    consumer still holds every server back (backpressure is kept). ``async with`` (or
    ``aclose()``) closes every stream; so does an error unless ``return_exceptions``.
    """

    def __init__(self, streams: Sequence[_EventStream[Any]], *, return_exceptions: bool) -> None:
        self._streams = list(streams)
        self._return_exceptions = return_exceptions
        self._queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(
            maxsize=max(1, len(self._streams))
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._live = len(self._streams)
        self._closed = False

    async def __anext__(self) -> tuple[int, _Item]:
        if self._closed or not self._streams:
            raise StopAsyncIteration
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(_pump(i, s, self._queue)) for i, s in enumerate(self._streams)
            ]
        while True:
            try:
                index, item = await self._queue.get()
            except BaseException:
                await self.aclose()
                raise
            if item is _DONE:
                self._live -= 1
                if self._live == 0:
                    self._closed = True
                    raise StopAsyncIteration
                continue
            if isinstance(item, BaseException) and not self._return_exceptions:
                await self.aclose()
                raise item
            result: _Item = item
            return index, result

    def __del__(self) -> None:
        # Abandoned without aclose(): stop the readers; each stream closes when cancelled.
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Stop every reader and close every stream. Idempotent."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for stream in self._streams:
            await stream.aclose()


async def _pump(
    index: int, stream: _EventStream[_Item], queue: asyncio.Queue[tuple[int, Any]]
) -> None:
    """Read one stream into the shared queue (holding the queue, never the MergedStreams)."""
    try:
        async for item in stream:
            await queue.put((index, item))
    except Exception as exc:  # cancellation is not caught
        await queue.put((index, exc))
    await queue.put((index, _DONE))


@overload
def merge_streams(
    streams: Iterable[_EventStream[_Item]], *, return_exceptions: Literal[False] = False
) -> MergedStreams[_Item]: ...


@overload
def merge_streams(
    streams: Iterable[_EventStream[_Item]], *, return_exceptions: Literal[True]
) -> MergedStreams[_Item | BaseException]: ...


@overload
def merge_streams(
    streams: Iterable[_EventStream[_Item]], *, return_exceptions: bool
) -> MergedStreams[_Item | BaseException]: ...


def merge_streams(
    streams: Iterable[_EventStream[Any]], *, return_exceptions: bool = False
) -> MergedStreams[Any]:
    """Read many streams at once: ``async for index, item in merge_streams(streams)``.

    ``index`` is the stream's position in ``streams``; ``item`` a token (or a chat chunk).
    With ``return_exceptions``, a failing stream yields ``(index, error)`` and the others go
    on (the item type then includes ``BaseException``); otherwise its error is raised and
    every stream is closed.

    Raises:
        AsyncInferError: While iterating, the first stream's error, unless
            ``return_exceptions``.
    """
    return MergedStreams(list(streams), return_exceptions=return_exceptions)
