"""The route table: to add a route, write a handler and add a line here.

A route only some releases have names its Profile flag (``feature=``, see ``_versions``); the
server of another release leaves it out, as ES's RestController would not know it.
"""

from __future__ import annotations

from typing import Final

from ._exchange import (
    _Route,
)
from ._inference_routes import (
    _post_inference_by_release,
)
from ._management import (
    _delete_endpoint,
    _get_endpoints,
    _get_root,
    _get_services,
    _put_endpoint,
    _update_endpoint,
)
from ._region_policy import (
    _delete_region_policy,
    _get_region_policy,
    _put_region_policy,
)
from ._streaming import (
    _post_stream,
)

# To add a route: write one handler function above and add a line here.
_ROUTES: Final[tuple[_Route, ...]] = (
    _Route("GET", "/", _get_root),
    _Route("HEAD", "/", _get_root),  # RestMainAction; clients' ping()
    _Route("GET", "/_inference", _get_endpoints),
    _Route("GET", "/_inference/_all", _get_endpoints),
    _Route("GET", "/_inference/{task_type_or_id}", _get_endpoints),
    _Route("GET", "/_inference/{task_type_or_id}/{inference_id}", _get_endpoints),
    _Route("GET", "/_inference/_services", _get_services, feature="services_api"),
    _Route("GET", "/_inference/_services/{task_type}", _get_services, feature="services_api"),
    # Literal segments beat parameters: these win over /_inference/{task_type_or_id} from 9.5.
    _Route("GET", "/_inference/_region_policy", _get_region_policy, feature="region_policy"),
    _Route(
        "PUT",
        "/_inference/_region_policy",
        _put_region_policy,
        frozenset({"force"}),
        feature="region_policy",
    ),
    _Route("DELETE", "/_inference/_region_policy", _delete_region_policy, feature="region_policy"),
    _Route("PUT", "/_inference/{task_type_or_id}", _put_endpoint, frozenset({"timeout"})),
    _Route(
        "PUT", "/_inference/{task_type_or_id}/{inference_id}", _put_endpoint, frozenset({"timeout"})
    ),
    _Route(
        "PUT",
        "/_inference/{task_type_or_id}/_update",
        _update_endpoint,
        frozenset({"timeout", "master_timeout"}),
        feature="update_api",
    ),
    _Route(
        "PUT",
        "/_inference/{task_type_or_id}/{inference_id}/_update",
        _update_endpoint,
        frozenset({"timeout", "master_timeout"}),
        feature="update_api",
    ),
    _Route(
        "DELETE", "/_inference/{task_type_or_id}", _delete_endpoint, frozenset({"dry_run", "force"})
    ),
    _Route(
        "DELETE",
        "/_inference/{task_type_or_id}/{inference_id}",
        _delete_endpoint,
        frozenset({"dry_run", "force"}),
    ),
    _Route(
        "POST", "/_inference/{task_type_or_id}", _post_inference_by_release, frozenset({"timeout"})
    ),
    _Route(
        "POST",
        "/_inference/{task_type_or_id}/{inference_id}",
        _post_inference_by_release,
        frozenset({"timeout"}),
    ),
    _Route("POST", "/_inference/{task_type_or_id}/_stream", _post_stream, frozenset({"timeout"})),
    _Route(
        "POST",
        "/_inference/{task_type_or_id}/{inference_id}/_stream",
        _post_stream,
        frozenset({"timeout"}),
    ),
)
