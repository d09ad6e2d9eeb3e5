"""The client a command talks through: to ``--url``/``--cloud-id``, or to the built-in emulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncinfer

from .errors import CliUsageError
from .output import Console

if TYPE_CHECKING:
    from asyncinfer.testing import ElasticsearchEmulator

# The endpoints of the built-in emulator (and of `serve`), by task type: the names README.md and
# docs/ use (ElasticsearchEmulator.add_docs_endpoints), so that their examples run as pasted.
DEMO_ENDPOINTS = {
    "completion": "my-endpoint",
    "chat_completion": "my-chat",
    "text_embedding": "my-embeddings",
    "sparse_embedding": "my-elser",
    "rerank": "my-reranker",
    "embedding": "my-multimodal",
}
# The newest release the emulator reproduces: the docs show its APIs (embedding 9.4,
# region policy 9.5, non-streaming chat 9.6). ElasticsearchEmulator itself defaults to 9.2.0.
DEMO_ES_VERSION = "9.6.0"
# Slow enough that a person sees the answer arrive token by token (~25 events/s).
DEMO_EVENT_DELAY_S = 0.04
DEMO_ANSWER_TOKENS = 60

log = logging.getLogger("asyncinfer.cli")


def check_connection(args: argparse.Namespace) -> None:
    """Usage errors about the connection, found before any I/O."""
    if args.cloud_id is not None and args.url:
        raise CliUsageError("give --url or --cloud-id, not both")
    # Commands that take -i need it, unless the emulator answers with its demo endpoints.
    if (args.url or args.cloud_id) and getattr(args, "inference_id", "-") is None:
        raise CliUsageError("give the inference endpoint with -i or ASYNCINFER_INFERENCE_ID")


def add_demo_endpoints(emulator: ElasticsearchEmulator, event_delay: float | None) -> None:
    """The docs' endpoint of every task type the emulator's Elasticsearch version knows;
    ``event_delay`` applies to the streaming ones."""
    emulator.add_docs_endpoints(event_delay=event_delay, answer_tokens=DEMO_ANSWER_TOKENS)


def _client(args: argparse.Namespace) -> asyncinfer.InferenceClient:
    if args.cloud_id:
        return asyncinfer.InferenceClient(
            cloud_id=args.cloud_id, api_key=args.api_key, retries=args.retries
        )
    return asyncinfer.InferenceClient(args.url, api_key=args.api_key, retries=args.retries)


@contextlib.asynccontextmanager
async def connect(
    args: argparse.Namespace, console: Console, task_type: str | None = None
) -> AsyncIterator[tuple[asyncinfer.InferenceClient, str]]:
    """A client, and the inference id to use for ``task_type``."""
    inference_id: str | None = getattr(args, "inference_id", None)
    if args.url or args.cloud_id:
        async with _client(args) as client:
            log.debug("connecting to %s", client.url)
            yield client, inference_id or ""
        return
    from asyncinfer.testing import ElasticsearchEmulator  # aiohttp.web only when needed

    async with ElasticsearchEmulator(version=DEMO_ES_VERSION) as emulator:
        add_demo_endpoints(emulator, DEMO_EVENT_DELAY_S)
        inference_id = inference_id or DEMO_ENDPOINTS.get(task_type or "", "")
        which = f" (endpoint {inference_id!r})" if task_type is not None else ""
        console.note(
            f"ELASTICSEARCH_URL is not set: answering from the built-in emulator at "
            f"{emulator.url}{which}"
        )
        async with asyncinfer.InferenceClient(emulator.url) as client:
            yield client, inference_id
