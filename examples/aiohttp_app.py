"""Relay a streaming completion to the browser, with aiohttp.web.

``GET /`` serves a small page; ``GET /stream?prompt=...`` answers with Server-Sent Events
(``text/event-stream``) that the page reads with ``EventSource``: one ``token`` event per piece
of text, then ``done``, or one ``error``. When the browser goes away, the upstream request to
Elasticsearch is closed at once, so the provider stops generating.

Run it (with no ``ELASTICSEARCH_URL`` set, a built-in Elasticsearch emulator answers)::

    python examples/aiohttp_app.py --port 8080

    ELASTICSEARCH_URL=https://... ELASTICSEARCH_API_KEY=... ASYNCINFER_INFERENCE_ID=my-endpoint \\
        python examples/aiohttp_app.py
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator

PAGE = Path(__file__).parent / "static" / "index.html"

DEMO_ENDPOINT = "my-endpoint"  # the name the docs use
# Slow enough that a person sees the answer arrive token by token (as `asyncinfer stream`).
DEMO_EVENT_DELAY_S = 0.04

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    # Neither the browser nor a proxy may cache or replay an answer.
    "Cache-Control": "no-cache",
    # nginx buffers responses by default; each event must reach the browser when it is sent.
    "X-Accel-Buffering": "no",
}

CLIENT = web.AppKey("client", asyncinfer.InferenceClient)
INFERENCE_ID = web.AppKey("inference_id", str)

logger = logging.getLogger(__name__)


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


async def page(request: web.Request) -> web.FileResponse:
    """``GET /``: the page."""
    return web.FileResponse(PAGE)


async def stream(request: web.Request) -> web.StreamResponse:
    """``GET /stream?prompt=...``: the completion, as Server-Sent Events."""
    prompt = request.query.get("prompt", "")
    if not prompt.strip():
        raise web.HTTPBadRequest(text="give a prompt: /stream?prompt=...")
    completion = request.app[CLIENT].stream_completion(request.app[INFERENCE_ID], prompt)
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    # sse() turns every outcome into events (errors included) and closes the upstream stream
    # when it ends. A browser that goes away cancels this handler (handler_cancellation=True
    # below), and the `finally` closes the upstream connection at once, even while
    # Elasticsearch is silent or this handler was in the middle of a write.
    try:
        async for event in completion.sse():
            await response.write(event)
        await response.write_eof()
    except ConnectionResetError:
        # Without handler_cancellation, a browser that went away shows up here, at the next
        # write: after the next token, however long that takes.
        pass
    finally:
        await completion.aclose()
    return response


def create_app(
    elasticsearch_url: str | None, inference_id: str | None, *, api_key: str | None = None
) -> web.Application:
    """The app; the client is created at startup and closed at cleanup.

    Serve it with ``handler_cancellation=True`` (``web.run_app`` or ``web.AppRunner``), so that
    a browser that goes away cancels its handler, which closes the upstream stream at once.

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

    async def client_context(app: web.Application) -> AsyncIterator[None]:
        async with connect(elasticsearch_url, endpoint, api_key) as client:
            app[CLIENT] = client
            yield

    app = web.Application()
    app[INFERENCE_ID] = endpoint
    app.cleanup_ctx.append(client_context)
    app.router.add_get("/", page)
    app.router.add_get("/stream", stream)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Relay a streaming completion to the browser.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    app = create_app(
        os.environ.get("ELASTICSEARCH_URL"),
        os.environ.get("ASYNCINFER_INFERENCE_ID"),
        api_key=os.environ.get("ELASTICSEARCH_API_KEY"),
    )
    web.run_app(app, host=args.host, port=args.port, handler_cancellation=True)


if __name__ == "__main__":
    main()
