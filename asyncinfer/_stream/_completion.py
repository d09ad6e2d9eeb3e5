"""Completion streams: ``async for token in stream`` yields ``str`` deltas."""

from __future__ import annotations

from ._base import EventStream
from ._reader import CompletionReader, Reader

__all__ = ["CompletionStream"]


class CompletionStream(EventStream[str]):
    """An incremental completion answer: ``async for token in stream`` yields ``str`` deltas.

    Get one from :meth:`InferenceClient.stream_completion`. The request is sent on entering
    ``async with`` (or on the first iteration when used without it); errors that happen before
    the stream starts are raised there.

    Leaving ``async with`` early, ``aclose()``, a timeout, or cancelling the consuming task
    closes the HTTP connection at once. A stream read to ``[DONE]`` returns its connection to
    the pool. A stream abandoned without closing is closed when it is garbage-collected.

    :attr:`text` and :attr:`tokens` are exactly what the loop has yielded (one network read
    may bring many tokens; those not yet yielded are not text yet), and every error raised
    after the request was sent carries them as ``partial_text``.

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
    _items = "tokens"
    _task_type = "completion"
    _reader_class: type[Reader[str]] = CompletionReader

    @property
    def tokens(self) -> list[str]:
        """Every non-empty token yielded so far (a copy; ``[]`` with ``keep_text=False``).

        Raises:
            TextNotKeptError: The answer passed ``Limits.max_kept_text``.
        """
        reader = self._reader
        if reader is None:
            return []
        reader.ledger.check(self._label, self._whole_answer)
        return reader.ledger.texts(len(self._pending))

    async def read_text(self) -> str:
        """Read the rest of the stream and return the whole text (:attr:`text`).

        The stream keeps the whole answer for this, however long (``Limits.max_kept_text``
        and ``keep_text=False`` bound only what iterating keeps).

        Raises:
            TextNotKeptError: Tokens already received were not kept (see :attr:`text`).
        """
        self._keep_all()
        async for _ in self:
            pass
        return self.text
