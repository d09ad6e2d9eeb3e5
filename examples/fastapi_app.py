"""Relay a streaming completion to the browser, with FastAPI (any ASGI framework works alike).

``GET /`` serves a small page; ``GET /stream?prompt=...`` answers with Server-Sent Events
(``text/event-stream``) that the page reads with ``EventSource``: one ``token`` event per piece
of text, then ``done``, or one ``error``. When the browser goes away, the upstream request to
Elasticsearch is closed at once, so the provider stops generating.

Run it from the repository's root (with no ``ELASTICSEARCH_URL`` set, a built-in Elasticsearch
emulator answers)::

    uvicorn examples.fastapi_app:app --port 8000

    ELASTICSEARCH_URL=https://... ELASTICSEARCH_API_KEY=... ASYNCINFER_INFERENCE_ID=my-endpoint \\
        uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, TypedDict

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator

PAGE = Path(__file__).parent / "static" / "index.html"

DEMO_ENDPOINT = "my-endpoint"  # the name the docs use
# Slow enough that a person sees the answer arrive token by token (as `asyncinfer stream`).
DEMO_EVENT_DELAY_S = 0.04

SSE_HEADERS = {
    # Neither the browser nor a proxy may cache or replay an answer.
    "Cache-Control": "no-cache",
    # nginx buffers responses by default; each event must reach the browser when it is sent.
    "X-Accel-Buffering": "no",
}

logger = logging.getLogger(__name__)


class State(TypedDict):
    """What the lifespan gives every request (``request.state``)."""

    client: asyncinfer.InferenceClient


@contextlib.asynccontextmanager
async def connect(
    elasticsearch_url: str | None, inference_id: str, api_key: str | None
) -> AsyncIterator[asyncinfer.InferenceClient]:
    """A client of ``elasticsearch_url``, or of a built-in emulator when it is None."""
    if elasticsearch_url:
        async with asyncinfer.InferenceClient(elasticsearch_url, api_key=api_key) as client:
            yield client
        return
    async with ElasticsearchEmulator(event_delay=DEMO_EVENT_DELAY_S) as emulator:
        emulator.add_endpoint(inference_id, "completion", answer_tokens=60)
        logger.warning(
            "no ELASTICSEARCH_URL set; answering from the built-in emulator at %s (endpoint %r)",
            emulator.url,
            inference_id,
        )
        async with asyncinfer.InferenceClient(emulator.url) as client:
            yield client


def create_app(
    elasticsearch_url: str | None, inference_id: str | None, *, api_key: str | None = None
) -> FastAPI:
    """The app; the client is created at startup and closed at shutdown (the lifespan).

    Args:
        elasticsearch_url: Elasticsearch's URL; None starts a built-in emulator.
        inference_id: The completion endpoint; required with a URL (the emulator's is
            ``my-endpoint`` by default).
        api_key: An Elasticsearch API key.

    Raises:
        ValueError: A URL without an inference id.
    """
    if elasticsearch_url and not inference_id:
        raise ValueError("give the completion endpoint to use (ASYNCINFER_INFERENCE_ID)")
    endpoint = inference_id or DEMO_ENDPOINT

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with connect(elasticsearch_url, endpoint, api_key) as client:
            yield {"client": client}

    app = FastAPI(title="asyncinfer streaming example", lifespan=lifespan)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(PAGE)

    @app.get("/stream")
    async def stream(
        request: Request, prompt: Annotated[str, Query(min_length=1)]
    ) -> StreamingResponse:
        client: asyncinfer.InferenceClient = request.state.client
        completion = client.stream_completion(endpoint, prompt)
        # sse() turns every outcome into events (errors included) and closes the upstream
        # stream however it ends. When the browser goes away, Starlette cancels the response
        # (it listens for http.disconnect), which closes the upstream connection at once, even
        # while Elasticsearch is silent.
        return StreamingResponse(
            completion.sse(), media_type="text/event-stream", headers=SSE_HEADERS
        )

    return app


app = create_app(
    os.environ.get("ELASTICSEARCH_URL"),
    os.environ.get("ASYNCINFER_INFERENCE_ID"),
    api_key=os.environ.get("ELASTICSEARCH_API_KEY"),
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
