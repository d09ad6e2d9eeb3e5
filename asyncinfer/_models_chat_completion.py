"""The non-streaming chat completion answer (Elasticsearch 9.6+): one OpenAI-like object.

Elasticsearch writes it with the classes its stream chunks use (``UnifiedChatCompletionResults``)
under ``message`` instead of ``delta``: ``{"id","choices":[{"message":{...},"finish_reason",
"index"}],"model","object":"chat.completion","usage"?}``. The message is the stream's
:class:`ChatCompletionMessage`, so an answer reads the same whichever way it was asked for.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._models import (
    ChatCompletionMessage,
    FunctionCall,
    ToolCall,
    Usage,
    _get,
    _opt_str,
    _reasoning_detail,
)

__all__ = ["ChatCompletion", "ChatCompletionChoice"]


@attrs.frozen(kw_only=True)
class ChatCompletionChoice:
    """One choice of a :class:`ChatCompletion`.

    Attributes:
        index: The choice's position (0 unless the provider made several).
        message: The assistant message; its ``finish_reason`` and ``usage`` are the choice's
            and the completion's, as on a stream's ``final_message()``.
        finish_reason: Why the answer ended: ``"stop"``, ``"length"``, ``"tool_calls"``...
    """

    index: int
    message: ChatCompletionMessage
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class ChatCompletion:
    """The answer of ``chat_completion``: ``POST /_inference/chat_completion/{id}`` (9.6+).

    Attributes:
        id: The completion's id, as the provider gave it.
        object: ``"chat.completion"``.
        model: The model that answered (``None`` if Elasticsearch wrote null).
        choices: The choices, usually one.
        usage: Token counts, when the provider reported them.
        raw: The parsed body, for fields not modelled here.
    """

    id: str
    object: str
    model: str | None
    choices: list[ChatCompletionChoice]
    usage: Usage | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def message(self) -> ChatCompletionMessage:
        """The first choice's message.

        Raises:
            IndexError: The answer has no choices.
        """
        return self.choices[0].message

    @property
    def content(self) -> str | None:
        """The first choice's text (``None`` for a tool call without text, or no choice)."""
        return self.choices[0].message.content if self.choices else None

    @classmethod
    def _from(cls, obj: Any) -> ChatCompletion:
        usage_obj = _get(obj, "usage", dict, optional=True)
        usage = None if usage_obj is None else Usage._from(usage_obj)
        return cls(
            id=_get(obj, "id", str),
            object=_get(obj, "object", str),
            model=_opt_str(obj, "model"),
            choices=[_choice(c, usage) for c in _get(obj, "choices", list, optional=True) or []],
            usage=usage,
            raw=obj,
        )


def _tool_call(obj: Any) -> ToolCall:
    function = _get(obj, "function", dict)
    return ToolCall(
        id=_get(obj, "id", str),
        type=_get(obj, "type", str, optional=True) or "function",
        function=FunctionCall(
            name=_get(function, "name", str),
            arguments=_get(function, "arguments", str, optional=True) or "",
        ),
    )


def _choice(obj: Any, usage: Usage | None) -> ChatCompletionChoice:
    message = _get(obj, "message", dict)  # also checks that obj is an object
    finish_reason = _opt_str(obj, "finish_reason")
    calls = _get(message, "tool_calls", list, optional=True) or []
    details = _get(message, "reasoning_details", list, optional=True) or []
    return ChatCompletionChoice(
        index=_get(obj, "index", int, optional=True) or 0,
        finish_reason=finish_reason,
        message=ChatCompletionMessage(
            role=_opt_str(message, "role") or "assistant",
            content=_opt_str(message, "content"),
            refusal=_opt_str(message, "refusal"),
            reasoning=_opt_str(message, "reasoning"),
            reasoning_details=[_reasoning_detail(d) for d in details],
            tool_calls=[_tool_call(c) for c in calls],
            finish_reason=finish_reason,
            usage=usage,
        ),
    )
