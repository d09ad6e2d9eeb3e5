"""An in-process Elasticsearch emulator that reproduces the Inference API's bytes.

Section numbers (§) refer to ``/work/shared/spec/es-inference-wire.md``. Strings marked "ES
source" were read in ``elastic/elasticsearch``; the report that accompanies this module lists
them. The emulator answers like Elasticsearch 9.x (8.18+ body parsing in the proxy action, so
parse and validation errors on ``_stream`` are SSE-formatted, §5.2).

How a request travels, mirroring ES's layers so that errors come out in ES's order:

1. HTTP layer: compatible-with header rules (§2.2) -> plain JSON 400.
2. RestController: routing (400 ``no handler found``/405), Content-Type check (406).
3. REST handler: path params, required body, ``timeout`` parsing, unknown query params -> JSON.
4. Inference proxy/transport action: body parsing, validation, endpoint lookup, task type and
   streaming checks -> on ``_stream`` an SSE ``event: error`` with the real status (§5.2).
5. The "provider": the deterministic model below, shaped by scripted :class:`Fault` s.

Routes (the table ``_ROUTES`` at the end; one handler each):

- ``GET /``; ``GET _inference[/_all|/{id}|/{task_type}/{id}|/{task_type}/_all]`` (§7.2).
- ``PUT _inference[/{task_type}]/{id}`` (§7.1), ``PUT _inference[/{task_type}]/{id}/_update``
  (§7.4), ``DELETE _inference[/{task_type}]/{id}[?dry_run][&force]`` (§7.3),
  ``GET _inference/_services[/{task_type}]`` (§7.5). Known services: ``cohere``, ``elastic``,
  ``elasticsearch``, ``emulator``, ``hugging_face``, ``openai`` (``_es_models._SERVICES``).
- ``POST _inference[/{task_type}]/{id}`` (§6): completion, text_embedding (float, byte, bit),
  sparse_embedding, rerank; chat_completion is refused (stream-only up to 9.5, §4.4).
- ``POST _inference[/{task_type}]/{id}/_stream`` (§4): completion deltas, or OpenAI-like
  chat chunks (with tool calls) when the endpoint or URL is ``chat_completion``.

Request parsers and the deterministic models live in ``_es_models``; error bodies and
messages in ``_es_errors``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote

import attrs
import orjson
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict, CIMultiDictProxy

from ._es_errors import (
    _SERVER_ERROR_OBJECT,
    _did_you_mean,
    _error,
    _EsError,
    _java_str,
    _location,
    _not_found,
    _parse_error,
    _provider_failure,
    _simple_error,
    _status_name,
    _suggestions,
    _token_name,
    _unified_error,
    _unified_from,
    _validation_error,
)
from ._es_models import (
    _DEFAULT_DIMENSIONS,
    _GENERIC_SERVICE,
    _SECRET_KEYS,
    _SERVICES,
    _TASK_TYPES,
    _chat_chunks,
    _ChatRequest,
    _check_id,
    _check_service_settings,
    _chunking_settings,
    _embedding,
    _group,
    _load_json,
    _parse_chat_body,
    _parse_settings_body,
    _parse_task_type,
    _ParseFailure,
    _prompt_text,
    _remove_map,
    _rerank,
    _resolve_task_type,
    _Service,
    _services_catalogue,
    _skip_string,
    _skip_value,
    _skip_ws,
    _sparse_embedding,
    _update_settings,
)

__all__ = ["ElasticsearchEmulator", "Fault", "RecordedRequest"]

# --- wire constants ---------------------------------------------------------------------------

# §3.1: every event starts with a UTF-8 BOM, then "event: <type>\ndata: <payload>\n\n".
_BOM: Final = b"\xef\xbb\xbf"
_SSE_CONTENT_TYPE: Final = "text/event-stream"  # §2.1: exactly this, no charset
_JSON_CONTENT_TYPE: Final = "application/json"
_PRODUCT_HEADER: Final = "X-elastic-product"  # §2.1, RestController.ELASTIC_PRODUCT_HTTP_HEADER
_OPAQUE_ID_HEADER: Final = "X-Opaque-Id"  # §2.1, echoed by DefaultRestChannel

# add_endpoint's defaults, also used for endpoints created with PUT.
_DEFAULT_ANSWER_TOKENS: Final = 40
_DEFAULT_DELTAS_PER_EVENT: Final = 3
# ES source: InferenceAction.NAME names the strict ObjectParser in "unknown field" errors.
_INFERENCE_PARSER: Final = "cluster:internal/xpack/inference"
# §4.2 / InferenceAction.Request.PARSER: the only keys the strict body parser accepts.
_BODY_FIELDS: Final = (
    "input", "input_type", "task_settings", "query", "return_documents", "top_n", "timeout",
)  # fmt: skip
_INPUT_TYPES: Final = ("ingest", "search", "classification", "clustering")
# ES source: params every handler consumes (AbstractRestChannel, validateErrorTrace);
# BaseRestHandler suggests them for unrecognized parameters.
_GLOBAL_PARAMS: Final = frozenset({"error_trace", "filter_path", "format", "human", "pretty"})
# RestRequest.Method in enum order, so "allowed: [...]" lists are deterministic (ES prints a
# HashSet whose order is not).
_METHOD_ORDER: Final = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
# Media types RestController accepts as a request Content-Type (XContentType registry).
_XCONTENT_TYPES: Final = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/*",
        "application/smile",
        "application/yaml",
        "application/cbor",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson",
        "application/vnd.elasticsearch+smile",
        "application/vnd.elasticsearch+yaml",
        "application/vnd.elasticsearch+cbor",
    }
)
# RestController.SAFELISTED_MEDIA_TYPES: refused to prevent CSRF.
_SAFELISTED_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
_TCHAR: Final = re.compile(r"[a-zA-Z0-9!#$%&'*+\-.^_`|~]+")  # RFC 7230 tchar, as in RestRequest
_TIME_VALUE: Final = re.compile(r"(\d+)\s*(nanos|micros|ms|s|m|h|d)")

# ES's default http.max_content_length is 100mb; aiohttp's default of 1 MiB would refuse less.
_MAX_BODY_BYTES: Final = 100 * 1024 * 1024
# A handler still running at close() is given this long before aiohttp cancels it.
_SHUTDOWN_TIMEOUT_S: Final = 1.0
# wait_for_connections()/wait_closed() poll at this interval when used from another loop.
_POLL_INTERVAL_S: Final = 0.005

# The deterministic model's vocabulary. Non-ASCII words (2-, 3- and 4-byte UTF-8) make
# write_size splits land inside multi-byte characters.
# Sentences the default model strings together, chosen by a hash of the input: plausible enough
# for a demo, and with non-ASCII words so that every stream exercises UTF-8.
_SENTENCES: Final = (
    "Elasticsearch stores documents in an index that is split into shards.",
    "Each shard is a Lucene index made of immutable segments.",
    "A query is scored for relevance, with BM25 by default.",
    "Dense vector search finds the nearest neighbours of an embedding.",
    "The inference API calls a model service and streams its answer back token by token.",
    "Replicas keep copies of every shard on other nodes of the cluster.",
    "A refresh makes recent writes visible to search within about a second.",
    "Analyzers split text into tokens, so naïve and café match their plain spellings.",
    "ELSER adds sparse vectors for semantic search without fine-tuning.",
    "Users in 日本 and Deutschland want an Überblick in their own language.",
    "Latency stays low when the mapping fits the data. 🦌",
    "Hybrid search blends lexical and semantic scores with reciprocal rank fusion.",
)
_ECHO_WORDS: Final = 3


# orjson writes "\u001f"; Jackson writes "\u001F" (CharTypes.HC is upper case). Only escapes
# preceded by an even number of backslashes are escapes, not escaped backslashes.
_LOWER_ESCAPE: Final = re.compile(rb"(?<!\\)((?:\\\\)*)\\u00([0-9a-f]{2})")


def _json(value: Any) -> bytes:
    """Compact JSON as Jackson writes it: raw UTF-8, short escapes, upper-case hex escapes."""
    data = orjson.dumps(value)
    if b"\\u00" in data:
        data = _LOWER_ESCAPE.sub(lambda m: m.group(1) + b"\\u00" + m.group(2).upper(), data)
    return data


def _sse_event(event: str, data: bytes) -> bytes:
    return _BOM + b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


_DONE_EVENT: Final = _sse_event("message", b"[DONE]")  # §3.2 ServerSentEventDoneBodyPart


# --- public value types -----------------------------------------------------------------------


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _status_code(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 100 <= value <= 599:
        raise ValueError(f"{attribute.name} must be an HTTP status (100-599), got {value!r}")


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _headers_copy(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else dict(value)


@attrs.frozen(kw_only=True)
class Fault:
    """A scripted misbehaviour for the next matching request(s); see ``add_fault``.

    Every field is optional and they compose. "N events" counts ``message`` events that carry
    deltas, the initial ``{"delta":""}`` event included; on a chat stream it counts chunk
    events, the role chunk and the usage chunk included. A termination (``error_after``,
    ``end_after``, ``drop_after``, ``stall_after``) whose N is at least the number of message
    events takes the place of ``[DONE]``. If several are set, the smallest N wins (ties: error,
    end, drop, stall).

    On JSON routes (GET/PUT/DELETE and non-streaming ``POST _inference``) the fields that make
    sense there apply: ``status`` (with ``retry_after``), ``provider_status``,
    ``first_event_delay`` (a delay before answering), the ``raw_*`` fields, ``drop_after``
    (any N: the connection is aborted before anything is sent) and ``stall_after`` (any N:
    nothing is ever sent). On ``chat_completion`` streams errors take the OpenAI-style shape
    ``{"error":{"code","message","type"}}`` (§5.4) with ``code`` the lower-case status name.

    Attributes:
        status: answer with this HTTP error before the stream: on ``_stream`` an SSE
            ``event: error`` (§5.2), on JSON routes the standard envelope (§5.1).
        error_type: the error ``type`` for ``status`` and ``error_after``.
        reason: the error ``reason`` for ``status`` and ``error_after``.
        retry_after: send a ``Retry-After`` header with the ``status`` error.
        first_event_delay: seconds before the first event, and so before the status line and
            headers, which ES sends only with the first event (§3.3).
        event_delay: seconds between events, overriding the endpoint's and emulator's delay.
        stall_after: after N events send nothing more; hold the connection until the client
            leaves (or the emulator closes).
        drop_after: after N events abort the TCP connection, leaving the chunked body
            incomplete.
        end_after: after N events end the chunked body cleanly, without ``[DONE]``.
        error_after: after N events send a mid-stream ``event: error`` (status stays 200),
            then end the body without ``[DONE]`` (§3.2, §5.3).
        error_status: the ``status`` inside the mid-stream error's data.
        write_size: re-chunk the whole body into writes of exactly this many bytes (the last
            may be shorter), splitting events anywhere, BOMs and UTF-8 sequences included.
        write_delay: seconds between two body writes (a trickle when used with write_size).
        raw_body: send exactly these bytes (chunked) instead of the generated body.
        raw_status: the status sent with ``raw_body``.
        raw_content_type: the Content-Type sent with ``raw_body``.
        raw_headers: extra headers sent with ``raw_body``.
        provider_status: the upstream provider answers this HTTP status (§5.5). ES maps it:
            below 500 it passes through, 500 and above becomes 400; the reason is ES's
            ``<prefix> for request from inference entity id [<id>] status [<N>]. Error
            message: [<provider_message>]`` (prefix by status, §5.5 table), type
            ``status_exception``. Applies to inference requests (``_stream`` and
            non-streaming); ``status`` wins if both are set.
        provider_message: the provider's error message quoted in that reason (omitted when
            None, as ES does when the provider's body has no message).
        provider_error_type: for chat streams, the provider's own error ``type`` (kept by
            ES's OpenAI-style errors, §5.4; default ``status_exception``). With
            ``error_after`` on a chat stream it makes the mid-stream error a provider error:
            ``Received an error response for request from inference entity id [<id>]. Error
            message: [<provider_message or reason>]`` with this type (§5.3).
        provider_error_code: for chat streams, the provider's own error ``code`` (default:
            the lower-case status name; omitted in a mid-stream provider error when None).

    Raises:
        ValueError: a negative delay or count, a write_size below 1, or a status outside
            100-599.
    """

    status: int | None = attrs.field(default=None, validator=_status_code)
    error_type: str = "status_exception"
    reason: str = "simulated failure"
    retry_after: str | None = None
    first_event_delay: float = attrs.field(default=0.0, validator=_non_negative)
    event_delay: float | None = attrs.field(default=None, validator=_non_negative)
    stall_after: int | None = attrs.field(default=None, validator=_non_negative)
    drop_after: int | None = attrs.field(default=None, validator=_non_negative)
    end_after: int | None = attrs.field(default=None, validator=_non_negative)
    error_after: int | None = attrs.field(default=None, validator=_non_negative)
    error_status: int = attrs.field(default=500, validator=_status_code)
    write_size: int | None = attrs.field(default=None, validator=_positive)
    write_delay: float = attrs.field(default=0.0, validator=_non_negative)
    raw_body: bytes | None = None
    raw_status: int = attrs.field(default=200, validator=_status_code)
    raw_content_type: str = _SSE_CONTENT_TYPE
    raw_headers: Mapping[str, str] | None = attrs.field(default=None, converter=_headers_copy)
    provider_status: int | None = attrs.field(default=None, validator=_status_code)
    provider_message: str | None = None
    provider_error_type: str | None = None
    provider_error_code: str | None = None

    def _termination(self) -> tuple[int, str] | None:
        candidates = [
            (n, action)
            for n, action in (
                (self.error_after, "error"),
                (self.end_after, "end"),
                (self.drop_after, "drop"),
                (self.stall_after, "stall"),
            )
            if n is not None
        ]
        # min() keeps the first of equal N, which is the documented tie order.
        return min(candidates, key=lambda c: c[0]) if candidates else None


_NO_FAULT: Final = Fault()


@attrs.define(kw_only=True, eq=False)
class RecordedRequest:
    """One request the emulator received, updated while its response is written.

    Attributes:
        method: the HTTP method.
        path: the path as sent (still percent-encoded), without the query string.
        query: the decoded query parameters.
        headers: the request headers (case-insensitive).
        body: the raw request body.
        json: the body parsed as JSON, or None if it is empty or not JSON.
        peer: the client's ``(host, port)``; equal for requests on one kept-alive connection.
        received_at: ``time.monotonic()`` when the request arrived.
        status: the status sent, or None while no status line has been written.
        events_sent: SSE events fully written (message, error and ``[DONE]`` events).
        bytes_sent: response body bytes written so far, updated after each write has drained,
            so a client that stops reading holds it still (TCP backpressure).
        completed: the response was finished normally.
        disconnected_at: ``time.monotonic()`` when the emulator saw the client leave before the
            response was finished (handler cancelled or a write failed), else None.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any | None
    peer: tuple[str, int] | None
    received_at: float
    status: int | None = None
    events_sent: int = 0
    bytes_sent: int = 0
    completed: bool = False
    disconnected_at: float | None = None
    _done: asyncio.Event = attrs.field(init=False, factory=asyncio.Event, repr=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(init=False, default=None, repr=False)
    _closed: bool = attrs.field(init=False, default=False, repr=False)

    @property
    def closed(self) -> bool:
        """True once the emulator's handler for this request has finished, either way."""
        return self._closed

    async def wait_closed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the API
        """Wait until the handler for this request has finished (normally or not).

        Works on the emulator's own loop and, by polling, from another loop or thread.

        Raises:
            TimeoutError: the handler is still running after ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                if self._loop is asyncio.get_running_loop():
                    await self._done.wait()
                else:
                    # Another loop cannot await this loop's Event, so it polls.
                    while not self._closed:  # noqa: ASYNC110
                        await asyncio.sleep(_POLL_INTERVAL_S)
        except TimeoutError:
            raise TimeoutError(
                f"the handler for {self.method} {self.path} was still running after {timeout}s"
            ) from None

    def _finish(self) -> None:
        self._closed = True
        self._done.set()


# --- the deterministic model ------------------------------------------------------------------


def _default_answer(inference_id: str, text: str, tokens: int) -> list[str]:
    """A short echo of the prompt, then sentences drawn by SHA-256 of the input, word by word.

    hashlib rather than hash(): the answer must be the same in every process and machine.
    """
    echo = []
    for word in text.split():
        printable = "".join(ch for ch in word if ch.isprintable())
        if printable:
            echo.append(printable)
        if len(echo) == _ECHO_WORDS:
            break
    seed = hashlib.sha256(f"{inference_id}\x00{text}".encode()).digest()
    words = echo[:tokens]
    counter = 0
    while len(words) < tokens:
        digest = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
        sentence = _SENTENCES[int.from_bytes(digest[:8], "big") % len(_SENTENCES)]
        words += sentence.split()[: tokens - len(words)]
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _split_answer(answer: str) -> list[str]:
    """Split a fixed answer into word deltas, each keeping its leading whitespace."""
    parts = re.findall(r"\s*\S+", answer)
    tail = answer[len("".join(parts)) :]
    if tail:
        if parts:
            parts[-1] += tail
        else:
            parts = [tail]
    return parts


_Answer = str | Sequence[str] | Callable[[str], Sequence[str]] | None


@attrs.frozen(kw_only=True)
class _Endpoint:
    inference_id: str
    task_type: str
    service: str
    service_settings: dict[str, Any]
    task_settings: dict[str, Any]
    answer: _Answer
    answer_tokens: int
    deltas_per_event: int
    event_delay: float | None
    streaming: bool
    chunking_settings: dict[str, Any] | None = None

    def deltas(self, text: str) -> Sequence[str]:
        answer = self.answer
        if answer is None:
            return _default_answer(self.inference_id, text, self.answer_tokens)
        if isinstance(answer, str):
            return _split_answer(answer)
        if callable(answer):
            # A callable may return a lazy sequence (len + indexing); it is never copied.
            return answer(text)
        return answer

    def info(self) -> dict[str, Any]:
        # §7.1 InferenceEndpointInfo: secrets stripped, empty task_settings omitted.
        info: dict[str, Any] = {
            "inference_id": self.inference_id,
            "task_type": self.task_type,
            "service": self.service,
            "service_settings": {
                k: v for k, v in self.service_settings.items() if k not in _SECRET_KEYS
            },
        }
        if self.task_settings:
            info["task_settings"] = self.task_settings
        if self.chunking_settings is not None:
            info["chunking_settings"] = self.chunking_settings
        return info

    @property
    def service_info(self) -> _Service:
        return _SERVICES.get(self.service, _GENERIC_SERVICE)


def _input_text(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else "\n".join(value)


def _completion_events(deltas: Sequence[str], per_event: int) -> Iterator[bytes]:
    """§4.2 events: ``{"delta":""}`` first (OpenAI's role chunk), then grouped deltas.

    Group sizes cycle 1, 2, ..., per_event so single- and multi-delta events both occur; the
    sequence is indexed lazily so a huge answer is never materialised.
    """
    yield _sse_event("message", b'{"completion":[{"delta":""}]}')
    total = len(deltas)
    start = 0
    group = 0
    while start < total:
        end = min(start + 1 + group % per_event, total)
        payload = {"completion": [{"delta": deltas[i]} for i in range(start, end)]}
        yield _sse_event("message", _json(payload))
        start = end
        group += 1


# --- errors -----------------------------------------------------------------------------------


class _Shutdown(Exception):
    """The emulator is closing; the handler must end its response at once."""


# --- JSON body parsing, the way ES's strict ObjectParser fails ---------------------------------


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


def _parse_inference_body(body: bytes) -> _InferenceBody:
    """InferenceAction.Request.PARSER (§4.2): strict, first failure in document order wins.

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
            message = f"[{_INFERENCE_PARSER}] unknown field [{key}]"
            hint = _did_you_mean(_suggestions(key, set(_BODY_FIELDS)))
            raise _parse_error(key_location, f"{message} {hint}" if hint else message)
        token = _token_name(value)
        if token not in _FIELD_TOKENS[key]:
            raise _parse_error(
                value_location,
                f"[{_INFERENCE_PARSER}] {key} doesn't support values of type: {token}",
            )
        if not _field_value_ok(key, value):
            raise _parse_error(
                value_location, f"[{_INFERENCE_PARSER}] failed to parse field [{key}]"
            )
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


# --- compatible-with headers (§2.2) -----------------------------------------------------------


class _MediaTypeError(Exception):
    def __init__(self, cause_type: str, message: str) -> None:
        super().__init__(message)
        self.cause_type = cause_type
        self.message = message


def _parse_media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """ParsedMediaType.parseMediaType: None for media ranges; raises on malformed values."""
    if "," in value or value == "*/*":
        return None
    elements = re.split(r"[\s\t]*;", value.lower())
    parts = elements[0].split("/")
    if not (
        len(parts) == 2
        and _TCHAR.fullmatch(parts[0].strip())
        and _TCHAR.fullmatch(parts[1].strip())
    ):
        raise _MediaTypeError("illegal_argument_exception", f"invalid media-type [{value}]")
    params: dict[str, str] = {}
    for element in elements[1:]:
        element = element.strip()
        if not element:
            continue
        pair = element.split("=")
        if len(pair) != 2 or not pair[0] or pair[0][-1].isspace() or not pair[1]:
            raise _MediaTypeError(
                "illegal_argument_exception", f"invalid parameters for header [{value}]"
            )
        if pair[1][0].isspace():
            raise _MediaTypeError(
                "illegal_argument_exception", f"invalid parameters for header [{value}]"
            )
        params[pair[0].strip()] = pair[1].strip()
    return f"{parts[0].strip()}/{parts[1].strip()}", params


def _header_media_type(
    headers: CIMultiDictProxy[str], name: str
) -> tuple[str, tuple[str, dict[str, str]] | None] | None:
    values = headers.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise _MediaTypeError(
            "illegal_argument_exception",
            f"Incorrect header [{name}]. Only one value should be provided",
        )
    if not values[0].strip():
        raise _MediaTypeError("illegal_argument_exception", f"Header [{name}] cannot be empty.")
    return values[0], _parse_media_type(values[0])


def _version_of(parsed: tuple[str, dict[str, str]] | None) -> int | None:
    if parsed is None or "compatible-with" not in parsed[1]:
        return None
    raw = parsed[1]["compatible-with"]
    if not re.fullmatch(r"[+-]?\d+", raw) or not -128 <= int(raw) <= 127:
        # Byte.parseByte fails; ES lets the NumberFormatException escape (edge case).
        raise _MediaTypeError("number_format_exception", f'For input string: "{raw}"')
    return int(raw)


# --- the route table --------------------------------------------------------------------------

_RouteHandler = Callable[["ElasticsearchEmulator", "_Exchange"], Awaitable[web.StreamResponse]]


@attrs.frozen
class _Route:
    """One REST route: ``{name}`` segments are path parameters (RestHandler.routes())."""

    method: str
    path: str
    handler: _RouteHandler
    # Query parameters the handler consumes, besides path params and _GLOBAL_PARAMS.
    params: frozenset[str] = frozenset()

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.path.split("/") if s)


@attrs.define(kw_only=True, eq=False)
class _Exchange:
    """Everything a route handler needs about one request."""

    request: web.Request
    record: RecordedRequest
    route: _Route | None = None
    params: dict[str, str] = attrs.Factory(dict)
    json_content_type: str = _JSON_CONTENT_TYPE

    @property
    def uri(self) -> str:
        # RestRequest.uri(): the raw path with the query string.
        return self.request.raw_path

    def path_param(self, name: str) -> str | None:
        return self.params.get(name)

    def task_type_and_id(self) -> tuple[str, str]:
        """``/{task_type}/{id}`` or ``/{id}`` (Paths.java): with one segment, the task type is
        ``any``.

        Raises:
            _EsError: 400 for an unknown task type in the URL.
        """
        if "inference_id" in self.params:
            return _parse_task_type(self.params["task_type_or_id"]), self.params["inference_id"]
        return "any", self.params["task_type_or_id"]

    def check_params(self, *, reads_body: bool = True) -> None:
        """BaseRestHandler.handleRequest: refuse unconsumed query params, then unread bodies."""
        assert self.route is not None
        consumed = set(self.params) | set(self.route.params) | _GLOBAL_PARAMS
        unknown = sorted(set(self.record.query) - consumed)
        if unknown:
            self._reject_params(unknown, consumed)
        if not reads_body and self.record.body:
            raise _error(
                400,
                "illegal_argument_exception",
                f"request [{self.record.method} {unquote(self.record.path)}] does not support "
                "having a body",
            )

    def _reject_params(self, unknown: list[str], consumed: set[str]) -> None:
        entries = []
        for name in unknown:
            hint = _did_you_mean(_suggestions(name, consumed))
            entries.append(f"[{name}] -> {hint}" if hint else f"[{name}]")
        plural = "s" if len(unknown) > 1 else ""
        path = unquote(self.record.path)
        message = f"request [{path}] contains unrecognized parameter{plural}: {', '.join(entries)}"
        raise _error(400, "illegal_argument_exception", message)


class _BodyWriter:
    """Writes one chunked response body: prepares lazily, re-chunks, awaits drain per write."""

    def __init__(
        self,
        emulator: ElasticsearchEmulator,
        exchange: _Exchange,
        response: web.StreamResponse,
        fault: Fault,
    ) -> None:
        self._emulator = emulator
        self._exchange = exchange
        self._response = response
        self._write_size = fault.write_size
        self._write_delay = fault.write_delay
        self._writer: AbstractStreamWriter | None = None
        self._buffer = bytearray()
        self._queued = 0
        self._event_ends: collections.deque[int] = collections.deque()
        self._writes = 0

    @property
    def started(self) -> bool:
        return self._writer is not None

    async def start(self) -> None:
        """Send the status line and headers (only ever with the first body bytes, §3.3)."""
        if self._writer is None:
            self._writer = await self._response.prepare(self._exchange.request)
            self._exchange.record.status = self._response.status

    async def send(self, data: bytes, *, event: bool = True) -> None:
        await self.start()
        self._queued += len(data)
        if event:
            self._event_ends.append(self._queued)
        if self._write_size is None:
            await self._write(data)
            return
        self._buffer += data
        while len(self._buffer) >= self._write_size:
            chunk = bytes(self._buffer[: self._write_size])
            del self._buffer[: self._write_size]
            await self._write(chunk)

    async def flush(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            await self._write(chunk)

    async def finish(self) -> None:
        await self.flush()
        await self.start()
        await self._response.write_eof()
        self._exchange.record.completed = True

    async def _write(self, chunk: bytes) -> None:
        if self._writes and self._write_delay:
            await self._emulator._pause(self._write_delay)
        assert self._writer is not None
        await self._response.write(chunk)
        # Flow control: the next write waits until this one left the process (§2.6: ES asks
        # for the next part only after the previous one was written).
        await self._writer.drain()
        self._writes += 1
        record = self._exchange.record
        record.bytes_sent += len(chunk)
        while self._event_ends and self._event_ends[0] <= record.bytes_sent:
            self._event_ends.popleft()
            record.events_sent += 1


class _Response(web.StreamResponse):
    # Keep the status line and headers until the first body write so they leave together,
    # as ES sends them only with the first event (§3.3).
    _send_headers_immediately = False


def _pretty(value: Any, indent: int = 0) -> bytes:
    """Jackson's DefaultPrettyPrinter as ES configures it (used by GET /)."""
    if not isinstance(value, dict):
        return _json(value)
    if not value:
        return b"{ }"
    pad = b"  " * (indent + 1)
    items = [pad + _json(k) + b" : " + _pretty(v, indent + 1) for k, v in value.items()]
    return b"{\n" + b",\n".join(items) + b"\n" + b"  " * indent + b"}"


# --- the emulator -----------------------------------------------------------------------------


@attrs.define
class _FaultRule:
    fault: Fault
    inference_id: str | None
    remaining: int | None


class ElasticsearchEmulator:
    """An aiohttp.web server on loopback that answers like Elasticsearch 9.x's Inference API.

    Use it as an async context manager on the test's loop, or :meth:`in_thread` for tests
    that run elsewhere (the ``es_emulator`` pytest fixture does). Endpoints come from
    :meth:`add_endpoint` or from ``PUT _inference/...`` and share one registry. They answer
    with a deterministic model whose results tests can predict: :meth:`answer_for` (completion
    deltas), :meth:`chat_answer_for` (chat chunk contents), :meth:`embedding_for` (dense
    vectors). :meth:`add_fault` scripts failures; :meth:`add_pipeline_reference` makes an
    endpoint "in use" for DELETE.

    Example::

        async with ElasticsearchEmulator() as es:
            es.add_endpoint("my-endpoint", "completion")
            ...  # point a client at es.url
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        event_delay: float = 0.0,
        version: str = "9.2.0",
    ) -> None:
        """Configure the emulator; nothing is bound until :meth:`start`.

        Args:
            host: the address to bind.
            port: the port to bind; 0 picks a free one.
            event_delay: default seconds between events of every stream.
            version: the Elasticsearch version reported by ``GET /``; its major decides the
                accepted ``compatible-with`` versions (major and major - 1).

        Raises:
            ValueError: a negative event_delay or a version that is not ``X.Y.Z``.
        """
        if event_delay < 0:
            raise ValueError(f"event_delay must be >= 0, got {event_delay!r}")
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise ValueError(f"version must look like '9.2.0', got {version!r}")
        self._host = host
        self._port = port
        self._event_delay = event_delay
        self._version = version
        self._major = int(version.split(".")[0])
        self._minor = int(version.split(".")[1])
        self._endpoints: dict[str, _Endpoint] = {}
        self._pipelines: dict[str, set[str]] = {}
        self._faults: list[_FaultRule] = []
        self._lock = threading.Lock()  # endpoints and faults may be changed from another thread
        self._routes: list[_Route] = list(_ROUTES)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._active: set[_Exchange] = set()
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""

    # -- lifecycle --

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: the emulator is already running.
            OSError: the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_response_prepare.append(self._on_response_prepare)
        # handler_cancellation: a client that goes away cancels its handler, which is how
        # disconnects are recorded and generation stops at once (§2.6).
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        self._runner = runner

    async def close(self) -> None:
        """Stop serving: end every response (stalled ones included) and close connections.

        Idempotent.
        """
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        self._closing.set()
        # Stalled or backpressured handlers would otherwise hold close() for the shutdown
        # timeout; the connections are going away anyway.
        for exchange in list(self._active):
            transport = exchange.request.transport
            if transport is not None:
                transport.abort()
        await runner.cleanup()

    async def __aenter__(self) -> ElasticsearchEmulator:
        """Start the emulator; see :meth:`start`."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the emulator; see :meth:`close`."""
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        event_delay: float = 0.0,
        version: str = "9.2.0",
    ) -> Iterator[ElasticsearchEmulator]:
        """Run an emulator on its own event loop in a daemon thread (a sync context manager).

        For tests whose code runs in another loop or none: endpoints, faults and
        ``requests`` can be used from the calling thread. Arguments are as for the
        constructor.

        Raises:
            OSError: the address cannot be bound.
        """
        emulator = cls(host=host, port=port, event_delay=event_delay, version=version)
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                # Nothing may outlive the loop: leftovers would be "destroyed but pending".
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="asyncinfer-es-emulator", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(emulator.start(), loop).result()
            try:
                yield emulator
            finally:
                asyncio.run_coroutine_threadsafe(emulator.close(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: the emulator has not been started.
        """
        if self._url is None:
            raise RuntimeError("the emulator has not been started")
        return self._url

    @property
    def open_connections(self) -> int:
        """TCP connections currently open on the server side."""
        runner = self._runner
        server = runner.server if runner is not None else None
        if server is None:
            return 0
        while True:
            try:
                handlers = server.connections
                break
            except RuntimeError:  # changed size during iteration (thread mode)
                continue
        return sum(
            1
            for handler in handlers
            if handler.transport is not None and not handler.transport.is_closing()
        )

    async def wait_for_connections(self, n: int = 0, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until exactly ``n`` connections are open (works from any loop).

        Raises:
            TimeoutError: the count is still different after ``timeout`` seconds; the message
                names the count.
        """
        deadline = time.monotonic() + timeout
        while (count := self.open_connections) != n:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {n} open connection(s), still {count} after {timeout}s"
                )
            await asyncio.sleep(_POLL_INTERVAL_S)

    # -- configuration --

    def add_endpoint(
        self,
        inference_id: str,
        task_type: str = "completion",
        *,
        service: str = "emulator",
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        answer: str | Sequence[str] | Callable[[str], Sequence[str]] | None = None,
        answer_tokens: int = _DEFAULT_ANSWER_TOKENS,
        deltas_per_event: int = _DEFAULT_DELTAS_PER_EVENT,
        event_delay: float | None = None,
        streaming: bool = True,
    ) -> None:
        """Create (or replace) an inference endpoint.

        Args:
            inference_id: the endpoint id.
            task_type: one of ES's task types (``completion``, ``text_embedding``, ...).
            service: the service name shown by GET and in error messages.
            service_settings: shown by GET; defaults to ``{"model_id": "emulator"}``.
            task_settings: shown by GET when non-empty.
            answer: the deltas to stream: a string (split into words), a sequence of deltas,
                or a callable from the input text to deltas (a lazy sequence is fine). None
                uses the deterministic model (:meth:`answer_for`).
            answer_tokens: how many tokens the deterministic model produces.
            deltas_per_event: the most deltas one event carries; event sizes cycle
                1..deltas_per_event.
            event_delay: seconds between events for this endpoint.
            streaming: False makes the provider non-streaming: one ``result`` event, then
                ``[DONE]`` (§3.2).

        Raises:
            ValueError: an empty id, an unknown task type, or a bad count or delay.
        """
        if not inference_id:
            raise ValueError("inference_id must not be empty")
        if task_type not in _TASK_TYPES or task_type == "any":
            raise ValueError(f"unknown task_type {task_type!r}")
        if answer_tokens < 0 or deltas_per_event < 1:
            raise ValueError("answer_tokens must be >= 0 and deltas_per_event >= 1")
        if event_delay is not None and event_delay < 0:
            raise ValueError(f"event_delay must be >= 0, got {event_delay!r}")
        endpoint = _Endpoint(
            inference_id=inference_id,
            task_type=task_type,
            service=service,
            service_settings=dict(
                service_settings if service_settings is not None else {"model_id": "emulator"}
            ),
            task_settings=dict(task_settings or {}),
            answer=answer,
            answer_tokens=answer_tokens,
            deltas_per_event=deltas_per_event,
            event_delay=event_delay,
            streaming=streaming,
        )
        with self._lock:
            self._endpoints[inference_id] = endpoint

    def remove_endpoint(self, inference_id: str) -> None:
        """Delete an endpoint.

        Raises:
            KeyError: no endpoint has this id.
        """
        with self._lock:
            del self._endpoints[inference_id]

    def add_fault(
        self, fault: Fault, *, inference_id: str | None = None, times: int | None = 1
    ) -> None:
        """Script ``fault`` for the next ``times`` matching requests (None: every one).

        A request matches when ``inference_id`` is None or names its endpoint. Faults apply
        to ``/_inference`` requests that passed ES's own checks (where the provider would be
        called) and are consumed in the order they were added, one per request.

        Raises:
            ValueError: times is below 1.
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        with self._lock:
            self._faults.append(_FaultRule(fault, inference_id, times))

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        with self._lock:
            self._faults.clear()

    def answer_for(self, inference_id: str, input: str | Sequence[str]) -> list[str]:
        """The deltas the endpoint streams for ``input``, after the initial empty delta.

        Deterministic: the same input gives the same answer on every machine.

        Raises:
            KeyError: no endpoint has this id.
        """
        with self._lock:
            endpoint = self._endpoints[inference_id]
        deltas = endpoint.deltas(_input_text(input))
        return [deltas[i] for i in range(len(deltas))]

    def stream_body_for(self, inference_id: str, input: str | Sequence[str]) -> bytes:
        """The exact ``_stream`` response body the endpoint sends for ``input`` (no faults).

        Raises:
            KeyError: no endpoint has this id.
        """
        with self._lock:
            endpoint = self._endpoints[inference_id]
        return b"".join(self._events(endpoint, _input_text(input))) + _DONE_EVENT

    def add_pipeline_reference(self, inference_id: str, pipeline_id: str) -> None:
        """Make an ingest pipeline reference ``inference_id`` (as an inference processor would).

        A referenced endpoint cannot be deleted without ``force=true``; ``dry_run=true`` lists
        the pipeline (§7.3). References outlive the endpoint, as pipelines do in ES; the
        endpoint need not exist yet.
        """
        with self._lock:
            self._pipelines.setdefault(inference_id, set()).add(pipeline_id)

    def embedding_for(self, inference_id: str, text: str) -> list[float] | list[int]:
        """The vector a ``text_embedding`` endpoint returns for ``text`` (exactly, as sent).

        ``service_settings.dimensions`` (default 8) sets the length and
        ``service_settings.element_type`` the kind: ``float`` (default; values in [-1, 1)
        rounded to 6 decimals), ``byte`` (ints -128..127) or ``bit`` (``dimensions / 8``
        signed bytes of packed bits). Deterministic: SHA-256 of the endpoint id and the text.

        Raises:
            KeyError: no endpoint has this id.
        """
        with self._lock:
            endpoint = self._endpoints[inference_id]
        dimensions, element_type = _embedding_settings(endpoint)
        values: list[Any] = _embedding(inference_id, text, dimensions, element_type)
        return values

    def chat_answer_for(
        self, inference_id: str, messages: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """The ``content`` of each content chunk a chat stream sends for ``messages``.

        The answer is the endpoint's (as :meth:`answer_for`) for the text of the last ``user``
        message (string content, or its parts' ``text`` joined by newlines); its deltas are
        grouped into chunks as completion streams group them into events. When the request
        would make the model call a tool (see the chat stream's rules) no content chunks are
        sent and this list is not what streams.

        Raises:
            KeyError: no endpoint has this id.
        """
        with self._lock:
            endpoint = self._endpoints[inference_id]
        return self._chat_contents(endpoint, messages)

    # -- internals --

    @staticmethod
    def _chat_contents(endpoint: _Endpoint, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        return _group(endpoint.deltas(_prompt_text(messages)), endpoint.deltas_per_event)

    def _reasoning_fields(self) -> bool:
        # §4.3: reasoning / reasoning_details are accepted from 9.4 on.
        return (self._major, self._minor) >= (9, 4)

    def _take_fault(self, inference_id: str | None) -> Fault:
        with self._lock:
            for rule in self._faults:
                if rule.inference_id is None or rule.inference_id == inference_id:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._faults.remove(rule)
                    return rule.fault
        return _NO_FAULT

    def _endpoint(self, inference_id: str) -> _Endpoint:
        with self._lock:
            endpoint = self._endpoints.get(inference_id)
        if endpoint is None:
            raise _not_found(inference_id)
        return endpoint

    @staticmethod
    def _events(endpoint: _Endpoint, text: str) -> Iterator[bytes]:
        deltas = endpoint.deltas(text)
        if endpoint.streaming:
            return _completion_events(deltas, endpoint.deltas_per_event)
        # §3.2: a non-streaming provider gives one event with the non-streaming response.
        result = "".join(deltas[i] for i in range(len(deltas)))
        return iter([_sse_event("message", _json({"completion": [{"result": result}]}))])

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the emulator closes first.

        Raises:
            _Shutdown: close() was called.
        """
        if self._closing.is_set():
            raise _Shutdown
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        if self._closing.is_set():
            raise _Shutdown

    async def _on_response_prepare(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        # §2.1: every response says it is Elasticsearch and echoes X-Opaque-Id. Elasticsearch
        # (Netty) sends neither Date nor Server.
        headers = response.headers
        headers.setdefault(_PRODUCT_HEADER, "Elasticsearch")
        opaque_id = request.headers.get(_OPAQUE_ID_HEADER)
        if opaque_id is not None:
            headers.setdefault(_OPAQUE_ID_HEADER, opaque_id)
        headers.popall("Date", None)
        headers.popall("Server", None)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed_json = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed_json = None
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        record = RecordedRequest(
            method=request.method,
            path=request.raw_path.partition("?")[0],
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            json=parsed_json,
            peer=(peer[0], peer[1]) if peer else None,
            received_at=time.monotonic(),
        )
        record._loop = asyncio.get_running_loop()
        self.requests.append(record)
        exchange = _Exchange(request=request, record=record)
        self._active.add(exchange)
        try:
            return await self._serve(exchange)
        except asyncio.CancelledError:
            # handler_cancellation: the client went away. Never swallow the cancellation.
            if not self._closing.is_set() and not record.completed:
                record.disconnected_at = record.disconnected_at or time.monotonic()
            raise
        except _Shutdown:
            if transport is not None:
                transport.abort()
            return web.Response()
        except ConnectionError:
            # A write failed: the client is gone. aiohttp's own write_eof will fail quietly.
            if not self._closing.is_set():
                record.disconnected_at = record.disconnected_at or time.monotonic()
            return web.Response()
        finally:
            self._active.discard(exchange)
            record._finish()

    async def _serve(self, exchange: _Exchange) -> web.StreamResponse:
        # 1. HTTP layer (AbstractHttpServerTransport/RestRequest): media types and versions.
        try:
            self._check_media_types(exchange)
        except _EsError as err:
            return await self._send_json(exchange, err.status, err.body, err.headers)
        # 2. RestController: routing and Content-Type.
        try:
            route, params = self._route(exchange)
            if route is None:
                return await self._send_options(exchange, params)
            exchange.route = route
            exchange.params = params
            self._check_content_type(exchange)
        except _EsError as err:
            return await self._send_json(exchange, err.status, err.body, err.headers)
        return await route.handler(self, exchange)

    def _check_media_types(self, exchange: _Exchange) -> None:
        """RestRequest + RestCompatibleVersionHelper (§2.2): 400 media_type_header_exception."""
        headers = exchange.record.headers
        has_content = bool(exchange.record.body)
        failed = "Accept"
        try:
            accept = _header_media_type(headers, "Accept")
            failed = "Content-Type"
            content_type = _header_media_type(headers, "Content-Type")
            failed = "Accept, Content-Type"
            accept_parsed = accept[1] if accept else None
            content_parsed = content_type[1] if content_type else None
            a_version = _version_of(accept_parsed)
            c_version = _version_of(content_parsed)
        except _MediaTypeError as err:
            raise self._media_type_error(failed, err.cause_type, err.message) from None
        current, minimum = self._major, self._major - 1
        accept_text = accept[0] if accept and accept_parsed else "null"
        content_text = content_type[0] if content_type and content_parsed else "null"
        accept_version = current if a_version is None else a_version
        content_version = current if c_version is None else c_version
        message = None
        if not minimum <= accept_version <= current:
            message = (
                f"Accept version must be either version {current} or {minimum}, "
                f"but found {accept_version}. Accept={accept_text}"
            )
        elif has_content and not minimum <= content_version <= current:
            message = (
                f"Content-Type version must be either version {current} or {minimum}, "
                f"but found {content_version}. Content-Type={content_text}"
            )
        elif has_content and content_version != accept_version:
            message = (
                "A compatible version is required on both Content-Type and Accept headers if "
                "either one has requested a compatible version and the compatible versions "
                f"must match. Accept={accept_text}, Content-Type={content_text}"
            )
        elif has_content and (a_version is None) != (c_version is None):
            message = (
                "A compatible version is required on both Content-Type and Accept headers if "
                "either one has requested a compatible version. "
                f"Accept={accept_text}, Content-Type={content_text}"
            )
        if message is not None:
            # The header set's order is JVM-random in ES; this is one of its two orders.
            raise self._media_type_error("Accept, Content-Type", "status_exception", message)
        # Responses use the vendor media type when the request asked for one (§2.1).
        for parsed, version in ((accept_parsed, a_version), (content_parsed, c_version)):
            if parsed is not None and version is not None and parsed[0].endswith("+json"):
                exchange.json_content_type = (
                    f"application/vnd.elasticsearch+json;compatible-with={version}"
                )
                break

    @staticmethod
    def _media_type_error(headers: str, cause_type: str, cause: str) -> _EsError:
        # dispatchBadRequest renders RestRequest.MediaTypeHeaderException with its cause.
        return _error(
            400,
            "media_type_header_exception",
            f"Invalid media-type value on headers [{headers}]",
            {"type": cause_type, "reason": cause},
        )

    def _route(self, exchange: _Exchange) -> tuple[_Route | None, dict[str, str]]:
        """PathTrie matching: literal segments beat parameters, earlier segments first.

        Returns (None, {"allowed": ...}) for an OPTIONS request without a handler.

        Raises:
            _EsError: 400 no handler found, or 405 for a path known to other methods.
        """
        method = exchange.request.method
        raw_segments = [s for s in exchange.record.path.split("/") if s]
        matches: list[tuple[tuple[int, ...], _Route, dict[str, str]]] = []
        for route in self._routes:
            segments = route.segments
            if len(segments) != len(raw_segments):
                continue
            params: dict[str, str] = {}
            score: list[int] = []
            for pattern, raw in zip(segments, raw_segments, strict=True):
                if pattern.startswith("{"):
                    params[pattern[1:-1]] = unquote(raw)
                    score.append(0)
                elif pattern == raw:
                    score.append(1)
                else:
                    break
            else:
                matches.append((tuple(score), route, params))
        same_method = [m for m in matches if m[1].method == method]
        if same_method:
            _, route, params = max(same_method, key=lambda m: m[0])
            return route, params
        allowed = [m for m in _METHOD_ORDER if any(r.method == m for _, r, _ in matches)]
        if method == "OPTIONS":
            return None, {"allowed": ",".join(allowed)}
        if allowed:
            # RestController.handleUnsupportedHttpMethod.
            err = _simple_error(
                405,
                f"Incorrect HTTP method for uri [{exchange.uri}] and method [{method}], "
                f"allowed: [{', '.join(allowed)}]",
            )
            err.headers["Allow"] = ",".join(allowed)
            raise err
        # RestController.handleBadRequest: {"error": "..."} without a status field.
        raise _EsError(
            400, {"error": f"no handler found for uri [{exchange.uri}] and method [{method}]"}
        )

    def _check_content_type(self, exchange: _Exchange) -> None:
        """RestController.dispatchRequest: a body needs an XContent Content-Type (406)."""
        if not exchange.record.body:
            return
        values = exchange.record.headers.getall("Content-Type", [])
        if not values:
            raise _simple_error(406, "Content-Type header is missing")
        parsed = _parse_media_type(values[0])
        media_type = parsed[0] if parsed else None
        if media_type in _SAFELISTED_TYPES or media_type not in _XCONTENT_TYPES:
            raise _simple_error(406, f"Content-Type header [{','.join(values)}] is not supported")

    # -- senders --

    async def _send_json(
        self,
        exchange: _Exchange,
        status: int,
        body: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
    ) -> web.StreamResponse:
        payload = body if isinstance(body, bytes) else _json(body)
        response = web.Response(
            status=status,
            body=payload,
            headers={
                _PRODUCT_HEADER: "Elasticsearch",
                "content-type": exchange.json_content_type,
                **(headers or {}),
            },
        )
        await response.prepare(exchange.request)
        exchange.record.status = status
        await response.write_eof()
        exchange.record.bytes_sent = 0 if exchange.request.method == "HEAD" else len(payload)
        exchange.record.completed = True
        return response

    async def _send_options(
        self, exchange: _Exchange, params: Mapping[str, str]
    ) -> web.StreamResponse:
        # RestController.handleOptionsRequest: 200, empty text/plain body, Allow header.
        headers = {_PRODUCT_HEADER: "Elasticsearch", "content-type": "text/plain; charset=UTF-8"}
        if params.get("allowed"):
            headers["Allow"] = params["allowed"]
        response = web.Response(status=200, body=b"", headers=headers)
        await response.prepare(exchange.request)
        exchange.record.status = 200
        await response.write_eof()
        exchange.record.completed = True
        return response

    async def _send_raw(self, exchange: _Exchange, fault: Fault) -> web.StreamResponse:
        assert fault.raw_body is not None
        response = _Response(
            status=fault.raw_status,
            headers={
                _PRODUCT_HEADER: "Elasticsearch",
                "content-type": fault.raw_content_type,
                **(fault.raw_headers or {}),
            },
        )
        response.enable_chunked_encoding()
        out = _BodyWriter(self, exchange, response, fault)
        await self._pause(fault.first_event_delay)
        if fault.raw_body:
            await out.send(fault.raw_body, event=False)
        await out.finish()
        return response

    async def _send_sse_error(
        self, exchange: _Exchange, err: _EsError, fault: Fault = _NO_FAULT
    ) -> web.StreamResponse:
        """§5.2: the real status, text/event-stream, one ``event: error``, no ``[DONE]``."""
        response = _Response(
            status=err.status,
            headers={
                _PRODUCT_HEADER: "Elasticsearch",
                "content-type": _SSE_CONTENT_TYPE,
                **err.headers,
            },
        )
        response.enable_chunked_encoding()
        out = _BodyWriter(self, exchange, response, fault)
        await out.send(_sse_event("error", _json(err.body)))
        await out.finish()
        return response

    async def _send_fault_json(
        self, exchange: _Exchange, fault: Fault, endpoint: _Endpoint | None = None
    ) -> web.StreamResponse | None:
        """Apply a fault on a JSON route; None when it leaves the normal answer alone.

        ``endpoint`` is the endpoint whose provider an inference request would call; only
        then does ``provider_status`` apply.

        Raises:
            _Shutdown: the fault drops or stalls the connection (handled by _dispatch).
        """
        if fault.raw_body is not None:
            return await self._send_raw(exchange, fault)
        await self._pause(fault.first_event_delay)
        err = self._fault_error(endpoint, fault, chat=False)
        if err is not None:
            return await self._send_json(exchange, err.status, err.body, err.headers)
        if fault.drop_after is not None:
            raise _Shutdown  # _dispatch aborts the connection: nothing was sent
        if fault.stall_after is not None:
            await self._closing.wait()
            raise _Shutdown
        return None

    def _fault_error(
        self, endpoint: _Endpoint | None, fault: Fault, *, chat: bool
    ) -> _EsError | None:
        """The error a fault answers with before any event, or None."""
        if fault.status is not None:
            if chat:
                err = _unified_error(
                    fault.status, fault.reason, fault.error_type, _status_name(fault.status)
                )
            else:
                err = _error(fault.status, fault.error_type, fault.reason)
        elif fault.provider_status is not None and endpoint is not None:
            status, message = _provider_failure(
                endpoint.inference_id,
                fault.provider_status,
                fault.provider_message,
                endpoint.service_info.provider_url,
            )
            if chat:
                # §5.4: provider errors keep the provider's code and type.
                err = _unified_error(
                    status,
                    message,
                    fault.provider_error_type or "status_exception",
                    fault.provider_error_code or _status_name(status),
                )
            else:
                err = _error(status, "status_exception", message)
        else:
            return None
        if fault.retry_after is not None:
            err.headers["Retry-After"] = fault.retry_after
        return err

    @staticmethod
    def _mid_stream_error(endpoint: _Endpoint, fault: Fault, *, chat: bool) -> bytes:
        """The ``event: error`` that ``error_after`` sends (§5.3)."""
        if not chat:
            # The standard envelope with the status the error would have had.
            body = _error(fault.error_status, fault.error_type, fault.reason).body
        elif fault.provider_error_type is not None:
            message = (
                f"{_SERVER_ERROR_OBJECT} for request from inference entity id "
                f"[{endpoint.inference_id}]. Error message: "
                f"[{fault.provider_message or fault.reason}]"
            )
            body = _unified_error(
                fault.error_status, message, fault.provider_error_type, fault.provider_error_code
            ).body
        else:
            # TransportUnifiedCompletionInferenceAction.streamErrorHandler -> fromThrowable.
            body = _unified_error(
                fault.error_status, fault.reason, fault.error_type, _status_name(fault.error_status)
            ).body
        return _sse_event("error", _json(body))

    async def _stream(
        self, exchange: _Exchange, endpoint: _Endpoint, text: str, fault: Fault
    ) -> web.StreamResponse:
        """Send a 200 completion event stream, shaped by ``fault``."""
        events = self._events(endpoint, text)
        return await self._send_stream(exchange, endpoint, events, fault, chat=False)

    async def _send_stream(
        self,
        exchange: _Exchange,
        endpoint: _Endpoint,
        events: Iterator[bytes],
        fault: Fault,
        *,
        chat: bool,
    ) -> web.StreamResponse:
        """Send ``events`` then ``[DONE]`` as a 200 event stream, shaped by ``fault``."""
        if fault.raw_body is not None:
            return await self._send_raw(exchange, fault)
        await self._pause(fault.first_event_delay)
        err = self._fault_error(endpoint, fault, chat=chat)
        if err is not None:
            return await self._send_sse_error(exchange, err, fault)
        response = _Response(
            status=200,
            headers={_PRODUCT_HEADER: "Elasticsearch", "content-type": _SSE_CONTENT_TYPE},
        )
        response.enable_chunked_encoding()
        out = _BodyWriter(self, exchange, response, fault)
        delay = next(
            d for d in (fault.event_delay, endpoint.event_delay, self._event_delay) if d is not None
        )
        termination = fault._termination()
        limit = termination[0] if termination else None
        sent = 0
        try:
            for event in events:
                if limit is not None and sent >= limit:
                    break
                if sent:
                    await self._pause(delay)
                await out.send(event)
                sent += 1
            if termination is None:
                await self._pause(delay)
                await out.send(_DONE_EVENT)
                await out.finish()
            else:
                error_event = self._mid_stream_error(endpoint, fault, chat=chat)
                await self._terminate(exchange, out, termination[1], error_event)
        except ConnectionError:
            # §2.6: a write failed because the client left; stop generating at once.
            if not self._closing.is_set():
                exchange.record.disconnected_at = time.monotonic()
        except _Shutdown:
            transport = exchange.request.transport
            if transport is not None:
                transport.abort()
        return response

    async def _terminate(
        self, exchange: _Exchange, out: _BodyWriter, action: str, error_event: bytes
    ) -> None:
        if action == "error":
            await out.send(error_event)
            await out.finish()
        elif action == "end":
            await out.finish()
        elif action == "drop":
            await out.flush()
            transport = exchange.request.transport
            if transport is not None:
                transport.abort()
        else:  # stall: silence until the client leaves (handler cancelled) or close().
            await out.flush()
            await self._closing.wait()
            raise _Shutdown


# --- route handlers: one small function per route ----------------------------------------------


async def _get_root(emulator: ElasticsearchEmulator, exchange: _Exchange) -> web.StreamResponse:
    """GET / (RestMainAction): cluster info, pretty-printed unless ?pretty is given."""
    try:
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    version = emulator._version
    major = emulator._major
    digest = hashlib.sha256(f"asyncinfer-emulator-{version}".encode()).digest()
    info = {
        "name": "asyncinfer-emulator",
        "cluster_name": "elasticsearch",
        "cluster_uuid": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": hashlib.sha1(version.encode()).hexdigest(),
            "build_date": "2025-01-01T00:00:00.000000000Z",
            "build_snapshot": False,
            "lucene_version": "10.3.1",
            "minimum_wire_compatibility_version": f"{major - 1}.19.0",
            "minimum_index_compatibility_version": f"{major - 1}.0.0",
        },
        "tagline": "You Know, for Search",
    }
    # RestMainAction: "Default to pretty printing, but allow ?pretty=false to disable".
    pretty = "pretty" not in exchange.record.query
    body = _pretty(info) + b"\n" if pretty else orjson.dumps(info)
    return await emulator._send_json(exchange, 200, body)


async def _get_endpoints(
    emulator: ElasticsearchEmulator, exchange: _Exchange
) -> web.StreamResponse:
    """GET _inference[/_all|/{id}|/{task_type}/{id}|/{task_type}/_all] (§7.2)."""
    first = exchange.path_param("task_type_or_id")
    second = exchange.path_param("inference_id")
    try:
        if second is not None:
            task_type = _parse_task_type(first or "")
            inference_id = second
        else:
            task_type, inference_id = "any", first or "_all"
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    wildcard = inference_id in ("_all", "*")
    fault = emulator._take_fault(None if wildcard else inference_id)
    response = await emulator._send_fault_json(exchange, fault)
    if response is not None:
        return response
    with emulator._lock:
        endpoints = sorted(emulator._endpoints.values(), key=lambda e: e.inference_id)
    if wildcard:
        chosen = [e for e in endpoints if task_type in ("any", e.task_type)]
    else:
        try:
            endpoint = emulator._endpoint(inference_id)
        except _EsError as err:
            return await emulator._send_json(exchange, err.status, err.body)
        if task_type not in ("any", endpoint.task_type):
            # InferenceExceptions.mismatchedTaskTypeException.
            mismatch = _error(
                400,
                "status_exception",
                f"Requested task type [{task_type}] does not match the inference endpoint's "
                f"task type [{endpoint.task_type}]",
            )
            return await emulator._send_json(exchange, mismatch.status, mismatch.body)
        chosen = [endpoint]
    return await emulator._send_json(exchange, 200, {"endpoints": [e.info() for e in chosen]})


def _inference_target(exchange: _Exchange) -> tuple[str, str]:
    """BaseInferenceAction.prepareRequest, then BaseRestHandler: (URL task type, id).

    Raises:
        _EsError: a REST-layer error, sent as plain JSON even on ``_stream``.
    """
    url_task_type, inference_id = exchange.task_type_and_id()
    _require_body(exchange)
    _check_time_param(exchange, "timeout")
    exchange.check_params()
    return url_task_type, inference_id


def _require_body(exchange: _Exchange) -> None:
    if not exchange.record.body:
        # RestRequest.requiredContent: ElasticsearchParseException.
        raise _error(400, "parse_exception", "request body is required")


def _check_time_param(exchange: _Exchange, name: str) -> None:
    value = exchange.record.query.get(name)
    if value is not None and _parse_time_value(value) is None:
        raise _error(
            400,
            "parse_exception",
            f"failed to parse setting [{name}] with value [{value}] as a time value: "
            "unit is missing or unrecognized",
        )


def _bool_param(exchange: _Exchange, name: str) -> bool:
    """RestRequest.paramAsBoolean: absent -> false, empty -> true, else strictly true/false."""
    value = exchange.record.query.get(name)
    if value is None:
        return False
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise _error(
        400,
        "illegal_argument_exception",
        f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
    )


def _routes_to_chat(emulator: ElasticsearchEmulator, url_task_type: str, inference_id: str) -> bool:
    """TransportInferenceActionProxy (§4.1): does the request take the chat path?

    Raises:
        _EsError: the endpoint lookup failed (no task type in the URL); standard envelope.
    """
    if url_task_type == "chat_completion":
        return True
    # Without a task type the proxy loads the endpoint first to choose the parser.
    return (
        url_task_type == "any" and emulator._endpoint(inference_id).task_type == "chat_completion"
    )


def _incompatible(url_task_type: str, endpoint: _Endpoint) -> _EsError:
    return _error(
        400,
        "status_exception",
        f"Incompatible task_type, the requested type [{url_task_type}] does not match the "
        f"model type [{endpoint.task_type}]",
    )


def _check_streaming(endpoint: _Endpoint, task_type: str) -> None:
    """BaseTransportInferenceAction.unsupportedStreamingTaskException (§4.1): 405."""
    streaming = endpoint.service_info.streaming
    if endpoint.task_type in streaming:
        return
    if not streaming:
        message = f"Streaming is not allowed for service [{endpoint.service}]."
    else:
        # inferOnService checks the model's task type but names the request's.
        message = (
            f"Streaming is not allowed for service [{endpoint.service}] and task "
            f"[{task_type}]. Supported tasks: [{','.join(streaming)}]"
        )
    raise _error(405, "status_exception", message)


async def _post_stream(emulator: ElasticsearchEmulator, exchange: _Exchange) -> web.StreamResponse:
    """POST _inference[/{task_type}]/{id}/_stream (§4): the streaming inference API."""
    try:
        url_task_type, inference_id = _inference_target(exchange)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    # Proxy and transport actions (8.18+): errors are SSE-formatted with the real status (§5.2).
    try:
        if _routes_to_chat(emulator, url_task_type, inference_id):
            return await _chat_stream(emulator, exchange, url_task_type, inference_id)
        endpoint, text = _resolve_stream(
            emulator, exchange.record.body, url_task_type, inference_id
        )
    except _EsError as err:
        return await emulator._send_sse_error(exchange, err)
    fault = emulator._take_fault(inference_id)
    return await emulator._stream(exchange, endpoint, text, fault)


def _resolve_stream(
    emulator: ElasticsearchEmulator, body: bytes, url_task_type: str, inference_id: str
) -> tuple[_Endpoint, str]:
    """TransportInferenceActionProxy + BaseTransportInferenceAction, in ES's order.

    Raises:
        _EsError: the first check that fails.
    """
    parsed = _parse_inference_body(body)
    _validate(url_task_type, parsed)  # TransportAction.execute validates before doExecute
    endpoint = emulator._endpoint(inference_id)
    if url_task_type not in ("any", endpoint.task_type):
        raise _incompatible(url_task_type, endpoint)
    _check_streaming(endpoint, url_task_type)
    assert parsed.input is not None
    return endpoint, "\n".join(parsed.input)


async def _chat_stream(
    emulator: ElasticsearchEmulator, exchange: _Exchange, url_task_type: str, inference_id: str
) -> web.StreamResponse:
    """The chat completion ("unified") stream, §4.3: one OpenAI-like chunk per event."""
    try:
        request = _parse_chat(emulator, exchange.record.body)
    except _EsError as err:
        return await emulator._send_sse_error(exchange, err)
    if not request.messages:
        # UnifiedCompletionAction.Request.validate runs in TransportAction.execute, before the
        # unified-format wrapper of doExecute: the standard envelope (derived from ES source).
        invalid = _validation_error("Field [messages] cannot be an empty array")
        return await emulator._send_sse_error(exchange, invalid)
    try:
        # TransportUnifiedCompletionInferenceAction: every failure in the unified shape.
        try:
            endpoint = emulator._endpoint(inference_id)
            if endpoint.task_type != "chat_completion":
                raise _error(
                    400,
                    "status_exception",
                    f"Incompatible task_type for unified API, the requested type "
                    f"[{url_task_type}] must be one of [chat_completion]",
                )
            _check_streaming(endpoint, "chat_completion")
        except _EsError as err:
            raise _unified_from(err) from None
    except _EsError as err:
        return await emulator._send_sse_error(exchange, err)
    fault = emulator._take_fault(inference_id)
    model = request.model or endpoint.service_settings.get("model_id")
    chunks = _chat_chunks(
        inference_id=inference_id,
        request=request,
        contents=emulator._chat_contents(endpoint, request.messages),
        model=None if model is None else str(model),
    )
    events = (_sse_event("message", _json(chunk)) for chunk in chunks)
    return await emulator._send_stream(exchange, endpoint, events, fault, chat=True)


def _parse_chat(emulator: ElasticsearchEmulator, body: bytes) -> _ChatRequest:
    """The proxy's unified body parsing; failures in the OpenAI-style shape (§4.3, §5.4).

    Raises:
        _EsError: 400 ``{"error":{"code":"bad_request","message":…,"type":…}}``.
    """
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # Jackson's own wording is not reproduced; orjson's message stands in for it.
        message = f"[{exc.lineno}:{exc.colno}] {exc.msg}"
        raise _unified_error(400, message, "x_content_parse_exception", "bad_request") from None
    try:
        return _parse_chat_body(body, reasoning=emulator._reasoning_fields())
    except _ParseFailure as failure:
        raise _unified_error(400, failure.message, failure.error_type, "bad_request") from None
    except RecursionError:
        raise _unified_error(
            400, "[1:1] nesting too deep", "x_content_parse_exception", "bad_request"
        ) from None


_CHAT_ONLY_STREAMS: Final = (
    "The [chat_completion] task type only supports streaming, please try again with the _stream API"
)


def _chat_not_streaming() -> _EsError:
    # §4.4 (8.18 to 9.5): TransportInferenceActionProxy throws a 400 ElasticsearchStatusException,
    # wrapped by UnifiedChatCompletionException.fromThrowable; the non-streaming REST listener
    # renders the wrapper in the standard envelope (root cause: the wrapped exception).
    cause = {"type": "status_exception", "reason": _CHAT_ONLY_STREAMS}
    inner = {
        "root_cause": [cause],
        "type": "unified_chat_completion_exception",
        "reason": _CHAT_ONLY_STREAMS,
        "caused_by": cause,
    }
    return _EsError(400, {"error": inner, "status": 400})


async def _post_inference(
    emulator: ElasticsearchEmulator, exchange: _Exchange
) -> web.StreamResponse:
    """POST _inference[/{task_type}]/{id} (§6): non-streaming inference, JSON in and out."""
    try:
        url_task_type, inference_id = _inference_target(exchange)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    try:
        if _routes_to_chat(emulator, url_task_type, inference_id):
            raise _chat_not_streaming()  # checked before the body is parsed
        parsed = _parse_inference_body(exchange.record.body)
        _validate(url_task_type, parsed)
        endpoint = emulator._endpoint(inference_id)
        if url_task_type not in ("any", endpoint.task_type):
            raise _incompatible(url_task_type, endpoint)
        if endpoint.task_type == "rerank" and not parsed.query:
            # A URL without a task type skips the request's rerank checks; the model still
            # needs a query (emulator's choice of message: the validation one).
            _validate("rerank", parsed)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    fault = emulator._take_fault(inference_id)
    response = await emulator._send_fault_json(exchange, fault, endpoint)
    if response is not None:
        return response
    return await emulator._send_json(exchange, 200, _infer(endpoint, parsed))


def _embedding_settings(endpoint: _Endpoint) -> tuple[int, str]:
    dimensions = endpoint.service_settings.get("dimensions")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        dimensions = _DEFAULT_DIMENSIONS
    element_type = endpoint.service_settings.get("element_type", "float")
    return dimensions, element_type if element_type in ("byte", "bit") else "float"


# §6.2: the result key per element type; the 9.4 ``embedding`` task uses "embeddings".
_EMBEDDING_KEYS: Final = {
    "text_embedding": {
        "float": "text_embedding",
        "byte": "text_embedding_bytes",
        "bit": "text_embedding_bits",
    },
    "embedding": {"float": "embeddings", "byte": "embeddings_bytes", "bit": "embeddings_bits"},
}


def _infer(endpoint: _Endpoint, body: _InferenceBody) -> dict[str, Any]:
    """The deterministic non-streaming result for ``body`` (§6.2)."""
    inputs = body.input or []
    task_type = endpoint.task_type
    if task_type in _EMBEDDING_KEYS:
        dimensions, element_type = _embedding_settings(endpoint)
        key = _EMBEDDING_KEYS[task_type][element_type]
        vectors = [
            {"embedding": _embedding(endpoint.inference_id, text, dimensions, element_type)}
            for text in inputs
        ]
        return {key: vectors}
    if task_type == "sparse_embedding":
        results = []
        for text in inputs:
            weights, truncated = _sparse_embedding(endpoint.inference_id, text)
            results.append({"is_truncated": truncated, "embedding": weights})
        return {"sparse_embedding": results}
    if task_type == "rerank":
        # Top-level options win over request task_settings, which win over stored ones
        # (older clients sent them only inside task_settings).
        settings = {**endpoint.task_settings, **(body.task_settings or {})}
        top_n = body.top_n if body.top_n is not None else settings.get("top_n")
        documents = body.return_documents
        if documents is None:
            documents = settings.get("return_documents", True) in (True, "true")
        ranked = _rerank(body.query or "", inputs, None if top_n is None else int(top_n), documents)
        return {"rerank": ranked}
    # completion: one result per input, the whole answer the stream would send.
    results = []
    for text in inputs:
        deltas = endpoint.deltas(text)
        results.append({"result": "".join(deltas[i] for i in range(len(deltas)))})
    return {"completion": results}


# --- endpoint management (§7) ------------------------------------------------------------------


def _new_endpoint(url_task_type: str, inference_id: str, body: bytes) -> _Endpoint:
    """TransportPutInferenceModelAction.masterOperation + the service's parseRequestConfig.

    Raises:
        _EsError: the first check that fails, in ES's order.
    """
    config = _parse_settings_body(body)
    task_type = _resolve_task_type(url_task_type, config.pop("task_type", None))
    service_name = config.pop("service", None)
    if service_name is None:
        raise _error(
            400,
            "status_exception",
            "Inference endpoint configuration is missing the [service] setting",
        )
    service = _SERVICES.get(str(service_name))
    if service is None:
        raise _error(400, "status_exception", f"Unknown service [{service_name}]")
    service_settings = _remove_map(config, "service_settings")
    if service_settings is None:
        # ServiceUtils.removeFromMapOrThrowIfNull.
        raise _error(400, "status_exception", "Missing required field [service_settings]")
    task_settings = _remove_map(config, "task_settings") or {}
    chunking = _remove_map(config, "chunking_settings")
    if task_type not in service.task_types:
        # TaskType.unsupportedTaskTypeErrorMsg.
        raise _error(
            400,
            "status_exception",
            f"The [{service.service}] service does not support task type [{task_type}]",
        )
    _check_service_settings(service, service_settings)
    if config:
        # ServiceUtils.unknownSettingsError (throwIfNotEmptyMap): the body is strict.
        raise _error(
            400,
            "status_exception",
            f"Model configuration contains settings [{_java_str(config)}] unknown to the "
            f"[{service.service}] service",
        )
    if task_type in service.rate_limits and "rate_limit" not in service_settings:
        # Services write their default rate limit into the stored settings.
        service_settings["rate_limit"] = {"requests_per_minute": service.rate_limits[task_type]}
    return _Endpoint(
        inference_id=inference_id,
        task_type=task_type,
        service=service.service,
        service_settings=service_settings,
        task_settings=task_settings,
        chunking_settings=None if chunking is None else _chunking_settings(chunking),
        answer=None,
        answer_tokens=_DEFAULT_ANSWER_TOKENS,
        deltas_per_event=_DEFAULT_DELTAS_PER_EVENT,
        event_delay=None,
        streaming=True,
    )


async def _put_endpoint(emulator: ElasticsearchEmulator, exchange: _Exchange) -> web.StreamResponse:
    """PUT _inference[/{task_type}]/{id} (§7.1): create an endpoint."""
    try:
        url_task_type, inference_id = exchange.task_type_and_id()
        _check_time_param(exchange, "timeout")
        _require_body(exchange)
        exchange.check_params()
        _check_id(inference_id)  # TransportAction.execute: Request.validate()
        endpoint = _new_endpoint(url_task_type, inference_id, exchange.record.body)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    # The provider's validation call happens before the endpoint is stored.
    fault = emulator._take_fault(inference_id)
    response = await emulator._send_fault_json(exchange, fault, endpoint)
    if response is not None:
        return response
    with emulator._lock:
        exists = inference_id in emulator._endpoints
        if not exists:
            emulator._endpoints[inference_id] = endpoint
    if exists:
        # ModelRegistry.storeModel: the version conflict becomes ResourceAlreadyExistsException.
        duplicate = _error(
            400,
            "resource_already_exists_exception",
            f"Inference endpoint [{inference_id}] already exists",
        )
        return await emulator._send_json(exchange, duplicate.status, duplicate.body)
    return await emulator._send_json(exchange, 200, endpoint.info())


async def _delete_endpoint(
    emulator: ElasticsearchEmulator, exchange: _Exchange
) -> web.StreamResponse:
    """DELETE _inference[/{task_type}]/{id}[?dry_run][&force] (§7.3)."""
    try:
        task_type, inference_id = exchange.task_type_and_id()
        force = _bool_param(exchange, "force")
        dry_run = _bool_param(exchange, "dry_run")
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    fault = emulator._take_fault(inference_id)
    response = await emulator._send_fault_json(exchange, fault)
    if response is not None:
        return response
    # TransportDeleteInferenceEndpointAction, in its order.
    try:
        endpoint = emulator._endpoint(inference_id)
        if task_type not in ("any", endpoint.task_type):
            raise _mismatched_task_type(task_type, endpoint)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    with emulator._lock:
        pipelines = sorted(emulator._pipelines.get(inference_id, ()))
    if dry_run:
        # handleDryRun: nothing deleted; error_message is always written (empty if unused).
        body = {
            "acknowledged": False,
            "pipelines": pipelines,
            "indexes": [],
            "error_message": _referenced_message(inference_id, pipelines),
        }
        return await emulator._send_json(exchange, 200, body)
    if pipelines and not force:
        conflict = _error(409, "status_exception", _referenced_message(inference_id, pipelines))
        return await emulator._send_json(exchange, conflict.status, conflict.body)
    with emulator._lock:
        emulator._endpoints.pop(inference_id, None)
    body = {"acknowledged": True, "pipelines": [], "indexes": []}
    return await emulator._send_json(exchange, 200, body)


def _referenced_message(inference_id: str, pipelines: Sequence[str]) -> str:
    # TransportDeleteInferenceEndpointAction.buildErrorString (Java Set.toString: "[a, b]").
    if not pipelines:
        return ""
    return (
        f"Inference endpoint {inference_id} is referenced by pipelines: "
        f"[{', '.join(pipelines)}]. Ensure that no pipelines are using this inference endpoint, "
        "or use force to ignore this warning and delete the inference endpoint."
    )


def _mismatched_task_type(task_type: str, endpoint: _Endpoint) -> _EsError:
    # InferenceExceptions.mismatchedTaskTypeException.
    return _error(
        400,
        "status_exception",
        f"Requested task type [{task_type}] does not match the inference endpoint's task type "
        f"[{endpoint.task_type}]",
    )


async def _update_endpoint(
    emulator: ElasticsearchEmulator, exchange: _Exchange
) -> web.StreamResponse:
    """PUT _inference[/{task_type}]/{id}/_update (§7.4): merge new settings into an endpoint."""
    try:
        url_task_type, inference_id = exchange.task_type_and_id()
        _require_body(exchange)
        for name in ("timeout", "master_timeout"):
            _check_time_param(exchange, name)
        exchange.check_params()
        _check_id(inference_id)
        service_settings, task_settings, body_task_type = _update_settings(exchange.record.body)
        # ServiceUtils.resolveTaskType; since 9.0 (ES PR #121231) an update without any task
        # type uses the endpoint's.
        if body_task_type is not None:
            resolved = _resolve_task_type(url_task_type, body_task_type)
        else:
            resolved = url_task_type
        with emulator._lock:
            endpoint = emulator._endpoints.get(inference_id)
        if endpoint is None:
            # checkEndpointExists: Messages.INFERENCE_ENTITY_NON_EXISTANT_NO_UPDATE (wording
            # not verified).
            raise _error(
                404,
                "resource_not_found_exception",
                f"The inference endpoint [{inference_id}] does not exist and cannot be updated",
            )
        if resolved not in ("any", endpoint.task_type):
            raise _error(
                400,
                "status_exception",
                "Task type must match the task type of the existing endpoint",
            )
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    fault = emulator._take_fault(inference_id)
    response = await emulator._send_fault_json(exchange, fault, endpoint)
    if response is not None:
        return response
    updated = attrs.evolve(
        endpoint,
        service_settings={**endpoint.service_settings, **(service_settings or {})},
        task_settings={**endpoint.task_settings, **(task_settings or {})},
    )
    with emulator._lock:
        emulator._endpoints[inference_id] = updated
    return await emulator._send_json(exchange, 200, updated.info())


async def _get_services(emulator: ElasticsearchEmulator, exchange: _Exchange) -> web.StreamResponse:
    """GET _inference/_services[/{task_type}] (§7.5): a top-level JSON array."""
    try:
        task_type = _parse_task_type(exchange.params.get("task_type", "any"))
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await emulator._send_json(exchange, err.status, err.body)
    fault = emulator._take_fault(None)
    response = await emulator._send_fault_json(exchange, fault)
    if response is not None:
        return response
    return await emulator._send_json(exchange, 200, _json(_services_catalogue(task_type)))


# To add a route: write one handler function above and add a line here.
_ROUTES: Final[tuple[_Route, ...]] = (
    _Route("GET", "/", _get_root),
    _Route("HEAD", "/", _get_root),  # RestMainAction; clients' ping()
    _Route("GET", "/_inference", _get_endpoints),
    _Route("GET", "/_inference/_all", _get_endpoints),
    _Route("GET", "/_inference/{task_type_or_id}", _get_endpoints),
    _Route("GET", "/_inference/{task_type_or_id}/{inference_id}", _get_endpoints),
    _Route("GET", "/_inference/_services", _get_services),
    _Route("GET", "/_inference/_services/{task_type}", _get_services),
    _Route("PUT", "/_inference/{task_type_or_id}", _put_endpoint, frozenset({"timeout"})),
    _Route(
        "PUT", "/_inference/{task_type_or_id}/{inference_id}", _put_endpoint, frozenset({"timeout"})
    ),
    _Route(
        "PUT",
        "/_inference/{task_type_or_id}/_update",
        _update_endpoint,
        frozenset({"timeout", "master_timeout"}),
    ),
    _Route(
        "PUT",
        "/_inference/{task_type_or_id}/{inference_id}/_update",
        _update_endpoint,
        frozenset({"timeout", "master_timeout"}),
    ),
    _Route(
        "DELETE", "/_inference/{task_type_or_id}", _delete_endpoint, frozenset({"dry_run", "force"})
    ),
    _Route(
        "DELETE",
        "/_inference/{task_type_or_id}/{inference_id}",
        _delete_endpoint,
        frozenset({"dry_run", "force"}),
    ),
    _Route("POST", "/_inference/{task_type_or_id}", _post_inference, frozenset({"timeout"})),
    _Route(
        "POST",
        "/_inference/{task_type_or_id}/{inference_id}",
        _post_inference,
        frozenset({"timeout"}),
    ),
    _Route("POST", "/_inference/{task_type_or_id}/_stream", _post_stream, frozenset({"timeout"})),
    _Route(
        "POST",
        "/_inference/{task_type_or_id}/{inference_id}/_stream",
        _post_stream,
        frozenset({"timeout"}),
    ),
)
