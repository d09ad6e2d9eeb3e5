"""The region policy API (9.5+): PUT/GET/DELETE _inference/_region_policy.

ES source: ``RestPut/Get/DeleteRegionPolicyAction`` and their transport actions. One policy per
deployment, stored as a ``RegionPolicyDoc``: ``{"region_policy", "created_at", "created_by"?,
"updated_at"?, "updated_by"?}``; the users are written only with security on (the emulator has
none). Before 9.5 the routes do not exist and the paths reach the endpoint handlers
(``_Route.feature``).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from ._es_bodies import (
    _parse_region_policy_body,
    _validate_region_policy,
)
from ._es_errors import (
    _error,
    _EsError,
)
from ._exchange import (
    _bool_param,
    _Exchange,
)
from ._responses import (
    send_fault_json,
    send_json,
)

if TYPE_CHECKING:
    from ._http import _Server

__all__: list[str] = []  # private module

# TransportGetRegionPolicyAction.noRegionPolicyConfiguredException: a ResourceNotFoundException.
_NO_POLICY: Final = "No region policy is configured for this deployment"


def _no_policy() -> _EsError:
    return _error(404, "resource_not_found_exception", _NO_POLICY)


def _now() -> str:
    """Instant.now() as XContentBuilder writes it: strict_date_optional_time_nanos, UTC, at
    least three fraction digits and no trailing zeros past them."""
    now = datetime.datetime.now(datetime.UTC)
    fraction = f"{now.microsecond:06d}".rstrip("0").ljust(3, "0")
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def _new_document(old: dict[str, Any] | None, policy: dict[str, Any]) -> dict[str, Any]:
    # TransportPutRegionPolicyAction.createNewRegionPolicyDoc: created_at survives a replace.
    if old is None:
        return {"region_policy": policy, "created_at": _now()}
    return {"region_policy": policy, "created_at": old["created_at"], "updated_at": _now()}


async def _put_region_policy(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """PUT _inference/_region_policy[?force]: create or replace the policy."""
    try:
        # RestPutRegionPolicyAction.prepareRequest, then BaseRestHandler's parameter check,
        # then Request.validate when the action runs.
        if not exchange.record.body:
            raise _error(400, "parse_exception", "body is required")
        _bool_param(exchange, "force")  # no endpoint is ever denied here: nothing to force
        policy = _parse_region_policy_body(exchange.record.body)
        exchange.check_params()
        _validate_region_policy(policy)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body, err.headers)
    response = await send_fault_json(server, exchange, server.faults.take(None))
    if response is not None:
        return response
    document = server.registry.replace_region_policy(lambda old: _new_document(old, policy))
    return await send_json(exchange, 200, document)


async def _get_region_policy(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """GET _inference/_region_policy."""
    try:
        exchange.check_params(reads_body=False)
        document = server.registry.region_policy()
        if document is None:
            raise _no_policy()
    except _EsError as err:
        return await send_json(exchange, err.status, err.body, err.headers)
    response = await send_fault_json(server, exchange, server.faults.take(None))
    return response or await send_json(exchange, 200, document)


async def _delete_region_policy(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """DELETE _inference/_region_policy: AcknowledgedResponse, or 404 when there is none."""
    try:
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body, err.headers)
    response = await send_fault_json(server, exchange, server.faults.take(None))
    if response is not None:
        return response
    if not server.registry.delete_region_policy():
        missing = _no_policy()
        return await send_json(exchange, missing.status, missing.body)
    return await send_json(exchange, 200, {"acknowledged": True})
