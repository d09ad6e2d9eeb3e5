"""Chat completion streams: ``async for chunk in stream`` yields chunks; tools assembled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from .._models import ChatCompletionChunk, ChatCompletionMessage, FunctionCall, ToolCall, Usage
from ._base import EventStream
from ._reader import ChatReader, Reader

__all__ = ["ChatCompletionStream", "assemble_message"]


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
    """Join the deltas of choice 0 into one message."""
    role = "assistant"
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    finish_reason: str | None = None
    usage: Usage | None = None
    calls: dict[int, dict[str, Any]] = {}
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
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
            for fragment in delta.tool_calls:
                call = calls.setdefault(
                    fragment.index, {"id": None, "type": None, "name": "", "arguments": []}
                )
                call["id"] = fragment.id or call["id"]
                call["type"] = fragment.type or call["type"]
                if fragment.function is not None:
                    call["name"] += fragment.function.name or ""
                    call["arguments"].append(fragment.function.arguments or "")
    tool_calls = [
        ToolCall(
            id=call["id"] or "",
            type=call["type"] or "function",
            function=FunctionCall(name=call["name"], arguments="".join(call["arguments"])),
        )
        for _, call in sorted(calls.items())
    ]
    return ChatCompletionMessage(
        role=role,
        content="".join(content) if content or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
        refusal="".join(refusal) or None,
        reasoning="".join(reasoning) or None,
        usage=usage,
    )
