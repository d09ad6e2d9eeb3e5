"""Streaming inference handlers: ``_stream`` completion deltas and chat chunks (§4)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ._chat_reasoning import (
    _with_reasoning,
)
from ._es_errors import (
    _error,
    _EsError,
    _unified_error,
    _unified_from,
    _validation_error,
)
from ._es_models import (
    _chat_chunks,
    _ChatRequest,
    _parse_chat_body,
)
from ._exchange import (
    _Exchange,
)
from ._http import (
    _Server,
)
from ._inference import (
    _incompatible,
    _inference_target,
    _routes_to_chat,
)
from ._object_parser import (
    _ParseFailure,
)
from ._registry import (
    _chat_contents,
    _Endpoint,
)
from ._request_body import (
    _InferenceBody,
    _parse_inference_body,
    _validate,
)
from ._responses import (
    send_completion_stream,
    send_json,
    send_sse_error,
    send_stream,
)
from ._wire import (
    _json,
    _sse_event,
)

if TYPE_CHECKING:
    from ._http import _Server


def _check_streaming(endpoint: _Endpoint, task_type: str, known: Collection[str]) -> None:
    """BaseTransportInferenceAction.unsupportedStreamingTaskException (§4.1): 405.

    ``known``: the release's task types; a service streams only those.
    """
    streaming = [t for t in endpoint.service_info.streaming if t in known]
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


async def _post_stream(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """POST _inference[/{task_type}]/{id}/_stream (§4): the streaming inference API."""
    try:
        url_task_type, inference_id, parsed = _inference_target(server, exchange)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    # Proxy and transport actions (8.18+): errors are SSE-formatted with the real status (§5.2).
    try:
        if _routes_to_chat(server, url_task_type, inference_id):
            return await _chat_stream(server, exchange, url_task_type, inference_id)
        if parsed is None:
            parsed = _parse_inference_body(exchange.record.body, server.profile.inference_parser)
        endpoint, text = _resolve_stream(server, parsed, url_task_type, inference_id)
    except _EsError as err:
        return await send_sse_error(server, exchange, err)
    fault = server.faults.take(inference_id)
    return await send_completion_stream(server, exchange, endpoint, text, fault)


def _resolve_stream(
    server: _Server, parsed: _InferenceBody, url_task_type: str, inference_id: str
) -> tuple[_Endpoint, str]:
    """BaseTransportInferenceAction, after the body was parsed, in ES's order.

    Raises:
        _EsError: the first check that fails.
    """
    _validate(url_task_type, parsed)  # TransportAction.execute validates before doExecute
    endpoint = server.registry.get(inference_id)
    if url_task_type not in ("any", endpoint.task_type):
        raise _incompatible(url_task_type, endpoint)
    _check_streaming(endpoint, url_task_type, server.profile.task_types)
    assert parsed.input is not None
    return endpoint, "\n".join(parsed.input)


async def _chat_stream(
    server: _Server, exchange: _Exchange, url_task_type: str, inference_id: str
) -> web.StreamResponse:
    """The chat completion ("unified") stream, §4.3: one OpenAI-like chunk per event."""
    try:
        request = _parse_chat(server, exchange.record.body)
    except _EsError as err:
        return await send_sse_error(server, exchange, err)
    if not request.messages:
        # UnifiedCompletionAction.Request.validate runs in TransportAction.execute, before the
        # unified-format wrapper of doExecute: the standard envelope (derived from ES source).
        invalid = _validation_error("Field [messages] cannot be an empty array")
        return await send_sse_error(server, exchange, invalid)
    try:
        # TransportUnifiedCompletionInferenceAction: every failure in the unified shape.
        try:
            endpoint = server.registry.get(inference_id)
            if endpoint.task_type != "chat_completion":
                raise _error(
                    400,
                    "status_exception",
                    f"Incompatible task_type for unified API, the requested type "
                    f"[{url_task_type}] must be one of [chat_completion]",
                )
            _check_streaming(endpoint, "chat_completion", server.profile.task_types)
        except _EsError as err:
            raise _unified_from(err) from None
    except _EsError as err:
        return await send_sse_error(server, exchange, err)
    fault = server.faults.take(inference_id)
    model = request.model or endpoint.service_settings.get("model_id")
    chunks: Iterable[dict[str, Any]] = _chat_chunks(
        inference_id=inference_id,
        request=request,
        contents=_chat_contents(endpoint, request.messages),
        model=None if model is None else str(model),
    )
    if server.reasoning_fields:  # 9.4+: reasoning deltas and usage details
        chunks = _with_reasoning(chunks, request, endpoint.deltas_per_event)
    events = (_sse_event("message", _json(chunk)) for chunk in chunks)
    return await send_stream(server, exchange, endpoint, events, fault, chat=True)


def _parse_chat(server: _Server, body: bytes) -> _ChatRequest:
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
        return _parse_chat_body(body, reasoning=server.reasoning_fields)
    except _ParseFailure as failure:
        raise _unified_error(400, failure.message, failure.error_type, "bad_request") from None
    except RecursionError:
        raise _unified_error(
            400, "[1:1] nesting too deep", "x_content_parse_exception", "bad_request"
        ) from None
