"""What a stream's consumer sees: its state, text and figures, read without any I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from ._meter import StreamState, StreamStats

if TYPE_CHECKING:
    from .._exceptions import AsyncInferError
    from ._attempts import Attempts
    from ._meter import Meter
    from ._reader import Reader

__all__ = ["StreamView"]

_Item = TypeVar("_Item")


class StreamView(Generic[_Item]):
    """The read-only side of :class:`EventStream` (which holds the state these read).

    :attr:`text` is the ledger's entries before the pending items: exactly what was yielded.
    """

    __slots__ = ()

    inference_id: str
    _attempts: Attempts
    _meter: Meter
    _keep: int | None
    _state: StreamState
    _reader: Reader[_Item] | None
    _pending: list[_Item] | tuple[()]
    _failure: AsyncInferError | None
    _task_type = ""
    _items = "items"  # what the repr counts
    _whole_answer = "read_text()"  # the call that keeps the whole answer, for messages

    @property
    def state(self) -> StreamState:
        """Where the stream is in its life."""
        reader = self._reader
        if self._state is StreamState.OPEN and reader and reader.done and not self._pending:
            return StreamState.DONE  # [DONE] came and all was yielded: the loop ends next
        return self._state

    @property
    def done(self) -> bool:
        """Whether ``[DONE]`` arrived and every item before it was yielded."""
        return self.state is StreamState.DONE

    @property
    def text(self) -> str:
        """The text yielded so far, joined: exactly what the loop has handed out ("" when
        the stream was made with ``keep_text=False``).

        Raises:
            TextNotKeptError: The answer passed ``Limits.max_kept_text``: the stream dropped
                its text to keep memory bounded.
        """
        reader = self._reader
        if reader is None:
            return ""
        reader.ledger.check(self._label, self._whole_answer)
        return reader.ledger.text(len(self._pending))

    @property
    def partial_text(self) -> str:
        """The text yielded so far (the same as :attr:`text`)."""
        return self.text

    @property
    def text_kept(self) -> bool:
        """Whether :attr:`text` holds every token yielded: ``False`` once the stream dropped
        its text past ``Limits.max_kept_text``, or when made with ``keep_text=False``."""
        reader = self._reader
        return self._keep != 0 if reader is None else reader.ledger.keep

    @property
    def stats(self) -> StreamStats:
        """How the stream went so far: times, counts, retries and how it ended."""
        reader = self._reader
        tokens = 0 if reader is None else reader.yielded_texts(self._pending)
        return self._meter.stats(tokens=tokens, retries=self._attempts.count)

    @property
    def buffered_bytes(self) -> int:
        """Bytes received from the network and not yet parsed into events."""
        return 0 if self._reader is None else self._reader.buffered_bytes

    @property
    def received_items(self) -> int:
        """Items received so far, yielded or not (read ahead of the loop within one network
        read); the items yielded are this less those still waiting for ``__anext__``."""
        return 0 if self._reader is None else self._reader.received

    @property
    def _label(self) -> str:
        return f"{self._task_type}/{self.inference_id}"

    def __repr__(self) -> str:
        yielded = self.received_items - len(self._pending)
        return f"<{type(self).__name__} {self._label} {self.state.value} {self._items}={yielded}>"
