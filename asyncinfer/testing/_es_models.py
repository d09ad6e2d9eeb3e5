"""Request parsers, deterministic "models" and the service catalogue behind the emulator.

Section numbers (§) refer to ``/work/shared/spec/es-inference-wire.md``. Everything here is a
pure function of its input: hashlib (never ``hash()``) seeds every generated value, so answers
are the same on every machine and in every process.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs
import orjson

from ._chat_parts import (
    _CONTENT_FIELD,
    _REASONING_DETAILS_FIELD,
    _REASONING_FIELD,
)
from ._es_errors import (
    _error,
    _java_str,
    _location,
    _parse_error,
    _token_name,
    _validation_error,
    _validation_message,
)
from ._object_parser import (
    _BOOLEAN,
    _NUMBER,
    _OBJECT,
    _OBJECT_ARRAY,
    _OBJECT_OR_STRING,
    _STRING,
    _STRING_ARRAY,
    _VALUE_ARRAY,
    _boolean,
    _Field,
    _float,
    _long,
    _Node,
    _object,
    _object_array,
    _parse_object,
    _ParseFailure,
    _raw,
    _scan,
    _skip_ws,
    _string_array,
    _text,
)
from ._services import (
    _Service,
)

__all__: list[str] = []  # private module

# --- the unified chat completion request (§4.3) -----------------------------------------------

_CHAT_PARSER: Final = "UnifiedCompletionRequest"  # UnifiedCompletionRequest.class.getSimpleName()

_CONTENT_OBJECT: Final = {
    "text": _Field(_STRING, _text, required=True),
    "type": _Field(_STRING, _text, required=True),
}


def _content(node: _Node) -> str | list[dict[str, Any]]:
    # Message.parseContent: an array of content objects or a string; anything else (null
    # included) is "Expected an array start token or a value string token but found …".
    if node.kind == "VALUE_STRING":
        return str(node.value)
    if node.kind == "START_ARRAY":
        return [_parse_object(item, "ContentObject", _CONTENT_OBJECT) for item in node.items]
    raise _ParseFailure(
        node.start,
        f"Expected an array start token or a value string token but found token [{node.kind}]",
    )


_TOOL_CALL: Final = {
    "id": _Field(_STRING, _text, required=True),
    "function": _Field(
        _OBJECT,
        _object(
            "tool_call_function_field",
            {
                "arguments": _Field(_STRING, _text, required=True),
                "name": _Field(_STRING, _text, required=True),
            },
        ),
        required=True,
    ),
    "type": _Field(_STRING, _text, required=True),
}


def _message_fields(reasoning: bool) -> dict[str, _Field]:
    fields = {
        "content": _Field(_VALUE_ARRAY, _content),
        "role": _Field(_STRING, _text, required=True),  # not validated at parse time
        "tool_call_id": _Field(_STRING, _text),
        "tool_calls": _Field(_OBJECT_ARRAY, _object_array("ToolCall", _TOOL_CALL)),
    }
    if reasoning:  # 9.4+: multimodal content parts; an assistant turn's reasoning (_chat_parts)
        fields["content"] = _CONTENT_FIELD
        fields["reasoning"] = _REASONING_FIELD
        fields["reasoning_details"] = _REASONING_DETAILS_FIELD
    return fields


def _tool_choice(node: _Node) -> str | dict[str, Any]:
    if node.kind == "VALUE_STRING":
        return str(node.value)  # ToolChoiceString: not validated ("auto", "none", ...)
    return _parse_object(
        node,
        "ToolChoiceObject",
        {
            "type": _Field(_STRING, _text, required=True),
            "function": _Field(
                _OBJECT,
                _object(
                    "tool_choice_function_field", {"name": _Field(_STRING, _text, required=True)}
                ),
                required=True,
            ),
        },
    )


_TOOL: Final = {
    "type": _Field(_STRING, _text, required=True),
    "function": _Field(
        _OBJECT,
        _object(
            "tool_function_field",
            {
                "description": _Field(_STRING, _text),
                "name": _Field(_STRING, _text, required=True),
                "parameters": _Field(_OBJECT, _raw),
                "strict": _Field(_BOOLEAN, _boolean),
            },
        ),
        required=True,
    ),
}


def _chat_fields(reasoning: bool) -> dict[str, _Field]:
    # Declaration order matters: "Required [...]" lists missing fields in this order.
    fields = {
        "messages": _Field(
            _OBJECT_ARRAY, _object_array("Message", _message_fields(reasoning)), required=True
        ),
        "model": _Field(_STRING, _text),
        "max_completion_tokens": _Field(_NUMBER, _long),
        "stop": _Field(_STRING_ARRAY, _string_array),
        "temperature": _Field(_NUMBER, _float),
        "tool_choice": _Field(_OBJECT_OR_STRING, _tool_choice),
        "tools": _Field(_OBJECT_ARRAY, _object_array("Tool", _TOOL)),
        "top_p": _Field(_NUMBER, _float),
    }
    if reasoning:  # 9.4+: {"effort"?, "enabled"?, "exclude"?, "summary"?}
        fields["reasoning"] = _Field(_OBJECT, _raw)
    return fields


@attrs.frozen(kw_only=True)
class _ChatRequest:
    """A parsed ``UnifiedCompletionRequest``."""

    messages: list[dict[str, Any]]
    model: str | None = None
    max_completion_tokens: int | None = None
    stop: list[str] | None = None
    temperature: float | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    top_p: float | None = None
    reasoning: dict[str, Any] | None = None


def _parse_chat_body(body: bytes, *, reasoning: bool) -> _ChatRequest:
    """UnifiedCompletionRequest.PARSER (§4.3): strict, first failure in document order.

    ``body`` must already be valid JSON. ``reasoning``: parse as 9.4+ does (multimodal
    content parts, an assistant turn's ``reasoning`` and ``reasoning_details``).

    Raises:
        _ParseFailure: the exception ES's parser throws; its message is what
            UnifiedChatCompletionException shows (§5.4).
    """
    node = _scan(body)
    fields = _parse_object(node, _CHAT_PARSER, _chat_fields(reasoning))
    return _ChatRequest(**fields)


def _message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined by \\n (image and
    file parts have none)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part["text"]) for part in content if "text" in part)
    return ""


def _prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the deterministic chat model answers: the last user message's text."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _message_text(message)
    return _message_text(messages[-1]) if messages else ""


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _group(deltas: Sequence[str], per_event: int) -> list[str]:
    """Join deltas into chunk contents with group sizes cycling 1..per_event (as completion)."""
    groups = []
    start = group = 0
    while start < len(deltas):
        end = min(start + 1 + group % per_event, len(deltas))
        groups.append("".join(deltas[i] for i in range(start, end)))
        start = end
        group += 1
    return groups


def _tool_call_name(request: _ChatRequest) -> str | None:
    """The function the deterministic model calls, or None for a text answer.

    Rules: no tools or ``tool_choice: "none"`` -> text. A ``tool_choice`` object names the
    function; ``"required"`` picks the first tool unless the prompt names another. Otherwise
    (``"auto"`` or absent) a tool is called when the last message is a user message whose text
    contains the function's name (case-insensitive); the first such tool wins.
    """
    tools = request.tools or []
    choice = request.tool_choice
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    names = [str(tool["function"]["name"]) for tool in tools]
    last = request.messages[-1] if request.messages else {}
    if last.get("role") == "user":
        text = _message_text(last).lower()
        for name in names:
            if name.lower() in text:
                return name
    return names[0] if choice == "required" else None


def _tool_arguments(request: _ChatRequest) -> str:
    """The call's arguments: ``{"query":"<prompt text>"}`` as a JSON string."""
    return orjson.dumps({"query": _prompt_text(request.messages)}).decode()


def _fragments(arguments: str) -> list[str]:
    """Split the arguments string into fragments of 4, 8, 12, 4, ... characters."""
    sizes = (4, 8, 12)
    result: list[str] = []
    start = 0
    while start < len(arguments):
        size = sizes[len(result) % len(sizes)]
        result.append(arguments[start : start + size])
        start += size
    return result


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def _chat_chunks(
    *,
    inference_id: str,
    request: _ChatRequest,
    contents: Sequence[str],
    model: str | None,
) -> Iterator[dict[str, Any]]:
    """§4.3 chunk objects in order: role, content (or tool call), finish, usage.

    Keys come in ES's order (id, choices, model, object, usage); ``finish_reason`` is only
    present when set; ``created`` never is.
    """
    seed = _digest(
        inference_id, orjson.dumps(request.messages, option=orjson.OPT_SORT_KEYS).decode()
    )
    chunk_id = "chatcmpl-" + seed.hex()[:24]

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": chunk_id,
            "choices": choices,
            "model": model,
            "object": "chat.completion.chunk",
        }
        if usage is not None:
            result["usage"] = usage
        return result

    yield chunk([{"delta": {"content": "", "role": "assistant"}, "index": 0}])
    tool = _tool_call_name(request)
    if tool is None:
        for content in contents:
            yield chunk([{"delta": {"content": content}, "index": 0}])
        completion_tokens = sum(len(c.split()) for c in contents)
        finish = "stop"
    else:
        call_id = "call_" + _digest(chunk_id, tool).hex()[:24]
        head = {"index": 0, "id": call_id, "function": {"arguments": "", "name": tool}}
        yield chunk([{"delta": {"tool_calls": [{**head, "type": "function"}]}, "index": 0}])
        fragments = _fragments(_tool_arguments(request))
        for fragment in fragments:
            call = {"index": 0, "function": {"arguments": fragment}, "type": None}
            yield chunk([{"delta": {"tool_calls": [call]}, "index": 0}])
        completion_tokens = len(fragments)
        finish = "tool_calls"
    yield chunk([{"delta": {}, "finish_reason": finish, "index": 0}])
    prompt_tokens = sum(len(_message_text(m).split()) for m in request.messages)
    usage = {
        "completion_tokens": completion_tokens,
        "prompt_tokens": prompt_tokens,
        "total_tokens": completion_tokens + prompt_tokens,
    }
    yield chunk([], usage)


# --- embeddings, sparse embeddings, rerank (§6.2) ---------------------------------------------

_DEFAULT_DIMENSIONS: Final = 8  # small, so tests can compare whole vectors
_SPARSE_MAX_WORDS: Final = 512  # ELSER's input window; longer inputs are truncated


def _unit_values(seed: bytes, count: int) -> Iterator[int]:
    """``count`` unsigned 32-bit integers drawn from SHA-256(seed, counter)."""
    produced = counter = 0
    while produced < count:
        digest = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
        for i in range(0, 32, 4):
            if produced == count:
                return
            yield int.from_bytes(digest[i : i + 4], "big")
            produced += 1


def _embedding(inference_id: str, text: str, dimensions: int, element_type: str) -> list[Any]:
    """A dense vector reproducible from (inference_id, text).

    ``float``: values in [-1, 1) rounded to 6 decimals, so their shortest float32 form (what
    Jackson writes for a Java float) and Python's shortest float64 form are the same digits.
    ``byte``: signed bytes. ``bit``: ``dimensions / 8`` signed bytes of packed bits.
    """
    seed = _digest("embedding", inference_id, text)
    if element_type == "float":
        return [round(v / 2**31 - 1, 6) for v in _unit_values(seed, dimensions)]
    count = dimensions if element_type == "byte" else -(-dimensions // 8)
    return [(v & 0xFF) - 256 if v & 0x80 else v & 0xFF for v in _unit_values(seed, count)]


def _sparse_embedding(inference_id: str, text: str) -> tuple[dict[str, float], bool]:
    """Token weights for the text's words (lower-cased ``\\w+``), heaviest first.

    Only the first ``_SPARSE_MAX_WORDS`` words count; the flag says whether any were dropped.
    """
    words = _words(text)
    truncated = len(words) > _SPARSE_MAX_WORDS
    weights: dict[str, float] = {}
    for word in words[:_SPARSE_MAX_WORDS]:
        if word not in weights:
            raw = int.from_bytes(_digest("sparse", inference_id, word)[:4], "big")
            weights[word] = round(0.05 + raw / 2**32 * 2.95, 4)
    ordered = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ordered), truncated


def _relevance(query: str, document: str) -> float:
    """The share of the query's distinct words found in the document, rounded to 6 places."""
    query_words = set(_words(query))
    if not query_words:
        return 0.0
    return round(len(query_words & set(_words(document))) / len(query_words), 6)


def _rerank(
    query: str, documents: Sequence[str], top_n: int | None, return_documents: bool
) -> list[dict[str, Any]]:
    """RankedDocsResults: by score descending, ties by input position; ``top_n`` first."""
    ranked = sorted(
        ((i, _relevance(query, doc)) for i, doc in enumerate(documents)),
        key=lambda item: (-item[1], item[0]),
    )
    if top_n is not None:
        ranked = ranked[: max(top_n, 0)]
    result = []
    for index, score in ranked:
        entry: dict[str, Any] = {"index": index, "relevance_score": score}
        if return_documents:
            entry["text"] = documents[index]
        result.append(entry)
    return result


# --- endpoint management request bodies (§7) ------------------------------------------------

# §1 / Paths.java: TaskType values accepted in URLs ("any" means "no task type").
_TASK_TYPES: Final = (
    "text_embedding", "sparse_embedding", "rerank", "completion", "chat_completion",
    "embedding", "any",
)  # fmt: skip


def _parse_task_type(value: str, known: Collection[str] = _TASK_TYPES) -> str:
    # TaskType.fromStringOrStatusException: trimmed, case-insensitive; ``known`` is the
    # release's enum (Profile.task_types).
    task_type = value.strip().lower()
    if task_type not in known:
        raise _error(400, "status_exception", f"Unknown task_type [{value}]")
    return task_type


# MlStrings.isValidId.
_VALID_ID: Final = re.compile(r"[a-z0-9](?:[a-z0-9_\-.]*[a-z0-9])?")


def _check_id(inference_id: str) -> None:
    """Put/UpdateInferenceModelAction.Request.validate: Messages.INVALID_ID."""
    if not _VALID_ID.fullmatch(inference_id) or inference_id == "_all":
        raise _validation_error(
            f"Invalid inference_id; '{inference_id}' can contain lowercase alphanumeric (a-z and "
            "0-9), hyphens or underscores; must start and end with alphanumeric"
        )


def _load_json(body: bytes) -> Any:
    """Parse a request body as Elasticsearch's JSON parser would accept it.

    Raises:
        _EsError: 400 x_content_parse_exception for malformed JSON (orjson's wording stands in
            for Jackson's).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = f"[{exc.lineno}:{exc.colno}] {exc.msg}"
        raise _error(
            400,
            "x_content_parse_exception",
            reason,
            {"type": "json_parse_exception", "reason": exc.msg},
        ) from None


def _parse_settings_body(body: bytes) -> dict[str, Any]:
    """XContentHelper.convertToMap of a request body.

    Raises:
        _EsError: 400 x_content_parse_exception for malformed JSON or a non-object.
    """
    document = _load_json(body)
    if not isinstance(document, dict):
        token = _token_name(document)
        start = _skip_ws(body, 0)
        raise _parse_error(_location(body, start), f"Expected START_OBJECT but was: {token}")
    return document


def _resolve_task_type(
    url_task_type: str, body_task_type: Any, known: Collection[str] = _TASK_TYPES
) -> str:
    """ServiceUtils.resolveTaskType: the URL's or the body's task type, refusing conflicts."""
    if body_task_type is None:
        if url_task_type == "any":
            raise _error(400, "status_exception", "model is missing required setting [task_type]")
        return url_task_type
    parsed = _parse_task_type(str(body_task_type), known)
    if parsed == "any":
        raise _error(400, "status_exception", "task_type [any] is not valid type for inference")
    if url_task_type not in ("any", parsed):
        raise _error(
            400,
            "status_exception",
            "Cannot resolve conflicting task_type parameter in the request URL "
            f"[{url_task_type}] and the request body [{body_task_type}]",
        )
    return parsed


def _remove_map(config: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = config.pop(key, None)
    if value is None or isinstance(value, dict):
        return value
    # ServiceUtils.invalidTypeErrorMsg.
    raise _error(
        400,
        "status_exception",
        f"field [{key}] is not of the expected type. The value [{_java_str(value)}] cannot be "
        "converted to a [Map]",
    )


# ChunkingSettingsOptions defaults per strategy, in each settings class's key order.
_CHUNKING_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "sentence": {"max_chunk_size": 250, "sentence_overlap": 1},
    "word": {"max_chunk_size": 250, "overlap": 100},
    "recursive": {"max_chunk_size": 250},
    "none": {},
}


def _chunking_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """ChunkingSettingsBuilder: the strategy's settings with its defaults filled in."""
    strategy = str(settings.get("strategy", "sentence")).lower()
    if strategy not in _CHUNKING_DEFAULTS:
        message = (
            f"[chunking_settings] Invalid value [{strategy}] received. [strategy] must be one of "
            "[none, recursive, sentence, word]"
        )
        raise _error(400, "validation_exception", _validation_message([message]))
    result: dict[str, Any] = {"strategy": strategy}
    for key, default in _CHUNKING_DEFAULTS[strategy].items():
        result[key] = settings.get(key, default)
    for key, value in settings.items():
        result.setdefault(key, value)
    return result


def _check_service_settings(service: _Service, settings: Mapping[str, Any]) -> None:
    """A service's parseRequestConfig: required settings, then required secrets.

    Raises:
        _EsError: 400 validation_exception, one ValidationException per settings object.
    """
    for scope, keys in (
        ("service_settings", service.required),
        ("secret_settings", service.secrets),
    ):
        missing = [
            f"[{scope}] does not contain the required setting [{key}]"
            for key in keys
            if key not in settings
        ]
        if missing:
            raise _error(400, "validation_exception", _validation_message(missing))
