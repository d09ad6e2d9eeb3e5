"""InferenceClient: the public facade, one method per Inference API call."""

from __future__ import annotations

import base64
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._config import DEFAULT_MAX_EVENT_BYTES, DEFAULT_READ_BUFSIZE, Timeouts
from ._exceptions import ClientClosedError, InvalidRequestError
from ._protocol import stream_completion_request
from ._stream import CompletionStream
from ._transport import Transport, user_agent

if TYPE_CHECKING:
    from types import TracebackType

    import aiohttp

__all__ = ["InferenceClient"]


def _auth_header(
    api_key: str | tuple[str, str] | None,
    basic_auth: tuple[str, str] | None,
    bearer_auth: str | None,
) -> str | None:
    given = [
        name
        for name, value in (
            ("api_key", api_key),
            ("basic_auth", basic_auth),
            ("bearer_auth", bearer_auth),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidRequestError(f"give only one of api_key, basic_auth, bearer_auth; got {given}")
    if api_key is not None:
        if isinstance(api_key, tuple):
            # (id, api_key) is encoded as Elasticsearch's create-API-key answer would (§2.3).
            return "ApiKey " + base64.b64encode(f"{api_key[0]}:{api_key[1]}".encode()).decode()
        return f"ApiKey {api_key}"
    if basic_auth is not None:
        user, password = basic_auth
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if bearer_auth is not None:
        return f"Bearer {bearer_auth}"
    return None


class InferenceClient:
    """An asyncio client for the Elasticsearch Inference API.

    Use it as an async context manager (or call :meth:`close`)::

        async with InferenceClient("http://localhost:9200", api_key="...") as client:
            async with client.stream_completion("my-endpoint", "What is Elastic?") as stream:
                async for token in stream:
                    print(token, end="", flush=True)

    Args:
        hosts: The Elasticsearch URL, e.g. ``"https://localhost:9200"``.
        api_key: An encoded API key (the ``encoded`` value Elasticsearch returns), or an
            ``(id, api_key)`` pair.
        basic_auth: A ``(user, password)`` pair.
        bearer_auth: A bearer token (OAuth2, service account, JWT).
        headers: Extra headers sent on every request.
        timeouts: Default :class:`Timeouts` for every call; each call may override them.
        session: An :class:`aiohttp.ClientSession` to use; it is never closed by the client.
            By default the client creates and owns one.
        read_bufsize: Bytes aiohttp buffers per connection before it stops reading the
            socket (it pauses at twice this), which bounds memory for a slow consumer.
        max_event_bytes: The largest server-sent event accepted.

    Raises:
        InvalidRequestError: An argument is invalid (e.g. two forms of authentication).
    """

    def __init__(
        self,
        hosts: str,
        *,
        api_key: str | tuple[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_auth: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        session: aiohttp.ClientSession | None = None,
        read_bufsize: int = DEFAULT_READ_BUFSIZE,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        if not isinstance(hosts, str) or not hosts.startswith(("http://", "https://")):
            raise InvalidRequestError(f"hosts must be an http:// or https:// URL, got {hosts!r}")
        all_headers = {"user-agent": user_agent()}
        for name, value in (headers or {}).items():
            all_headers[name.lower()] = value
        auth = _auth_header(api_key, basic_auth, bearer_auth)
        if auth is not None:
            if "authorization" in all_headers:
                raise InvalidRequestError(
                    "an Authorization header cannot be combined with api_key, basic_auth or "
                    "bearer_auth"
                )
            all_headers["authorization"] = auth
        if read_bufsize < 1024:
            raise InvalidRequestError(f"read_bufsize must be at least 1024, got {read_bufsize}")
        self.url = hosts.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self._max_event_bytes = max_event_bytes
        self._transport = Transport(
            self.url, headers=all_headers, session=session, read_bufsize=read_bufsize
        )
        self._streams: weakref.WeakSet[CompletionStream] = weakref.WeakSet()

    def __repr__(self) -> str:
        # Never the headers: they carry credentials.
        state = "closed" if self.closed else "open"
        return f"<InferenceClient {self.url} {state}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._transport.closed

    async def __aenter__(self) -> InferenceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every open stream and the connection pool. Idempotent."""
        for stream in list(self._streams):
            await stream.aclose()
        await self._transport.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("the InferenceClient is closed; create a new one")

    def stream_completion(
        self,
        inference_id: str,
        input: str,
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
    ) -> CompletionStream:
        """Stream a completion: ``POST /_inference/completion/{inference_id}/_stream``.

        No I/O happens here: the request is sent on entering ``async with`` (or on the first
        iteration). See :class:`CompletionStream` for what can be raised then.

        Args:
            inference_id: The completion endpoint's id.
            input: The prompt (Elasticsearch streams a single string).
            task_settings: Service-specific settings, e.g. ``{"temperature": 0.2}``.
            timeouts: Override the client's :class:`Timeouts` for this call.
            server_timeout: How long Elasticsearch may wait for the provider to start, as
                seconds or a time value like ``"90s"`` (the ``timeout`` query parameter).

        Raises:
            InvalidRequestError: An argument is invalid (e.g. a list ``input``).
            ClientClosedError: The client is closed.
        """
        self._check_open()
        request = stream_completion_request(
            inference_id, input, task_settings=task_settings, server_timeout=server_timeout
        )
        stream = CompletionStream(
            self._transport,
            request,
            inference_id=inference_id,
            timeouts=timeouts or self.timeouts,
            max_event_bytes=self._max_event_bytes,
        )
        self._streams.add(stream)
        return stream
