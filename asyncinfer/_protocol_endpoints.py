"""Endpoint management and region policy requests, sans I/O (spec §7).

Built like ``_protocol``'s inference requests: validated arguments in, a :class:`Request` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ._exceptions import InvalidRequestError
from ._protocol import Request, _check_task_type, _inference_path, _mapping, _timeout_query

__all__ = [
    "delete_endpoint_request",
    "delete_region_policy_request",
    "get_endpoints_request",
    "get_region_policy_request",
    "get_services_request",
    "put_endpoint_request",
    "put_region_policy_request",
    "update_endpoint_request",
]

# RestPutRegionPolicyAction & co. (9.5+): one policy per deployment, at a literal path.
_REGION_POLICY_PATH = "/_inference/_region_policy"


def _settings(body: dict[str, Any], **settings: Mapping[str, Any] | None) -> None:
    for name, value in settings.items():
        checked = _mapping(value, name)
        if checked is not None:
            body[name] = checked


def put_endpoint_request(
    task_type: str | None,
    inference_id: str,
    *,
    body_task_type: str | None = None,
    service: str,
    service_settings: Mapping[str, Any],
    task_settings: Mapping[str, Any] | None = None,
    chunking_settings: Mapping[str, Any] | None = None,
    server_timeout: str | float | None = None,
) -> Request:
    """``PUT /_inference/{task_type}/{id}``, or ``PUT /_inference/{id}`` with ``task_type`` in
    the body (spec §7.1: ``ServiceUtils.resolveTaskType`` takes either).

    Raises:
        InvalidRequestError: No task type at all, an unknown one, or a malformed setting.
    """
    if task_type is None and body_task_type is None:
        raise InvalidRequestError(
            "put_endpoint needs a task type: put_endpoint(task_type, inference_id, ...) or "
            "put_endpoint(inference_id, task_type=..., ...)"
        )
    _check_task_type(body_task_type)
    if not isinstance(service, str) or not service:
        raise InvalidRequestError(f"service must be a non-empty string, got {service!r}")
    body: dict[str, Any] = {} if body_task_type is None else {"task_type": body_task_type}
    body["service"] = service
    body["service_settings"] = _mapping(service_settings, "service_settings") or {}
    _settings(body, task_settings=task_settings, chunking_settings=chunking_settings)
    return Request(
        "PUT",
        _inference_path(task_type, inference_id),
        _timeout_query(server_timeout),
        orjson.dumps(body),
    )


def get_endpoints_request(task_type: str | None = None, inference_id: str | None = None) -> Request:
    """``GET /_inference``, ``/_inference/{id}``, ``/_inference/{task_type}/_all`` or both."""
    _check_task_type(task_type)
    if inference_id is None:
        path = "/_inference" if task_type is None else f"/_inference/{task_type}/_all"
    else:
        path = _inference_path(task_type, inference_id)
    return Request("GET", path)


def delete_endpoint_request(
    inference_id: str, *, task_type: str | None = None, dry_run: bool = False, force: bool = False
) -> Request:
    """``DELETE /_inference/[{task_type}/]{id}`` with ``dry_run`` and ``force`` (spec §7.3)."""
    query = tuple((name, "true") for name, on in (("dry_run", dry_run), ("force", force)) if on)
    return Request("DELETE", _inference_path(task_type, inference_id), query)


def update_endpoint_request(
    inference_id: str,
    *,
    task_type: str | None = None,
    service: str | None = None,
    service_settings: Mapping[str, Any] | None = None,
    task_settings: Mapping[str, Any] | None = None,
    chunking_settings: Mapping[str, Any] | None = None,
    server_timeout: str | float | None = None,
) -> Request:
    """``PUT /_inference/[{task_type}/]{id}/_update`` (spec §7.4; ``timeout`` is 9.5+).

    Raises:
        InvalidRequestError: Nothing to update, or a malformed setting.
    """
    body: dict[str, Any] = {}
    if service is not None:
        if not isinstance(service, str) or not service:
            raise InvalidRequestError(f"service must be a non-empty string, got {service!r}")
        body["service"] = service
    _settings(
        body,
        service_settings=service_settings,
        task_settings=task_settings,
        chunking_settings=chunking_settings,
    )
    if body.keys() <= {"service"}:
        raise InvalidRequestError(
            "update_endpoint needs service_settings, task_settings or chunking_settings"
        )
    return Request(
        "PUT",
        _inference_path(task_type, inference_id, "/_update"),
        _timeout_query(server_timeout),
        orjson.dumps(body),
    )


def get_services_request(task_type: str | None = None) -> Request:
    """``GET /_inference/_services[/{task_type}]`` (spec §7.5)."""
    _check_task_type(task_type)
    return Request("GET", "/_inference/_services" + (f"/{task_type}" if task_type else ""))


def put_region_policy_request(policy: Mapping[str, Any], *, force: bool = False) -> Request:
    """``PUT /_inference/_region_policy[?force=true]`` with ``{"region_policy": policy}``."""
    query = (("force", "true"),) if force else ()
    return Request("PUT", _REGION_POLICY_PATH, query, orjson.dumps({"region_policy": policy}))


def get_region_policy_request() -> Request:
    """``GET /_inference/_region_policy``."""
    return Request("GET", _REGION_POLICY_PATH)


def delete_region_policy_request() -> Request:
    """``DELETE /_inference/_region_policy``."""
    return Request("DELETE", _REGION_POLICY_PATH)
