"""Non-streaming inference calls of InferenceClient: completion, embeddings, rerank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._config import RetryPolicy, Timeouts
from ._exceptions import (
    InvalidRequestError,
)
from ._models import (
    CompletionResult,
    InferenceResult,
    RerankResult,
    SparseEmbeddingResult,
    TextEmbeddingResult,
    _Shape,
    parse_inference,
)
from ._protocol import (
    inference_request,
    string_inputs,
)

if TYPE_CHECKING:
    pass
from ._client_base import _body, _ClientBase, _typed, _unexpected

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

    async def rerank(
        self,
        inference_id: str,
        query: str,
        documents: Sequence[str],
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

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if not isinstance(query, str) or not query:
            raise InvalidRequestError(f"query must be a non-empty string, got {query!r}")
        if isinstance(documents, str):
            raise InvalidRequestError("documents must be a list of strings, not one string")
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1
        ):
            raise InvalidRequestError(f"top_n must be a positive int, got {top_n!r}")
        if return_documents is not None:
            _typed(return_documents, bool, "return_documents")
        body = _body(
            query=query,
            input=string_inputs(documents, "documents"),
            top_n=top_n,
            return_documents=return_documents,
            task_settings=task_settings,
        )
        request = inference_request("rerank", inference_id, body, server_timeout=server_timeout)
        return await self._result(RerankResult, request, timeouts, retries, opaque_id)

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
