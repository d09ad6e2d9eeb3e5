"""InferenceClient: the public facade, one method per Inference API call."""

from __future__ import annotations

import base64
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import DEFAULT_MAX_EVENT_BYTES, DEFAULT_READ_BUFSIZE, Timeouts
from ._exceptions import ClientClosedError, InvalidRequestError, UnexpectedResponseError
from ._exchange import request_json
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
from ._protocol import (
    Request,
    chat_stream_request,
    delete_endpoint_request,
    get_endpoints_request,
    get_services_request,
    inference_request,
    put_endpoint_request,
    stream_completion_request,
    string_inputs,
    update_endpoint_request,
)
from ._stream import ChatCompletionStream, CompletionStream, _EventStream
from ._transport import Transport, user_agent

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
        self._streams: weakref.WeakSet[_EventStream[Any]] = weakref.WeakSet()

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
            request,
            inference_id=inference_id,
            timeouts=timeouts or self.timeouts,
            max_event_bytes=self._max_event_bytes,
        )
        self._streams.add(stream)
        return stream

    # --- non-streaming inference ------------------------------------------------------------

    async def _json(self, request: Request, timeouts: Timeouts | None) -> Any:
        self._check_open()
        return await request_json(self._transport, request, timeouts or self.timeouts)

    async def _result(self, kind: type[_R], request: Request, timeouts: Timeouts | None) -> _R:
        body = await self._json(request, timeouts)
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
        return await self._result(CompletionResult, request, timeouts)

    async def text_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        input_type: str | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
    ) -> TextEmbeddingResult:
        """Dense vectors: ``POST /_inference/text_embedding/{inference_id}``.

        Args:
            input_type: ``"ingest"``, ``"search"``, ``"classification"`` or ``"clustering"``.

        Raises:
            The errors of :meth:`completion`.
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
        return await self._result(TextEmbeddingResult, request, timeouts)

    async def sparse_embedding(
        self,
        inference_id: str,
        inputs: str | Sequence[str],
        *,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
    ) -> SparseEmbeddingResult:
        """Sparse vectors (token → weight): ``POST /_inference/sparse_embedding/{inference_id}``.

        Raises:
            The errors of :meth:`completion`.
        """
        body = _body(input=string_inputs(inputs, "inputs"), task_settings=task_settings)
        request = inference_request(
            "sparse_embedding", inference_id, body, server_timeout=server_timeout
        )
        return await self._result(SparseEmbeddingResult, request, timeouts)

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
    ) -> RerankResult:
        """Order ``documents`` by relevance to ``query``: ``POST /_inference/rerank/{id}``.

        Raises:
            The errors of :meth:`completion`.
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
        return await self._result(RerankResult, request, timeouts)

    async def inference(
        self,
        task_type: str | None,
        inference_id: str,
        *,
        timeouts: Timeouts | None = None,
        server_timeout: str | float | None = None,
        **body: Any,
    ) -> InferenceResult:
        """Any non-streaming inference: ``POST /_inference/[{task_type}/]{inference_id}``.

        ``body`` is sent as the JSON body (``input=...``, ``query=...``, ...); the result is
        typed by what the answer holds.

        Raises:
            The errors of :meth:`completion`.
        """
        request = inference_request(task_type, inference_id, body, server_timeout=server_timeout)
        answer = await self._json(request, timeouts)
        try:
            return parse_inference(answer)
        except _Shape as exc:
            raise _unexpected(request, answer, str(exc)) from None

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
    ) -> EndpointInfo:
        """Create an inference endpoint: ``PUT /_inference/{task_type}/{inference_id}``.

        Raises:
            The errors of :meth:`completion` (e.g. ``BadRequestError`` if it exists).
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
        return _parse(EndpointInfo._from, request, await self._json(request, timeouts))

    async def get_endpoints(
        self,
        task_type: str | None = None,
        inference_id: str | None = None,
        *,
        timeouts: Timeouts | None = None,
    ) -> list[EndpointInfo]:
        """List endpoints, all or by task type, or get one: ``GET /_inference[...]``.

        Raises:
            NotFoundError: No endpoint with that id.
            The other errors of :meth:`completion`.
        """
        request = get_endpoints_request(task_type, inference_id)
        body = await self._json(request, timeouts)
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
    ) -> DeleteEndpointResult:
        """Delete an endpoint: ``DELETE /_inference/[{task_type}/]{inference_id}``.

        Args:
            dry_run: Only list the pipelines and indices that use it.
            force: Delete even if pipelines use it.

        Raises:
            BadRequestError: Pipelines use it and ``force`` is false.
            The other errors of :meth:`completion`.
        """
        request = delete_endpoint_request(
            inference_id, task_type=task_type, dry_run=dry_run, force=force
        )
        return _parse(DeleteEndpointResult._from, request, await self._json(request, timeouts))

    async def update_endpoint(
        self,
        inference_id: str,
        *,
        task_type: str | None = None,
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
    ) -> EndpointInfo:
        """Change an endpoint's settings: ``PUT /_inference/[{task_type}/]{id}/_update`` (8.17+).

        Raises:
            The errors of :meth:`completion`.
        """
        request = update_endpoint_request(
            inference_id,
            task_type=task_type,
            service_settings=service_settings,
            task_settings=task_settings,
        )
        return _parse(EndpointInfo._from, request, await self._json(request, timeouts))

    async def get_services(
        self, task_type: str | None = None, *, timeouts: Timeouts | None = None
    ) -> list[ServiceInfo]:
        """The service catalogue: ``GET /_inference/_services[/{task_type}]``.

        Raises:
            The errors of :meth:`completion`.
        """
        request = get_services_request(task_type)
        body = await self._json(request, timeouts)
        if not isinstance(body, list):
            raise _unexpected(request, body, "expected a JSON array")
        return _parse(lambda b: [ServiceInfo._from(s) for s in b], request, body)


def _typed(value: Any, kind: Any, name: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidRequestError(f"{name} has the wrong type: {type(value).__name__}")
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
