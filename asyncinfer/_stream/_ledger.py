"""The text ledger: what a stream keeps of what it received, under ``Limits.max_kept_text``.

One entry per item received (a completion token, or a chat chunk's choice-0 content, ``""``
when it has none), so the items not yet yielded are always the last entries: a stream's
``text`` is the entries before its pending items, with no work per token as they are yielded.
"""

from __future__ import annotations

from .._exceptions import TextNotKeptError

__all__ = ["TextLedger"]


class TextLedger:
    """Kept text (and, for chat, each chunk's event data), and what may still be kept.

    ``room`` is what may still be kept: ``None`` without a limit, ``0`` keeps nothing; once
    spent below zero the ledger drops what it kept (``dropped``) and keeps nothing more.
    """

    __slots__ = ("_cache", "_room", "dropped", "keep", "parts", "received", "records")

    def __init__(self, room: int | None) -> None:
        self.keep = room != 0
        self._room = room
        self.dropped = False
        self.received = 0  # non-empty pieces of text received, kept or not
        # Made on the first entry: an empty list is 56 bytes more per open stream.
        self.parts: list[str] | tuple[()] = ()
        self.records: list[bytes] | tuple[()] = ()
        self._cache: tuple[int, str] | None = None  # (entries joined, their text)

    def add_texts(self, texts: list[str]) -> None:
        """A read's non-empty tokens (a completion stream: one entry each)."""
        self.received += len(texts)
        if not self.keep:
            return
        if self.parts:
            self.parts += texts
        else:
            self.parts = texts.copy()
        if self._room is not None:
            self._spend(sum(map(len, texts)))

    def add_chunk(self, text: str | None, data: bytes) -> None:
        """A chat chunk: its choice-0 content and its event data (counted against the limit)."""
        if text:
            self.received += 1
        if not self.keep:
            return
        if self.parts:
            assert self.records  # made with parts
            self.parts.append(text or "")
            self.records.append(data)
        else:
            self.parts = [text or ""]
            self.records = [data]
        if self._room is not None:
            self._spend(len(data))

    def _spend(self, cost: int) -> None:
        assert self._room is not None
        self._room -= cost
        if self._room < 0:
            # Past the limit: forget what was kept, so memory stays bounded however long the
            # answer (the items themselves are all yielded).
            self.keep = False
            self.dropped = True
            self.parts = self.records = ()
            self._cache = None

    def keep_all(self) -> None:
        """Keep every entry from now on, whatever the limit (``read_text()``)."""
        self.keep = True
        self._room = None

    def text(self, unyielded: int) -> str:
        """The kept text but for the last ``unyielded`` entries."""
        count = len(self.parts) - unyielded
        cache = self._cache
        if cache is None or cache[0] != count:
            cache = self._cache = (count, "".join(self.parts[:count]))
        return cache[1]

    def texts(self, unyielded: int) -> list[str]:
        """The kept entries but for the last ``unyielded`` (a copy)."""
        return list(self.parts[: len(self.parts) - unyielded])

    def kept_records(self, unyielded: int) -> list[bytes]:
        """The kept chunk data but for the last ``unyielded`` (a copy)."""
        return list(self.records[: len(self.records) - unyielded])

    def retract(self, unyielded: int, texts: int) -> None:
        """Forget the last ``unyielded`` entries (``texts`` of them non-empty): the stream
        closed before yielding them, so they never became text."""
        self.received -= texts
        if unyielded and self.parts:
            del self.parts[-unyielded:]
            if self.records:
                del self.records[-unyielded:]
            self._cache = None

    def check(self, what: str, whole_answer: str) -> None:
        """Raise if the text was dropped past the limit.

        Raises:
            TextNotKeptError: The answer passed ``Limits.max_kept_text``.
        """
        if self.dropped:
            raise TextNotKeptError(
                f"{what}: the stream no longer keeps its text: the answer passed the "
                "client's Limits.max_kept_text. Keep the pieces as they are yielded, call "
                f"{whole_answer} before reading, or raise the limit (None keeps everything)."
            )
