"""InferenceClient: the public facade, one method per Inference API call."""

from __future__ import annotations

import base64
import ssl
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs

from ._config import Limits, RetryPolicy, Timeouts
from ._exceptions import (
    ClientClosedError,
    InvalidRequestError,
    InvalidTypeError,
    UnexpectedResponseError,
)
from ._exchange import request_json
from ._fanout import AsCompleted, map_results
from ._models import (
    CompletionResult,
    DeleteEndpointResult,
    EndpointInfo,
    InferenceResult,
    RerankResult,
    ServiceInfo,
    SparseEmbeddingResult,
    TextEmbeddingResult,
    _Shape,
    message_to_json,
    parse_inference,
    tool_to_json,
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
    Request,
    chat_stream_request,
    delete_endpoint_request,
    get_endpoints_request,
    get_services_request,
    inference_request,
    parse_cloud_id,
    put_endpoint_request,
    stream_completion_request,
    string_inputs,
    update_endpoint_request,
)
from ._stream import ChatCompletionStream, CompletionStream, _EventStream
from ._transport import TLSConfig, Transport, split_userinfo, user_agent

if TYPE_CHECKING:
    from types import TracebackType

    import aiohttp

__all__ = ["InferenceClient"]

_R = TypeVar("_R")


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
            answer, as the official clients do.
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
        urls: list[str] = []
        url_auth: tuple[str, str] | None = None
        for host in [parse_cloud_id(cloud_id)] if cloud_id is not None else _host_list(hosts):
            url, userinfo = split_userinfo(host)
            urls.append(url)
            url_auth = url_auth or userinfo
        if url_auth is not None and api_key is None and basic_auth is None and bearer_auth is None:
            basic_auth = url_auth
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
        limits = limits or Limits()
        if read_bufsize is not None:
            limits = attrs.evolve(limits, read_bufsize=read_bufsize)
        if max_event_bytes is not None:
            limits = attrs.evolve(limits, max_event_bytes=max_event_bytes)
        if limits.read_bufsize < 1024:
            raise InvalidRequestError(
                f"read_bufsize must be at least 1024, got {limits.read_bufsize}"
            )
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
                :class:`ToolMessage`. Content is a string or a list of parts.
            model: Override the endpoint's model, where the provider allows it.
            tools: Functions the model may call (:class:`Tool` or mappings).
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, or
                ``{"type": "function", "function": {"name": ...}}``.
            max_completion_tokens: The longest answer, in tokens.
            stop: Sequences that end the answer.
            temperature: Sampling temperature.
            top_p: Nucleus sampling.
            reasoning: Reasoning options (Elasticsearch 9.4+, ``elastic`` service only).
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
        if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
            raise InvalidRequestError(
                f"messages must be a list of messages, got {type(messages).__name__}"
            )
        if not messages:
            raise InvalidRequestError("messages must not be empty")
        body: dict[str, Any] = {"messages": [message_to_json(m, i) for i, m in enumerate(messages)]}
        if model is not None:
            body["model"] = _typed(model, str, "model")
        if tools is not None:
            body["tools"] = [tool_to_json(t, i) for i, t in enumerate(tools)]
        if tool_choice is not None:
            body["tool_choice"] = _tool_choice(tool_choice)
        if max_completion_tokens is not None:
            if (
                isinstance(max_completion_tokens, bool)
                or not isinstance(max_completion_tokens, int)
                or max_completion_tokens < 1
            ):
                raise InvalidRequestError(
                    f"max_completion_tokens must be a positive int, got {max_completion_tokens!r}"
                )
            body["max_completion_tokens"] = max_completion_tokens
        if stop is not None:
            body["stop"] = [stop] if isinstance(stop, str) else list(string_inputs(stop, "stop"))
        if temperature is not None:
            body["temperature"] = _number(temperature, "temperature")
        if top_p is not None:
            body["top_p"] = _number(top_p, "top_p")
        if reasoning is not None:
            body["reasoning"] = dict(_typed(reasoning, Mapping, "reasoning"))
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

    # --- non-streaming inference ------------------------------------------------------------

    async def _json(
        self,
        request: Request,
        timeouts: Timeouts | None,
        retries: RetryPolicy | int | None,
        opaque_id: str | None,
    ) -> Any:
        self._check_open()
        return await request_json(
            self._transport,
            _with_opaque_id(request, opaque_id),
            check_timeouts(timeouts) or self.timeouts,
            retry_policy(retries) or self.retries,
        )

    async def _result(
        self,
        kind: type[_R],
        request: Request,
        timeouts: Timeouts | None,
        retries: RetryPolicy | int | None,
        opaque_id: str | None,
    ) -> _R:
        body = await self._json(request, timeouts, retries, opaque_id)
        try:
            result = parse_inference(body)
        except _Shape as exc:
            raise _unexpected(request, body, str(exc)) from None
        if not isinstance(result, kind):
            raise _unexpected(request, body, f"expected a {kind.__name__} body")
        return result

    async def completion(
        self,
        inference_id: str,
        input: str | Sequence[str],
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> CompletionResult:
        """A whole completion at once: ``POST /_inference/completion/{inference_id}``.

        Raises:
            InvalidRequestError: An argument is invalid (before any I/O).
            ApiError: Elasticsearch answered with an error.
            UnexpectedResponseError: The answer is not a completion result.
            TransportError: Connecting or reading failed, or a time limit fired.
        """
        body = _body(input=string_inputs(input), task_settings=task_settings)
        request = inference_request("completion", inference_id, body, server_timeout=server_timeout)
        return await self._result(CompletionResult, request, timeouts, retries, opaque_id)

    async def text_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        input_type: str | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> TextEmbeddingResult:
        """Dense vectors: ``POST /_inference/text_embedding/{inference_id}``.

        Args:
            input_type: ``"ingest"``, ``"search"``, ``"classification"`` or ``"clustering"``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if input_type is not None:
            _typed(input_type, str, "input_type")
        body = _body(
            input=string_inputs(inputs, "inputs"),
            input_type=input_type,
            task_settings=task_settings,
        )
        request = inference_request(
            "text_embedding", inference_id, body, server_timeout=server_timeout
        )
        return await self._result(TextEmbeddingResult, request, timeouts, retries, opaque_id)

    async def sparse_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> SparseEmbeddingResult:
        """Sparse vectors (token → weight): ``POST /_inference/sparse_embedding/{inference_id}``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        body = _body(input=string_inputs(inputs, "inputs"), task_settings=task_settings)
        request = inference_request(
            "sparse_embedding", inference_id, body, server_timeout=server_timeout
        )
        return await self._result(SparseEmbeddingResult, request, timeouts, retries, opaque_id)

    async def rerank(
        self,
        inference_id: str,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        return_documents: bool | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> RerankResult:
        """Order ``documents`` by relevance to ``query``: ``POST /_inference/rerank/{id}``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        if not isinstance(query, str) or not query:
            raise InvalidRequestError(f"query must be a non-empty string, got {query!r}")
        if isinstance(documents, str):
            raise InvalidRequestError("documents must be a list of strings, not one string")
        if top_n is not None and (
            isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1
        ):
            raise InvalidRequestError(f"top_n must be a positive int, got {top_n!r}")
        if return_documents is not None:
            _typed(return_documents, bool, "return_documents")
        body = _body(
            query=query,
            input=string_inputs(documents, "documents"),
            top_n=top_n,
            return_documents=return_documents,
            task_settings=task_settings,
        )
        request = inference_request("rerank", inference_id, body, server_timeout=server_timeout)
        return await self._result(RerankResult, request, timeouts, retries, opaque_id)

    async def inference(
        self,
        task_type: str | None,
        inference_id: str,
        *,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
        **body: Any,
    ) -> InferenceResult:
        """Any non-streaming inference: ``POST /_inference/[{task_type}/]{inference_id}``.

        ``body`` is sent as the JSON body (``input=...``, ``query=...``, ...); the result is
        typed by what the answer holds.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = inference_request(task_type, inference_id, body, server_timeout=server_timeout)
        answer = await self._json(request, timeouts, retries, opaque_id)
        try:
            return parse_inference(answer)
        except _Shape as exc:
            raise _unexpected(request, answer, str(exc)) from None

    # --- fan-out ------------------------------------------------------------------------------

    def as_completed(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> AsCompleted[str, CompletionResult]:
        """Complete many prompts at once; iterate ``(index, result or error)`` as each ends.

        At most ``concurrency`` calls run at a time (and never more than the client's
        connection limit, shared by all its calls); a 429 cools the whole client down.
        Errors are yielded, not raised. Use it with ``async with`` so that leaving early
        cancels the calls still running::

            async with client.as_completed("my-endpoint", prompts) as results:
                async for index, result in results:
                    ...

        Raises:
            InvalidRequestError: ``concurrency`` is not a positive int.
        """
        self._check_open()

        async def call(prompt: str) -> CompletionResult:
            return await self.completion(
                inference_id,
                prompt,
                task_settings=task_settings,
                timeouts=timeouts,
                retries=retries,
            )

        return AsCompleted(call, inputs, concurrency)

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: Literal[False] = False,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult]: ...

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: Literal[True],
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult | BaseException]: ...

    @overload
    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: bool,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult | BaseException]: ...

    async def map_completions(
        self,
        inference_id: str,
        inputs: Iterable[str],
        *,
        concurrency: int = 16,
        return_exceptions: bool = False,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
    ) -> list[CompletionResult] | list[CompletionResult | BaseException]:
        """Complete many prompts at once; the results come back in input order.

        The list holds only results (``list[CompletionResult]``), unless
        ``return_exceptions=True`` lets errors take their input's place.

        Raises:
            AsyncInferError: The first error, unless ``return_exceptions`` (then errors take
                their input's place in the list); the calls still running are cancelled.
        """
        self._check_open()
        return await map_results(
            lambda prompt: self.completion(
                inference_id,
                prompt,
                task_settings=task_settings,
                timeouts=timeouts,
                retries=retries,
            ),
            inputs,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
        )

    # --- endpoint management ----------------------------------------------------------------

    async def put_endpoint(
        self,
        task_type: str,
        inference_id: str,
        *,
        service: str,
        service_settings: Mapping[str, Any],
        task_settings: Mapping[str, Any] | None = None,
        chunking_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EndpointInfo:
        """Create an inference endpoint: ``PUT /_inference/{task_type}/{inference_id}``.

        Raises:
            ApiError: Elasticsearch refused it (``BadRequestError`` if it exists).
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = put_endpoint_request(
            task_type,
            inference_id,
            service=service,
            service_settings=service_settings,
            task_settings=task_settings,
            chunking_settings=chunking_settings,
            server_timeout=server_timeout,
        )
        return _parse(
            EndpointInfo._from, request, await self._json(request, timeouts, retries, opaque_id)
        )

    async def get_endpoints(
        self,
        task_type: str | None = None,
        inference_id: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> list[EndpointInfo]:
        """List endpoints, all or by task type, or get one: ``GET /_inference[...]``.

        Raises:
            NotFoundError: No endpoint with that id.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = get_endpoints_request(task_type, inference_id)
        body = await self._json(request, timeouts, retries, opaque_id)
        return _parse(
            lambda b: [EndpointInfo._from(e) for e in _field(b, "endpoints", list)], request, body
        )

    async def delete_endpoint(
        self,
        inference_id: str,
        *,
        task_type: str | None = None,
        dry_run: bool = False,
        force: bool = False,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> DeleteEndpointResult:
        """Delete an endpoint: ``DELETE /_inference/[{task_type}/]{inference_id}``.

        Args:
            dry_run: Only list the pipelines and indices that use it.
            force: Delete even if pipelines use it.

        Raises:
            BadRequestError: Pipelines use it and ``force`` is false.
            AsyncInferError: The other errors of :meth:`completion`.
        """
        request = delete_endpoint_request(
            inference_id, task_type=task_type, dry_run=dry_run, force=force
        )
        return _parse(
            DeleteEndpointResult._from,
            request,
            await self._json(request, timeouts, retries, opaque_id),
        )

    async def update_endpoint(
        self,
        inference_id: str,
        *,
        task_type: str | None = None,
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> EndpointInfo:
        """Change an endpoint's settings: ``PUT /_inference/[{task_type}/]{id}/_update`` (8.17+).

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = update_endpoint_request(
            inference_id,
            task_type=task_type,
            service_settings=service_settings,
            task_settings=task_settings,
        )
        return _parse(
            EndpointInfo._from, request, await self._json(request, timeouts, retries, opaque_id)
        )

    async def get_services(
        self,
        task_type: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        retries: RetryPolicy | int | None = None,
        opaque_id: str | None = None,
    ) -> list[ServiceInfo]:
        """The service catalogue: ``GET /_inference/_services[/{task_type}]``.

        Raises:
            AsyncInferError: The errors of :meth:`completion`.
        """
        request = get_services_request(task_type)
        body = await self._json(request, timeouts, retries, opaque_id)
        if not isinstance(body, list):
            raise _unexpected(request, body, "expected a JSON array")
        return _parse(lambda b: [ServiceInfo._from(s) for s in b], request, body)


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


def _with_opaque_id(request: Request, opaque_id: str | None) -> Request:
    if opaque_id is None:
        return request
    if not isinstance(opaque_id, str):
        raise InvalidTypeError(f"opaque_id must be a string, got {type(opaque_id).__name__}")
    return attrs.evolve(request, headers={**request.headers, "x-opaque-id": opaque_id})


def _typed(value: Any, kind: Any, name: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidTypeError(f"{name} has the wrong type: {type(value).__name__}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{name} must be a number, got {value!r}")
    return value


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise InvalidRequestError(
                f"tool_choice must be 'auto', 'none', 'required' or a function, got {value!r}"
            )
        return value
    if isinstance(value, Mapping):
        function = value.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidRequestError("tool_choice needs function.name")
        return {"type": value.get("type", "function"), "function": dict(function)}
    raise InvalidRequestError(f"tool_choice must be a string or a mapping, got {value!r}")


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _field(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise _Shape(f"missing {key!r}")
    return body[key]


def _unexpected(request: Request, body: Any, why: str) -> UnexpectedResponseError:
    text = repr(body)
    return UnexpectedResponseError(
        f"unexpected answer from {request.endpoint}: {why}: {text[:200]}",
        status=200,
        content_type="application/json",
        body=text[:4096],
    )


def _parse(build: Callable[[Any], _R], request: Request, body: Any) -> _R:
    try:
        return build(body)
    except _Shape as exc:
        raise _unexpected(request, body, str(exc)) from None
