"""The only module of the client that imports aiohttp.

It sends a :class:`~asyncinfer._protocol.Request` and hands back a :class:`Response`: a status,
headers and a byte-chunk reader. aiohttp's and asyncio's errors become ours here, in one place.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

import aiohttp

from ._exceptions import ClientClosedError, ConnectError, ConnectTimeoutError, ReadError
from ._protocol import Request
from ._version import __version__

__all__ = ["Response", "Transport", "user_agent"]


def user_agent() -> str:
    """``asyncinfer/0.1.0 (python 3.11.7; aiohttp 3.14.5)``."""
    return (
        f"asyncinfer/{__version__} (python {platform.python_version()}; "
        f"aiohttp {aiohttp.__version__})"
    )


class Response:
    """A response whose headers have arrived; the body is read chunk by chunk."""

    __slots__ = ("_content", "_resp", "endpoint")

    def __init__(self, resp: aiohttp.ClientResponse, endpoint: str) -> None:
        self._resp = resp
        self._content = resp.content
        self.endpoint = endpoint

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._resp.status

    @property
    def content_type(self) -> str:
        """The raw ``Content-Type`` header ("" when absent)."""
        return self._resp.headers.get("Content-Type", "")

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers (case-insensitive)."""
        return self._resp.headers

    @property
    def buffered_bytes(self) -> int:
        """Bytes received from the socket and not yet read."""
        # aiohttp counts them in StreamReader._size and has no public name for it.
        size: int = getattr(self._content, "_size", 0)
        return size

    async def read_chunk(self) -> bytes:
        """Everything the socket has delivered so far (waiting for at least one byte).

        Returns ``b""`` at the end of the body.

        Raises:
            ReadError: The connection broke or the body was truncated.
        """
        try:
            return await self._content.readany()
        except (aiohttp.ClientError, OSError) as exc:
            raise ReadError(f"connection lost while reading {self.endpoint}: {_why(exc)}") from exc

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body, up to ``limit`` bytes (the rest is dropped with the connection).

        Raises:
            ReadError: The connection broke or the body was truncated.
        """
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await self.read_chunk()
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)[:limit]

    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        return self._content.at_eof()

    def close(self) -> None:
        """Drop the connection: never hand a half-read body back to the pool."""
        self._resp.close()

    def release(self) -> None:
        """Return the connection to the pool; only after the body was read to its end."""
        self._resp.release()


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Transport:
    """One aiohttp session to one base URL.

    The session is created on first use (it needs a running loop) unless the caller gave one,
    in which case it is used and never closed here.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
        read_bufsize: int,
        connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._session = session
        self._owns_session = session is None
        self._read_bufsize = read_bufsize
        self._connections = connections
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the InferenceClient is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(total=None),
                read_bufsize=self._read_bufsize,
            )
        return self._session

    async def open(self, request: Request, *, connect_timeout: float | None) -> Response:
        """Send ``request`` and wait for the status line and headers.

        Raises:
            ClientClosedError: The transport was closed.
            ConnectError: Connecting or sending failed, or the server closed the connection
                before answering.
            ConnectTimeoutError: Connecting took longer than ``connect_timeout``.
        """
        session = self._get_session()
        headers = {**self._headers, **request.headers}
        kwargs: dict[str, Any] = {}
        if request.headers.get("accept") == "text/event-stream":
            # Whether Elasticsearch flushes gzip per event is unknown (spec §2.1): ask for none.
            kwargs["skip_auto_headers"] = ("Accept-Encoding",)
        try:
            resp = await session.request(
                request.method,
                self.base_url + request.path,
                params=request.query or None,
                data=request.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
                read_bufsize=self._read_bufsize,
                allow_redirects=False,
                **kwargs,
            )
        except aiohttp.ConnectionTimeoutError as exc:
            assert connect_timeout is not None
            raise ConnectTimeoutError(connect_timeout, detail=request.endpoint) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectError(
                f"cannot send {request.endpoint} to {self.base_url}: {_why(exc)}"
            ) from exc
        return Response(resp, request.endpoint)

    async def close(self) -> None:
        """Close the session if we created it. Idempotent."""
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()
