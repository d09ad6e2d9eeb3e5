"""The aiohttp server: lifecycle, dispatch, routing, the product header, close()."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Final
from urllib.parse import unquote

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._es_errors import (
    _EsError,
    _simple_error,
)
from ._exchange import (
    RecordedRequest,
    _Exchange,
    _Route,
)
from ._faults import (
    _FaultScript,
)
from ._media_types import (
    check_content_type,
    check_media_types,
)
from ._registry import (
    _Registry,
)
from ._responses import (
    _Response,
    send_json,
    send_options,
)
from ._security import _auth_failure, send_auth_failure
from ._versions import (
    profile_for,
)
from ._wire import (
    _OPAQUE_ID_HEADER,
    _PRODUCT_HEADER,
    _Shutdown,
)

# RestRequest.Method in enum order, so "allowed: [...]" lists are deterministic (ES prints a
# HashSet whose order is not).
_METHOD_ORDER: Final = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")


# ES's default http.max_content_length is 100mb; aiohttp's default of 1 MiB would refuse less.
_MAX_BODY_BYTES: Final = 100 * 1024 * 1024


# A handler still running at close() is given this long before aiohttp cancels it.
_SHUTDOWN_TIMEOUT_S: Final = 1.0


def _match_route(
    routes: Sequence[_Route], exchange: _Exchange
) -> tuple[_Route | None, dict[str, str]]:
    """PathTrie matching: literal segments beat parameters, earlier segments first.

    Returns (None, {"allowed": ...}) for an OPTIONS request without a handler.

    Raises:
        _EsError: 400 no handler found, or 405 for a path known to other methods.
    """
    method = exchange.request.method
    raw_segments = [s for s in exchange.record.path.split("/") if s]
    matches: list[tuple[tuple[int, ...], _Route, dict[str, str]]] = []
    for route in routes:
        segments = route.segments
        if len(segments) != len(raw_segments):
            continue
        params: dict[str, str] = {}
        score: list[int] = []
        for pattern, raw in zip(segments, raw_segments, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = unquote(raw)
                score.append(0)
            elif pattern == raw:
                score.append(1)
            else:
                break
        else:
            matches.append((tuple(score), route, params))
    same_method = [m for m in matches if m[1].method == method]
    if same_method:
        _, route, params = max(same_method, key=lambda m: m[0])
        return route, params
    allowed = [m for m in _METHOD_ORDER if any(r.method == m for _, r, _ in matches)]
    if method == "OPTIONS":
        return None, {"allowed": ",".join(allowed)}
    if allowed:
        # RestController.handleUnsupportedHttpMethod.
        err = _simple_error(
            405,
            f"Incorrect HTTP method for uri [{exchange.uri}] and method [{method}], "
            f"allowed: [{', '.join(allowed)}]",
        )
        err.headers["Allow"] = ",".join(allowed)
        raise err
    # RestController.handleBadRequest: {"error": "..."} without a status field.
    raise _EsError(
        400, {"error": f"no handler found for uri [{exchange.uri}] and method [{method}]"}
    )


class _Server:
    """The HTTP side of one emulator: binds, records every request, routes it to a handler.

    Handlers get this object; the public :class:`ElasticsearchEmulator` owns it.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        event_delay: float,
        version: str,
        routes: Sequence[_Route],
        api_key: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self.event_delay = event_delay
        self.version = version
        # What this release does differently (raises ValueError for an unknown version).
        self.profile = profile_for(version)
        self.major = self.profile.major
        self.reasoning_fields = self.profile.reasoning_fields  # §4.3
        self.registry = _Registry()
        self.faults = _FaultScript()
        # A route a release lacks is not there: its requests get what ES answers for any
        # unknown route (400 "no handler found", or another route's errors).
        self._routes = [r for r in routes if r.feature is None or getattr(self.profile, r.feature)]
        self._api_key = api_key
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        self.closing = asyncio.Event()
        self._active: set[_Exchange] = set()
        self.requests: list[RecordedRequest] = []

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: the emulator is already running.
            OSError: the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self.closing = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        app.on_response_prepare.append(self._on_response_prepare)
        # handler_cancellation: a client that goes away cancels its handler, which is how
        # disconnects are recorded and generation stops at once (§2.6).
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._runner = runner

    async def close(self) -> None:
        """Stop serving: end every response (stalled ones included) and close connections.

        Idempotent.
        """
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        self.closing.set()
        # Stalled or backpressured handlers would otherwise hold close() for the shutdown
        # timeout; the connections are going away anyway.
        for exchange in list(self._active):
            transport = exchange.request.transport
            if transport is not None:
                transport.abort()
        await runner.cleanup()

    @property
    def open_connections(self) -> int:
        """TCP connections currently open on the server side."""
        runner = self._runner
        server = runner.server if runner is not None else None
        if server is None:
            return 0
        while True:
            try:
                handlers = server.connections
                break
            except RuntimeError:  # changed size during iteration (thread mode)
                continue
        return sum(
            1
            for handler in handlers
            if handler.transport is not None and not handler.transport.is_closing()
        )

    async def pause(self, seconds: float) -> None:
        """Sleep, unless the emulator closes first.

        Raises:
            _Shutdown: close() was called.
        """
        if self.closing.is_set():
            raise _Shutdown
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.closing.wait()
        if self.closing.is_set():
            raise _Shutdown

    async def _on_response_prepare(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        # §2.1: every response says it is Elasticsearch and echoes X-Opaque-Id. Elasticsearch
        # (Netty) sends neither Date nor Server.
        headers = response.headers
        if isinstance(response, _Response) and response.omit_product_header:
            headers.popall(_PRODUCT_HEADER, None)  # ES issue #119000 (8.16.0-8.17.0 streams)
        else:
            headers.setdefault(_PRODUCT_HEADER, "Elasticsearch")
        opaque_id = request.headers.get(_OPAQUE_ID_HEADER)
        if opaque_id is not None:
            headers.setdefault(_OPAQUE_ID_HEADER, opaque_id)
        headers.popall("Date", None)
        headers.popall("Server", None)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed_json = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed_json = None
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        record = RecordedRequest(
            method=request.method,
            path=request.raw_path.partition("?")[0],
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            json=parsed_json,
            peer=(peer[0], peer[1]) if peer else None,
            received_at=time.monotonic(),
        )
        record._loop = asyncio.get_running_loop()
        self.requests.append(record)
        exchange = _Exchange(request=request, record=record)
        self._active.add(exchange)
        try:
            return await self._serve(exchange)
        except asyncio.CancelledError:
            # handler_cancellation: the client went away. Never swallow the cancellation.
            if not self.closing.is_set() and not record.completed:
                record.disconnected_at = record.disconnected_at or time.monotonic()
            raise
        except _Shutdown:
            if transport is not None:
                transport.abort()
            return web.Response()
        except ConnectionError:
            # A write failed: the client is gone. aiohttp's own write_eof will fail quietly.
            if not self.closing.is_set():
                record.disconnected_at = record.disconnected_at or time.monotonic()
            return web.Response()
        finally:
            self._active.discard(exchange)
            record._finish()

    async def _serve(self, exchange: _Exchange) -> web.StreamResponse:
        # 0. Security: ES authenticates with the headers, before anything else (api_key mode).
        if self._api_key is not None:
            failure = _auth_failure(exchange, self._api_key)
            if failure is not None:
                return await send_auth_failure(exchange, failure)
        # 1. HTTP layer (AbstractHttpServerTransport/RestRequest): media types and versions.
        try:
            check_media_types(exchange, self.major)
        except _EsError as err:
            return await send_json(exchange, err.status, err.body, err.headers)
        # 2. RestController: routing and Content-Type.
        try:
            route, params = _match_route(self._routes, exchange)
            if route is None:
                return await send_options(exchange, params)
            exchange.route = route
            exchange.params = params
            check_content_type(exchange)
        except _EsError as err:
            return await send_json(exchange, err.status, err.body, err.headers)
        return await route.handler(self, exchange)
