"""Endpoint management handlers: GET /, GET/PUT/DELETE/_update endpoints, _services (§7)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson
from aiohttp import web

from ._es_bodies import (
    _update_settings,
)
from ._es_errors import (
    _error,
    _EsError,
    _java_str,
)
from ._es_models import (
    _check_id,
    _check_service_settings,
    _chunking_settings,
    _parse_settings_body,
    _parse_task_type,
    _remove_map,
    _resolve_task_type,
)
from ._exchange import (
    _bool_param,
    _check_time_param,
    _Exchange,
    _require_body,
)
from ._http import (
    _Server,
)
from ._registry import (
    _DEFAULT_ANSWER_TOKENS,
    _DEFAULT_DELTAS_PER_EVENT,
    _Endpoint,
)
from ._responses import (
    send_fault_json,
    send_json,
)
from ._services import (
    _SERVICES,
    _services_catalogue,
)
from ._wire import (
    _json,
    _pretty,
)

if TYPE_CHECKING:
    from ._http import _Server


async def _get_root(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """GET / (RestMainAction): cluster info, pretty-printed unless ?pretty is given."""
    try:
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    version = server.version
    profile = server.profile
    digest = hashlib.sha256(f"asyncinfer-server-{version}".encode()).digest()
    info = {
        "name": "asyncinfer-server",
        "cluster_name": "elasticsearch",
        "cluster_uuid": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": _build_hash(version),
            "build_date": "2025-01-01T00:00:00.000000000Z",
            "build_snapshot": False,
            "lucene_version": "10.3.1",
            "minimum_wire_compatibility_version": profile.minimum_wire_compatibility_version,
            "minimum_index_compatibility_version": profile.minimum_index_compatibility_version,
        },
        "tagline": "You Know, for Search",
    }
    # RestMainAction: "Default to pretty printing, but allow ?pretty=false to disable".
    pretty = "pretty" not in exchange.record.query
    body = _pretty(info) + b"\n" if pretty else orjson.dumps(info)
    return await send_json(exchange, 200, body)


def _build_hash(version: str) -> str:
    # A stand-in for Build.current().hash(): GET / and Warning headers show the same one.
    return hashlib.sha1(version.encode()).hexdigest()


async def _get_endpoints(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """GET _inference[/_all|/{id}|/{task_type}/{id}|/{task_type}/_all] (§7.2)."""
    first = exchange.path_param("task_type_or_id")
    second = exchange.path_param("inference_id")
    try:
        if second is not None:
            task_type = _parse_task_type(first or "", server.profile.task_types)
            inference_id = second
        else:
            task_type, inference_id = "any", first or "_all"
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    wildcard = inference_id in ("_all", "*")
    fault = server.faults.take(None if wildcard else inference_id)
    response = await send_fault_json(server, exchange, fault)
    if response is not None:
        return response
    endpoints = server.registry.all()
    if wildcard:
        chosen = [e for e in endpoints if task_type in ("any", e.task_type)]
    else:
        try:
            endpoint = server.registry.get(inference_id)
        except _EsError as err:
            return await send_json(exchange, err.status, err.body)
        if task_type not in ("any", endpoint.task_type):
            # InferenceExceptions.mismatchedTaskTypeException.
            mismatch = _error(
                400,
                "status_exception",
                f"Requested task type [{task_type}] does not match the inference endpoint's "
                f"task type [{endpoint.task_type}]",
            )
            return await send_json(exchange, mismatch.status, mismatch.body)
        chosen = [endpoint]
    return await send_json(exchange, 200, {"endpoints": [e.info() for e in chosen]})


def _new_endpoint(
    url_task_type: str, inference_id: str, body: bytes, known: Collection[str]
) -> tuple[_Endpoint, list[str]]:
    """TransportPutInferenceModelAction.masterOperation + the service's parseRequestConfig.

    Returns the endpoint and the deprecation warnings the request earns.

    Raises:
        _EsError: the first check that fails, in ES's order.
    """
    config = _parse_settings_body(body)
    task_type = _resolve_task_type(url_task_type, config.pop("task_type", None), known)
    service_name = config.pop("service", None)
    if service_name is None:
        raise _error(
            400,
            "status_exception",
            "Inference endpoint configuration is missing the [service] setting",
        )
    # InferenceServiceRegistry.getService: "elser" is an alias of the elasticsearch service.
    elser = service_name == "elser"
    service = _SERVICES.get("elasticsearch" if elser else str(service_name))
    if service is None:
        raise _error(400, "status_exception", f"Unknown service [{service_name}]")
    service_settings = _remove_map(config, "service_settings")
    if service_settings is None:
        # ServiceUtils.removeFromMapOrThrowIfNull.
        raise _error(400, "status_exception", "Missing required field [service_settings]")
    task_settings = _remove_map(config, "task_settings") or {}
    chunking = _remove_map(config, "chunking_settings")
    warnings: list[str] = []
    if elser:
        service_settings, warnings = _elser_settings(service_settings)
    if task_type not in service.task_types:
        # TaskType.unsupportedTaskTypeErrorMsg.
        raise _error(
            400,
            "status_exception",
            f"The [{service.service}] service does not support task type [{task_type}]",
        )
    _check_service_settings(service, service_settings)
    if config:
        # ServiceUtils.unknownSettingsError (throwIfNotEmptyMap): the body is strict.
        raise _error(
            400,
            "status_exception",
            f"Model configuration contains settings [{_java_str(config)}] unknown to the "
            f"[{service.service}] service",
        )
    if task_type in service.rate_limits and "rate_limit" not in service_settings:
        # Services write their default rate limit into the stored settings.
        service_settings["rate_limit"] = {"requests_per_minute": service.rate_limits[task_type]}
    endpoint = _Endpoint(
        inference_id=inference_id,
        task_type=task_type,
        service=service.service,
        service_settings=service_settings,
        task_settings=task_settings,
        chunking_settings=None if chunking is None else _chunking_settings(chunking),
        answer=None,
        answer_tokens=_DEFAULT_ANSWER_TOKENS,
        deltas_per_event=_DEFAULT_DELTAS_PER_EVENT,
        event_delay=None,
        streaming=True,
    )
    return endpoint, warnings


# ElasticsearchInternalService.elserCase: the default ELSER variant on x86-64 Linux (the docker
# image's platform), and ElasticsearchInternalServiceSettings' key order.
_ELSER_MODEL: Final = ".elser_model_2_linux-x86_64"
_ELSER_MODELS: Final = (".elser_model_2", _ELSER_MODEL)
_INTERNAL_SETTINGS_ORDER: Final = (
    "num_allocations", "num_threads", "model_id", "adaptive_allocations", "deployment_id",
)  # fmt: skip


def _elser_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The deprecated ``elser`` service (ElasticsearchInternalService.parseRequestConfig).

    Without ``model_id`` the ELSER model is chosen; both cases log deprecations, which ES
    also sends as ``Warning`` headers. The endpoint is stored under ``elasticsearch``.
    """
    warnings = []
    settings = dict(settings)
    if "model_id" not in settings:
        warnings.append(
            "Putting elasticsearch service inference endpoints (including elser service) "
            "without a model_id field is deprecated and will be removed in a future release. "
            "Please specify a model_id field."
        )
        settings["model_id"] = _ELSER_MODEL
    if settings["model_id"] in _ELSER_MODELS:
        warnings.append(
            "The [elser] service is deprecated and will be removed in a future release. Use "
            f"the [elasticsearch] service instead, with [model_id] set to [{_ELSER_MODEL}] in "
            "the [service_settings]"
        )
    ordered: dict[str, Any] = {
        k: settings.pop(k) for k in _INTERNAL_SETTINGS_ORDER if k in settings
    }
    return {**ordered, **settings}, warnings


async def _put_endpoint(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """PUT _inference[/{task_type}]/{id} (§7.1): create an endpoint."""
    try:
        known = server.profile.task_types
        url_task_type, inference_id = exchange.task_type_and_id(known)
        _check_time_param(exchange, "timeout")
        _require_body(exchange)
        exchange.check_params()
        _check_id(inference_id)  # TransportAction.execute: Request.validate()
        endpoint, warnings = _new_endpoint(url_task_type, inference_id, exchange.record.body, known)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    # The provider's validation call happens before the endpoint is stored.
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault, endpoint)
    if response is not None:
        return response
    if not server.registry.add_new(endpoint):
        # ModelRegistry.storeModel: the version conflict becomes ResourceAlreadyExistsException.
        duplicate = _error(
            400,
            "resource_already_exists_exception",
            f"Inference endpoint [{inference_id}] already exists",
        )
        return await send_json(exchange, duplicate.status, duplicate.body)
    # HeaderWarning.formatWarning: 299 Elasticsearch-<version>-<build hash> "<message>".
    prefix = f"299 Elasticsearch-{server.version}-{_build_hash(server.version)}"
    headers = [("Warning", f'{prefix} "{warning}"') for warning in warnings]
    return await send_json(exchange, 200, endpoint.info(), headers)


async def _delete_endpoint(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """DELETE _inference[/{task_type}]/{id}[?dry_run][&force] (§7.3)."""
    try:
        task_type, inference_id = exchange.task_type_and_id(server.profile.task_types)
        force = _bool_param(exchange, "force")
        dry_run = _bool_param(exchange, "dry_run")
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault)
    if response is not None:
        return response
    # TransportDeleteInferenceEndpointAction, in its order.
    try:
        endpoint = server.registry.get(inference_id)
        if task_type not in ("any", endpoint.task_type):
            raise _mismatched_task_type(task_type, endpoint)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    pipelines = server.registry.pipelines(inference_id)
    if dry_run:
        # handleDryRun: nothing deleted; error_message is always written (empty if unused).
        body = {
            "acknowledged": False,
            "pipelines": pipelines,
            "indexes": [],
            "error_message": _referenced_message(inference_id, pipelines),
        }
        return await send_json(exchange, 200, body)
    if pipelines and not force:
        conflict = _error(409, "status_exception", _referenced_message(inference_id, pipelines))
        return await send_json(exchange, conflict.status, conflict.body)
    server.registry.discard(inference_id)
    body = {"acknowledged": True, "pipelines": [], "indexes": []}
    return await send_json(exchange, 200, body)


def _referenced_message(inference_id: str, pipelines: Sequence[str]) -> str:
    # TransportDeleteInferenceEndpointAction.buildErrorString (Java Set.toString: "[a, b]").
    if not pipelines:
        return ""
    return (
        f"Inference endpoint {inference_id} is referenced by pipelines: "
        f"[{', '.join(pipelines)}]. Ensure that no pipelines are using this inference endpoint, "
        "or use force to ignore this warning and delete the inference endpoint."
    )


def _mismatched_task_type(task_type: str, endpoint: _Endpoint) -> _EsError:
    # InferenceExceptions.mismatchedTaskTypeException.
    return _error(
        400,
        "status_exception",
        f"Requested task type [{task_type}] does not match the inference endpoint's task type "
        f"[{endpoint.task_type}]",
    )


async def _update_endpoint(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """PUT _inference[/{task_type}]/{id}/_update (§7.4): merge new settings into an endpoint."""
    try:
        known = server.profile.task_types
        url_task_type, inference_id = exchange.task_type_and_id(known)
        _require_body(exchange)
        for name in ("timeout", "master_timeout"):
            _check_time_param(exchange, name)
        exchange.check_params()
        _check_id(inference_id)
        update = _update_settings(
            exchange.record.body, known, chunking=server.profile.update_chunking_settings
        )
        # ServiceUtils.resolveTaskType; since 9.0 (ES PR #121231) an update without any task
        # type uses the endpoint's.
        if update.task_type is not None:
            resolved = _resolve_task_type(url_task_type, update.task_type, known)
        else:
            resolved = url_task_type
        endpoint = server.registry.find(inference_id)
        if endpoint is None:
            # checkEndpointExists: Messages.INFERENCE_ENTITY_NON_EXISTANT_NO_UPDATE (wording
            # not verified).
            raise _error(
                404,
                "resource_not_found_exception",
                f"The inference endpoint [{inference_id}] does not exist and cannot be updated",
            )
        if resolved not in ("any", endpoint.task_type):
            raise _error(
                400,
                "status_exception",
                "Task type must match the task type of the existing endpoint",
            )
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    fault = server.faults.take(inference_id)
    response = await send_fault_json(server, exchange, fault, endpoint)
    if response is not None:
        return response
    chunking = endpoint.chunking_settings
    if update.chunking_settings is not None:
        chunking = _chunking_settings(update.chunking_settings)  # replaced, defaults filled
    updated = attrs.evolve(
        endpoint,
        service_settings={**endpoint.service_settings, **(update.service_settings or {})},
        task_settings={**endpoint.task_settings, **(update.task_settings or {})},
        chunking_settings=chunking,
    )
    server.registry.put(updated)
    return await send_json(exchange, 200, updated.info())


async def _get_services(server: _Server, exchange: _Exchange) -> web.StreamResponse:
    """GET _inference/_services[/{task_type}] (§7.5): a top-level JSON array."""
    try:
        known = server.profile.task_types
        task_type = _parse_task_type(exchange.params.get("task_type", "any"), known)
        exchange.check_params(reads_body=False)
    except _EsError as err:
        return await send_json(exchange, err.status, err.body)
    fault = server.faults.take(None)
    response = await send_fault_json(server, exchange, fault)
    if response is not None:
        return response
    return await send_json(exchange, 200, _json(_services_catalogue(task_type, known)))
