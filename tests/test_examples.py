"""The web examples (examples/): a completion relayed to a browser with ``stream.sse()``.

Each app runs on a real loopback port (aiohttp.web's AppRunner, or uvicorn in-process) against
the in-loop emulator. The last test drives the example page in headless Chromium over the
Chrome DevTools Protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
import uvicorn
from aiohttp import web

from asyncinfer.sse import ServerSentEvent, SSEDecoder
from asyncinfer.testing import ElasticsearchEmulator, Fault

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOM = b"\xef\xbb\xbf"
SHUTDOWN_TIMEOUT_S = 2


def _load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` by path: examples/ is not an installed package."""
    spec = importlib.util.spec_from_file_location(f"examples.{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


aiohttp_app = _load("aiohttp_app")
fastapi_app = _load("fastapi_app")


@contextlib.asynccontextmanager
async def serve(kind: str, url: str | None, inference_id: str | None) -> AsyncIterator[str]:
    """Run one example app on a free loopback port; yields its base URL.

    As its ``main()`` does, the aiohttp app runs with ``handler_cancellation=True``. A short
    shutdown timeout keeps a failing test (a handler that never ends) from hanging.
    """
    if kind == "aiohttp":
        runner = web.AppRunner(
            aiohttp_app.create_app(url, inference_id),
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}"
        finally:
            await runner.cleanup()
        return
    config = uvicorn.Config(
        fastapi_app.create_app(url, inference_id),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    await task
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(params=["aiohttp", "fastapi"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which example app a test runs against."""
    return str(request.param)


async def relay(base: str, prompt: str) -> tuple[aiohttp.ClientResponse, bytes]:
    """GET /stream?prompt=... to the end; the response (headers) and the raw body."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/stream", params={"prompt": prompt}) as response,
    ):
        body = await response.read()
    return response, body


def parse(body: bytes) -> list[ServerSentEvent]:
    """Decode as a browser would: strict SSE, no BOM skipping beyond the standard's."""
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


def token_texts(events: list[ServerSentEvent]) -> list[str]:
    return [orjson.loads(e.data)["text"] for e in events if e.event == "token"]


async def test_relays_tokens_then_done(kind: str, es: ElasticsearchEmulator) -> None:
    prompt = "What is Elastic?"
    async with serve(kind, es.url, "my-endpoint") as base:
        async with aiohttp.ClientSession() as session, session.get(base + "/") as page:
            assert page.status == 200
            assert page.content_type == "text/html"
            assert "new EventSource(" in await page.text()
        response, body = await relay(base, prompt)
    assert response.status == 200
    assert response.headers["Content-Type"].split(";")[0] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert BOM not in body
    events = parse(body)
    answer = es.answer_for("my-endpoint", prompt)
    assert [e.event for e in events] == ["token"] * len(answer) + ["done"]
    assert token_texts(events) == answer
    assert orjson.loads(events[-1].data) == {"done": True}
    # The app closed its client at shutdown: no connection to Elasticsearch is left.
    await es.wait_for_connections(0)


@pytest.mark.parametrize(
    ("inference_id", "fault", "tokens", "error", "status", "message"),
    [
        # Mid-stream: the deltas of the first three events (1 + 2), then the error event.
        ("my-endpoint", Fault(error_after=3, error_status=429, reason="rate limited upstream"),
         3, "StreamApiError", 429, "rate limited upstream"),
        # Before the stream: Elasticsearch answers 404; the relay has already sent its 200, so
        # the error travels as an event.
        ("no-such-endpoint", None, 0, "NotFoundError", 404,
         "Inference endpoint not found [no-such-endpoint]"),
    ],
    ids=["mid-stream", "before-stream"],
)  # fmt: skip
async def test_an_upstream_error_becomes_one_error_event(
    kind: str,
    es: ElasticsearchEmulator,
    inference_id: str,
    fault: Fault | None,
    tokens: int,
    error: str,
    status: int,
    message: str,
) -> None:
    if fault is not None:
        es.add_fault(fault)
    async with serve(kind, es.url, inference_id) as base:
        response, body = await relay(base, "hello")
    assert response.status == 200
    events = parse(body)
    assert [e.event for e in events] == ["token"] * tokens + ["error"]
    assert token_texts(events) == es.answer_for("my-endpoint", "hello")[:tokens]
    data = orjson.loads(events[-1].data)
    assert data["error"] == error
    assert data["status"] == status
    assert message in data["message"]
    assert len(es.requests) == 1  # and no retry


async def test_a_client_that_leaves_closes_the_upstream_stream(
    kind: str, es: ElasticsearchEmulator
) -> None:
    # Elasticsearch goes silent after three events: no write will fail to reveal the
    # departure, so only the app's own disconnect handling can close the upstream stream.
    es.add_fault(Fault(stall_after=3))
    async with serve(kind, es.url, "my-endpoint") as base, aiohttp.ClientSession() as session:
        response = await session.get(f"{base}/stream", params={"prompt": "hello"})
        try:
            decoder = SSEDecoder()
            events: list[ServerSentEvent] = []
            async for chunk in response.content.iter_any():
                events += decoder.feed(chunk)
                if events:
                    break
            assert events[0].event == "token"
            upstream = es.requests[-1]
            assert not upstream.closed
            left_at = time.monotonic()
        finally:
            response.close()  # drops the connection, as a closed browser tab does
        await upstream.wait_closed(timeout=3)
        assert upstream.disconnected_at is not None
        assert not upstream.completed
        assert upstream.disconnected_at - left_at < 1.0
        await es.wait_for_connections(0)


async def test_without_a_url_the_built_in_emulator_answers(kind: str) -> None:
    async with serve(kind, None, None) as base:
        response, body = await relay(base, "What is Elastic?")
    assert response.status == 200
    events = parse(body)
    assert events[-1].event == "done"
    assert "".join(token_texts(events)).startswith("What is Elastic?")


# --- headless Chromium, over the Chrome DevTools Protocol ----------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: the sandbox cannot be set up
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # Chromium picks the port and writes DevToolsActivePort
)
# The page's state (idle, streaming, done, error), its answer and its error line.
READ_PAGE = """[
    document.body ? document.body.dataset.state || "" : "",
    document.getElementById("answer") ? document.getElementById("answer").textContent : "",
    document.getElementById("error") ? document.getElementById("error").textContent : "",
]"""
POLL_INTERVAL_S = 0.02
PAGE_TIMEOUT_S = 15  # a stream of the test lasts about two seconds
PageView = tuple[str, str, str]  # state, answer, error


class DevTools:
    """A minimal Chrome DevTools Protocol client: one browser websocket, flat sessions.

    Commands run one at a time; events that arrive while waiting for a reply are dropped
    (no domain is enabled, so there are few).
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        command: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        async with asyncio.timeout(10):
            # Text frames: Chromium drops a DevTools connection that sends a binary one.
            await self._ws.send_str(orjson.dumps(command).decode())
            while True:
                message = await self._ws.receive()
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    raise RuntimeError(f"the DevTools connection ended: {message!r}")
                reply = orjson.loads(message.data)
                if reply.get("id") == command["id"]:
                    break
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def open_page(self, url: str) -> tuple[str, str]:
        """A new tab showing ``url``; returns its target id and session id."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        await self.send("Page.navigate", {"url": url}, session=session)
        return target, session

    async def read_page(self, session: str) -> PageView:
        """The example page's state, answer text and error text."""
        reply = await self.send(
            "Runtime.evaluate", {"expression": READ_PAGE, "returnByValue": True}, session=session
        )
        state, answer, error = reply["result"]["value"]
        return state, answer, error

    async def watch_page(self, session: str, until: Callable[[PageView], bool]) -> PageView:
        """Read the page every ``POLL_INTERVAL_S`` until ``until(view)``; returns that view.

        Raises:
            TimeoutError: After ``PAGE_TIMEOUT_S``.
        """
        async with asyncio.timeout(PAGE_TIMEOUT_S):
            while True:
                view = await self.read_page(session)
                if until(view):
                    return view
                await asyncio.sleep(POLL_INTERVAL_S)


def _read_port_file(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


@pytest.fixture
def chromium_executable() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return executable


@pytest.fixture
def chromium_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    with (tmp_path / "chromium.log").open("wb") as log:
        yield log


@pytest.fixture
async def devtools(
    chromium_executable: str, chromium_log: IO[bytes], tmp_path: Path
) -> AsyncIterator[DevTools]:
    """Headless Chromium with a fresh profile, killed (its whole process group) afterwards."""
    profile = tmp_path / "profile"
    proc = await asyncio.create_subprocess_exec(
        chromium_executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=chromium_log,
        stderr=chromium_log,
        start_new_session=True,  # its own process group, so every helper process can be killed
    )
    try:
        async with asyncio.timeout(20):
            while len(lines := _read_port_file(profile / "DevToolsActivePort")) < 2:
                assert proc.returncode is None, f"chromium exited with {proc.returncode}"
                await asyncio.sleep(0.05)
        port, path = lines[:2]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}{path}") as ws,
        ):
            yield DevTools(ws)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything left of the group
            await proc.wait()


async def test_chromium_shows_tokens_as_they_arrive_and_closing_the_tab_closes_upstream(
    kind: str, es: ElasticsearchEmulator, devtools: DevTools
) -> None:
    # 40 tokens in about 20 events, 0.1 s apart: a stream of about two seconds.
    es.add_endpoint("slow", "completion", event_delay=0.1, answer_tokens=40)
    prompt = "Tell me about Elastic"
    deltas = es.answer_for("slow", prompt)
    expected = "".join(deltas)
    page_url = f"/?{urlencode({'prompt': prompt})}"

    def finished(view: PageView) -> bool:
        return view[0] in ("done", "error")

    async with serve(kind, es.url, "slow") as base:
        # 1. The answer grows in the page as the tokens arrive.
        lengths: set[int] = set()

        def record(view: PageView) -> bool:
            state, answer, _ = view
            if state == "streaming" and answer:
                assert expected.startswith(answer)
                lengths.add(len(answer))
            return finished(view)

        _, session = await devtools.open_page(base + page_url)
        state, answer, error = await devtools.watch_page(session, record)
        assert (state, error) == ("done", "")
        assert answer == expected
        intermediate = lengths - {len(expected)}
        assert len(intermediate) >= 3, f"the page showed only {sorted(lengths)} of {len(expected)}"

        # 2. Closing the tab mid-stream closes the upstream stream at once.
        seen = len(es.requests)
        target, session = await devtools.open_page(base + page_url)
        await devtools.watch_page(session, lambda view: view[1] != "")
        assert len(es.requests) == seen + 1
        upstream = es.requests[-1]
        assert not upstream.closed
        closed_at = time.monotonic()
        await devtools.send("Target.closeTarget", {"targetId": target})
        await upstream.wait_closed(timeout=3)
        assert upstream.disconnected_at is not None
        assert not upstream.completed
        assert upstream.disconnected_at - closed_at < 1.0
        await es.wait_for_connections(0)

        # 3. An upstream error is shown, after the tokens that came before it.
        es.add_fault(Fault(error_after=3, error_status=429, reason="rate limited upstream"))
        _, session = await devtools.open_page(base + page_url)
        state, answer, error = await devtools.watch_page(session, finished)
        assert state == "error"
        assert answer == "".join(deltas[:3])
        assert error.startswith("StreamApiError (429): ")
        assert "rate limited upstream" in error
