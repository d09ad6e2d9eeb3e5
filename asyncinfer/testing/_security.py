"""The ``api_key`` mode: Elasticsearch's 401 for a request without the expected API key (§2.3).

ES authenticates in the HTTP layer, before routing, so the 401 is plain JSON on every route,
``_stream`` included. Wording and headers as ES 8.x/9.x send them with the default realms.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from ._exchange import _Exchange
from ._wire import _PRODUCT_HEADER, _json

# One WWW-Authenticate header per enabled realm, repeated in the error's "header" object.
_CHALLENGES: tuple[str, ...] = (
    'Basic realm="security", charset="UTF-8"',
    'Bearer realm="security"',
    "ApiKey",
)
_INVALID: str = (
    "unable to authenticate with provided credentials and anonymous access is not allowed for "
    "this request"
)


def _auth_failure(exchange: _Exchange, api_key: str) -> dict[str, object] | None:
    """ES's 401 body when ``Authorization`` is not ``ApiKey <api_key>``, else None."""
    given = exchange.record.headers.getall("Authorization", [])
    if given == [f"ApiKey {api_key}"]:
        return None
    if given:
        reason = _INVALID
    else:
        reason = f"missing authentication credentials for REST request [{exchange.uri}]"
    cause = {
        "type": "security_exception",
        "reason": reason,
        "header": {"WWW-Authenticate": list(_CHALLENGES)},
    }
    return {"error": {"root_cause": [cause], **cause}, "status": 401}


async def send_auth_failure(exchange: _Exchange, body: dict[str, object]) -> web.StreamResponse:
    headers: CIMultiDict[str] = CIMultiDict()
    headers[_PRODUCT_HEADER] = "Elasticsearch"
    headers["content-type"] = exchange.json_content_type
    for challenge in _CHALLENGES:
        headers.add("WWW-Authenticate", challenge)
    payload = _json(body)
    response = web.Response(status=401, body=payload, headers=headers)
    await response.prepare(exchange.request)
    exchange.record.status = 401
    await response.write_eof()
    exchange.record.bytes_sent = 0 if exchange.request.method == "HEAD" else len(payload)
    exchange.record.completed = True
    return response
