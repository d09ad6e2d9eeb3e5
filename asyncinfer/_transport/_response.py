"""A response whose headers have arrived, and the request bodies aiohttp sends without blocking.

Also where aiohttp's exceptions become readable text (:func:`why`).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Mapping
from typing import Any

import aiohttp

from .._exceptions import ReadError
from .._protocol import Request
from ._nodes import Node


class Response:
    """A response whose headers have arrived; the body is read chunk by chunk."""

    __slots__ = ("_content", "_resp", "node", "request")

    def __init__(self, resp: aiohttp.ClientResponse, request: Request, node: Node) -> None:
        self._resp = resp
        self._content = resp.content
        self.request = request  #: The request this answers.
        self.node = node

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"`` of the request, for messages."""
        return self.request.endpoint

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
        except Exception as exc:
            failure = self.read_error(exc)
            if failure is None:
                raise
            raise failure from exc

    def read_chunk_raw(self) -> Awaitable[bytes]:
        """:meth:`read_chunk` without a coroutine of its own, for the streams' read loop: a
        failure raises the transport's own exception, which :meth:`read_error` translates.

        A coroutine per read costs 8% more CPU per token when each event comes in its own
        chunk (2.41 vs 2.23 µs: ``python benchmarks/ablate.py --live``)."""
        return self._content.readany()

    def read_error(self, exc: Exception) -> ReadError | None:
        """The :class:`ReadError` for a failure of :meth:`read_chunk_raw`; ``None`` if ``exc``
        is not a transport failure."""
        if isinstance(exc, aiohttp.ClientError | OSError):
            return ReadError(f"connection lost while reading {self.endpoint}: {why(exc)}")
        return None

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body, up to ``limit`` bytes.

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


# aiohttp warns (ResourceWarning) when handed more raw bytes than this at once
# (aiohttp.payload.TOO_LARGE_BYTES_BODY, 1 MiB): bodies past it go out as a _LargeBody.
_LARGE_BODY_BYTES = 1024 * 1024
# One write per 64 KiB: each waits for the socket to drain, so the loop runs between them.
_BODY_WRITE_BYTES = 64 * 1024


def request_body(body: bytes | None) -> bytes | aiohttp.payload.Payload | None:
    """A request body in the form aiohttp sends without blocking the loop (or warning)."""
    if body is None or len(body) <= _LARGE_BODY_BYTES:
        return body  # the common case: handed over as is, as before
    return _LargeBody(body)


class _LargeBody(aiohttp.payload.Payload):
    """A large request body, written in slices that let the loop run between them (no copy:
    each slice is a view of the one ``bytes``)."""

    _autoclose = True  # holds no resource: nothing to close

    def __init__(self, value: bytes) -> None:
        # The request's own Content-Type wins over this one (aiohttp keeps given headers).
        super().__init__(value, content_type="application/json")
        self._size = len(value)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The body as text (aiohttp's interface; used only for debugging output)."""
        return bytes(self._value).decode(encoding, errors)

    async def write(self, writer: Any) -> None:
        """Write the whole body."""
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        """Write the body (up to ``content_length`` bytes), one slice per drain."""
        view = memoryview(self._value)
        if content_length is not None:
            view = view[:content_length]
        for start in range(0, len(view), _BODY_WRITE_BYTES):
            await writer.write(view[start : start + _BODY_WRITE_BYTES])


def why(exc: BaseException) -> str:
    """What went wrong, in one line, for our error messages."""
    if isinstance(exc, aiohttp.ClientConnectorError) and not is_tls_failure(exc):
        # aiohttp's own text carries the repr of the SSL context, even for http://.
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_tls_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a refused certificate or handshake (never retried on another node)."""
    return isinstance(
        exc,
        aiohttp.ClientConnectorCertificateError
        | aiohttp.ServerFingerprintMismatch
        | aiohttp.ClientSSLError
        | ssl.SSLError,
    )
