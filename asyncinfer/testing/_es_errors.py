"""Elasticsearch's error bodies, statuses and messages, as the emulator sends them.

Section numbers (§) refer to ``/work/shared/spec/es-inference-wire.md``. Two body shapes exist:
the standard envelope ``{"error":{"root_cause":[…],"type","reason"},"status":N}`` (§5.1) and,
for ``chat_completion`` since 8.18, the OpenAI-style ``{"error":{"code","message","type"}}``
without a ``status`` key (§5.4, ``UnifiedChatCompletionException``).
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import Any, Final

__all__: list[str] = []  # private module


class _EsError(Exception):
    """An Elasticsearch error response: status, JSON body, extra headers."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(
    status: int, error_type: str, reason: str, caused_by: Mapping[str, Any] | None = None
) -> _EsError:
    # §5.1, ElasticsearchException.generateFailureXContent: root_cause entries never carry
    # caused_by (REST_EXCEPTION_SKIP_CAUSE); the top-level error does.
    inner: dict[str, Any] = {
        "root_cause": [{"type": error_type, "reason": reason}],
        "type": error_type,
        "reason": reason,
    }
    if caused_by is not None:
        inner["caused_by"] = dict(caused_by)
    return _EsError(status, {"error": inner, "status": status})


def _simple_error(status: int, message: str) -> _EsError:
    # RestResponse.createSimpleErrorResponse: {"error":"<message>","status":N}.
    return _EsError(status, {"error": message, "status": status})


def _parse_error(location: tuple[int, int], message: str) -> _EsError:
    # XContentParseException: "[line:column] message", type x_content_parse_exception, 400.
    return _error(400, "x_content_parse_exception", f"[{location[0]}:{location[1]}] {message}")


def _validation_error(*messages: str) -> _EsError:
    # §5.6 ActionRequestValidationException.getMessage: "Validation Failed: 1: <msg>;2: …;".
    return _error(400, "action_request_validation_exception", _validation_message(messages))


def _validation_message(messages: tuple[str, ...] | list[str]) -> str:
    return "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, 1))


# Error types of exceptions that are not ElasticsearchExceptions (IllegalArgumentException and
# its subclasses ValidationException, ActionRequestValidationException, XContentParseException;
# plain Java ones): guessRootCauses wraps each in an ElasticsearchException whose cause it is.
_NOT_ES_EXCEPTIONS: Final = frozenset(
    {
        "action_request_validation_exception",
        "illegal_argument_exception",
        "illegal_state_exception",
        "i_o_exception",
        "json_parse_exception",
        "null_pointer_exception",
        "number_format_exception",
        "runtime_exception",
        "unsupported_operation_exception",
        "validation_exception",
        "x_content_parse_exception",
    }
)


def _legacy_stream_error(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """An SSE error body as 8.16-8.17 wrote it (ServerSentEventsRestActionListener.errorChunk).

    That listener rendered root causes with the request's own params, not with
    REST_EXCEPTION_SKIP_CAUSE, so a root cause that has a cause shows it: a wrapped non-ES
    exception (its cause is itself) or an ES exception caused by a non-ES one. ES's test
    testOnFailure pins ``"root_cause":[{"type":…,"reason":…,"caused_by":{…}}]``. Other shapes
    (simple errors, the OpenAI-style chat shape) are returned unchanged.
    """
    inner = body.get("error")
    if not isinstance(inner, Mapping) or "root_cause" not in inner:
        return body
    itself = {k: v for k, v in inner.items() if k != "root_cause"}
    causes = []
    for cause in inner["root_cause"]:
        entry = dict(cause)
        if (entry.get("type"), entry.get("reason")) == (inner.get("type"), inner.get("reason")):
            if inner.get("type") in _NOT_ES_EXCEPTIONS:
                entry["caused_by"] = itself
            elif "caused_by" in inner:
                entry["caused_by"] = inner["caused_by"]
        causes.append(entry)
    return {**body, "error": {**inner, "root_cause": causes}}


def _not_found(inference_id: str) -> _EsError:
    # ModelRegistry: ResourceNotFoundException("Inference endpoint not found [{}]").
    return _error(
        404, "resource_not_found_exception", f"Inference endpoint not found [{inference_id}]"
    )


# RestStatus enum names (lower-cased by UnifiedChatCompletionException.fromThrowable, §5.4)
# where they differ from, or are missing in, http.HTTPStatus on some Python versions.
_REST_STATUS_NAMES: Final = {
    413: "request_entity_too_large",
    416: "requested_range_not_satisfied",
    422: "unprocessable_entity",
}


def _status_name(status: int) -> str:
    """``RestStatus.name().toLowerCase()``: ``not_found``, ``too_many_requests``, …"""
    if status in _REST_STATUS_NAMES:
        return _REST_STATUS_NAMES[status]
    try:
        return http.HTTPStatus(status).name.lower()
    except ValueError:
        return "unknown"


def _unified_error(
    status: int, message: str, error_type: str, code: str | None = None, param: str | None = None
) -> _EsError:
    """§5.4: ``{"error":{"code"?,"message","param"?,"type"}}`` in this key order, no status."""
    inner: dict[str, Any] = {}
    if code is not None:
        inner["code"] = code
    inner["message"] = message
    if param is not None:
        inner["param"] = param
    inner["type"] = error_type
    return _EsError(status, {"error": inner})


def _unified_from(err: _EsError) -> _EsError:
    """UnifiedChatCompletionException.fromThrowable: the ES exception re-rendered (§5.4).

    ``type`` is the exception's name and ``code`` the lower-case status name.
    """
    inner = err.body["error"]
    code = _status_name(err.status)
    if isinstance(inner, Mapping) and "reason" in inner:
        result = _unified_error(err.status, inner["reason"], inner["type"], code)
    else:  # a simple error string: there is no type to keep
        result = _unified_error(err.status, str(inner), "exception", code)
    result.headers.update(err.headers)
    return result


# §5.5, BaseResponseHandler: message prefixes by provider status.
_PROVIDER_PREFIXES: Final = {
    400: "Received a bad request status code",
    401: "Received an authentication error status code",
    403: "Received a permission denied error status code",
    405: "Received a method not allowed status code",
    413: "Received a content too large status code",
    429: "Received a rate limit status code",
}
_SERVER_ERROR: Final = "Received a server error status code"
_UNSUCCESSFUL: Final = "Received an unsuccessful status code"
_REDIRECTION: Final = "Unhandled redirection"
_SERVER_ERROR_OBJECT: Final = "Received an error response"


def _provider_prefix(provider_status: int, not_found_url: str | None) -> str:
    if provider_status >= 500:
        return _SERVER_ERROR
    if 300 <= provider_status < 400:
        return _REDIRECTION
    if provider_status == 404 and not_found_url is not None:
        # OpenAI-family handlers (OpenAiResponseHandler) name the URL on a 404.
        return f"Resource not found at [{not_found_url}]"
    return _PROVIDER_PREFIXES.get(provider_status, _UNSUCCESSFUL)


def _provider_failure(
    inference_id: str,
    provider_status: int,
    provider_message: str | None,
    not_found_url: str | None = None,
) -> tuple[int, str]:
    """The status ES answers and the message it writes for a provider's HTTP error (§5.5).

    BaseResponseHandler.toRestStatus: a provider status below 500 passes through, 500 and
    above becomes 400. constructErrorMessage adds ``. Error message: […]`` only when the
    provider's error body had a message.
    """
    status = provider_status if provider_status < 500 else 400
    message = (
        f"{_provider_prefix(provider_status, not_found_url)} for request from inference entity "
        f"id [{inference_id}] status [{provider_status}]"
    )
    if provider_message:
        message += f". Error message: [{provider_message}]"
    return status, message


def _java_str(value: Any) -> str:
    """Java's ``toString`` of a parsed JSON value: ``{k=v, k2=[a, b]}`` (AbstractMap/List).

    ES prints request maps this way in "unknown settings" errors. Java's HashMap order is
    hash-based; insertion order stands in for it.
    """
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- suggestions for unknown names (SuggestingErrorOnUnknown) -----------------------------------


def _similarity(a: str, b: str) -> float:
    """Lucene's LevenshteinDistance.getDistance: 1 - distance / max(len)."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def _suggestions(name: str, candidates: set[str]) -> list[str]:
    # Candidates scoring above 0.5, best first, then by name (SuggestingErrorOnUnknown).
    scored = sorted(
        ((s, c) for c in candidates if (s := _similarity(name, c)) > 0.5),
        key=lambda sc: (-sc[0], sc[1]),
    )
    return [c for _, c in scored]


def _did_you_mean(keys: list[str]) -> str:
    if not keys:
        return ""
    if len(keys) == 1:
        return f"did you mean [{keys[0]}]?"
    return f"did you mean any of [{', '.join(keys)}]?"


# --- locations, the way Jackson reports them --------------------------------------------------


def _location(body: bytes, offset: int) -> tuple[int, int]:
    """Jackson's 1-based line and byte column of ``offset``."""
    line = 1
    line_start = 0
    i = 0
    while i < offset:
        byte = body[i]
        if byte == 0x0A or (byte == 0x0D and body[i + 1 : i + 2] != b"\n"):
            line += 1
            line_start = i + 1
        i += 1
    return line, offset - line_start + 1


def _token_name(value: Any) -> str:
    # XContentParser.Token names, as ES prints them in parse errors.
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_NUMBER"
