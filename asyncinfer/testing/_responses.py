"""Response senders: JSON, OPTIONS, raw bodies, SSE errors and fault-shaped event streams."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict

from ._es_errors import (
    _SERVER_ERROR_OBJECT,
    _error,
    _EsError,
    _legacy_stream_error,
    _provider_failure,
    _status_name,
    _unified_error,
)
from ._exchange import (
    _Exchange,
)
from ._faults import (
    _NO_FAULT,
    Fault,
)
from ._registry import (
    _Endpoint,
    _events,
)
from ._wire import (
    _DONE_EVENT,
    _PRODUCT_HEADER,
    _SSE_CONTENT_TYPE,
    _json,
    _Shutdown,
    _sse_event,
)

if TYPE_CHECKING:
    from ._http import _Server


class _BodyWriter:
    """Writes one chunked response body: prepares lazily, re-chunks, awaits drain per write."""

    def __init__(
        self,
        server: _Server,
        exchange: _Exchange,
        response: web.StreamResponse,
        fault: Fault,
    ) -> None:
        self._server = server
        self._exchange = exchange
        self._response = response
        self._write_size = fault.write_size
        self._write_delay = fault.write_delay
        self._writer: AbstractStreamWriter | None = None
        self._buffer = bytearray()
        self._queued = 0
        self._event_ends: collections.deque[int] = collections.deque()
        self._writes = 0

    @property
    def started(self) -> bool:
        return self._writer is not None

    async def start(self) -> None:
        """Send the status line and headers (only ever with the first body bytes, §3.3)."""
        if self._writer is None:
            self._writer = await self._response.prepare(self._exchange.request)
            self._exchange.record.status = self._response.status

    async def send(self, data: bytes, *, event: bool = True) -> None:
        await self.start()
        self._queued += len(data)
        if event:
            self._event_ends.append(self._queued)
        if self._write_size is None:
            await self._write(data)
            return
        self._buffer += data
        while len(self._buffer) >= self._write_size:
            chunk = bytes(self._buffer[: self._write_size])
            del self._buffer[: self._write_size]
            await self._write(chunk)

    async def flush(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            await self._write(chunk)

    async def finish(self) -> None:
        await self.flush()
        await self.start()
        await self._response.write_eof()
        self._exchange.record.completed = True

    async def _write(self, chunk: bytes) -> None:
        if self._writes and self._write_delay:
            await self._server.pause(self._write_delay)
        assert self._writer is not None
        await self._response.write(chunk)
        # Flow control: the next write waits until this one left the process (§2.6: ES asks
        # for the next part only after the previous one was written).
        await self._writer.drain()
        self._writes += 1
        record = self._exchange.record
        record.bytes_sent += len(chunk)
        while self._event_ends and self._event_ends[0] <= record.bytes_sent:
            self._event_ends.popleft()
            record.events_sent += 1


class _Response(web.StreamResponse):
    # Keep the status line and headers until the first body write so they leave together,
    # as ES sends them only with the first event (§3.3).
    _send_headers_immediately = False
    # ES issue #119000: 8.16.0-8.16.2 and 8.17.0 streams lost X-elastic-product (see
    # Profile.stream_product_header); the server's prepare hook honours this.
    omit_product_header = False


async def send_json(
    exchange: _Exchange,
    status: int,
    body: Mapping[str, Any] | bytes,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
) -> web.StreamResponse:
    """A JSON answer; ``headers`` as pairs may repeat a name (ES sends one ``Warning`` each)."""
    payload = body if isinstance(body, bytes) else _json(body)
    all_headers = CIMultiDict(
        {_PRODUCT_HEADER: "Elasticsearch", "content-type": exchange.json_content_type}
    )
    if isinstance(headers, Mapping):
        all_headers.update(headers)
    else:
        all_headers.extend(headers or ())
    response = web.Response(status=status, body=payload, headers=all_headers)
    await response.prepare(exchange.request)
    exchange.record.status = status
    await response.write_eof()
    exchange.record.bytes_sent = 0 if exchange.request.method == "HEAD" else len(payload)
    exchange.record.completed = True
    return response


async def send_options(exchange: _Exchange, params: Mapping[str, str]) -> web.StreamResponse:
    # RestController.handleOptionsRequest: 200, empty text/plain body, Allow header.
    headers = {_PRODUCT_HEADER: "Elasticsearch", "content-type": "text/plain; charset=UTF-8"}
    if params.get("allowed"):
        headers["Allow"] = params["allowed"]
    response = web.Response(status=200, body=b"", headers=headers)
    await response.prepare(exchange.request)
    exchange.record.status = 200
    await response.write_eof()
    exchange.record.completed = True
    return response


async def send_raw(server: _Server, exchange: _Exchange, fault: Fault) -> web.StreamResponse:
    assert fault.raw_body is not None
    response = _Response(
        status=fault.raw_status,
        headers={
            _PRODUCT_HEADER: "Elasticsearch",
            "content-type": fault.raw_content_type,
            **(fault.raw_headers or {}),
        },
    )
    response.enable_chunked_encoding()
    out = _BodyWriter(server, exchange, response, fault)
    await server.pause(fault.first_event_delay)
    if fault.raw_body:
        await out.send(fault.raw_body, event=False)
    await out.finish()
    return response


async def send_sse_error(
    server: _Server, exchange: _Exchange, err: _EsError, fault: Fault = _NO_FAULT
) -> web.StreamResponse:
    """§5.2: the real status, text/event-stream, one ``event: error``, no ``[DONE]``."""
    body = err.body
    if server.profile.legacy_stream_errors:
        body = _legacy_stream_error(body)
    response = _Response(
        status=err.status,
        headers={
            _PRODUCT_HEADER: "Elasticsearch",
            "content-type": _SSE_CONTENT_TYPE,
            **err.headers,
        },
    )
    response.enable_chunked_encoding()
    out = _BodyWriter(server, exchange, response, fault)
    await out.send(_sse_event("error", _json(body)))
    await out.finish()
    return response


async def send_fault_json(
    server: _Server,
    exchange: _Exchange,
    fault: Fault,
    endpoint: _Endpoint | None = None,
    *,
    chat: bool = False,
) -> web.StreamResponse | None:
    """Apply a fault on a JSON route; None when it leaves the normal answer alone.

    ``endpoint`` is the endpoint whose provider an inference request would call; only
    then does ``provider_status`` apply. ``chat``: errors in the OpenAI shape (§5.4).

    Raises:
        _Shutdown: the fault drops or stalls the connection (handled by _dispatch).
    """
    if fault.raw_body is not None:
        return await send_raw(server, exchange, fault)
    await server.pause(fault.first_event_delay)
    err = fault_error(endpoint, fault, chat=chat)
    if err is not None:
        return await send_json(exchange, err.status, err.body, err.headers)
    if fault.drop_after is not None:
        raise _Shutdown  # _dispatch aborts the connection: nothing was sent
    if fault.stall_after is not None:
        await server.closing.wait()
        raise _Shutdown
    return None


def fault_error(endpoint: _Endpoint | None, fault: Fault, *, chat: bool) -> _EsError | None:
    """The error a fault answers with before any event, or None."""
    if fault.status is not None:
        if chat:
            err = _unified_error(
                fault.status, fault.reason, fault.error_type, _status_name(fault.status)
            )
        else:
            err = _error(fault.status, fault.error_type, fault.reason)
    elif fault.provider_status is not None and endpoint is not None:
        status, message = _provider_failure(
            endpoint.inference_id,
            fault.provider_status,
            fault.provider_message,
            endpoint.service_info.provider_url,
        )
        if chat:
            # §5.4: provider errors keep the provider's code and type.
            err = _unified_error(
                status,
                message,
                fault.provider_error_type or "status_exception",
                fault.provider_error_code or _status_name(status),
            )
        else:
            err = _error(status, "status_exception", message)
    else:
        return None
    if fault.retry_after is not None:
        err.headers["Retry-After"] = fault.retry_after
    return err


def mid_stream_error(
    endpoint: _Endpoint, fault: Fault, *, chat: bool, legacy: bool = False
) -> bytes:
    """The ``event: error`` that ``error_after`` sends (§5.3); ``legacy``: as 8.16-8.17."""
    if not chat:
        # The standard envelope with the status the error would have had.
        body = _error(fault.error_status, fault.error_type, fault.reason).body
        if legacy:
            body = _legacy_stream_error(body)
    elif fault.provider_error_type is not None:
        message = (
            f"{_SERVER_ERROR_OBJECT} for request from inference entity id "
            f"[{endpoint.inference_id}]. Error message: "
            f"[{fault.provider_message or fault.reason}]"
        )
        body = _unified_error(
            fault.error_status, message, fault.provider_error_type, fault.provider_error_code
        ).body
    else:
        # TransportUnifiedCompletionInferenceAction.streamErrorHandler -> fromThrowable.
        body = _unified_error(
            fault.error_status, fault.reason, fault.error_type, _status_name(fault.error_status)
        ).body
    return _sse_event("error", _json(body))


async def send_completion_stream(
    server: _Server, exchange: _Exchange, endpoint: _Endpoint, text: str, fault: Fault
) -> web.StreamResponse:
    """Send a 200 completion event stream, shaped by ``fault``."""
    events = _events(endpoint, text)
    return await send_stream(server, exchange, endpoint, events, fault, chat=False)


async def send_stream(
    server: _Server,
    exchange: _Exchange,
    endpoint: _Endpoint,
    events: Iterator[bytes],
    fault: Fault,
    *,
    chat: bool,
) -> web.StreamResponse:
    """Send ``events`` then ``[DONE]`` as a 200 event stream, shaped by ``fault``."""
    if fault.raw_body is not None:
        return await send_raw(server, exchange, fault)
    await server.pause(fault.first_event_delay)
    err = fault_error(endpoint, fault, chat=chat)
    if err is not None:
        return await send_sse_error(server, exchange, err, fault)
    response = _Response(status=200, headers={"content-type": _SSE_CONTENT_TYPE})
    # ES issue #119000: the header was lost when the first part came from the provider's
    # thread; a provider without streaming answers on the request's own (derived).
    response.omit_product_header = endpoint.streaming and not server.profile.stream_product_header
    response.enable_chunked_encoding()
    out = _BodyWriter(server, exchange, response, fault)
    delay = next(
        d for d in (fault.event_delay, endpoint.event_delay, server.event_delay) if d is not None
    )
    termination = fault._termination()
    limit = termination[0] if termination else None
    sent = 0
    try:
        for event in events:
            if limit is not None and sent >= limit:
                break
            if sent:
                await server.pause(delay)
            await out.send(event)
            sent += 1
        if termination is None:
            await server.pause(delay)
            await out.send(_DONE_EVENT)
            await out.finish()
        else:
            legacy = server.profile.legacy_stream_errors
            error_event = mid_stream_error(endpoint, fault, chat=chat, legacy=legacy)
            await _terminate(server, exchange, out, termination[1], error_event)
    except ConnectionError:
        # §2.6: a write failed because the client left; stop generating at once.
        if not server.closing.is_set():
            exchange.record.disconnected_at = time.monotonic()
    except _Shutdown:
        transport = exchange.request.transport
        if transport is not None:
            transport.abort()
    return response


async def _terminate(
    server: _Server, exchange: _Exchange, out: _BodyWriter, action: str, error_event: bytes
) -> None:
    if action == "error":
        await out.send(error_event)
        await out.finish()
    elif action == "end":
        await out.finish()
    elif action == "drop":
        await out.flush()
        transport = exchange.request.transport
        if transport is not None:
            transport.abort()
    else:  # stall: silence until the client leaves (handler cancelled) or close().
        await out.flush()
        await server.closing.wait()
        raise _Shutdown
