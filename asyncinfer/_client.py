"""InferenceClient: the public facade, one method per Inference API call."""

from __future__ import annotations

import base64
import ssl
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._client_base import _chat_body, _with_opaque_id
from ._client_endpoints import _EndpointsAPI
from ._client_fanout import _FanoutAPI
from ._config import Limits, RetryPolicy, Timeouts
from ._exceptions import (
    InvalidRequestError,
    InvalidTypeError,
)
from ._options import (
    check_auth,
    check_bool,
    check_headers,
    check_limits,
    check_optional,
    check_path,
    check_timeouts,
    retry_policy,
)
from ._protocol import (
    chat_stream_request,
    parse_cloud_id,
    stream_completion_request,
)
from ._stream import ChatCompletionStream, CompletionStream, _EventStream
from ._transport import TLSConfig, Transport, split_userinfo, user_agent

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


class InferenceClient(_FanoutAPI, _EndpointsAPI):
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
        basic_auth: A ``(user, password)`` pair. Credentials in a host URL
            (``https://user:pass@host``) are taken as basic auth and removed from the URL.
        bearer_auth: A bearer token (OAuth2, service account, JWT).
        cloud_id: An Elastic Cloud id, instead of ``hosts``.
        headers: Extra headers sent on every request.
        timeouts: Default :class:`Timeouts` for every call; each call may override them.
        retries: Default :class:`RetryPolicy` (or a number of retries) for every call; each
            call may override it. On by default: 3 retries, as the official client.
        limits: Connection-pool and buffer :class:`Limits`.
        session: An :class:`aiohttp.ClientSession` to use; it is never closed by the client.
            By default the client creates and owns one (then ``limits`` and the TLS options
            configure it).
        verify_certs: Verify the server's certificate (on by default).
        ca_certs: A CA bundle file to verify the server with.
        client_cert: A client certificate file (PEM), for mutual TLS.
        client_key: The client certificate's key file, if not inside ``client_cert``.
        ssl_context: An :class:`ssl.SSLContext` to use as is.
        ssl_assert_fingerprint: Pin the SHA-256 fingerprint (hex, colons allowed, any case)
            of the server's certificate or, where Python exposes the chain (3.13+), of any
            certificate in it, such as the CA whose fingerprint Elasticsearch prints at first
            start. Pinning replaces CA verification.
        product_check: Require ``X-elastic-product: Elasticsearch`` on the first successful
            answer, as the official clients do, and on an error answer that no proxy would
            send (a 4xx but 401, 403, 407, 408, 429), so that a URL that is not
            Elasticsearch raises ``UnsupportedProductError``, not ``NotFoundError``.
        product_check_streams: Set to false to tolerate the header's absence on ``_stream``
            answers, which Elasticsearch 8.16.0-8.17.0 often omitted.
        sniff_on_start: Replace ``hosts`` with the cluster's nodes (``GET _nodes/_all/http``)
            before the first request. Not with ``cloud_id``.
        sniff_on_node_failure: Sniff again when a node fails.
        read_bufsize: Shortcut for ``limits.read_bufsize``.
        max_event_bytes: Shortcut for ``limits.max_event_bytes``.

    Raises:
        InvalidTypeError: An option has the wrong type (e.g. ``timeouts=5`` instead of
            ``Timeouts(total=5)``); the message names it. Also a :class:`TypeError`.
        InvalidRequestError: An argument is invalid (e.g. two forms of authentication, both
            ``hosts`` and ``cloud_id``, a malformed ``cloud_id`` or fingerprint).
    """

    def __init__(
        self,
        hosts: str | Sequence[str] | None = None,
        *,
        api_key: str | tuple[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_auth: str | None = None,
        cloud_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        limits: Limits | None = None,
        session: aiohttp.ClientSession | None = None,
        verify_certs: bool = True,
        ca_certs: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ssl_assert_fingerprint: str | None = None,
        product_check: bool = True,
        product_check_streams: bool = True,
        sniff_on_start: bool = False,
        sniff_on_node_failure: bool = False,
        read_bufsize: int | None = None,
        max_event_bytes: int | None = None,
    ) -> None:
        _check_options(locals())
        if (hosts is None) == (cloud_id is None):
            raise InvalidRequestError("give either hosts or cloud_id")
        if cloud_id is not None and (sniff_on_start or sniff_on_node_failure):
            raise InvalidRequestError("sniffing cannot be used with cloud_id")
        urls, url_auth = _node_urls(hosts, cloud_id)
        if url_auth is not None and api_key is None and basic_auth is None and bearer_auth is None:
            basic_auth = url_auth
        all_headers = _client_headers(headers, _auth_header(api_key, basic_auth, bearer_auth))
        limits = _client_limits(limits, read_bufsize, max_event_bytes)
        self.url = urls[0]
        self.timeouts = timeouts or Timeouts()
        self.retries = retry_policy(retries) or RetryPolicy()
        self.limits = limits
        self._transport = Transport(
            urls,
            headers=all_headers,
            session=session,
            limits=limits,
            tls=TLSConfig(
                verify_certs=verify_certs,
                ca_certs=ca_certs,
                client_cert=client_cert,
                client_key=client_key,
                ssl_context=ssl_context,
                ssl_assert_fingerprint=ssl_assert_fingerprint,
            ),
            product_check=product_check,
            product_check_streams=product_check_streams,
            sniff_on_start=sniff_on_start,
            sniff_on_node_failure=sniff_on_node_failure,
        )
        self._streams: weakref.WeakSet[_EventStream[Any]] = weakref.WeakSet()

    @property
    def hosts(self) -> list[str]:
        """The nodes' URLs (after sniffing, the cluster's)."""
        return self._transport.urls

    def __repr__(self) -> str:
        # Never the headers: they carry credentials.
        state = "closed" if self.closed else "open"
        hosts = self.url if len(self.hosts) == 1 else f"{self.url} (+{len(self.hosts) - 1} nodes)"
        return f"<InferenceClient {hosts} {state}>"

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

    def stream_completion(
        self,
        inference_id: str,
        input: str,
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
        keep_text: bool = True,
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
                Without it, a ``timeouts.total`` sends the remaining budget instead.
            retries: Override the client's :class:`RetryPolicy` (or a number of retries).
            opaque_id: Sent as ``X-Opaque-Id``, to find the request in Elasticsearch's logs
                and tasks.
            keep_text: Keep the tokens on the stream (``text``, ``tokens``, and
                ``partial_text`` on errors), up to ``limits.max_kept_text`` characters: past
                that the stream drops them, so memory stays bounded however long the answer
                (``text`` then raises :class:`TextNotKeptError`; ``read_text()`` keeps
                everything). ``False``: keep nothing once a token is yielded.

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
            _with_opaque_id(request, opaque_id),
            inference_id=inference_id,
            timeouts=check_timeouts(timeouts) or self.timeouts,
            max_event_bytes=self.limits.max_event_bytes,
            retries=retry_policy(retries) or self.retries,
            keep=self._keep(keep_text),
        )
        self._streams.add(stream)
        return stream

    def _keep(self, keep_text: bool) -> int | None:
        """How much text a new stream keeps: 0 none, ``None`` all."""
        if not isinstance(keep_text, bool):
            raise InvalidTypeError(f"keep_text must be a bool, got {keep_text!r}")
        return self.limits.max_kept_text if keep_text else 0

    # --- chat completion --------------------------------------------------------------------

    def stream_chat_completion(
        self,
        inference_id: str,
        messages: Sequence[Any],
        *,
        model: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        max_completion_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        reasoning: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
        keep_text: bool = True,
    ) -> ChatCompletionStream:
        """Stream a chat completion: ``POST /_inference/chat_completion/{inference_id}/_stream``.

        No I/O happens here; see :class:`ChatCompletionStream`.

        Args:
            inference_id: The chat_completion endpoint's id.
            messages: The conversation: mappings (``{"role": "user", "content": "..."}``) or
                :class:`SystemMessage`, :class:`UserMessage`, :class:`AssistantMessage`,
                :class:`ToolMessage`. Content is a string or a list of parts:
                :class:`TextPart`, and from 9.4 :class:`ImagePart` and :class:`FilePart` (or
                their mappings). An assistant turn may carry its ``reasoning`` and
                ``reasoning_details`` (9.4+; see ``ChatCompletionMessage.to_assistant_message``).
            model: Override the endpoint's model, where the provider allows it.
            tools: Functions the model may call (:class:`Tool` or mappings).
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, or
                ``{"type": "function", "function": {"name": ...}}``.
            max_completion_tokens: The longest answer, in tokens.
            stop: Sequences that end the answer.
            temperature: Sampling temperature.
            top_p: Nucleus sampling.
            reasoning: Reasoning options (Elasticsearch 9.4+, ``elastic`` service), e.g.
                ``{"effort": "low"}``; the chunks then carry ``delta.reasoning``.
            timeouts: Override the client's :class:`Timeouts` for this call.
            server_timeout: How long Elasticsearch may wait for the provider to start.
            retries: Override the client's :class:`RetryPolicy`.
            opaque_id: Sent as ``X-Opaque-Id``.
            keep_text: Keep the chunks and content received on the stream, up to
                ``limits.max_kept_text`` bytes of chunk data (see :meth:`stream_completion`);
                ``final_message()`` keeps every chunk whatever this says.

        Raises:
            InvalidRequestError: An argument is invalid; the message names the field.
            ClientClosedError: The client is closed.
        """
        self._check_open()
        body = _chat_body(
            messages,
            model=model,
            tools=tools,
            tool_choice=tool_choice,
            max_completion_tokens=max_completion_tokens,
            stop=stop,
            temperature=temperature,
            top_p=top_p,
            reasoning=reasoning,
        )
        request = chat_stream_request(inference_id, body, server_timeout=server_timeout)
        stream = ChatCompletionStream(
            self._transport,
            _with_opaque_id(request, opaque_id),
            inference_id=inference_id,
            timeouts=check_timeouts(timeouts) or self.timeouts,
            max_event_bytes=self.limits.max_event_bytes,
            retries=retry_policy(retries) or self.retries,
            keep=self._keep(keep_text),
        )
        self._streams.add(stream)
        return stream


def _node_urls(
    hosts: str | Sequence[str] | None, cloud_id: str | None
) -> tuple[list[str], tuple[str, str] | None]:
    """The nodes' URLs without credentials, and the first user:password a URL carried."""
    urls: list[str] = []
    url_auth: tuple[str, str] | None = None
    for host in [parse_cloud_id(cloud_id)] if cloud_id is not None else _host_list(hosts):
        url, userinfo = split_userinfo(host)
        urls.append(url)
        url_auth = url_auth or userinfo
    return urls, url_auth


def _client_headers(headers: Mapping[str, str] | None, auth: str | None) -> dict[str, str]:
    """Every request's headers: user agent, the caller's (lower-cased names), authorization.

    Raises:
        InvalidRequestError: An Authorization header given along with credentials.
    """
    all_headers = {"user-agent": user_agent()}
    for name, value in (headers or {}).items():
        all_headers[name.lower()] = value
    if auth is not None:
        if "authorization" in all_headers:
            raise InvalidRequestError(
                "an Authorization header cannot be combined with api_key, basic_auth or bearer_auth"
            )
        all_headers["authorization"] = auth
    return all_headers


def _client_limits(
    limits: Limits | None, read_bufsize: int | None, max_event_bytes: int | None
) -> Limits:
    """``limits`` with the two shortcut options applied.

    Raises:
        InvalidRequestError: A read buffer under 1 KiB.
    """
    limits = limits or Limits()
    if read_bufsize is not None:
        limits = attrs.evolve(limits, read_bufsize=read_bufsize)
    if max_event_bytes is not None:
        limits = attrs.evolve(limits, max_event_bytes=max_event_bytes)
    if limits.read_bufsize < 1024:
        raise InvalidRequestError(f"read_bufsize must be at least 1024, got {limits.read_bufsize}")
    return limits


def _check_options(options: dict[str, Any]) -> None:
    """Every constructor option's type, before anything is built from them.

    Raises:
        InvalidTypeError: An option has the wrong type; the message names it.
    """
    check_auth(
        options["api_key"], options["basic_auth"], options["bearer_auth"], options["cloud_id"]
    )
    check_headers(options["headers"])
    check_timeouts(options["timeouts"])
    retry_policy(options["retries"])
    check_limits(options["limits"])
    for name in ("ca_certs", "client_cert", "client_key"):
        check_path(options[name], name)
    check_optional(options["ssl_context"], ssl.SSLContext, "ssl_context", "an ssl.SSLContext")
    check_optional(options["ssl_assert_fingerprint"], str, "ssl_assert_fingerprint", "a hex string")
    for name in (
        "verify_certs",
        "product_check",
        "product_check_streams",
        "sniff_on_start",
        "sniff_on_node_failure",
    ):
        check_bool(options[name], name)
    for name in ("read_bufsize", "max_event_bytes"):
        check_optional(options[name], int, name, "an int")


def _host_list(hosts: Any) -> list[str]:
    if isinstance(hosts, str):
        return [hosts]
    if isinstance(hosts, Sequence) and hosts and all(isinstance(h, str) for h in hosts):
        return list(hosts)
    if isinstance(hosts, Sequence) and not hosts:
        raise InvalidRequestError("hosts must be a URL or a non-empty list of URLs")
    raise InvalidTypeError(
        f"hosts must be a URL or a non-empty list of URLs, got {type(hosts).__name__}"
    )
