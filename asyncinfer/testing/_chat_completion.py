"""Non-streaming chat completion (9.6+, §4.4): the stream's answer as one JSON object.

ES 9.6 drops ``TransportInferenceActionProxy``'s "only supports streaming" refusal and writes
``UnifiedChatCompletionResults`` with ``message`` where a stream chunk has ``delta``; errors of
this route keep the OpenAI shape (``InferenceErrorFormat``: "the error shape a caller sees does
not depend on whether they asked for a stream"). The body is assembled from the very chunks
the stream would send, so both ways of asking give the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._chat_reasoning import (
    _with_reasoning,
)
from ._es_errors import (
    _error,
    _EsError,
    _unified_from,
    _validation_error,
)
from ._es_models import (
    _chat_chunks,
)
from ._exchange import (
    _Exchange,
)
from ._registry import (
    _chat_contents,
)
from ._responses import (
    send_fault_json,
    send_json,
)
from ._streaming import (
    _parse_chat,
)

if TYPE_CHECKING:
    from ._http import _Server

__all__: list[str] = []  # private module


def _assemble(chunks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming body from stream chunks, in ES's key order (Message, ToolCall)."""
    chunk_id: Any = None
    model: Any = None
    usage: Any = None
    content = ""
    reasoning = ""
    details: list[Any] = []
    finish: Any = None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        chunk_id, model = chunk["id"], chunk["model"]
        usage = chunk.get("usage", usage)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning") or ""
            details += delta.get("reasoning_details") or ()
            finish = choice.get("finish_reason", finish)
            for fragment in delta.get("tool_calls", ()):
                call = calls.setdefault(fragment["index"], {"id": None, "name": "", "args": ""})
                call["id"] = fragment.get("id") or call["id"]
                function = fragment.get("function") or {}
                call["name"] += function.get("name") or ""
                call["args"] += function.get("arguments") or ""
    message: dict[str, Any] = {}
    if content:  # chunkNullable: a null field is omitted
        message["content"] = content
    message["role"] = "assistant"
    if reasoning:
        message["reasoning"] = reasoning
    if calls:
        message["tool_calls"] = [
            {
                "index": index,
                "id": call["id"],
                "function": {"arguments": call["args"], "name": call["name"]},
                "type": "function",
            }
            for index, call in sorted(calls.items())
        ]
    if details:
        message["reasoning_details"] = details
    answer: dict[str, Any] = {"message": message}
    if finish is not None:
        answer["finish_reason"] = finish
    answer["index"] = 0
    body = {"id": chunk_id, "choices": [answer], "model": model, "object": "chat.completion"}
    if usage is not None:
        body["usage"] = usage
    return body


async def _post_chat_completion(
    server: _Server, exchange: _Exchange, url_task_type: str, inference_id: str
) -> web.StreamResponse:
    """POST _inference[/chat_completion]/{id} with a unified chat body (9.6+)."""
    try:
        request = _parse_chat(server, exchange.record.body)  # OpenAI-shaped parse errors
        if not request.messages:
            # Request.validate runs before the unified wrapper: the standard envelope, as on
            # _stream.
            raise _validation_error("Field [messages] cannot be an empty array")
    except _EsError as err:
        return await send_json(exchange, err.status, err.body, err.headers)
    try:
        endpoint = server.registry.get(inference_id)
        if endpoint.task_type != "chat_completion":
            raise _error(
                400,
                "status_exception",
                f"Incompatible task_type for unified API, the requested type [{url_task_type}] "
                "must be one of [chat_completion]",
            )
    except _EsError as err:
        unified = _unified_from(err)
        return await send_json(exchange, unified.status, unified.body, unified.headers)
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault, endpoint, chat=True)
    if response is not None:
        return response
    model = request.model or endpoint.service_settings.get("model_id")
    chunks: Iterable[dict[str, Any]] = _chat_chunks(
        inference_id=inference_id,
        request=request,
        contents=_chat_contents(endpoint, request.messages),
        model=None if model is None else str(model),
    )
    if server.reasoning_fields:  # the same answer as the stream's, reasoning and usage details too
        chunks = _with_reasoning(chunks, request, endpoint.deltas_per_event)
    return await send_json(exchange, 200, _assemble(chunks))
