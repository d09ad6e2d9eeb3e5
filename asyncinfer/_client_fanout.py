"""Fan-out calls of InferenceClient: many prompts at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from ._config import RetryPolicy, Timeouts
from ._fanout import AsCompleted, map_results
from ._models import (
    CompletionResult,
)

if TYPE_CHECKING:
    pass
from ._client_inference import _InferenceAPI

__all__ = ["_FanoutAPI"]


class _FanoutAPI(_InferenceAPI):
    """Many completions at once, with bounded concurrency."""

    def as_completed(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> AsCompleted[str, CompletionResult]:
        """Complete many prompts at once; iterate ``(index, result or error)`` as each ends.

        At most ``concurrency`` calls run at a time (and never more than the client's
        connection limit, shared by all its calls); a 429 cools the whole client down.
        Errors are yielded, not raised. Use it with ``async with`` so that leaving early
        cancels the calls still running::

            async with client.as_completed("my-endpoint", prompts) as results:
                async for index, result in results:
                    ...

        Raises:
            InvalidRequestError: ``concurrency`` is not a positive int.
        """
        self._check_open()

        async def call(prompt: str) -> CompletionResult:
            return await self.completion(
                inference_id,
                prompt,
                task_settings=task_settings,
                timeouts=timeouts,
                retries=retries,
            )

        return AsCompleted(call, inputs, concurrency)

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: Literal[False] = False,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult]: ...

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: Literal[True],
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult | BaseException]: ...

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: bool,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult | BaseException]: ...

    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: bool = False,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult] | list[CompletionResult | BaseException]:
        """Complete many prompts at once; the results come back in input order.

        The list holds only results (``list[CompletionResult]``), unless
        ``return_exceptions=True`` lets errors take their input's place.

        Raises:
            AsyncInferError: The first error, unless ``return_exceptions`` (then errors take
                their input's place in the list); the calls still running are cancelled.
        """
        self._check_open()
        return await map_results(
            lambda prompt: self.completion(
                inference_id,
                prompt,
                task_settings=task_settings,
                timeouts=timeouts,
                retries=retries,
            ),
            inputs,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
        )
