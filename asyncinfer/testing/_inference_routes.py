"""POST _inference[/{task_type}]/{id}: which body parser and answer the emulated release uses.

9.4 parses ``embedding`` bodies with ``EmbeddingRequest`` (content objects), 9.5 ``rerank``
bodies with ``RerankRequest`` (``InferenceString`` objects), 9.6 answers ``chat_completion``
without a stream; everything else, and every release before, goes to ``_inference``'s handler.
The releases are ``_versions``'s profile flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ._chat_completion import (
    _post_chat_completion,
)
from ._es_bodies import (
    _parse_embedding_body,
    _parse_rerank_body,
)
from ._es_errors import (
    _error,
    _EsError,
)
from ._exchange import (
    _Exchange,
)
from ._inference import (
    _incompatible,
    _infer,
    _inference_target,
    _post_inference,
    _routes_to_chat,
)
from ._request_body import (
    _InferenceBody,
)
from ._responses import (
    send_fault_json,
    send_json,
)

if TYPE_CHECKING:
    from ._http import _Server

__all__: list[str] = []  # private module


def _unknown_task_type(server: _Server, exchange: _Exchange) -> _EsError | None:
    """TaskType.fromStringOrStatusException before 9.4 knew ``embedding`` (REST layer)."""
    raw = exchange.params.get("task_type_or_id", "")
    in_url = "inference_id" in exchange.params and raw.strip().lower() == "embedding"
    if in_url and "embedding" not in server.profile.task_types:
        return _error(400, "status_exception", f"Unknown task_type [{raw}]")
    return None


def _parser(server: _Server, url_task_type: str, inference_id: str) -> str | None:
    """The request family the proxy hands the body to: chat, embedding, rerank or None.

    Raises:
        _EsError: the endpoint lookup failed (no task type in the URL).
    """
    if _routes_to_chat(server, url_task_type, inference_id):
        return "chat" if server.profile.non_streaming_chat else None
    task_type = url_task_type
    if task_type == "any":
        task_type = server.registry.get(inference_id).task_type
    if task_type == "embedding":
        return "embedding"
    if task_type == "rerank" and server.profile.rerank_objects:
        return "rerank"
    return None


async def _post_inference_by_release(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """POST _inference[/{task_type}]/{id} (§6), routed by what the release parses."""
    unknown = _unknown_task_type(server, exchange)
    if unknown is not None:
        return await send_json(exchange, unknown.status, unknown.body)
    try:
        url_task_type, inference_id, _ = _inference_target(server, exchange)
        family = _parser(server, url_task_type, inference_id)
    except _EsError:
        family = None  # the generic handler reports it, in ES's order
    if family == "chat":
        return await _post_chat_completion(server, exchange, url_task_type, inference_id)
    if family is None:
        return await _post_inference(server, exchange)
    try:
        if family == "embedding":
            groups = server.profile.embedding_content_groups
            embedding = _parse_embedding_body(exchange.record.body, groups=groups)
            body = _InferenceBody(
                embedding.texts, embedding.input_type, None, None, None, embedding.task_settings
            )
        else:
            rerank = _parse_rerank_body(exchange.record.body)
            body = _InferenceBody(
                rerank["input"],
                None,
                rerank["query"],
                rerank["return_documents"],
                rerank["top_n"],
                rerank["task_settings"],
            )
        endpoint = server.registry.get(inference_id)
        if url_task_type not in ("any", endpoint.task_type):
            raise _incompatible(url_task_type, endpoint)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body, err.headers)
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault, endpoint)
    if response is not None:
        return response
    return await send_json(exchange, 200, _infer(endpoint, body))
