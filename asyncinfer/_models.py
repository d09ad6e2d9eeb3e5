"""Typed request and response models: frozen attrs values, built from orjson-parsed bodies.

Response models accept what Elasticsearch really sends (spec §4.3, §6.2, §7) and keep the parsed
body in ``raw`` for fields we do not model. Request models validate at construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from ._exceptions import InvalidRequestError, SSEProtocolError

__all__ = [
    "AssistantMessage",
    "ChatChoice",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatDelta",
    "CompletionResult",
    "DeleteEndpointResult",
    "EmbeddingKind",
    "EndpointInfo",
    "FunctionCall",
    "FunctionCallDelta",
    "InferenceResult",
    "RerankHit",
    "RerankResult",
    "ServiceInfo",
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
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ChatChoice:
    """One choice of a chunk; ``finish_reason`` is ``None`` until the choice ends."""

    index: int
    delta: ChatDelta
    finish_reason: str | None = None


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts, usually on the last chunk (whose ``choices`` is empty)."""

    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> Usage:
        return cls(
            completion_tokens=_get(obj, "completion_tokens", int),
            prompt_tokens=_get(obj, "prompt_tokens", int),
            total_tokens=_get(obj, "total_tokens", int),
            raw=obj,
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
    return ChatChoice(
        index=_get(obj, "index", int, optional=True) or 0,
        finish_reason=_opt_str(obj, "finish_reason"),
        delta=ChatDelta(
            role=_opt_str(delta, "role"),
            content=_opt_str(delta, "content"),
            refusal=_opt_str(delta, "refusal"),
            reasoning=_opt_str(delta, "reasoning"),
            tool_calls=[_tool_call_delta(t) for t in tool_calls],
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
class FunctionCall:
    """A function the model asks to call, with its arguments as a JSON string."""

    name: str
    arguments: str


@attrs.frozen(kw_only=True)
class ToolCall:
    """A complete tool call (its argument fragments joined)."""

    id: str
    function: FunctionCall
    type: str = "function"


@attrs.frozen(kw_only=True)
class ChatCompletionMessage:
    """The whole assistant message of a chat stream (``ChatCompletionStream.final_message()``)."""

    role: str
    content: str | None
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    finish_reason: str | None = None
    refusal: str | None = None
    reasoning: str | None = None
    usage: Usage | None = None


# --- chat request messages --------------------------------------------------------------------


@attrs.frozen
class TextPart:
    """A text part of a message's content."""

    text: str


Content = str | Sequence[TextPart | Mapping[str, Any]]


@attrs.frozen
class SystemMessage:
    """Instructions for the model."""

    content: Content


@attrs.frozen
class UserMessage:
    """What the user said."""

    content: Content


@attrs.frozen(kw_only=True)
class AssistantMessage:
    """An earlier answer of the model, possibly with the tool calls it made."""

    content: Content | None = None
    tool_calls: Sequence[ToolCall] = ()


@attrs.frozen(kw_only=True)
class ToolMessage:
    """The result of a tool call, answering the call with ``tool_call_id``."""

    content: Content
    tool_call_id: str


_ROLES = ("system", "user", "assistant", "tool", "developer")


def _content_to_json(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        parts = []
        for i, part in enumerate(value):
            if isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
            elif isinstance(part, Mapping) and isinstance(part.get("type"), str):
                parts.append(dict(part))
            else:
                raise InvalidRequestError(
                    f"{where}.content[{i}] must be a TextPart or a mapping with a 'type', "
                    f"got {part!r}"
                )
        if not parts:
            raise InvalidRequestError(f"{where}.content must not be an empty list")
        return parts
    raise InvalidRequestError(
        f"{where}.content must be a string or a list of parts, got {type(value).__name__}"
    )


def _tool_call_to_json(call: Any, where: str) -> dict[str, Any]:
    if isinstance(call, ToolCall):
        return {
            "id": call.id,
            "type": call.type,
            "function": {"name": call.function.name, "arguments": call.function.arguments},
        }
    if isinstance(call, Mapping):
        function = call.get("function")
        if (
            not isinstance(call.get("id"), str)
            or not isinstance(function, Mapping)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise InvalidRequestError(
                f"{where} needs 'id', 'function.name' and 'function.arguments' (strings)"
            )
        return {"type": "function", **call}
    raise InvalidRequestError(f"{where} must be a ToolCall or a mapping, got {call!r}")


def message_to_json(message: Any, index: int) -> dict[str, Any]:
    """One chat message as Elasticsearch's unified schema wants it (spec §4.3).

    Raises:
        InvalidRequestError: The message is not valid; the message names the field.
    """
    where = f"messages[{index}]"
    if isinstance(message, SystemMessage | UserMessage):
        kind = "system" if isinstance(message, SystemMessage) else "user"
        return {"role": kind, "content": _content_to_json(message.content, where)}
    if isinstance(message, AssistantMessage):
        out: dict[str, Any] = {"role": "assistant"}
        if message.content is not None:
            out["content"] = _content_to_json(message.content, where)
        if message.tool_calls:
            out["tool_calls"] = [
                _tool_call_to_json(c, f"{where}.tool_calls[{i}]")
                for i, c in enumerate(message.tool_calls)
            ]
        if len(out) == 1:
            raise InvalidRequestError(f"{where}: an assistant message needs content or tool_calls")
        return out
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "content": _content_to_json(message.content, where),
            "tool_call_id": message.tool_call_id,
        }
    if not isinstance(message, Mapping):
        raise InvalidRequestError(
            f"{where} must be a mapping or a message model, got {type(message).__name__}"
        )
    role: Any = message.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(f"{where}.role must be one of {', '.join(_ROLES)}; got {role!r}")
    unknown = set(message) - {"role", "content", "tool_calls", "tool_call_id"}
    if unknown:
        raise InvalidRequestError(f"{where} has unknown fields: {sorted(unknown)}")
    out = {"role": role}
    if "content" in message and message["content"] is not None:
        out["content"] = _content_to_json(message["content"], where)
    elif role != "assistant":
        raise InvalidRequestError(f"{where}.content is required for a {role} message")
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequestError(f"{where}.tool_call_id is required for a tool message")
        out["tool_call_id"] = message["tool_call_id"]
    calls = message.get("tool_calls")
    if calls:
        if role != "assistant":
            raise InvalidRequestError(f"{where}.tool_calls is only for assistant messages")
        out["tool_calls"] = [
            _tool_call_to_json(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)
        ]
    elif role == "assistant" and "content" not in out:
        raise InvalidRequestError(f"{where}: an assistant message needs content or tool_calls")
    return out


@attrs.frozen(kw_only=True)
class Tool:
    """A function the model may call.

    Attributes:
        name: The function's name.
        description: What it does, for the model.
        parameters: Its arguments, as a JSON Schema object.
        strict: Ask the provider to follow the schema exactly.
    """

    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None


def tool_to_json(tool: Any, index: int) -> dict[str, Any]:
    """One tool as Elasticsearch's unified schema wants it.

    Raises:
        InvalidRequestError: The tool is not valid.
    """
    if isinstance(tool, Tool):
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        if tool.parameters is not None:
            function["parameters"] = dict(tool.parameters)
        if tool.strict is not None:
            function["strict"] = tool.strict
        return {"type": "function", "function": function}
    if isinstance(tool, Mapping):
        spec: Any = tool.get("function")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise InvalidRequestError(f"tools[{index}].function.name is required")
        return {"type": tool.get("type", "function"), "function": dict(spec)}
    raise InvalidRequestError(f"tools[{index}] must be a Tool or a mapping, got {tool!r}")


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


InferenceResult = CompletionResult | TextEmbeddingResult | SparseEmbeddingResult | RerankResult


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


# --- endpoint management (spec §7) -----------------------------------------------------------


@attrs.frozen(kw_only=True)
class EndpointInfo:
    """An inference endpoint's configuration (secrets are never returned by Elasticsearch)."""

    inference_id: str
    task_type: str
    service: str
    service_settings: dict[str, Any] = attrs.field(factory=dict)
    task_settings: dict[str, Any] = attrs.field(factory=dict)
    chunking_settings: dict[str, Any] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> EndpointInfo:
        # Very early versions wrote model_id instead of inference_id (spec §7.1).
        inference_id = _get(obj, "inference_id", str, optional=True) or _get(obj, "model_id", str)
        return cls(
            inference_id=inference_id,
            task_type=_get(obj, "task_type", str),
            service=_get(obj, "service", str),
            service_settings=_get(obj, "service_settings", dict, optional=True) or {},
            task_settings=_get(obj, "task_settings", dict, optional=True) or {},
            chunking_settings=_get(obj, "chunking_settings", dict, optional=True),
            raw=obj,
        )


@attrs.frozen(kw_only=True)
class DeleteEndpointResult:
    """The answer of ``delete_endpoint``; with ``dry_run`` it lists what refers to the endpoint."""

    acknowledged: bool
    pipelines: list[str] = attrs.field(factory=list)
    indexes: list[str] = attrs.field(factory=list)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> DeleteEndpointResult:
        return cls(
            acknowledged=_get(obj, "acknowledged", bool),
            pipelines=_get(obj, "pipelines", list, optional=True) or [],
            indexes=_get(obj, "indexes", list, optional=True) or [],
            raw=obj,
        )


@attrs.frozen(kw_only=True)
class ServiceInfo:
    """One entry of the service catalogue: a provider and the task types it serves."""

    service: str
    name: str | None = None
    task_types: list[str] = attrs.field(factory=list)
    configurations: dict[str, Any] = attrs.field(factory=dict, repr=False)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> ServiceInfo:
        return cls(
            service=_get(obj, "service", str),
            name=_get(obj, "name", str, optional=True),
            task_types=_get(obj, "task_types", list, optional=True) or [],
            configurations=_get(obj, "configurations", dict, optional=True) or {},
            raw=obj,
        )
