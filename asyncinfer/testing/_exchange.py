"""One request: what the emulator recorded (:class:`RecordedRequest`) and what a handler sees."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import attrs
from aiohttp import web
from multidict import CIMultiDictProxy

from ._es_errors import (
    _did_you_mean,
    _error,
    _suggestions,
)
from ._es_models import (
    _parse_task_type,
)
from ._request_body import (
    _parse_time_value,
)
from ._wire import (
    _JSON_CONTENT_TYPE,
    _POLL_INTERVAL_S,
)

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from ._http import _Server


# ES source: params every handler consumes (AbstractRestChannel, validateErrorTrace);
# BaseRestHandler suggests them for unrecognized parameters.
_GLOBAL_PARAMS: Final = frozenset({"error_trace", "filter_path", "format", "human", "pretty"})


@attrs.define(kw_only=True, eq=False)
class RecordedRequest:
    """One request the emulator received, updated while its response is written.

    Attributes:
        method: the HTTP method.
        path: the path as sent (still percent-encoded), without the query string.
        query: the decoded query parameters.
        headers: the request headers (case-insensitive).
        body: the raw request body.
        json: the body parsed as JSON, or None if it is empty or not JSON.
        peer: the client's ``(host, port)``; equal for requests on one kept-alive connection.
        received_at: ``time.monotonic()`` when the request arrived.
        status: the status sent, or None while no status line has been written.
        events_sent: SSE events fully written (message, error and ``[DONE]`` events).
        bytes_sent: response body bytes written so far, updated after each write has drained,
            so a client that stops reading holds it still (TCP backpressure).
        completed: the response was finished normally.
        disconnected_at: ``time.monotonic()`` when the emulator saw the client leave before the
            response was finished (handler cancelled or a write failed), else None.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any | None
    peer: tuple[str, int] | None
    received_at: float
    status: int | None = None
    events_sent: int = 0
    bytes_sent: int = 0
    completed: bool = False
    disconnected_at: float | None = None
    _done: asyncio.Event = attrs.field(init=False, factory=asyncio.Event, repr=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(init=False, default=None, repr=False)
    _closed: bool = attrs.field(init=False, default=False, repr=False)

    @property
    def closed(self) -> bool:
        """True once the emulator's handler for this request has finished, either way."""
        return self._closed

    async def wait_closed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the API
        """Wait until the handler for this request has finished (normally or not).

        Works on the emulator's own loop and, by polling, from another loop or thread.

        Raises:
            TimeoutError: the handler is still running after ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                if self._loop is asyncio.get_running_loop():
                    await self._done.wait()
                else:
                    # Another loop cannot await this loop's Event, so it polls.
                    while not self._closed:  # noqa: ASYNC110
                        await asyncio.sleep(_POLL_INTERVAL_S)
        except TimeoutError:
            raise TimeoutError(
                f"the handler for {self.method} {self.path} was still running after {timeout}s"
            ) from None

    def _finish(self) -> None:
        self._closed = True
        self._done.set()


_RouteHandler = Callable[["_Server", "_Exchange"], Awaitable[web.StreamResponse]]


@attrs.frozen
class _Route:
    """One REST route: ``{name}`` segments are path parameters (RestHandler.routes())."""

    method: str
    path: str
    handler: _RouteHandler
    # Query parameters the handler consumes, besides path params and _GLOBAL_PARAMS.
    params: frozenset[str] = frozenset()
    # The Profile flag (asyncinfer.testing._versions) of the releases that have this route;
    # None: every release.
    feature: str | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.path.split("/") if s)


@attrs.define(kw_only=True, eq=False)
class _Exchange:
    """Everything a route handler needs about one request."""

    request: web.Request
    record: RecordedRequest
    route: _Route | None = None
    params: dict[str, str] = attrs.Factory(dict)
    json_content_type: str = _JSON_CONTENT_TYPE

    @property
    def uri(self) -> str:
        # RestRequest.uri(): the raw path with the query string.
        return self.request.raw_path

    def path_param(self, name: str) -> str | None:
        return self.params.get(name)

    def task_type_and_id(self, known: Collection[str]) -> tuple[str, str]:
        """``/{task_type}/{id}`` or ``/{id}`` (Paths.java): with one segment, the task type is
        ``any``. ``known``: the release's task types (``Profile.task_types``).

        Raises:
            _EsError: 400 for an unknown task type in the URL.
        """
        if "inference_id" in self.params:
            task_type = _parse_task_type(self.params["task_type_or_id"], known)
            return task_type, self.params["inference_id"]
        return "any", self.params["task_type_or_id"]

    def check_params(self, *, reads_body: bool = True) -> None:
        """BaseRestHandler.handleRequest: refuse unconsumed query params, then unread bodies."""
        assert self.route is not None
        consumed = set(self.params) | set(self.route.params) | _GLOBAL_PARAMS
        unknown = sorted(set(self.record.query) - consumed)
        if unknown:
            self._reject_params(unknown, consumed)
        if not reads_body and self.record.body:
            raise _error(
                400,
                "illegal_argument_exception",
                f"request [{self.record.method} {unquote(self.record.path)}] does not support "
                "having a body",
            )

    def _reject_params(self, unknown: list[str], consumed: set[str]) -> None:
        entries = []
        for name in unknown:
            hint = _did_you_mean(_suggestions(name, consumed))
            entries.append(f"[{name}] -> {hint}" if hint else f"[{name}]")
        plural = "s" if len(unknown) > 1 else ""
        path = unquote(self.record.path)
        message = f"request [{path}] contains unrecognized parameter{plural}: {', '.join(entries)}"
        raise _error(400, "illegal_argument_exception", message)


def _require_body(exchange: _Exchange) -> None:
    if not exchange.record.body:
        # RestRequest.requiredContent: ElasticsearchParseException.
        raise _error(400, "parse_exception", "request body is required")


def _check_time_param(exchange: _Exchange, name: str) -> None:
    value = exchange.record.query.get(name)
    if value is not None and _parse_time_value(value) is None:
        raise _error(
            400,
            "parse_exception",
            f"failed to parse setting [{name}] with value [{value}] as a time value: "
            "unit is missing or unrecognized",
        )


def _bool_param(exchange: _Exchange, name: str) -> bool:
    """RestRequest.paramAsBoolean: absent -> false, empty -> true, else strictly true/false."""
    value = exchange.record.query.get(name)
    if value is None:
        return False
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise _error(
        400,
        "illegal_argument_exception",
        f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
    )
