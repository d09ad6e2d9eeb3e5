"""Typed request and response models: frozen attrs values, built from orjson-parsed bodies.

Response models accept what Elasticsearch really sends (spec §4.3, §6.2, §7) and keep the parsed
body in ``raw`` for fields we do not model. The chat request models (messages, content parts,
tools) live in ``_chat_models`` and are re-exported here.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._chat_models import (
    AssistantMessage,
    FilePart,
    FunctionCall,
    ImagePart,
    ReasoningDetail,
    SystemMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolMessage,
    UserMessage,
    message_to_json,
    tool_to_json,
)
from ._exceptions import SSEProtocolError

__all__ = [
    "AssistantMessage",
    "ChatChoice",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatDelta",
    "CompletionResult",
    "CompletionTokensDetails",
    "EmbeddingKind",
    "EmbeddingResult",
    "FilePart",
    "FunctionCall",
    "FunctionCallDelta",
    "ImagePart",
    "InferenceResult",
    "PromptTokensDetails",
    "ReasoningDetail",
    "RerankHit",
    "RerankResult",
    "SparseEmbedding",
    "SparseEmbeddingResult",
    "SystemMessage",
    "TextEmbeddingResult",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "message_to_json",
    "tool_to_json",
]


class _Shape(Exception):
    """A response body that does not have the shape we expect; turned into our error."""


def _get(obj: Any, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if not isinstance(obj, dict):
        raise _Shape(f"expected an object holding {key!r}, got {type(obj).__name__}")
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise _Shape(f"missing {key!r}")
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise _Shape(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    # _get(obj, key, str, optional=True) for a known dict, on the chat stream's hot path.
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _Shape(f"{key!r} has the wrong type ({type(value).__name__})")


# --- chat completion stream chunks (spec §4.3) ----------------------------------------------


@attrs.frozen(kw_only=True)
class FunctionCallDelta:
    """A fragment of a function call: the name arrives once, the arguments in pieces."""

    name: str | None = None
    arguments: str | None = None


@attrs.frozen(kw_only=True)
class ToolCallDelta:
    """A fragment of one tool call; fragments with the same ``index`` belong together."""

    index: int
    id: str | None = None
    type: str | None = None  # Elasticsearch writes "type": null on later fragments
    function: FunctionCallDelta | None = None


@attrs.frozen(kw_only=True)
class ChatDelta:
    """What one chunk adds to a choice."""

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning: str | None = None  # Elasticsearch 9.4+
    tool_calls: list[ToolCallDelta] = attrs.field(factory=list)
    reasoning_details: list[ReasoningDetail] = attrs.field(factory=list)  # 9.4+


@attrs.frozen(kw_only=True)
class ChatChoice:
    """One choice of a chunk; ``finish_reason`` is ``None`` until the choice ends."""

    index: int
    delta: ChatDelta
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class PromptTokensDetails:
    """Where the prompt's tokens went: ``cached_tokens`` were read from the provider's cache."""

    cached_tokens: int | None = None


@attrs.frozen(kw_only=True)
class CompletionTokensDetails:
    """Where the completion's tokens went: ``reasoning_tokens`` were spent reasoning (they
    count in ``completion_tokens``)."""

    reasoning_tokens: int | None = None


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts, usually on the last chunk (whose ``choices`` is empty).

    The details are present when Elasticsearch writes them: ``prompt_tokens_details`` when
    the provider reported cached tokens, ``completion_tokens_details`` (9.4+) when it
    reported reasoning tokens.
    """

    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> Usage:
        prompt = _get(obj, "prompt_tokens_details", dict, optional=True)
        completion = _get(obj, "completion_tokens_details", dict, optional=True)
        return cls(
            completion_tokens=_get(obj, "completion_tokens", int),
            prompt_tokens=_get(obj, "prompt_tokens", int),
            total_tokens=_get(obj, "total_tokens", int),
            prompt_tokens_details=None
            if prompt is None
            else PromptTokensDetails(
                cached_tokens=_get(prompt, "cached_tokens", int, optional=True)
            ),
            completion_tokens_details=None
            if completion is None
            else CompletionTokensDetails(
                reasoning_tokens=_get(completion, "reasoning_tokens", int, optional=True)
            ),
            raw=obj,
        )


def _reasoning_detail(obj: Any) -> ReasoningDetail:
    # Lenient, as Elasticsearch's own delta is: a text fragment may have neither text nor
    # signature, and a type we do not know is kept.
    return ReasoningDetail(
        type=_get(obj, "type", str),
        format=_get(obj, "format", str, optional=True),
        id=_get(obj, "id", str, optional=True),
        index=_get(obj, "index", int, optional=True),
        data=_get(obj, "data", str, optional=True),
        summary=_get(obj, "summary", str, optional=True),
        text=_get(obj, "text", str, optional=True),
        signature=_get(obj, "signature", str, optional=True),
    )


def _tool_call_delta(obj: Any) -> ToolCallDelta:
    function = _get(obj, "function", dict, optional=True)
    return ToolCallDelta(
        index=_get(obj, "index", int),
        id=_get(obj, "id", str, optional=True),
        type=_get(obj, "type", str, optional=True),
        function=None
        if function is None
        else FunctionCallDelta(
            name=_get(function, "name", str, optional=True),
            arguments=_get(function, "arguments", str, optional=True),
        ),
    )


def _choice(obj: Any) -> ChatChoice:
    delta = _get(obj, "delta", dict, optional=True) or {}
    tool_calls = _get(delta, "tool_calls", list, optional=True) or []
    details = delta.get("reasoning_details")  # 9.4+; rare, so one dict lookup in the common case
    if details is not None:
        details = [_reasoning_detail(d) for d in _get(delta, "reasoning_details", list)]
    return ChatChoice(
        index=_get(obj, "index", int, optional=True) or 0,
        finish_reason=_opt_str(obj, "finish_reason"),
        delta=ChatDelta(
            role=_opt_str(delta, "role"),
            content=_opt_str(delta, "content"),
            refusal=_opt_str(delta, "refusal"),
            reasoning=_opt_str(delta, "reasoning"),
            tool_calls=[_tool_call_delta(t) for t in tool_calls],
            reasoning_details=details or [],
        ),
    )


_CHUNK_KEYS = frozenset({"id", "choices", "usage", "model", "object"})


@attrs.frozen(kw_only=True)
class ChatCompletionChunk:
    """One event of a chat completion stream (OpenAI-like, as Elasticsearch writes it).

    Elasticsearch omits ``created``, omits ``finish_reason`` while it is null, may write
    ``tool_calls[].type`` as null, and ends with a usage-only chunk whose ``choices`` is
    empty. Its specification's examples wrap each chunk as ``{"chat_completion": {...}}``;
    both forms are accepted.
    """

    id: str | None
    model: str | None = None
    object: str | None = None
    choices: list[ChatChoice] = attrs.field(factory=list)
    usage: Usage | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def from_dict(cls, obj: Any) -> ChatCompletionChunk:
        """Build from a parsed event payload.

        Raises:
            SSEProtocolError: The payload is not a chat completion chunk.
        """
        try:
            if isinstance(obj, dict) and isinstance(obj.get("chat_completion"), dict):
                obj = obj["chat_completion"]
            # "choices" is omitted when null (spec §4.3): a chunk needs only one of its keys.
            if not isinstance(obj, dict) or not obj.keys() & _CHUNK_KEYS:
                raise _Shape(f"none of {sorted(_CHUNK_KEYS)}")
            usage = _get(obj, "usage", dict, optional=True)
            return cls(
                id=_opt_str(obj, "id"),
                model=_opt_str(obj, "model"),
                object=_opt_str(obj, "object"),
                choices=[_choice(c) for c in _get(obj, "choices", list, optional=True) or []],
                usage=None if usage is None else Usage._from(usage),
                raw=obj,
            )
        except _Shape as exc:
            raise SSEProtocolError(f"message event is not a chat completion chunk: {exc}") from None


# --- the assembled assistant message ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChatCompletionMessage:
    """The whole assistant message of a chat stream (``ChatCompletionStream.final_message()``).

    ``reasoning`` and ``reasoning_details`` (Elasticsearch 9.4+) are what the model reasoned;
    :meth:`to_assistant_message` turns the message into the turn to send back.
    """

    role: str
    content: str | None
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    finish_reason: str | None = None
    refusal: str | None = None
    reasoning: str | None = None
    reasoning_details: list[ReasoningDetail] = attrs.field(factory=list)
    usage: Usage | None = None

    def to_assistant_message(self) -> AssistantMessage:
        """This answer as the :class:`AssistantMessage` of the next request's history, with
        its content, tool calls, reasoning and reasoning details."""
        return AssistantMessage(
            content=self.content if self.content or not self.tool_calls else None,
            tool_calls=self.tool_calls,
            reasoning=self.reasoning,
            reasoning_details=self.reasoning_details,
        )


# --- non-streaming results (spec §6.2) ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class CompletionResult:
    """The answer of ``completion``: one result per input."""

    results: list[str]
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)

    @property
    def text(self) -> str:
        """The first result."""
        return self.results[0] if self.results else ""


EmbeddingKind = Literal["float", "byte", "bit"]
_EMBEDDING_KEYS: dict[str, EmbeddingKind] = {
    "text_embedding": "float",
    "text_embedding_bytes": "byte",
    "text_embedding_bits": "bit",
}
# The 9.4 ``embedding`` task's result keys ([SPEC] EmbeddingInferenceResult).
_MULTIMODAL_KEYS: dict[str, EmbeddingKind] = {
    "embeddings": "float",
    "embeddings_bytes": "byte",
    "embeddings_bits": "bit",
}


@attrs.frozen(kw_only=True)
class TextEmbeddingResult:
    """The answer of ``text_embedding``: one vector per input.

    ``kind`` says how to read the numbers: ``"float"``; ``"byte"`` (int8 values); or ``"bit"``
    (bits packed eight to a signed byte, so a vector has dims/8 values).
    """

    embeddings: list[list[float]] | list[list[int]]
    kind: EmbeddingKind
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)


@attrs.frozen(kw_only=True)
class EmbeddingResult:
    """The answer of ``embedding`` (Elasticsearch 9.4+): one vector per input, text or not.

    An input whose ``content`` holds several items (9.5+) still has one vector. ``kind`` reads
    as for :class:`TextEmbeddingResult`.
    """

    embeddings: list[list[float]] | list[list[int]]
    kind: EmbeddingKind
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)


@attrs.frozen(kw_only=True)
class SparseEmbedding:
    """One sparse vector: token → weight, and whether the input was truncated."""

    tokens: dict[str, float]
    is_truncated: bool = False


@attrs.frozen(kw_only=True)
class SparseEmbeddingResult:
    """The answer of ``sparse_embedding``: one sparse vector per input."""

    embeddings: list[SparseEmbedding]
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)


@attrs.frozen(kw_only=True)
class RerankHit:
    """One ranked document: its position in the input, its score, and its text if returned."""

    index: int
    relevance_score: float
    text: str | None = None


@attrs.frozen(kw_only=True)
class RerankResult:
    """The answer of ``rerank``: documents by descending relevance."""

    results: list[RerankHit]
    raw: dict[str, Any] = attrs.field(repr=False, eq=False)


InferenceResult = (
    CompletionResult | TextEmbeddingResult | EmbeddingResult | SparseEmbeddingResult | RerankResult
)


def _number(value: Any, where: str) -> float:
    # The specification's example shows numbers as strings (spec §6.2); accept both.
    if isinstance(value, bool):
        raise _Shape(f"{where} is a boolean")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _Shape(f"{where} is not a number")


def parse_inference(body: Any) -> InferenceResult:
    """The typed result of a non-streaming inference body, whichever task produced it.

    Raises:
        _Shape: The body has no known result key or the wrong shape.
    """
    if not isinstance(body, dict):
        raise _Shape(f"expected an object, got {type(body).__name__}")
    if "completion" in body:
        items = _get(body, "completion", list)
        return CompletionResult(results=[_get(i, "result", str) for i in items], raw=body)
    for key, kind in _EMBEDDING_KEYS.items():
        if key in body:
            items = _get(body, key, list)
            vectors = [_get(i, "embedding", list) for i in items]
            return TextEmbeddingResult(embeddings=vectors, kind=kind, raw=body)
    for key, kind in _MULTIMODAL_KEYS.items():
        if key in body:
            vectors = [_get(i, "embedding", list) for i in _get(body, key, list)]
            return EmbeddingResult(embeddings=vectors, kind=kind, raw=body)
    if "sparse_embedding" in body:
        items = _get(body, "sparse_embedding", list)
        return SparseEmbeddingResult(
            embeddings=[
                SparseEmbedding(
                    tokens=_get(i, "embedding", dict),
                    is_truncated=bool(_get(i, "is_truncated", bool, optional=True)),
                )
                for i in items
            ],
            raw=body,
        )
    if "rerank" in body:
        hits = []
        for i, hit in enumerate(_get(body, "rerank", list)):
            index = _number(_get(hit, "index", (int, str)), f"rerank[{i}].index")
            hits.append(
                RerankHit(
                    index=int(index),
                    relevance_score=_number(
                        _get(hit, "relevance_score", (int, float, str)),
                        f"rerank[{i}].relevance_score",
                    ),
                    text=_get(hit, "text", str, optional=True),
                )
            )
        return RerankResult(results=hits, raw=body)
    raise _Shape(f"no known result key in {sorted(body)}")
