"""Chat completion streams: ``async for chunk in stream`` yields chunks; tools assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson

from .._models import (
    ChatCompletionChunk,
    ChatCompletionMessage,
    FunctionCall,
    ReasoningDetail,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ._base import EventStream
from ._reader import ChatReader, Reader

__all__ = ["ChatCompletionStream", "assemble_message", "join_reasoning_details"]


class ChatCompletionStream(EventStream[ChatCompletionChunk]):
    """A chat completion answer: ``async for chunk in stream`` yields :class:`ChatCompletionChunk`.

    Get one from :meth:`InferenceClient.stream_chat_completion`. It has the lifecycle,
    cancellation, backpressure, timeout and error guarantees of :class:`CompletionStream`;
    :attr:`text` and ``partial_text`` hold the assistant content of the chunks yielded so far.
    """

    __slots__ = ()
    _items = "chunks"
    _task_type = "chat_completion"
    _whole_answer = "final_message()"
    _reader_class: type[Reader[ChatCompletionChunk]] = ChatReader

    def _chat_reader(self) -> ChatReader | None:
        reader = self._reader
        assert reader is None or isinstance(reader, ChatReader)
        return reader

    @property
    def chunks(self) -> list[ChatCompletionChunk]:
        """Every chunk yielded so far: new objects, equal to those yielded, rebuilt from the
        event data the stream keeps (``[]`` with ``keep_text=False``).

        Raises:
            TextNotKeptError: The chunk data passed ``Limits.max_kept_text``.
        """
        reader = self._reader
        if reader is None:
            return []
        reader.ledger.check(self._label, self._whole_answer)
        records = reader.ledger.kept_records(len(self._pending))
        return [ChatCompletionChunk.from_dict(orjson.loads(data)) for data in records]

    @property
    def finish_reason(self) -> str | None:
        """Why choice 0 ended (e.g. ``"stop"``, ``"length"``, ``"tool_calls"``), once known."""
        reader = self._chat_reader()
        return None if reader is None else reader.finish_reason

    @property
    def usage(self) -> Usage | None:
        """Token usage, from the usage chunk (usually the last before ``[DONE]``), once it
        arrived."""
        reader = self._chat_reader()
        return None if reader is None else reader.usage

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
            TextNotKeptError: Chunks already received were not kept.
            AsyncInferError: The errors of :class:`CompletionStream`, from reading the rest.
        """
        self._keep_all()
        async for _ in self:
            pass
        return assemble_message(self.chunks)


def assemble_message(chunks: list[ChatCompletionChunk]) -> ChatCompletionMessage:
    """Join the deltas of choice 0 into one message.

    Tool calls are assembled by ``index``; a fragment with another ``id`` than the call at
    its index starts a new call (some models reuse index 0), and fragments without any ``id``
    are joined by index alone (some Elasticsearch releases lost the fragment that had it).
    Reasoning details are joined as :func:`join_reasoning_details` says.
    """
    role = "assistant"
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    details: list[ReasoningDetail] = []
    finish_reason: str | None = None
    usage: Usage | None = None
    calls = _ToolCalls()
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
            details += delta.reasoning_details
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
            for fragment in delta.tool_calls:
                calls.add(fragment)
    tool_calls = calls.assembled()
    return ChatCompletionMessage(
        role=role,
        content="".join(content) if content or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        refusal="".join(refusal) or None,
        reasoning="".join(reasoning) or None,
        reasoning_details=join_reasoning_details(details),
        usage=usage,
    )


class _ToolCalls:
    """Tool call fragments, grouped into calls by index (and by id where one changes)."""

    def __init__(self) -> None:
        self._calls: list[tuple[int, dict[str, Any]]] = []  # (index, call), in arrival order
        self._current: dict[int, dict[str, Any]] = {}  # the call each index adds to now

    def add(self, fragment: ToolCallDelta) -> None:
        call = self._current.get(fragment.index)
        if call is None or (fragment.id and call["id"] and fragment.id != call["id"]):
            call = {"id": None, "type": None, "name": "", "arguments": []}
            self._calls.append((fragment.index, call))
            self._current[fragment.index] = call
        call["id"] = call["id"] or fragment.id or None  # "" is no id
        call["type"] = call["type"] or fragment.type
        if fragment.function is not None:
            call["name"] += fragment.function.name or ""
            call["arguments"].append(fragment.function.arguments or "")

    def assembled(self) -> list[ToolCall]:
        # By index; calls sharing an index in the order they came (sorted() is stable).
        return [
            ToolCall(
                id=call["id"] or "",
                type=call["type"] or "function",
                function=FunctionCall(name=call["name"], arguments="".join(call["arguments"])),
            )
            for _, call in sorted(self._calls, key=lambda item: item[0])
        ]


def join_reasoning_details(details: list[ReasoningDetail]) -> list[ReasoningDetail]:
    """Join the fragments of each reasoning detail a stream delivered.

    A fragment with the same ``type`` and ``index`` as the detail before it continues that
    detail: its ``text``, ``summary`` and ``data`` are appended, and its ``signature``,
    ``format`` and ``id`` fill those still unset. A detail without an ``index`` stands alone.
    """
    joined: list[ReasoningDetail] = []
    for detail in details:
        last = joined[-1] if joined else None
        if (
            last is None
            or detail.index is None
            or (last.type, last.index) != (detail.type, detail.index)
        ):
            joined.append(detail)
            continue
        joined[-1] = attrs.evolve(
            last,
            text=_joined(last.text, detail.text),
            summary=_joined(last.summary, detail.summary),
            data=_joined(last.data, detail.data),
            signature=last.signature or detail.signature,
            format=last.format or detail.format,
            id=last.id or detail.id,
        )
    return joined


def _joined(first: str | None, then: str | None) -> str | None:
    return first if then is None else (first or "") + then
