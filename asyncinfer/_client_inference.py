"""Non-streaming inference calls of InferenceClient: completion, embeddings, rerank, chat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._config import RetryPolicy, Timeouts
from ._exceptions import (
    InvalidRequestError,
)
from ._inputs import ContentItem, EmbeddingContent, embedding_inputs, rerank_inputs, rerank_query
from ._models import (
    CompletionResult,
    EmbeddingResult,
    InferenceResult,
    RerankResult,
    SparseEmbeddingResult,
    TextEmbeddingResult,
    _Shape,
    parse_inference,
)
from ._models_chat_completion import ChatCompletion
from ._protocol import (
    chat_completion_request,
    inference_request,
    string_inputs,
)

if TYPE_CHECKING:
    pass
from ._client_base import _body, _chat_body, _ClientBase, _parse, _typed, _unexpected

# What ``embedding`` takes for one input (see ``_inputs``).
EmbeddingInput = str | ContentItem | EmbeddingContent | Mapping[str, Any]

__all__ = ["_InferenceAPI"]


class _InferenceAPI(_ClientBase):
    """Non-streaming inference: one JSON answer per call."""

    async def completion(
        self,
        inference_id: str,
        input: str | Sequence[str],
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> CompletionResult:
        """A whole completion at once: ``POST /_inference/completion/{inference_id}``.

        Raises:
            InvalidRequestError: An argument is invalid (before any I/O).
            ApiError: Elasticsearch answered with an error.
            UnexpectedResponseError: The answer is not a completion result.
            TransportError: Connecting or reading failed, or a time limit fired.
        """
        body = _body(input=string_inputs(input), task_settings=task_settings)
        request = inference_request("completion", inference_id, body, server_timeout=server_timeout)
        return await self._result(CompletionResult, request, timeouts, retries, opaque_id)

    async def text_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        input_type: str | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> TextEmbeddingResult:
        """Dense vectors: ``POST /_inference/text_embedding/{inference_id}``.

        Args:
            input_type: ``"ingest"``, ``"search"``, ``"classification"`` or ``"clustering"``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if input_type is not None:
            _typed(input_type, str, "input_type")
        body = _body(
            input=string_inputs(inputs, "inputs"),
            input_type=input_type,
            task_settings=task_settings,
        )
        request = inference_request(
            "text_embedding", inference_id, body, server_timeout=server_timeout
        )
        return await self._result(TextEmbeddingResult, request, timeouts, retries, opaque_id)

    async def sparse_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> SparseEmbeddingResult:
        """Sparse vectors (token → weight): ``POST /_inference/sparse_embedding/{inference_id}``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        body = _body(input=string_inputs(inputs, "inputs"), task_settings=task_settings)
        request = inference_request(
            "sparse_embedding", inference_id, body, server_timeout=server_timeout
        )
        return await self._result(SparseEmbeddingResult, request, timeouts, retries, opaque_id)

    async def embedding(
        self,
        inference_id: str,
        input: EmbeddingInput | Sequence[EmbeddingInput],
        *,
        input_type: str | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EmbeddingResult:
        """Dense vectors of text or images: ``POST /_inference/embedding/{inference_id}``
        (Elasticsearch 9.4+, experimental).

        Args:
            input: One input or a list: strings, :class:`ContentItem` (an image or a text),
                :class:`EmbeddingContent` (several items, one vector; 9.5+), or mappings in
                Elasticsearch's form ``{"content": item or [items]}``. One vector per input.
            input_type: ``"ingest"``, ``"search"``, ``"classification"`` or ``"clustering"``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if input_type is not None:
            _typed(input_type, str, "input_type")
        body = _body(
            input=embedding_inputs(input), input_type=input_type, task_settings=task_settings
        )
        request = inference_request("embedding", inference_id, body, server_timeout=server_timeout)
        return await self._result(EmbeddingResult, request, timeouts, retries, opaque_id)

    async def rerank(
        self,
        inference_id: str,
        query: str | ContentItem | Mapping[str, Any],
        documents: Sequence[str | ContentItem | Mapping[str, Any]],
        *,
        top_n: int | None = None,
        return_documents: bool | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> RerankResult:
        """Order ``documents`` by relevance to ``query``: ``POST /_inference/rerank/{id}``.

        Args:
            query: A string, or (Elasticsearch 9.5+) a text :class:`ContentItem`.
            documents: Strings, or (9.5+) :class:`ContentItem` items, text or images;
                each hit's ``index`` points into this list.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1
        ):
            raise InvalidRequestError(f"top_n must be a positive int, got {top_n!r}")
        if return_documents is not None:
            _typed(return_documents, bool, "return_documents")
        body = _body(
            query=rerank_query(query),
            input=rerank_inputs(documents),
            top_n=top_n,
            return_documents=return_documents,
            task_settings=task_settings,
        )
        request = inference_request("rerank", inference_id, body, server_timeout=server_timeout)
        return await self._result(RerankResult, request, timeouts, retries, opaque_id)

    async def chat_completion(
        self,
        inference_id: str,
        messages: Sequence[Any],
        *,
        model: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        max_completion_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        reasoning: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> ChatCompletion:
        """A whole chat answer at once: ``POST /_inference/chat_completion/{inference_id}``
        (Elasticsearch 9.6+, experimental).

        The arguments are those of :meth:`stream_chat_completion`. Releases before 9.6
        answer 400 ``The [chat_completion] task type only supports streaming, please try
        again with the _stream API``: use :meth:`stream_chat_completion` there.

        Raises:
            InvalidRequestError: An argument is invalid; the message names the field.
            ApiError: Elasticsearch answered with an error (OpenAI-shaped for this route:
                ``code`` and ``error_type`` are set, e.g. ``not_found``).
            UnexpectedResponseError: The answer is not a chat completion.
            TransportError: Connecting or reading failed, or a time limit fired.
        """
        body = _chat_body(
            messages,
            model=model,
            tools=tools,
            tool_choice=tool_choice,
            max_completion_tokens=max_completion_tokens,
            stop=stop,
            temperature=temperature,
            top_p=top_p,
            reasoning=reasoning,
        )
        request = chat_completion_request(inference_id, body, server_timeout=server_timeout)
        answer = await self._json(request, timeouts, retries, opaque_id)
        return _parse(ChatCompletion._from, request, answer)

    async def inference(
        self,
        task_type: str | None,
        inference_id: str,
        *,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
        **body: Any,
    ) -> InferenceResult:
        """Any non-streaming inference: ``POST /_inference/[{task_type}/]{inference_id}``.

        ``body`` is sent as the JSON body (``input=...``, ``query=...``, ...); the result is
        typed by what the answer holds.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = inference_request(task_type, inference_id, body, server_timeout=server_timeout)
        answer = await self._json(request, timeouts, retries, opaque_id)
        try:
            return parse_inference(answer)
        except _Shape as exc:
            raise _unexpected(request, answer, str(exc)) from None
