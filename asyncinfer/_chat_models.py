"""Chat request models: messages, content parts, reasoning details and tools.

What the unified chat schema of Elasticsearch takes (spec §4.3): a message's content is a string
or a list of parts (``text`` always; ``image_url`` and ``file`` from 9.4); an assistant message
may carry the ``reasoning`` and ``reasoning_details`` of the turn that produced it (9.4+).
Requests are checked when they are turned into JSON, before any I/O, with the rules
Elasticsearch's parser applies, so a bad part fails here with the field named rather than as a
400 that only says "failed to parse field [messages]".
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from ._exceptions import InvalidRequestError

__all__ = [
    "AssistantMessage",
    "Content",
    "FilePart",
    "FunctionCall",
    "ImagePart",
    "ReasoningDetail",
    "SystemMessage",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
    "message_to_json",
    "tool_to_json",
]


# --- tool calls (a request's history and a stream's assembled answer) --------------------------


@attrs.frozen(kw_only=True)
class FunctionCall:
    """A function the model asks to call, with its arguments as a JSON string."""

    name: str
    arguments: str


@attrs.frozen(kw_only=True)
class ToolCall:
    """A complete tool call (its argument fragments joined).

    ``id`` is ``""`` when the stream never carried one (some Elasticsearch releases lost the
    fragment that had it); give the call an id before sending it back.
    """

    id: str
    function: FunctionCall
    type: str = "function"


# --- content parts -----------------------------------------------------------------------------


@attrs.frozen
class TextPart:
    """A text part of a message's content."""

    text: str


ImageDetail = Literal["auto", "low", "high"]


def _data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


@attrs.frozen
class ImagePart:
    """An image part (Elasticsearch 9.4+): ``url`` is a URL or a ``data:`` URI.

    ``detail`` (``"auto"``, ``"low"`` or ``"high"``) asks the model for that much resolution.
    """

    url: str
    detail: ImageDetail | None = attrs.field(default=None, kw_only=True)

    @classmethod
    def from_bytes(
        cls, data: bytes, media_type: str = "image/png", *, detail: ImageDetail | None = None
    ) -> ImagePart:
        """An image given as bytes, sent inline as a base64 ``data:`` URI."""
        return cls(_data_uri(data, media_type), detail=detail)


@attrs.frozen(kw_only=True)
class FilePart:
    """A file part (Elasticsearch 9.4+): ``file_data`` is the file as a base64 ``data:`` URI.

    Elasticsearch needs both fields; it refuses OpenAI's ``file_id``.
    """

    file_data: str
    filename: str

    @classmethod
    def from_bytes(
        cls, data: bytes, filename: str, media_type: str = "application/pdf"
    ) -> FilePart:
        """A file given as bytes, sent inline as a base64 ``data:`` URI."""
        return cls(file_data=_data_uri(data, media_type), filename=filename)


Content = str | Sequence[TextPart | ImagePart | FilePart | Mapping[str, Any]]

_PART_TYPES = ("text", "image_url", "file")
_IMAGE_DETAILS = ("auto", "low", "high")


def _only(obj: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    # Elasticsearch's throwIfNotEmptyMap: every key it did not read is an error.
    unknown = sorted(set(obj) - set(keys))
    if unknown:
        raise InvalidRequestError(f"{where} has unknown fields: {unknown}")


def _string(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _mapping(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"{where}.{key} must be a mapping, got {value!r}")
    return value


def _part_to_json(part: Any, where: str) -> dict[str, Any]:
    """One content part, checked as Elasticsearch 9.4's ContentObject.fromMap checks it."""
    if isinstance(part, TextPart):
        part = {"type": "text", "text": part.text}
    elif isinstance(part, ImagePart):
        part = {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
    elif isinstance(part, FilePart):
        part = {"type": "file", "file": {"file_data": part.file_data, "filename": part.filename}}
    elif not isinstance(part, Mapping):
        raise InvalidRequestError(
            f"{where} must be a TextPart, ImagePart, FilePart or a mapping, got {part!r}"
        )
    kind = part.get("type")
    if kind not in _PART_TYPES:
        raise InvalidRequestError(
            f"{where}.type must be one of {', '.join(_PART_TYPES)}; got {kind!r}"
        )
    _only(part, ("type", kind), where)
    if kind == "text":
        return {"type": "text", "text": _string(part, "text", where)}
    inner = _mapping(part, kind, where)
    if kind == "image_url":
        _only(inner, ("url", "detail"), f"{where}.image_url")
        image: dict[str, Any] = {"url": _string(inner, "url", f"{where}.image_url")}
        detail = inner.get("detail")
        if detail is not None:
            if detail not in _IMAGE_DETAILS:
                raise InvalidRequestError(
                    f"{where}.image_url.detail must be one of {', '.join(_IMAGE_DETAILS)}; "
                    f"got {detail!r}"
                )
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if "file_id" in inner:
        raise InvalidRequestError(
            f"{where}.file.file_id is not supported by Elasticsearch; send file_data and filename"
        )
    _only(inner, ("file_data", "filename"), f"{where}.file")
    file = {key: _string(inner, key, f"{where}.file") for key in ("file_data", "filename")}
    return {"type": "file", "file": file}


def _content_to_json(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if not value:
            raise InvalidRequestError(f"{where}.content must not be an empty list")
        return [_part_to_json(part, f"{where}.content[{i}]") for i, part in enumerate(value)]
    raise InvalidRequestError(
        f"{where}.content must be a string or a list of parts, got {type(value).__name__}"
    )


# --- reasoning details -------------------------------------------------------------------------


# Elasticsearch's ReasoningDetail: the field each type needs, and its key order.
_DETAIL_NEEDS = {
    "reasoning.encrypted": ("data",),
    "reasoning.summary": ("summary",),
    "reasoning.text": ("text", "signature"),
}
_DETAIL_KEYS = ("type", "format", "id", "index", "data", "summary", "text", "signature")
_DETAIL_BODIES = ("data", "summary", "text", "signature")


@attrs.frozen(kw_only=True)
class ReasoningDetail:
    """One piece of a model's reasoning (Elasticsearch 9.4+), as a stream delivers it and as
    an assistant message sends it back.

    ``type`` is ``"reasoning.encrypted"`` (with ``data``), ``"reasoning.summary"`` (with
    ``summary``) or ``"reasoning.text"`` (with ``text`` and/or ``signature``). ``format``,
    ``id`` and ``index`` are the provider's; a stream may split one detail into fragments
    with the same ``index`` (``final_message()`` joins them).
    """

    type: str
    format: str | None = None
    id: str | None = None
    index: int | None = None
    data: str | None = None
    summary: str | None = None
    text: str | None = None
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The detail as Elasticsearch writes it: ``type`` first, unset fields left out."""
        out: dict[str, Any] = {}
        for key in _DETAIL_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _reasoning_detail_to_json(detail: Any, where: str) -> dict[str, Any]:
    """A detail checked as Elasticsearch's ReasoningDetail parser checks it (9.4+)."""
    if isinstance(detail, ReasoningDetail):
        obj = detail.to_dict()
    elif isinstance(detail, Mapping):
        obj = {key: value for key, value in detail.items() if value is not None}
    else:
        raise InvalidRequestError(f"{where} must be a ReasoningDetail or a mapping, got {detail!r}")
    _only(obj, _DETAIL_KEYS, where)
    kind = obj.get("type")
    if kind not in _DETAIL_NEEDS:
        raise InvalidRequestError(
            f"{where}.type must be one of {', '.join(_DETAIL_NEEDS)}; got {kind!r}"
        )
    for key in ("format", "id", *_DETAIL_BODIES):
        if key in obj:
            _string(obj, key, where)
    index = obj.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise InvalidRequestError(f"{where}.index must be an int, got {index!r}")
    present = [key for key in _DETAIL_BODIES if key in obj]
    # declareExclusiveFieldSet(data, summary, text) and (data, summary, signature).
    for group in (("data", "summary", "text"), ("data", "summary", "signature")):
        clash = [key for key in present if key in group]
        if len(clash) > 1:
            raise InvalidRequestError(f"{where}: {' and '.join(clash)} cannot be sent together")
    needs = _DETAIL_NEEDS[kind]
    if not any(key in obj for key in needs):
        raise InvalidRequestError(f"{where}: a {kind} detail needs {' or '.join(needs)}")
    return obj


# --- messages ----------------------------------------------------------------------------------


@attrs.frozen
class SystemMessage:
    """Instructions for the model."""

    content: Content


@attrs.frozen
class UserMessage:
    """What the user said: text, or a list of text, image and file parts."""

    content: Content


@attrs.frozen(kw_only=True)
class AssistantMessage:
    """An earlier answer of the model: its content, the tool calls it made, and (9.4+) the
    ``reasoning`` and ``reasoning_details`` it produced, sent back so the model can go on
    from them."""

    content: Content | None = None
    tool_calls: Sequence[ToolCall] = ()
    reasoning: str | None = None
    reasoning_details: Sequence[ReasoningDetail | Mapping[str, Any]] = ()


@attrs.frozen(kw_only=True)
class ToolMessage:
    """The result of a tool call, answering the call with ``tool_call_id``."""

    content: Content
    tool_call_id: str


_ROLES = ("system", "user", "assistant", "tool", "developer")
_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "reasoning", "reasoning_details"}


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


def _list(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise InvalidRequestError(f"{where} must be a list, got {type(value).__name__}")
    return value


def _assistant_to_json(
    content: Any, tool_calls: Any, reasoning: Any, details: Any, where: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        out["content"] = _content_to_json(content, where)
    if tool_calls:
        out["tool_calls"] = [
            _tool_call_to_json(c, f"{where}.tool_calls[{i}]")
            for i, c in enumerate(_list(tool_calls, f"{where}.tool_calls"))
        ]
    if len(out) == 1:
        raise InvalidRequestError(f"{where}: an assistant message needs content or tool_calls")
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise InvalidRequestError(f"{where}.reasoning must be a string, got {reasoning!r}")
        out["reasoning"] = reasoning
    if details:
        out["reasoning_details"] = [
            _reasoning_detail_to_json(d, f"{where}.reasoning_details[{i}]")
            for i, d in enumerate(_list(details, f"{where}.reasoning_details"))
        ]
    return out


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
        return _assistant_to_json(
            message.content, message.tool_calls, message.reasoning, message.reasoning_details, where
        )
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
    return _mapping_message_to_json(message, where)


def _mapping_message_to_json(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    role: Any = message.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(f"{where}.role must be one of {', '.join(_ROLES)}; got {role!r}")
    unknown = set(message) - _MESSAGE_KEYS
    if unknown:
        raise InvalidRequestError(f"{where} has unknown fields: {sorted(unknown)}")
    if role == "assistant":
        return _assistant_to_json(
            message.get("content"),
            message.get("tool_calls"),
            message.get("reasoning"),
            message.get("reasoning_details"),
            where,
        )
    for key in ("tool_calls", "reasoning", "reasoning_details"):
        if message.get(key):
            raise InvalidRequestError(f"{where}.{key} is only for assistant messages")
    if message.get("content") is None:
        raise InvalidRequestError(f"{where}.content is required for a {role} message")
    out = {"role": role, "content": _content_to_json(message["content"], where)}
    if role == "tool":
        if not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequestError(f"{where}.tool_call_id is required for a tool message")
        out["tool_call_id"] = message["tool_call_id"]
    return out


# --- tools -------------------------------------------------------------------------------------


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
