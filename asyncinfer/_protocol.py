"""Elasticsearch's Inference API semantics, sans I/O: requests in, tokens and errors out.

Nothing here awaits, touches a socket or reads the clock. ``_stream`` drives it.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import attrs
import orjson

from ._exceptions import InvalidRequestError, SSEProtocolError
from .sse import SSEDecoder

__all__ = [
    "DONE",
    "ErrorInfo",
    "Request",
    "chat_completion_request",
    "chat_stream_request",
    "completion_tokens",
    "error_from_body",
    "error_from_event",
    "format_time_value",
    "inference_request",
    "parse_cloud_id",
    "stream_completion_request",
    "string_inputs",
]

DONE = b"[DONE]"

# Plain types on both headers: a compatible-with type on one header only is a 400 (spec §2.2).
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}
# Whether Elasticsearch flushes a compressed stream per event is unknown (spec §2.1): a
# stream asks for no content coding at all.
STREAM_HEADERS = {
    "content-type": "application/json",
    "accept": "text/event-stream",
    "accept-encoding": "identity",
}

_PLAIN_ID = re.compile(r"[a-z0-9_\-]+")
_TIME_VALUE = re.compile(r"^(?:-1|0|\d+(?:\.\d+)?(?:d|h|m|s|ms|micros|nanos))$")
_TASK_TYPES = frozenset(
    {"text_embedding", "sparse_embedding", "rerank", "completion", "chat_completion", "embedding"}
)


def _exact_size(body: bytes | None) -> bytes | None:
    # orjson.dumps returns bytes that keep a 4 KiB allocation (orjson >= 3.12), and a Request
    # lives as long as its stream (kept for retries): 4.0 KB per open stream in a 10,000-stream
    # fan-out (16.5 vs 20.5 KB: benchmarks/ablate.py).
    return None if body is None else bytes(memoryview(body))


@attrs.frozen
class Request:
    """An HTTP request to send: the path is already escaped, the body already encoded."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = attrs.field(default=None, converter=_exact_size)
    headers: Mapping[str, str] = attrs.field(factory=lambda: dict(JSON_HEADERS))

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"``, for error messages and logs."""
        return f"{self.method} {self.path}"


def format_time_value(value: str | float) -> str:
    """An Elasticsearch time value (``"90s"``) from a string or a number of seconds.

    Raises:
        InvalidRequestError: Not a time value Elasticsearch accepts.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(f"server_timeout must be seconds or a time value, got {value!r}")
    if isinstance(value, int | float):
        if not value > 0:
            raise InvalidRequestError(f"server_timeout must be positive, got {value!r}")
        millis = max(round(value * 1000), 1)  # never "0s": Elasticsearch reads 0 as "unset"
        return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"
    if isinstance(value, str) and _TIME_VALUE.match(value.strip()):
        return value.strip()
    raise InvalidRequestError(
        f"server_timeout must be seconds or an Elasticsearch time value like '90s', got {value!r}"
    )


def _check_task_type(task_type: str | None) -> None:
    if task_type is not None and task_type not in _TASK_TYPES:
        raise InvalidRequestError(
            f"task_type must be one of {sorted(_TASK_TYPES)}, got {task_type!r} (an endpoint "
            "id goes in inference_id=)"
        )


def _inference_path(task_type: str | None, inference_id: str, suffix: str = "") -> str:
    if not isinstance(inference_id, str) or not inference_id.strip():
        raise InvalidRequestError(f"inference_id must be a non-empty string, got {inference_id!r}")
    _check_task_type(task_type)
    # safe="" escapes "/" too, so an id can never reach another route. Elasticsearch's own
    # ids (lowercase letters, digits, - and _) need no escape: skip quote()'s ~1.5 us.
    quoted = inference_id if _PLAIN_ID.fullmatch(inference_id) else quote(inference_id, safe="")
    # Interned: a fan-out to one endpoint holds one path string, not one per open stream.
    if task_type:
        return sys.intern(f"/_inference/{task_type}/{quoted}{suffix}")
    return sys.intern(f"/_inference/{quoted}{suffix}")


def _timeout_query(server_timeout: str | float | None) -> tuple[tuple[str, str], ...]:
    return () if server_timeout is None else (("timeout", format_time_value(server_timeout)),)


def _mapping(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"{name} must be a mapping, got {type(value).__name__}")
    return dict(value)


def string_inputs(value: Any, name: str = "input") -> str | list[str]:
    """A string, or a non-empty list of strings, as Elasticsearch's ``input`` takes.

    Raises:
        InvalidRequestError: Anything else, named.
    """
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError(f"{name} must not be empty")
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = list(value)
        if not items:
            raise InvalidRequestError(f"{name} must not be an empty list")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InvalidRequestError(
                    f"{name}[{i}] must be a string, got {type(item).__name__}"
                )
        return items
    raise InvalidRequestError(
        f"{name} must be a string or a list of strings, got {type(value).__name__}"
    )


def inference_request(
    task_type: str | None,
    inference_id: str,
    body: Mapping[str, Any],
    *,
    server_timeout: str | float | None = None,
) -> Request:
    """``POST /_inference/[{task_type}/]{id}`` with a JSON body (spec §6.1)."""
    return Request(
        "POST",
        _inference_path(task_type, inference_id),
        _timeout_query(server_timeout),
        orjson.dumps(dict(body)),
    )


def chat_completion_request(
    inference_id: str, body: Mapping[str, Any], *, server_timeout: str | float | None = None
) -> Request:
    """``POST /_inference/chat_completion/{id}``: the whole answer as JSON (9.6+, spec §4.4)."""
    return Request(
        "POST",
        _inference_path("chat_completion", inference_id),
        _timeout_query(server_timeout),
        orjson.dumps(dict(body)),
    )


def chat_stream_request(
    inference_id: str, body: Mapping[str, Any], *, server_timeout: str | float | None = None
) -> Request:
    """``POST /_inference/chat_completion/{id}/_stream`` (spec §4.3)."""
    return Request(
        "POST",
        _inference_path("chat_completion", inference_id, "/_stream"),
        _timeout_query(server_timeout),
        orjson.dumps(dict(body)),
        STREAM_HEADERS,
    )


def stream_completion_request(
    inference_id: str,
    input: str,
    *,
    task_settings: Mapping[str, Any] | None = None,
    server_timeout: str | float | None = None,
) -> Request:
    """``POST /_inference/completion/{id}/_stream`` with ``{"input": ..., "task_settings": ...}``.

    Raises:
        InvalidRequestError: ``input`` is not a non-empty string, or another argument is invalid.
    """
    if not isinstance(input, str):
        kind = "a list" if isinstance(input, list | tuple) else type(input).__name__
        raise InvalidRequestError(
            f"input must be a string for a completion stream (Elasticsearch streams a single "
            f"prompt), got {kind}"
        )
    if not input:
        raise InvalidRequestError("input must not be empty")
    body: dict[str, Any] = {"input": input}
    settings = _mapping(task_settings, "task_settings")
    if settings is not None:
        body["task_settings"] = settings
    return Request(
        "POST",
        _inference_path("completion", inference_id, "/_stream"),
        _timeout_query(server_timeout),
        orjson.dumps(body),
        STREAM_HEADERS,
    )


def completion_tokens(payloads: list[bytes]) -> tuple[list[str], SSEProtocolError | None]:
    """The non-empty deltas of completion ``message`` events, in order.

    Accepts ``{"completion":[{"delta": ...}, ...]}`` and the non-streaming fallback
    ``{"completion":[{"result": ...}]}`` (spec §3.2). Empty deltas (the first event usually
    carries one) are not tokens. This is the client's hot path: one call per network read.

    Returns:
        The tokens, and the error for the first payload that is not JSON or not a completion
        chunk (``None`` if all were); the tokens are those of the payloads before it.
    """
    tokens: list[str] = []
    append = tokens.append
    loads = orjson.loads
    data = b""
    try:
        for data in payloads:
            for item in loads(data)["completion"]:
                delta = item.get("delta")
                if delta is None:
                    delta = item["result"]
                if delta.__class__ is not str:
                    raise TypeError
                if delta:
                    append(delta)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        bad = payloads.index(data)
        repaired = utf8_repaired(data) if isinstance(exc, orjson.JSONDecodeError) else None
        if repaired is not None:  # orjson refuses invalid UTF-8; SSE reads it as U+FFFD
            return completion_tokens([*payloads[:bad], repaired, *payloads[bad + 1 :]])
        # Keep only the tokens of the events before the bad one.
        good = payloads[:bad]
        kept, _ = completion_tokens(good) if good else ([], None)
        return kept, SSEProtocolError(
            f"message event is not a completion chunk ({_describe(exc)}): {_excerpt(data)}"
        )
    return tokens, None


# Elasticsearch's completion chunk around its deltas: {"completion":[{"delta":…},{"delta":…}]}
_DELTAS_OPEN = b'{"completion":[{"delta":'
_DELTAS_CLOSE = b"}]}"
_NEXT_DELTA = b'},{"delta":'


def completion_block_tokens(block: bytes, events: int, separator: bytes) -> list[str] | None:
    """The non-empty deltas of ``events`` completion events whose data ``block`` joins with
    ``separator``, if every one is exactly ``{"completion":[{"delta":<string>}, ...]}``
    (Elasticsearch's bytes); ``None`` otherwise: then parse each with
    :func:`completion_tokens`, which also names a bad one. No data may hold an LF (SSE data
    lines cannot).

    The hot path of a completion stream: one ``orjson.loads`` per delta *string*, where
    parsing each chunk builds two dicts, a list and the string. It is exact, not a guess:
    the separator starts with the only two line ends in a row that the block can hold (no
    data holds one), so the pattern "close, separator, open" can match only at an event
    boundary, and ``events`` matches mean every event opens and closes as above. Each piece
    between them (and between ``},{"delta":`` inside an event) must then parse, alone, as one
    JSON string, so each event is exactly that chunk with those deltas.
    """
    if not (block.startswith(_DELTAS_OPEN) and block.endswith(_DELTAS_CLOSE)):
        return None
    pieces = block[len(_DELTAS_OPEN) : -len(_DELTAS_CLOSE)].split(
        _DELTAS_CLOSE + separator + _DELTAS_OPEN
    )
    if len(pieces) != events:
        return None  # an event shaped otherwise
    loads = orjson.loads
    try:
        # One parse for the read: joined with LF-comma, the pieces form an array of exactly
        # len(pieces) strings only if each is one string. No piece holds an LF and a string
        # cannot, so each LF lies between two values, and the comma after it is one of the
        # array's len(pieces) - 1 commas: the pieces hold none, and each is one value.
        values: list[Any] | None = loads(b"[" + b"\n,".join(pieces) + b"]")
    except orjson.JSONDecodeError:
        values = None
    if values is None or len(values) != len(pieces):
        try:  # several deltas in an event (or something else entirely): piece by piece
            values = [loads(value) for piece in pieces for value in piece.split(_NEXT_DELTA)]
        except orjson.JSONDecodeError:
            return None
    if set(map(type, values)) != {str}:
        return None  # a delta that is a number, an object...: not a completion chunk
    tokens: list[str] = values if "" not in values else [value for value in values if value]
    return tokens


def utf8_repaired(data: bytes) -> bytes | None:
    """``data`` with each invalid UTF-8 sequence replaced by U+FFFD, as SSE decoding requires
    (WHATWG HTML §9.2.6: "UTF-8 decode"), or ``None`` if it was valid UTF-8. Called only once
    orjson refused the bytes, so valid events never pay for a decode."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace").encode()
    return None


def loads_event(data: bytes) -> Any:
    """``orjson.loads`` of an event's data, reading invalid UTF-8 as U+FFFD.

    Raises:
        orjson.JSONDecodeError: The data is not JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        repaired = utf8_repaired(data)
        if repaired is None:
            raise
        return orjson.loads(repaired)


def _describe(exc: Exception) -> str:
    if isinstance(exc, orjson.JSONDecodeError):
        return "invalid JSON"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return "unexpected shape"


def _excerpt(data: bytes, limit: int = 200) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > limit else ""))


@attrs.frozen
class ErrorInfo:
    """What an error body says, whatever its shape."""

    error_type: str | None
    reason: str | None
    body: Any
    status: int | None = None
    code: str | None = None


# "Type[message]": the error string when http.detailed_errors.enabled is false (spec §5.1).
_SIMPLE_ERROR = re.compile(r"^(\w+)\[(.*)\]$", re.DOTALL)


def _status_of_code(code: Any) -> int | None:
    """``"too_many_requests"`` → 429: chat errors name their status only this way (§5.4)."""
    try:
        return HTTPStatus[str(code).upper()].value
    except KeyError:
        return None


def _error_from_json(payload: Any) -> ErrorInfo:
    status = payload.get("status") if isinstance(payload, dict) else None
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        # The standard envelope has type/reason; the OpenAI-style chat shape (spec §5.4) has
        # type/message/code and no status.
        reason = error.get("reason", error.get("message"))
        code = _str_or_none(error.get("code"))
        if status is None and code is not None:
            status = _status_of_code(code)
        return ErrorInfo(
            _str_or_none(error.get("type")), _str_or_none(reason), payload, status, code
        )
    if isinstance(error, str):
        match = _SIMPLE_ERROR.match(error)
        if match:
            return ErrorInfo(match[1], match[2], payload, status)
        return ErrorInfo(None, error, payload, status)
    return ErrorInfo(None, None, payload, status)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_event(data: bytes) -> ErrorInfo:
    """Interpret the data of an ``event: error``."""
    try:
        payload = loads_event(data)
    except orjson.JSONDecodeError:
        text = data.decode("utf-8", "replace")
        return ErrorInfo(None, text.strip() or None, text)
    return _error_from_json(payload)


def error_from_body(content_type: str, body: bytes) -> ErrorInfo:
    """Interpret the body of a non-2xx response: JSON, or an SSE ``event: error`` (spec §5.2)."""
    if content_type.startswith("text/event-stream"):
        decoder = SSEDecoder(bom_every_event=True, max_event_bytes=max(len(body), 1))
        events = decoder.feed_raw(body + b"\n\n")
        for _event, data, _id, _retry in events:
            return error_from_event(data)
        return ErrorInfo(None, None, body.decode("utf-8", "replace"))
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        return ErrorInfo(None, text.strip()[:500] or None, text)
    return _error_from_json(payload)


def parse_cloud_id(cloud_id: str) -> str:
    """The HTTPS URL of an Elastic Cloud deployment's Elasticsearch (spec §2.4).

    ``<name>:base64(<host>[:<port>]$<es_uuid>[$<kibana_uuid>])`` gives
    ``https://<es_uuid>.<host>:<port or 443>``.

    Raises:
        InvalidRequestError: The id is malformed; the message says what is missing.
    """
    if not isinstance(cloud_id, str) or ":" not in cloud_id:
        raise InvalidRequestError("cloud_id must look like '<name>:<base64 data>'; no ':' found")
    _name, _, data = cloud_id.partition(":")
    try:
        decoded = base64.b64decode(data.encode("ascii"), validate=False).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidRequestError("cloud_id: the part after ':' is not base64 text") from None
    parts = decoded.split("$")
    host = parts[0]
    if len(parts) < 2 or not parts[1] or not host:
        raise InvalidRequestError("Cloud ID missing host and port information for Elasticsearch")
    port = "443"
    if ":" in host:
        host, _, port = host.partition(":")
        if not port.isdigit():
            raise InvalidRequestError(f"cloud_id: the port {port!r} is not a number")
    return f"https://{parts[1]}.{host}:{port}"
