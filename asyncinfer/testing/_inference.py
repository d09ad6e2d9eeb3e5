"""Non-streaming inference handlers (§6) and checks shared with the streaming ones."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from ._es_errors import (
    _error,
    _EsError,
)
from ._es_models import (
    _embedding,
    _rerank,
    _sparse_embedding,
)
from ._exchange import (
    _check_time_param,
    _Exchange,
    _require_body,
)
from ._http import (
    _Server,
)
from ._registry import (
    _embedding_settings,
    _Endpoint,
)
from ._request_body import (
    _InferenceBody,
    _parse_inference_body,
    _validate,
)
from ._responses import (
    send_fault_json,
    send_json,
)

if TYPE_CHECKING:
    from ._http import _Server


def _inference_target(
    server: _Server, exchange: _Exchange
) -> tuple[str, str, _InferenceBody | None]:
    """BaseInferenceAction.prepareRequest, then BaseRestHandler: (URL task type, id, body).

    The body is parsed here only by releases before the proxy action (8.16-8.17), whose REST
    handler parsed it; later ones parse it in the proxy (None is returned).

    Raises:
        _EsError: a REST-layer error, sent as plain JSON even on ``_stream``.
    """
    profile = server.profile
    url_task_type, inference_id = exchange.task_type_and_id(profile.task_types)
    _require_body(exchange)
    parsed = None
    if not profile.proxy_parsing:
        parsed = _parse_inference_body(exchange.record.body, profile.inference_parser)
    _check_time_param(exchange, "timeout")
    exchange.check_params()
    return url_task_type, inference_id, parsed


def _routes_to_chat(server: _Server, url_task_type: str, inference_id: str) -> bool:
    """TransportInferenceActionProxy (§4.1): does the request take the chat path?

    Raises:
        _EsError: the endpoint lookup failed (no task type in the URL); standard envelope.
    """
    if not server.profile.proxy_parsing:
        return False  # before 8.18 there is no chat path (and no chat_completion endpoint)
    if url_task_type == "chat_completion":
        return True
    # Without a task type the proxy loads the endpoint first to choose the parser.
    return (
        url_task_type == "any" and server.registry.get(inference_id).task_type == "chat_completion"
    )


def _incompatible(url_task_type: str, endpoint: _Endpoint) -> _EsError:
    return _error(
        400,
        "status_exception",
        f"Incompatible task_type, the requested type [{url_task_type}] does not match the "
        f"model type [{endpoint.task_type}]",
    )


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


async def _post_inference(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """POST _inference[/{task_type}]/{id} (§6): non-streaming inference, JSON in and out."""
    try:
        url_task_type, inference_id, parsed = _inference_target(server, exchange)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    try:
        if _routes_to_chat(server, url_task_type, inference_id):
            raise _chat_not_streaming()  # checked before the body is parsed
        if parsed is None:
            parsed = _parse_inference_body(exchange.record.body, server.profile.inference_parser)
        _validate(url_task_type, parsed)
        endpoint = server.registry.get(inference_id)
        if url_task_type not in ("any", endpoint.task_type):
            raise _incompatible(url_task_type, endpoint)
        if endpoint.task_type == "rerank" and not parsed.query:
            # A URL without a task type skips the request's rerank checks; the model still
            # needs a query (emulator's choice of message: the validation one).
            _validate("rerank", parsed)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault, endpoint)
    if response is not None:
        return response
    return await send_json(exchange, 200, _infer(endpoint, parsed))


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
