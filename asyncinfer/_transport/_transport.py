"""The transport: one aiohttp session over a pool of nodes; one attempt per :meth:`Transport.open`.

aiohttp's and asyncio's errors become ours here, in one place; the product check and the
circuit over connection failures live here too. Retries are decided one level up
(``_exchange``), which asks this module to mark nodes dead or cool down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from typing import Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy, istr

from .._alarms import Alarms
from .._config import Limits
from .._exceptions import (
    ClientClosedError,
    ConnectError,
    ConnectTimeoutError,
    InvalidTypeError,
    TLSError,
    UnsupportedProductError,
    WrongEventLoopError,
)
from .._protocol import Request
from .._version import __version__
from ._nodes import Node, NodePool
from ._response import Response, is_tls_failure, request_body, why
from ._sniff import sniff
from ._tls import TLSConfig

logger = logging.getLogger("asyncinfer")

# 4xx statuses that proxies, gateways and load balancers in front of Elasticsearch send
# themselves (auth, proxy auth, their timeouts, rate limits): no product check on those.
_PROXY_STATUSES: Final = frozenset({401, 403, 407, 408, 429})


def user_agent() -> str:
    """``asyncinfer/0.1.0 (python 3.11.7; aiohttp 3.14.5)``."""
    return (
        f"asyncinfer/{__version__} (python {platform.python_version()}; "
        f"aiohttp {aiohttp.__version__})"
    )


class CircuitOpenError(ConnectError):
    """A request failed at once, unsent: the circuit is open (``Limits.circuit_failures``).

    A :class:`ConnectError` like the failures that opened it, so callers need no new case;
    never retried, since no node is due a new try before the back-off ends.
    """


class Sending:
    """A request on its way: ``await sending.answer``, then :meth:`answered` with what it
    gave, or :meth:`fail` with what it raised.

    Three steps rather than one coroutine so that a caller that already awaits (a stream's
    open) holds one small object while the request is out, not a second suspended frame
    (~0.4 KB each, with thousands of streams opening at once).
    """

    __slots__ = ("_transport", "answer", "attempt", "connect_timeout", "node", "request", "started")

    def __init__(
        self,
        transport: Transport,
        request: Request,
        node: Node,
        answer: Awaitable[aiohttp.ClientResponse],
        connect_timeout: float | None,
        attempt: int,
    ) -> None:
        self._transport = transport
        self.request = request
        self.node = node
        #: Awaited once: the response once its status line and headers arrived.
        self.answer = answer
        self.connect_timeout = connect_timeout
        self.attempt = attempt
        self.started = time.perf_counter()

    def answered(self, resp: aiohttp.ClientResponse) -> Response:
        """The response; marks the node live (or dead on 502/503/504), checks the product.

        Raises:
            UnsupportedProductError: The server is not Elasticsearch (product check).
        """
        return self._transport._answered(self, resp)

    def fail(self, exc: Exception) -> None:
        """Raise the client's error for what awaiting :attr:`answer` raised; returns (for
        the caller to re-raise ``exc``) when it is not a connection failure.

        Raises:
            ClientClosedError: The transport was closed meanwhile.
            ConnectError: Connecting or sending failed (the node is marked dead).
            TLSError: The server's certificate was refused.
            ConnectTimeoutError: Connecting took longer than the connect limit.
        """
        self._transport._failed(self, exc)


class Transport:
    """Sends requests to a pool of nodes over one aiohttp session.

    The session is created on first use (it needs a running loop) unless the caller gave one,
    in which case it is used and never closed here.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
        limits: Limits,
        tls: TLSConfig,
        product_check: bool = True,
        product_check_streams: bool = True,
        sniff_on_start: bool = False,
        sniff_on_node_failure: bool = False,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise InvalidTypeError(
                f"session must be an aiohttp.ClientSession or None, got {type(session).__name__}"
            )
        self.pool = NodePool(urls)
        self._headers = dict(headers)
        self._session = session
        self._owns_session = session is None
        self._limits = limits
        self._ssl = tls.aiohttp_ssl()
        self._merged: tuple[Mapping[str, str], CIMultiDictProxy[str]] | None = None
        self._url: tuple[Node, str, str] | None = None
        self._closed = False
        self._product_check = product_check
        self._product_check_streams = product_check_streams
        self._verified = False
        #: Whether the next request must sniff first (``sniff_on_start``, until it has).
        self.sniff_pending = sniff_on_start
        self._sniff_on_node_failure = sniff_on_node_failure
        self._sniffing: asyncio.Task[None] | None = None
        self._cooldown_until = 0.0
        #: The deadlines of every call: one loop timer between them.
        self.alarms = Alarms()
        self._client_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        # The client-wide connection limit, as slots: a call waits for one before its clocks
        # start, instead of waiting inside aiohttp's pool under its first-event timeout.
        self._slots = asyncio.Semaphore(limits.connections) if limits.connections else None
        # Connection attempts that failed in a row, on any node (Limits.circuit_failures).
        self._connect_failures = 0
        #: The event loop the client first ran in: its connections belong to that loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown_hook: AsyncGenerator[None, None] | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def urls(self) -> list[str]:
        """The nodes' URLs."""
        return [node.url for node in self.pool.nodes]

    def check_loop(self) -> None:
        """Fail clearly when called from another event loop than the client's own.

        Raises:
            WrongEventLoopError: The client first ran in another event loop.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._adopt(loop)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            state = "a closed event loop" if self._loop.is_closed() else "another event loop"
            raise WrongEventLoopError(
                f"this InferenceClient belongs to {state}: its connections were made there "
                "(each asyncio.run() makes a new loop). Make one client per event loop, "
                "e.g. with 'async with InferenceClient(...)' inside the coroutine that "
                "asyncio.run() runs"
            )
        self._loop = loop
        if self._owns_session:
            # asyncio.run() (and loop.shutdown_asyncgens()) closes every async generator
            # before it closes the loop: ours then closes the session, so that no socket
            # outlives its loop when the client was never closed.
            hook = self._shutdown_hook = _close_at_loop_shutdown(weakref.ref(self))
            with contextlib.suppress(StopIteration):
                hook.asend(None).send(None)  # runs to its yield: registers it with the loop

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the InferenceClient is closed; create a new one")
        self.check_loop()
        if self._session is None:
            limits = self._limits
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=limits.connections,
                    limit_per_host=limits.connections_per_node,
                    keepalive_timeout=limits.keepalive,
                    ssl=self._ssl,
                ),
                timeout=aiohttp.ClientTimeout(total=None),
                read_bufsize=limits.read_bufsize,
            )
        return self._session

    # --- health ---------------------------------------------------------------------------

    async def acquire_slot(self) -> None:
        """Wait for one of the client's connections (``Limits.connections``).

        Raises:
            WrongEventLoopError: The client first ran in another event loop.
        """
        self.check_loop()  # the first thing every call does: here a wrong loop is told cheaply
        if self._slots is not None:
            await self._slots.acquire()

    def slot_wait(self) -> bool:
        """Whether :meth:`acquire_slot` would have to wait for a slot."""
        return self._slots is not None and self._slots.locked()

    def release_slot(self) -> None:
        """Give back a slot taken with :meth:`acquire_slot`."""
        if self._slots is not None:
            self._slots.release()

    def cooldown_remaining(self) -> float:
        """Seconds every new request must still wait after a 429."""
        if not self._cooldown_until:
            return 0.0  # never cooled down: no clock to read
        return self._cooldown_until - asyncio.get_running_loop().time()

    def cool_down(self, seconds: float) -> None:
        """Hold every new request for ``seconds`` (after a 429: the limit is shared)."""
        until = asyncio.get_running_loop().time() + seconds
        self._cooldown_until = max(self._cooldown_until, until)

    def node_failed(self, node: Node) -> None:
        """A node failed to connect or answered 502/503/504: take it out of rotation."""
        self.pool.mark_dead(node, asyncio.get_running_loop().time())
        logger.debug("node %s marked dead for %d failure(s)", node.url, node.failures)
        if self._sniff_on_node_failure and self._sniffing is None:
            self._sniffing = asyncio.get_running_loop().create_task(self._sniff())

    # --- one attempt ----------------------------------------------------------------------

    async def open(
        self, request: Request, *, connect_timeout: float | None, attempt: int = 0
    ) -> Response:
        """Send ``request`` to the next live node and wait for the status line and headers.

        Raises:
            ClientClosedError: The transport was closed.
            ConnectError: Connecting or sending failed, or the server closed the connection
                before answering (the node is marked dead).
            TLSError: The server's certificate was refused.
            ConnectTimeoutError: Connecting took longer than ``connect_timeout``.
            UnsupportedProductError: The server is not Elasticsearch (product check).
        """
        await self.sniff_on_start()
        sending = self.send(request, connect_timeout=connect_timeout, attempt=attempt)
        try:
            answer = await sending.answer
        except Exception as exc:
            sending.fail(exc)
            raise
        return sending.answered(answer)

    async def sniff_on_start(self) -> None:
        """Sniff once before the first request, if the client was made to."""
        if self.sniff_pending:
            self._get_session()
            self.sniff_pending = False
            await self._sniff()

    def send(self, request: Request, *, connect_timeout: float | None, attempt: int) -> Sending:
        """Start sending ``request`` to the next live node (see :class:`Sending`).

        Raises:
            ConnectError: The circuit is open (see ``Limits.circuit_failures``): every node
                failed to connect that many times in a row, and none is due a new try.
        """
        session = self._get_session()
        now = asyncio.get_running_loop().time()
        node = self.pool.select(now)
        limit = self._limits.circuit_failures
        if limit is not None and self._connect_failures >= limit:
            self._circuit(node, now, limit)
        # The last URL is reused: a fan-out to one endpoint holds one string, not one per
        # request on its way.
        cached = self._url
        if cached is None or cached[0] is not node or cached[1] != request.path:
            cached = self._url = (node, request.path, node.url + request.path)
        answer = session.request(
            request.method,
            cached[2],
            params=request.query or None,
            data=request_body(request.body),
            headers=self._merged_headers(request.headers),
            timeout=self._client_timeout(connect_timeout),
            read_bufsize=self._limits.read_bufsize,
            allow_redirects=False,
            ssl=self._ssl,
        )
        return Sending(self, request, node, answer, connect_timeout, attempt)

    def _circuit(self, node: Node, now: float, limit: int) -> None:
        """With the circuit open, let a request through as the one probe of ``node`` once its
        dead back-off has ended (holding the node for another back-off meanwhile); fail every
        other request at once, without a connection attempt."""
        if node.dead_until is None or node.dead_until <= now:
            self.pool.hold(node, now)
            return
        raise CircuitOpenError(
            f"not sent: the last {self._connect_failures} connection attempts to "
            f"{', '.join(self.urls)} failed ({limit} in a row open the circuit); failing "
            f"fast until a node connects again (next try in {node.dead_until - now:.1f}s)"
        )

    def _failed(self, sending: Sending, exc: Exception) -> None:
        request, node = sending.request, sending.node
        unreached = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
        if unreached and not is_tls_failure(exc):
            self._connect_failures += 1  # the node was not reached: toward the circuit
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            self._log(request, node, None, sending.started, sending.attempt)
            self.node_failed(node)
            assert sending.connect_timeout is not None
            raise ConnectTimeoutError(sending.connect_timeout, detail=request.endpoint) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            self._log(request, node, None, sending.started, sending.attempt)
            if self._closed:
                raise ClientClosedError(
                    "the InferenceClient was closed while a request was on its way"
                ) from exc
            if is_tls_failure(exc):
                raise TLSError(f"TLS handshake with {node.url} failed: {why(exc)}") from exc
            self.node_failed(node)
            where = f"{request.endpoint} to {node.url}"
            raise ConnectError(f"cannot send {where}: {why(exc)}") from exc

    def _answered(self, sending: Sending, resp: aiohttp.ClientResponse) -> Response:
        request, node = sending.request, sending.node
        self._log(request, node, resp.status, sending.started, sending.attempt)
        self._connect_failures = 0  # a node answered: the circuit closes
        response = Response(resp, request, node)
        if resp.status in (502, 503, 504):
            self.node_failed(node)
        else:
            self.pool.mark_live(node)
        if not self._verified:  # the first answers only: once verified, always verified
            self._check_product(response, request.headers.get("accept") == "text/event-stream")
        return response

    def _merged_headers(self, headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
        # Most requests carry one of a few constant header dicts: merged once, not per request.
        # Keyed by identity, holding the key, so that the identity stays unique. In aiohttp's
        # own form with istr names: given str names, aiohttp makes a lower-cased copy of each
        # per request, held while the request is on its way (0.75 KB per stream measured in a
        # 10,000-stream fan-out: benchmarks/ablate.py).
        cached = self._merged
        if cached is None or cached[0] is not headers:
            merged = CIMultiDict((istr(k), v) for k, v in {**self._headers, **headers}.items())
            cached = self._merged = (headers, CIMultiDictProxy(merged))
        return cached[1]

    def _client_timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        # One per connect limit, not one per request: the rest of the clock is ours.
        timeout = self._client_timeouts.get(connect)
        if timeout is None:
            timeout = self._client_timeouts[connect] = aiohttp.ClientTimeout(
                total=None, sock_connect=connect
            )
        return timeout

    def _check_product(self, response: Response, stream: bool) -> None:
        if not self._product_check:
            return
        status = response.status
        product = response.headers.get("X-elastic-product")
        if product == "Elasticsearch":
            if 200 <= status < 300:
                self._verified = True
            return
        # Elasticsearch sends the header with its errors too, so a headerless 404 or 400 is
        # another server (a 404 from a web server is not "endpoint not found"). Proxies and
        # gateways in front of Elasticsearch answer 401/403/407/408/429 and 5xx themselves:
        # those stay API errors, retried as such.
        if not (200 <= status < 300 or (400 <= status < 500 and status not in _PROXY_STATUSES)):
            return
        if stream and not self._product_check_streams:
            return  # the 8.16.0-8.17.0 _stream responses lacked the header (spec §2.1)
        response.close()
        raise UnsupportedProductError(
            f"{response.node.url} answered {response.endpoint} with status {status} without "
            "'X-elastic-product: Elasticsearch': it is not Elasticsearch, or a proxy drops the "
            "header (pass product_check=False to skip this check)"
        )

    @staticmethod
    def _log(
        request: Request, node: Node, status: int | None, started: float, attempt: int
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s node=%s status=%s duration=%.1fms retry=%d",
                request.method,
                request.path,
                node.url,
                status if status is not None else "-",
                (time.perf_counter() - started) * 1000,
                attempt,
            )

    # --- sniffing -------------------------------------------------------------------------

    async def _sniff(self) -> None:
        try:
            await sniff(self._get_session(), self.pool, self._headers, self._ssl)
        finally:
            self._sniffing = None

    async def close(self) -> None:
        """Close the session if we created it. Idempotent.

        From another event loop than the client's, once that loop is closed, it only marks
        the client closed: the session was closed when its loop shut down, or cannot be.
        """
        self._closed = True
        if self._sniffing is not None:
            self._sniffing.cancel()
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            if not self._loop.is_closed():
                raise WrongEventLoopError(
                    "close this InferenceClient in the event loop it belongs to"
                )
            self._session = None
            return
        await self._close_session()
        hook, self._shutdown_hook = self._shutdown_hook, None
        if hook is not None:
            await hook.aclose()  # finished: the loop has nothing left to close at shutdown

    async def _close_session(self) -> None:
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def _close_at_loop_shutdown(transport: weakref.ref[Transport]) -> AsyncGenerator[None, None]:
    """Suspended for the loop's lifetime; closed by the loop's shutdown (or by ``close()``)."""
    try:
        yield
    finally:
        owner = transport()
        if owner is not None:
            await owner._close_session()
