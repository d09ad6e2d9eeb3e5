"""The inference request body, parsed and validated the way ES's strict ObjectParser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import attrs
import orjson

from ._es_errors import (
    _did_you_mean,
    _location,
    _parse_error,
    _suggestions,
    _token_name,
    _validation_error,
)
from ._es_models import (
    _load_json,
)
from ._object_parser import (
    _skip_string,
    _skip_value,
    _skip_ws,
)

# ES source: InferenceAction.NAME names the strict ObjectParser in "unknown field" errors.
_INFERENCE_PARSER: Final = "cluster:internal/xpack/inference"


# §4.2 / InferenceAction.Request.PARSER: the only keys the strict body parser accepts.
_BODY_FIELDS: Final = (
    "input", "input_type", "task_settings", "query", "return_documents", "top_n", "timeout",
)  # fmt: skip


_INPUT_TYPES: Final = ("ingest", "search", "classification", "clustering")


_TIME_VALUE: Final = re.compile(r"(\d+)\s*(nanos|micros|ms|s|m|h|d)")


def _top_level_fields(body: bytes) -> Iterator[tuple[str, int, int]]:
    """(key, key offset, value offset) of a JSON object already known to be valid."""
    i = _skip_ws(body, 0) + 1
    while True:
        i = _skip_ws(body, i)
        if body[i] == 0x7D:  # "}"
            return
        key_start = i
        i = _skip_string(body, i)
        key: str = orjson.loads(body[key_start:i])
        i = _skip_ws(body, i) + 1  # ":"
        value_start = _skip_ws(body, i)
        i = _skip_value(body, value_start)
        yield key, key_start, value_start
        i = _skip_ws(body, i)
        if body[i] == 0x2C:  # ","
            i += 1


# ObjectParser ValueType: the tokens each declared field accepts.
_FIELD_TOKENS: Final = {
    "input": ("START_ARRAY", "VALUE_STRING"),  # declareStringArray
    "input_type": ("VALUE_STRING",),
    "task_settings": ("START_OBJECT",),
    "query": ("VALUE_STRING",),
    "return_documents": ("VALUE_BOOLEAN", "VALUE_STRING"),
    "top_n": ("VALUE_NUMBER", "VALUE_STRING"),
    "timeout": ("VALUE_STRING",),
}


@attrs.frozen
class _InferenceBody:
    input: list[str] | None
    input_type: str | None
    query: str | None
    return_documents: bool | None
    top_n: int | None
    task_settings: dict[str, Any] | None = None


def _parse_inference_body(body: bytes, parser: str = _INFERENCE_PARSER) -> _InferenceBody:
    """InferenceAction.Request.PARSER (§4.2): strict, first failure in document order wins.

    ``parser`` is the parser's name in its errors (Profile.inference_parser).

    Raises:
        _EsError: x_content_parse_exception as ES reports it. Jackson's own wording for
            malformed JSON is not reproduced; orjson's message stands in for it.
    """
    document = _load_json(body)
    start = _skip_ws(body, 0)
    if not isinstance(document, dict):
        # ObjectParser.throwExpectedStartObject.
        token = _token_name(document)
        raise _parse_error(_location(body, start), f"Expected START_OBJECT but was: {token}")
    fields: dict[str, Any] = {}
    for key, key_offset, value_offset in _top_level_fields(body):
        key_location = _location(body, key_offset)
        value_location = _location(body, value_offset)
        if key in fields:
            # Jackson STRICT_DUPLICATE_DETECTION (on in ES); Jackson's location suffix omitted.
            raise _parse_error(key_location, f"Duplicate field '{key}'")
        value = orjson.loads(body[value_offset : _skip_value(body, value_offset)])
        fields[key] = value
        if key not in _FIELD_TOKENS:
            message = f"[{parser}] unknown field [{key}]"
            hint = _did_you_mean(_suggestions(key, set(_BODY_FIELDS)))
            raise _parse_error(key_location, f"{message} {hint}" if hint else message)
        token = _token_name(value)
        if token not in _FIELD_TOKENS[key]:
            raise _parse_error(
                value_location,
                f"[{parser}] {key} doesn't support values of type: {token}",
            )
        if not _field_value_ok(key, value):
            raise _parse_error(value_location, f"[{parser}] failed to parse field [{key}]")
    raw_input = fields.get("input")
    if isinstance(raw_input, str):
        inputs: list[str] | None = [raw_input]
    elif isinstance(raw_input, list):
        inputs = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in raw_input]
    else:
        inputs = None
    top_n = fields.get("top_n")
    documents = fields.get("return_documents")
    return _InferenceBody(
        input=inputs,
        input_type=fields.get("input_type"),
        query=fields.get("query"),
        return_documents=None if documents is None else documents in (True, "true"),
        top_n=None if top_n is None else int(top_n),
        task_settings=fields.get("task_settings"),
    )


def _field_value_ok(key: str, value: Any) -> bool:
    if key == "input" and isinstance(value, list):
        return all(isinstance(v, str | int | float) for v in value)
    if key == "input_type":
        return str(value).strip().lower() in _INPUT_TYPES
    if key == "return_documents" and isinstance(value, str):
        return value in ("true", "false")
    if key == "top_n":
        return isinstance(value, int) or bool(re.fullmatch(r"-?\d+", str(value)))
    if key == "timeout":
        return _parse_time_value(value) is not None
    return True


def _parse_time_value(value: str) -> float | None:
    """TimeValue.parseTimeValue: seconds, or None if ES would refuse the string."""
    text = value.strip().lower()
    if text in ("-1", "0"):
        return float(text)
    match = _TIME_VALUE.fullmatch(text)
    if match is None:
        return None
    scale = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(match.group(1)) * scale[match.group(2)]


def _validate(task_type: str, body: _InferenceBody) -> None:
    """InferenceAction.Request.validate() (§5.6), in its order."""
    if body.input is None:
        raise _validation_error("Field [input] cannot be null")
    if not body.input:
        raise _validation_error("Field [input] cannot be an empty array")
    if task_type == "rerank":
        if body.query is None:
            raise _validation_error("Field [query] cannot be null for task type [rerank]")
        if not body.query:
            raise _validation_error("Field [query] cannot be empty for task type [rerank]")
    elif task_type != "any":
        if body.return_documents is not None:
            raise _validation_error(
                f"Field [return_documents] cannot be specified for task type [{task_type}]"
            )
        if body.top_n is not None:
            raise _validation_error(
                f"Field [top_n] cannot be specified for task type [{task_type}]"
            )
    if task_type in ("text_embedding", "sparse_embedding") and body.query is not None:
        raise _validation_error(f"Field [query] cannot be specified for task type [{task_type}]")
    if task_type not in ("text_embedding", "embedding", "any") and body.input_type is not None:
        raise _validation_error(
            f"Field [input_type] cannot be specified for task type [{task_type}]"
        )
