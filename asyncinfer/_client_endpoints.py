"""Endpoint management calls of InferenceClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._config import RetryPolicy, Timeouts
from ._models import (
    DeleteEndpointResult,
    EndpointInfo,
    ServiceInfo,
)
from ._protocol import (
    delete_endpoint_request,
    get_endpoints_request,
    get_services_request,
    put_endpoint_request,
    update_endpoint_request,
)

if TYPE_CHECKING:
    pass
from ._client_base import _ClientBase, _field, _parse, _unexpected

__all__ = ["_EndpointsAPI"]


class _EndpointsAPI(_ClientBase):
    """Create, list, change and delete inference endpoints; the service catalogue."""

    async def put_endpoint(
        self,
        task_type: str,
        inference_id: str,
        *,
        service: str,
        service_settings: Mapping[str, Any],
        task_settings: Mapping[str, Any] | None = None,
        chunking_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EndpointInfo:
        """Create an inference endpoint: ``PUT /_inference/{task_type}/{inference_id}``.

        Raises:
            ApiError: Elasticsearch refused it (``BadRequestError`` if it exists).
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = put_endpoint_request(
            task_type,
            inference_id,
            service=service,
            service_settings=service_settings,
            task_settings=task_settings,
            chunking_settings=chunking_settings,
            server_timeout=server_timeout,
        )
        return _parse(
            EndpointInfo._from, request, await self._json(request, timeouts, retries, opaque_id)
        )

    async def get_endpoints(
        self,
        task_type: str | None = None,
        inference_id: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> list[EndpointInfo]:
        """List endpoints, all or by task type, or get one: ``GET /_inference[...]``.

        Raises:
            NotFoundError: No endpoint with that id.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = get_endpoints_request(task_type, inference_id)
        body = await self._json(request, timeouts, retries, opaque_id)
        return _parse(
            lambda b: [EndpointInfo._from(e) for e in _field(b, "endpoints", list)], request, body
        )

    async def delete_endpoint(
        self,
        inference_id: str,
        *,
        task_type: str | None = None,
        dry_run: bool = False,
        force: bool = False,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> DeleteEndpointResult:
        """Delete an endpoint: ``DELETE /_inference/[{task_type}/]{inference_id}``.

        Args:
            dry_run: Only list the pipelines and indices that use it.
            force: Delete even if pipelines use it.

        Raises:
            BadRequestError: Pipelines use it and ``force`` is false.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = delete_endpoint_request(
            inference_id, task_type=task_type, dry_run=dry_run, force=force
        )
        return _parse(
            DeleteEndpointResult._from,
            request,
            await self._json(request, timeouts, retries, opaque_id),
        )

    async def update_endpoint(
        self,
        inference_id: str,
        *,
        task_type: str | None = None,
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EndpointInfo:
        """Change an endpoint's settings: ``PUT /_inference/[{task_type}/]{id}/_update`` (8.17+).

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = update_endpoint_request(
            inference_id,
            task_type=task_type,
            service_settings=service_settings,
            task_settings=task_settings,
        )
        return _parse(
            EndpointInfo._from, request, await self._json(request, timeouts, retries, opaque_id)
        )

    async def get_services(
        self,
        task_type: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> list[ServiceInfo]:
        """The service catalogue: ``GET /_inference/_services[/{task_type}]``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = get_services_request(task_type)
        body = await self._json(request, timeouts, retries, opaque_id)
        if not isinstance(body, list):
            raise _unexpected(request, body, "expected a JSON array")
        return _parse(lambda b: [ServiceInfo._from(s) for s in b], request, body)
