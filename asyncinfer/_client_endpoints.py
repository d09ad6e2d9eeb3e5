"""Endpoint management calls of InferenceClient, and the region policy (9.5+)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._config import RetryPolicy, Timeouts
from ._exceptions import InvalidRequestError
from ._models_endpoints import (
    CspRegion,
    DeleteEndpointResult,
    EndpointInfo,
    RegionPolicy,
    RegionPolicyInfo,
    ServiceInfo,
    _non_empty_list,
    _region,
)
from ._protocol_endpoints import (
    delete_endpoint_request,
    delete_region_policy_request,
    get_endpoints_request,
    get_region_policy_request,
    get_services_request,
    put_endpoint_request,
    put_region_policy_request,
    update_endpoint_request,
)

if TYPE_CHECKING:
    pass
from ._client_base import _ClientBase, _field, _parse, _typed, _unexpected

__all__ = ["_EndpointsAPI"]

# A region as put_region_policy takes it.
Region = CspRegion | tuple[str, str] | Mapping[str, str]


class _EndpointsAPI(_ClientBase):
    """Create, list, change and delete inference endpoints; the service catalogue; the
    region policy."""

    async def put_endpoint(
        self,
        task_type_or_id: str,
        inference_id: str | None = None,
        *,
        task_type: str | None = None,
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

        Two forms, as Elasticsearch's own routes: ``put_endpoint("completion", "my-id",
        ...)`` puts the task type in the URL; ``put_endpoint("my-id", task_type="completion",
        ...)`` sends ``PUT /_inference/my-id`` with ``"task_type"`` in the body.

        Raises:
            InvalidRequestError: No task type, or two different ones (before any I/O).
            ApiError: Elasticsearch refused it (``BadRequestError`` if it exists).
            AsyncInferError: The other errors of :meth:`completion`.
        """
        if inference_id is None:
            url_task_type, inference_id, body_task_type = None, task_type_or_id, task_type
        else:
            url_task_type, body_task_type = task_type_or_id, None
            if task_type not in (None, task_type_or_id):
                raise InvalidRequestError(
                    f"two task types given: {task_type_or_id!r} and task_type={task_type!r}"
                )
        request = put_endpoint_request(
            url_task_type,
            inference_id,
            body_task_type=body_task_type,
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
            dry_run: Delete nothing; list the pipelines and indices that use the endpoint,
                and the refusal a real delete would meet (``error_message``).
            force: Delete even if pipelines use it.

        Raises:
            ConflictError: Ingest pipelines use it and ``force`` is false (409).
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
        service: str | None = None,
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        chunking_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EndpointInfo:
        """Change an endpoint's settings: ``PUT /_inference/[{task_type}/]{id}/_update`` (8.17+).

        Args:
            service: Sent as the specification's body has it; Elasticsearch does not let an
                update change the service and refuses the field (``BadRequestError``
                "Request contained fields which cannot be updated").
            service_settings: Secrets, ``num_allocations``, rate limits...
            task_settings: Merged into the stored task settings.
            chunking_settings: Replace the chunking settings (Elasticsearch 9.5+).
            server_timeout: How long Elasticsearch may take (the ``timeout`` parameter, 9.5+).

        Raises:
            InvalidRequestError: Nothing to update (before any I/O).
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = update_endpoint_request(
            inference_id,
            task_type=task_type,
            service=service,
            service_settings=service_settings,
            task_settings=task_settings,
            chunking_settings=chunking_settings,
            server_timeout=server_timeout,
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

    # --- the region policy (Elasticsearch 9.5+) -----------------------------------------------

    async def put_region_policy(
        self,
        policy: RegionPolicy | None = None,
        *,
        allowed_geos: Sequence[str] | None = None,
        allowed_regions: Sequence[Region] | None = None,
        fallback_region: Region | None = None,
        force: bool = False,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> RegionPolicyInfo:
        """Create or replace the deployment's region policy: ``PUT /_inference/_region_policy``.

        Give a :class:`RegionPolicy`, or its fields: ``allowed_geos`` *or* ``allowed_regions``
        (:class:`CspRegion`, ``(csp, region)`` pairs or mappings).

        Args:
            force: Apply it even if it denies endpoints that pipelines or indices use.

        Raises:
            InvalidRequestError: Both or neither of ``allowed_geos`` and ``allowed_regions``,
                an empty list, or a policy and fields together (before any I/O).
            ConflictError: The policy would deny endpoints in use and ``force`` is false.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        _typed(force, bool, "force")
        fields = (allowed_geos, allowed_regions, fallback_region)
        if policy is None:
            regions = None
            if allowed_regions is not None:
                regions = [
                    _region(r, f"allowed_regions[{i}]")
                    for i, r in enumerate(_non_empty_list(allowed_regions, "allowed_regions"))
                ]
            policy = RegionPolicy(
                allowed_geos=None
                if allowed_geos is None
                else _non_empty_list(allowed_geos, "allowed_geos"),
                allowed_regions=regions,
                fallback_region=None
                if fallback_region is None
                else _region(fallback_region, "fallback_region"),
            )
        elif not isinstance(policy, RegionPolicy) or fields != (None, None, None):
            raise InvalidRequestError(
                "give a RegionPolicy or allowed_geos / allowed_regions / fallback_region, not both"
            )
        request = put_region_policy_request(policy.to_json(), force=force)
        answer = await self._json(request, timeouts, retries, opaque_id)
        return _parse(RegionPolicyInfo._from, request, answer)

    async def get_region_policy(
        self,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> RegionPolicyInfo:
        """The deployment's region policy: ``GET /_inference/_region_policy``.

        Raises:
            NotFoundError: No region policy is configured ("No region policy is configured
                for this deployment").
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = get_region_policy_request()
        answer = await self._json(request, timeouts, retries, opaque_id)
        return _parse(RegionPolicyInfo._from, request, answer)

    async def delete_region_policy(
        self,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> bool:
        """Remove the region policy: ``DELETE /_inference/_region_policy``.

        Returns:
            ``acknowledged`` (``True``).

        Raises:
            NotFoundError: No region policy is configured.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = delete_region_policy_request()
        answer = await self._json(request, timeouts, retries, opaque_id)
        return bool(_parse(lambda b: _field(b, "acknowledged", bool), request, answer))
