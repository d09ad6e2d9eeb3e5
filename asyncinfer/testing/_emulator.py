"""An in-process Elasticsearch emulator that reproduces the Inference API's bytes.

Section numbers (§) refer to ``/work/shared/spec/es-inference-wire.md``. Strings marked "ES
source" were read in ``elastic/elasticsearch``; the report that accompanies this module lists
them. The emulator answers like Elasticsearch 9.2 by default (8.18+ body parsing in the proxy
action, so parse and validation errors on ``_stream`` are SSE-formatted, §5.2); ``version=``
picks another release, whose differences ``_versions`` lists.

How a request travels, mirroring ES's layers so that errors come out in ES's order:

1. HTTP layer: compatible-with header rules (§2.2) -> plain JSON 400.
2. RestController: routing (400 ``no handler found``/405), Content-Type check (406).
3. REST handler: path params, required body, ``timeout`` parsing, unknown query params -> JSON.
4. Inference proxy/transport action: body parsing, validation, endpoint lookup, task type and
   streaming checks -> on ``_stream`` an SSE ``event: error`` with the real status (§5.2).
5. The "provider": the deterministic model (``_registry``), shaped by scripted :class:`Fault` s.

Routes (the table in ``_routes``; one handler each; ``_versions`` says which a release has):

- ``GET /``; ``GET _inference[/_all|/{id}|/{task_type}/{id}|/{task_type}/_all]`` (§7.2).
- ``PUT _inference[/{task_type}]/{id}`` (§7.1; the task type may come in the body),
  ``PUT _inference[/{task_type}]/{id}/_update`` (§7.4; 8.17+), ``DELETE
  _inference[/{task_type}]/{id}[?dry_run][&force]`` (§7.3), ``GET
  _inference/_services[/{task_type}]`` (§7.5; 8.18+). Known services: ``cohere``, ``elastic``,
  ``elasticsearch``, ``elser``, ``emulator``, ``hugging_face``, ``openai`` (``_services``).
- ``POST _inference[/{task_type}]/{id}`` (§6): completion, text_embedding (float, byte, bit),
  sparse_embedding, rerank (9.5: query and inputs as objects), embedding (9.4: content
  objects); chat_completion answers as one ``chat.completion`` object on 9.6 and is refused
  ("only supports streaming", §4.4) before.
- ``POST _inference[/{task_type}]/{id}/_stream`` (§4): completion deltas, or OpenAI-like
  chat chunks (tool calls; 9.4+ content parts, reasoning and usage details) when the endpoint
  or URL is ``chat_completion``.
- ``PUT|GET|DELETE _inference/_region_policy`` (9.5+).

Modules, one job each: ``_http`` (server, dispatch, routing, product header), ``_media_types``
(§2.2 header rules), ``_exchange`` (the recorded request and handler context), ``_responses``
(senders, fault-shaped streams), ``_faults`` (:class:`Fault` and its rules), ``_registry``
(endpoints and deterministic answers), ``_versions`` (what each release does differently),
``_request_body`` (strict body parsing); handlers per API family in ``_streaming``,
``_inference``, ``_inference_routes``, ``_chat_completion``, ``_management`` and
``_region_policy``; request parsers and models in ``_es_models``, ``_es_bodies``,
``_chat_parts``, ``_chat_reasoning`` and ``_object_parser``; the service catalogue in
``_services``; error bodies in ``_es_errors``. This module is only the public face.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ._es_models import (
    _TASK_TYPES,
    _embedding,
)
from ._exchange import (
    RecordedRequest,
)
from ._faults import (
    Fault,
)
from ._http import (
    _Server,
)
from ._registry import (
    _DEFAULT_ANSWER_TOKENS,
    _DEFAULT_DELTAS_PER_EVENT,
    _chat_contents,
    _embedding_settings,
    _Endpoint,
    _events,
    _input_text,
)
from ._routes import (
    _ROUTES,
)
from ._wire import (
    _DONE_EVENT,
    _POLL_INTERVAL_S,
)

__all__ = ["ElasticsearchEmulator", "Fault", "RecordedRequest"]

# The endpoints README.md and docs/ use, as (inference_id, task_type, service_settings), so that
# their examples run as pasted against `asyncinfer serve`. text_embedding states its dimensions
# so that GET shows them, as a real dense endpoint's settings do.
_DOCS_ENDPOINTS: tuple[tuple[str, str, Mapping[str, Any] | None], ...] = (
    ("my-endpoint", "completion", None),
    ("my-chat", "chat_completion", None),
    ("my-embeddings", "text_embedding", {"model_id": "emulator", "dimensions": 8}),
    ("my-elser", "sparse_embedding", None),
    ("my-reranker", "rerank", None),
    ("my-multimodal", "embedding", None),
)


class ElasticsearchEmulator:
    """An aiohttp.web server on loopback that answers like Elasticsearch 9.x's Inference API.

    Use it as an async context manager on the test's loop, or :meth:`in_thread` for tests
    that run elsewhere (the ``es_emulator`` pytest fixture does). Endpoints come from
    :meth:`add_endpoint` or from ``PUT _inference/...`` and share one registry. They answer
    with a deterministic model whose results tests can predict: :meth:`answer_for` (completion
    deltas), :meth:`chat_answer_for` (chat chunk contents), :meth:`embedding_for` (dense
    vectors). :meth:`add_fault` scripts failures; :meth:`add_pipeline_reference` makes an
    endpoint "in use" for DELETE.

    Example::

        async with ElasticsearchEmulator() as es:
            es.add_endpoint("my-endpoint", "completion")
            ...  # point a client at es.url
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        event_delay: float = 0.0,
        version: str = "9.2.0",
        api_key: str | None = None,
    ) -> None:
        """Configure the emulator; nothing is bound until :meth:`start`.

        Args:
            host: the address to bind.
            port: the port to bind; 0 picks a free one.
            event_delay: default seconds between events of every stream.
            version: the Elasticsearch release to reproduce, 8.16.0 or later: what ``GET /``
                reports, the ``compatible-with`` versions accepted (major and major - 1), and
                what changed between releases (routes, task types, error bodies; see
                docs/testing.md, "Versions").
            api_key: when set, every request whose ``Authorization`` header is not
                ``ApiKey <api_key>`` gets Elasticsearch's 401 ``security_exception`` (missing
                or invalid credentials), so clients can test their auth handling.

        Raises:
            ValueError: a negative event_delay, or a version that is not ``X.Y.Z`` or is older
                than 8.16.0.
        """
        if event_delay < 0:
            raise ValueError(f"event_delay must be >= 0, got {event_delay!r}")
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise ValueError(f"version must look like '9.2.0', got {version!r}")
        self._server = _Server(
            host=host,
            port=port,
            event_delay=event_delay,
            version=version,
            routes=_ROUTES,
            api_key=api_key,
        )
        # The server's own list, so requests recorded by handlers show here at once.
        self.requests: list[RecordedRequest] = self._server.requests
        """Every request received, in arrival order."""

    # -- lifecycle --

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: the emulator is already running.
            OSError: the address cannot be bound.
        """
        await self._server.start()

    async def close(self) -> None:
        """Stop serving: end every response (stalled ones included) and close connections.

        Idempotent.
        """
        await self._server.close()

    async def __aenter__(self) -> ElasticsearchEmulator:
        """Start the emulator; see :meth:`start`."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the emulator; see :meth:`close`."""
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        event_delay: float = 0.0,
        version: str = "9.2.0",
    ) -> Iterator[ElasticsearchEmulator]:
        """Run an emulator on its own event loop in a daemon thread (a sync context manager).

        For tests whose code runs in another loop or none: endpoints, faults and
        ``requests`` can be used from the calling thread. Arguments are as for the
        constructor.

        Raises:
            OSError: the address cannot be bound.
        """
        emulator = cls(host=host, port=port, event_delay=event_delay, version=version)
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                # Nothing may outlive the loop: leftovers would be "destroyed but pending".
                leftovers = asyncio.all_tasks(loop)
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="asyncinfer-es-emulator", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(emulator.start(), loop).result()
            try:
                yield emulator
            finally:
                asyncio.run_coroutine_threadsafe(emulator.close(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: the emulator has not been started.
        """
        if self._server.url is None:
            raise RuntimeError("the emulator has not been started")
        return self._server.url

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        """``(task_type, inference_id)`` of every endpoint, sorted by id (for start-up banners).

        Raises:
            Nothing: an empty registry gives an empty list.
        """
        return [(e.task_type, e.inference_id) for e in self._server.registry.all()]

    @property
    def open_connections(self) -> int:
        """TCP connections currently open on the server side."""
        return self._server.open_connections

    async def wait_for_connections(self, n: int = 0, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until exactly ``n`` connections are open (works from any loop).

        Raises:
            TimeoutError: the count is still different after ``timeout`` seconds; the message
                names the count.
        """
        deadline = time.monotonic() + timeout
        while (count := self.open_connections) != n:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {n} open connection(s), still {count} after {timeout}s"
                )
            await asyncio.sleep(_POLL_INTERVAL_S)

    # -- configuration --

    def add_endpoint(
        self,
        inference_id: str,
        task_type: str = "completion",
        *,
        service: str = "emulator",
        service_settings: Mapping[str, Any] | None = None,
        task_settings: Mapping[str, Any] | None = None,
        answer: str | Sequence[str] | Callable[[str], Sequence[str]] | None = None,
        answer_tokens: int = _DEFAULT_ANSWER_TOKENS,
        deltas_per_event: int = _DEFAULT_DELTAS_PER_EVENT,
        event_delay: float | None = None,
        streaming: bool = True,
    ) -> None:
        """Create (or replace) an inference endpoint.

        Args:
            inference_id: the endpoint id.
            task_type: one of ES's task types (``completion``, ``text_embedding``, ...).
            service: the service name shown by GET and in error messages.
            service_settings: shown by GET; defaults to ``{"model_id": "emulator"}``.
            task_settings: shown by GET when non-empty.
            answer: the deltas to stream: a string (split into words), a sequence of deltas,
                or a callable from the input text to deltas (a lazy sequence is fine). None
                uses the deterministic model (:meth:`answer_for`).
            answer_tokens: how many tokens the deterministic model produces.
            deltas_per_event: the most deltas one event carries; event sizes cycle
                1..deltas_per_event.
            event_delay: seconds between events for this endpoint.
            streaming: False makes the provider non-streaming: one ``result`` event, then
                ``[DONE]`` (§3.2).

        Raises:
            ValueError: an empty id, a task type unknown (to this version), or a bad count or
                delay.
        """
        if not inference_id:
            raise ValueError("inference_id must not be empty")
        if task_type not in _TASK_TYPES or task_type == "any":
            raise ValueError(f"unknown task_type {task_type!r}")
        profile = self._server.profile
        if task_type not in profile.task_types:
            raise ValueError(
                f"Elasticsearch {profile.version} has no task type {task_type!r} (it came in "
                f"{profile.since(task_type)})"
            )
        if answer_tokens < 0 or deltas_per_event < 1:
            raise ValueError("answer_tokens must be >= 0 and deltas_per_event >= 1")
        if event_delay is not None and event_delay < 0:
            raise ValueError(f"event_delay must be >= 0, got {event_delay!r}")
        endpoint = _Endpoint(
            inference_id=inference_id,
            task_type=task_type,
            service=service,
            service_settings=dict(
                service_settings if service_settings is not None else {"model_id": "emulator"}
            ),
            task_settings=dict(task_settings or {}),
            answer=answer,
            answer_tokens=answer_tokens,
            deltas_per_event=deltas_per_event,
            event_delay=event_delay,
            streaming=streaming,
        )
        self._server.registry.put(endpoint)

    def add_docs_endpoints(
        self, *, event_delay: float | None = None, answer_tokens: int = _DEFAULT_ANSWER_TOKENS
    ) -> list[str]:
        """Create the endpoints asyncinfer's documentation uses; returns the ids created.

        ``my-endpoint`` (completion), ``my-chat`` (chat_completion), ``my-embeddings``
        (text_embedding, 8 dimensions), ``my-elser`` (sparse_embedding), ``my-reranker``
        (rerank) and ``my-multimodal`` (embedding), each but the task types this version
        lacks (chat_completion before 8.18, embedding before 9.4). ``asyncinfer serve`` and
        the command line's built-in emulator start with them; a new emulator has none.

        Args:
            event_delay: seconds between events, for the streaming ones (completion and
                chat_completion).
            answer_tokens: as for :meth:`add_endpoint`.

        Raises:
            ValueError: a negative event_delay or answer_tokens.
        """
        profile = self._server.profile
        created = []
        for inference_id, task_type, service_settings in _DOCS_ENDPOINTS:
            if task_type not in profile.task_types:
                continue  # e.g. chat_completion on 8.16: the version has no such endpoint
            streams = task_type in ("completion", "chat_completion")
            self.add_endpoint(
                inference_id,
                task_type,
                service_settings=service_settings,
                answer_tokens=answer_tokens,
                event_delay=event_delay if streams else None,
            )
            created.append(inference_id)
        return created

    def remove_endpoint(self, inference_id: str) -> None:
        """Delete an endpoint.

        Raises:
            KeyError: no endpoint has this id.
        """
        self._server.registry.remove(inference_id)

    def add_fault(
        self, fault: Fault, *, inference_id: str | None = None, times: int | None = 1
    ) -> None:
        """Script ``fault`` for the next ``times`` matching requests (None: every one).

        A request matches when ``inference_id`` is None or names its endpoint. Faults apply
        to ``/_inference`` requests that passed ES's own checks (where the provider would be
        called) and are consumed in the order they were added, one per request.

        Raises:
            ValueError: times is below 1.
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        self._server.faults.add(fault, inference_id, times)

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        self._server.faults.clear()

    def answer_for(self, inference_id: str, input: str | Sequence[str]) -> list[str]:
        """The deltas the endpoint streams for ``input``, after the initial empty delta.

        Deterministic: the same input gives the same answer on every machine.

        Raises:
            KeyError: no endpoint has this id.
        """
        endpoint = self._server.registry.lookup(inference_id)
        deltas = endpoint.deltas(_input_text(input))
        return [deltas[i] for i in range(len(deltas))]

    def stream_body_for(self, inference_id: str, input: str | Sequence[str]) -> bytes:
        """The exact ``_stream`` response body the endpoint sends for ``input`` (no faults).

        Raises:
            KeyError: no endpoint has this id.
        """
        endpoint = self._server.registry.lookup(inference_id)
        return b"".join(_events(endpoint, _input_text(input))) + _DONE_EVENT

    def add_pipeline_reference(self, inference_id: str, pipeline_id: str) -> None:
        """Make an ingest pipeline reference ``inference_id`` (as an inference processor would).

        A referenced endpoint cannot be deleted without ``force=true``; ``dry_run=true`` lists
        the pipeline (§7.3). References outlive the endpoint, as pipelines do in ES; the
        endpoint need not exist yet.
        """
        self._server.registry.add_pipeline(inference_id, pipeline_id)

    def embedding_for(self, inference_id: str, text: str) -> list[float] | list[int]:
        """The vector a ``text_embedding`` endpoint returns for ``text`` (exactly, as sent).

        ``service_settings.dimensions`` (default 8) sets the length and
        ``service_settings.element_type`` the kind: ``float`` (default; values in [-1, 1)
        rounded to 6 decimals), ``byte`` (ints -128..127) or ``bit`` (``dimensions / 8``
        signed bytes of packed bits). Deterministic: SHA-256 of the endpoint id and the text.

        Raises:
            KeyError: no endpoint has this id.
        """
        endpoint = self._server.registry.lookup(inference_id)
        dimensions, element_type = _embedding_settings(endpoint)
        values: list[Any] = _embedding(inference_id, text, dimensions, element_type)
        return values

    def chat_answer_for(
        self, inference_id: str, messages: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """The ``content`` of each content chunk a chat stream sends for ``messages``.

        The answer is the endpoint's (as :meth:`answer_for`) for the text of the last ``user``
        message (string content, or its parts' ``text`` joined by newlines); its deltas are
        grouped into chunks as completion streams group them into events. When the request
        would make the model call a tool (see the chat stream's rules) no content chunks are
        sent and this list is not what streams.

        Raises:
            KeyError: no endpoint has this id.
        """
        endpoint = self._server.registry.lookup(inference_id)
        return _chat_contents(endpoint, messages)
