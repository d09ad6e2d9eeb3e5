"""Endpoint management and region policy answers: frozen attrs values (spec §7).

Each keeps the parsed body in ``raw`` for fields that are not modelled, and accepts the shapes
older releases wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._exceptions import InvalidRequestError
from ._models import _get, _Shape

__all__ = [
    "CspRegion",
    "DeleteEndpointResult",
    "EndpointInfo",
    "RegionPolicy",
    "RegionPolicyInfo",
    "ServiceInfo",
]


@attrs.frozen(kw_only=True)
class EndpointInfo:
    """An inference endpoint's configuration (secrets are never returned by Elasticsearch)."""

    inference_id: str
    task_type: str
    service: str
    service_settings: dict[str, Any] = attrs.field(factory=dict)
    task_settings: dict[str, Any] = attrs.field(factory=dict)
    chunking_settings: dict[str, Any] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> EndpointInfo:
        # Very early versions wrote model_id instead of inference_id (spec §7.1).
        inference_id = _get(obj, "inference_id", str, optional=True) or _get(obj, "model_id", str)
        return cls(
            inference_id=inference_id,
            task_type=_get(obj, "task_type", str),
            service=_get(obj, "service", str),
            service_settings=_get(obj, "service_settings", dict, optional=True) or {},
            task_settings=_get(obj, "task_settings", dict, optional=True) or {},
            chunking_settings=_get(obj, "chunking_settings", dict, optional=True),
            raw=obj,
        )


@attrs.frozen(kw_only=True)
class DeleteEndpointResult:
    """The answer of ``delete_endpoint``; with ``dry_run`` it lists what refers to the endpoint.

    Attributes:
        acknowledged: Whether the endpoint was deleted (``False`` for a dry run).
        pipelines: The ingest pipelines that use the endpoint (dry run).
        indexes: The indices whose ``semantic_text`` fields use it (dry run).
        error_message: What a real delete would refuse with (dry run; ``""`` when nothing
            uses the endpoint, ``None`` when Elasticsearch did not write it).
    """

    acknowledged: bool
    pipelines: list[str] = attrs.field(factory=list)
    indexes: list[str] = attrs.field(factory=list)
    error_message: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> DeleteEndpointResult:
        return cls(
            acknowledged=_get(obj, "acknowledged", bool),
            pipelines=_get(obj, "pipelines", list, optional=True) or [],
            indexes=_get(obj, "indexes", list, optional=True) or [],
            error_message=_get(obj, "error_message", str, optional=True),
            raw=obj,
        )


@attrs.frozen(kw_only=True)
class ServiceInfo:
    """One entry of the service catalogue: a provider and the task types it serves."""

    service: str
    name: str | None = None
    task_types: list[str] = attrs.field(factory=list)
    configurations: dict[str, Any] = attrs.field(factory=dict, repr=False)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> ServiceInfo:
        # 8.16-8.17 (InferenceServiceConfiguration) wrote "provider" and "configuration", and
        # for a while task_types as objects: [{"task_type": ..., "configuration": {...}}].
        if isinstance(obj, dict) and "service" not in obj and "provider" in obj:
            service = _get(obj, "provider", str)
        else:
            service = _get(obj, "service", str)
        task_types = [
            entry if isinstance(entry, str) else _get(entry, "task_type", str)
            for entry in _get(obj, "task_types", list, optional=True) or []
        ]
        configurations = _get(obj, "configurations", dict, optional=True)
        return cls(
            service=service,
            name=_get(obj, "name", str, optional=True),
            task_types=task_types,
            configurations=configurations or _get(obj, "configuration", dict, optional=True) or {},
            raw=obj,
        )


# --- the region policy (9.5+) -------------------------------------------------------------------


@attrs.frozen
class CspRegion:
    """A cloud service provider's region, e.g. ``CspRegion("aws", "us-east-1")``."""

    csp: str
    region: str

    def _to_json(self) -> dict[str, str]:
        return {"csp": self.csp, "region": self.region}

    @classmethod
    def _from(cls, obj: Any) -> CspRegion:
        return cls(_get(obj, "csp", str), _get(obj, "region", str))


def _region(value: Any, where: str) -> CspRegion:
    """A :class:`CspRegion` from itself, a ``(csp, region)`` pair or a mapping.

    Raises:
        InvalidRequestError: Anything else.
    """
    if isinstance(value, tuple) and len(value) == 2:
        value = {"csp": value[0], "region": value[1]}
    elif isinstance(value, CspRegion):
        value = value._to_json()
    if (
        not isinstance(value, Mapping)
        or not isinstance(value.get("csp"), str)
        or not isinstance(value.get("region"), str)
    ):
        raise InvalidRequestError(
            f"{where} must be a CspRegion, a (csp, region) pair or {{'csp': ..., 'region': ...}},"
            f" got {value!r}"
        )
    return CspRegion(value["csp"], value["region"])


def _non_empty_list(value: Any, name: str) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise InvalidRequestError(f"{name} must be a non-empty list, got {value!r}")
    return list(value)


@attrs.frozen(kw_only=True)
class RegionPolicy:
    """Where inference may run: allowed geographies *or* allowed regions (Elasticsearch 9.5+).

    Attributes:
        allowed_geos: Geographies, e.g. ``["us", "eu"]``.
        allowed_regions: Cloud provider regions (:class:`CspRegion`).
        fallback_region: The region to use when no allowed one can serve (newer releases).
    """

    allowed_geos: list[str] | None = None
    allowed_regions: list[CspRegion] | None = None
    fallback_region: CspRegion | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``region_policy`` object Elasticsearch takes (RegionPolicy.toXContent's order).

        Raises:
            InvalidRequestError: Both or neither of ``allowed_geos`` and ``allowed_regions``,
                an empty list, or a malformed region.
        """
        if (self.allowed_geos is None) == (self.allowed_regions is None):
            raise InvalidRequestError(
                "a region policy needs exactly one of allowed_geos and allowed_regions "
                "(Elasticsearch refuses both together)"
            )
        body: dict[str, Any] = {}
        if self.allowed_geos is not None:
            geos = _non_empty_list(self.allowed_geos, "allowed_geos")
            for i, geo in enumerate(geos):
                if not isinstance(geo, str) or not geo:
                    raise InvalidRequestError(f"allowed_geos[{i}] must be a non-empty string")
            body["allowed_geos"] = geos
        if self.allowed_regions is not None:
            regions = _non_empty_list(self.allowed_regions, "allowed_regions")
            body["allowed_regions"] = [
                _region(r, f"allowed_regions[{i}]")._to_json() for i, r in enumerate(regions)
            ]
        if self.fallback_region is not None:
            body["fallback_region"] = _region(self.fallback_region, "fallback_region")._to_json()
        return body

    @classmethod
    def _from(cls, obj: Any) -> RegionPolicy:
        regions = _get(obj, "allowed_regions", list, optional=True)
        fallback = _get(obj, "fallback_region", dict, optional=True)
        return cls(
            allowed_geos=_get(obj, "allowed_geos", list, optional=True),
            allowed_regions=None if regions is None else [CspRegion._from(r) for r in regions],
            fallback_region=None if fallback is None else CspRegion._from(fallback),
        )


@attrs.frozen(kw_only=True)
class RegionPolicyInfo:
    """The stored region policy, as ``get_region_policy`` and ``put_region_policy`` answer.

    Attributes:
        region_policy: The policy.
        created_at: When it was first stored (an ISO 8601 string, as Elasticsearch writes it).
        created_by: The user who stored it, when security is on.
        updated_at: When it was last replaced, if it was.
        updated_by: The user who last replaced it.
    """

    region_policy: RegionPolicy
    created_at: str
    created_by: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @classmethod
    def _from(cls, obj: Any) -> RegionPolicyInfo:
        if not isinstance(obj, dict):
            raise _Shape(f"expected an object, got {type(obj).__name__}")
        return cls(
            region_policy=RegionPolicy._from(_get(obj, "region_policy", dict)),
            created_at=_get(obj, "created_at", str),
            created_by=_get(obj, "created_by", str, optional=True),
            updated_at=_get(obj, "updated_at", str, optional=True),
            updated_by=_get(obj, "updated_by", str, optional=True),
            raw=obj,
        )
