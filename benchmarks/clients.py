"""The clients measured: asyncinfer and the field, each written the way its users would.

Every client has the same shape: ``async with Client(url, load, connections) as c``, then
``await c.run(tag, sink)`` streams one answer and ``sink.append``s each non-empty token; the
slow-consumer variant ``run_slow`` awaits ``sink.pause()`` whenever ``sink.append`` returns
true. The loops are written out per client (not behind a shared async generator) so that no
client pays for a layer the others do not.

The hand-written loops read the body to its end after ``[DONE]`` (the loop ends by itself at
the end of the body) so that the connection is reused, as it must be for a fair time to first
token on a kept-alive connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

import aiohttp
import orjson

COMPLETION_PATH = "/_inference/completion/bench/_stream"
CHAT_PATH = "/_inference/chat_completion/bench/_stream"
JSON_HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


class Sink(Protocol):
    """Where a client puts tokens: a ``list``, or a sink that asks for pauses."""

    def append(self, token: str, /) -> Any: ...


class SlowSink(Protocol):
    def append(self, token: str, /) -> bool: ...

    def pause(self) -> Awaitable[None]: ...


def _body(tag: int) -> bytes:
    return b'{"input":"benchmark #%d#"}' % tag


class Client:
    """The shape every client has; ``connections`` is the concurrency it must allow."""

    name: ClassVar[str]
    label: ClassVar[str]
    route: ClassVar[str] = "es"  # which of the load server's formats it reads
    streams: ClassVar[bool] = True  # False: the whole body is buffered before any token
    max_connections: ClassVar[int | None] = None  # a cap the client cannot lift

    def __init__(self, url: str, load: str, connections: int = 100) -> None:
        self.url = url
        self.load = load
        self.connections = connections

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    async def run(self, tag: int, sink: Sink) -> None:
        raise NotImplementedError

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        raise NotImplementedError


def _unlimited_session(load: str, *, read_bufsize: int = 2**16) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        headers={"x-load": load},
        read_bufsize=read_bufsize,
        timeout=aiohttp.ClientTimeout(total=None),
    )


class AsyncInfer(Client):
    """``InferenceClient.stream_completion``: ``async for token in stream``."""

    name = "asyncinfer"
    label = "asyncinfer"

    async def __aenter__(self) -> Self:
        import asyncinfer

        limits = None
        if self.connections > 50:  # the default Limits allow 50 connections to a node
            limits = asyncinfer.Limits(connections=0, connections_per_node=0)  # 0: no limit
        self.client = asyncinfer.InferenceClient(
            self.url, headers={"x-load": self.load}, limits=limits
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def run(self, tag: int, sink: Sink) -> None:
        async with self.client.stream_completion("bench", f"benchmark #{tag}#") as stream:
            async for token in stream:
                sink.append(token)

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        async with self.client.stream_completion("bench", f"benchmark #{tag}#") as stream:
            async for token in stream:
                if sink.append(token):
                    await sink.pause()


class AsyncInferNoText(AsyncInfer):
    """``stream_completion(..., keep_text=False)``: the stream keeps no token once yielded."""

    name = "asyncinfer-keep-text-false"
    label = "asyncinfer, keep_text=False"

    async def run(self, tag: int, sink: Sink) -> None:
        stream = self.client.stream_completion("bench", f"benchmark #{tag}#", keep_text=False)
        async with stream:
            async for token in stream:
                sink.append(token)

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        stream = self.client.stream_completion("bench", f"benchmark #{tag}#", keep_text=False)
        async with stream:
            async for token in stream:
                if sink.append(token):
                    await sink.pause()


class AsyncInferChat(AsyncInfer):
    """``InferenceClient.stream_chat_completion`` on ES's unified chat stream (OpenAI chunks)."""

    name = "asyncinfer-chat"
    label = "asyncinfer chat_completion"
    route = "es_chat"

    async def run(self, tag: int, sink: Sink) -> None:
        messages = [{"role": "user", "content": f"benchmark #{tag}#"}]
        async with self.client.stream_chat_completion("bench", messages) as stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.index == 0 and choice.delta.content:
                        sink.append(choice.delta.content)

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        messages = [{"role": "user", "content": f"benchmark #{tag}#"}]
        async with self.client.stream_chat_completion("bench", messages) as stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if (
                        choice.index == 0
                        and choice.delta.content
                        and sink.append(choice.delta.content)
                    ):
                        await sink.pause()


class Readline(Client):
    """What most people write: ``async for line in resp.content`` + orjson (the baseline)."""

    name = "readline"
    label = "aiohttp readline + orjson (baseline)"

    async def __aenter__(self) -> Self:
        self.session = _unlimited_session(self.load)
        self.endpoint = self.url + COMPLETION_PATH
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def run(self, tag: int, sink: Sink) -> None:
        async with self.session.post(self.endpoint, data=_body(tag), headers=JSON_HEADERS) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].rstrip(b"\r\n")
                if payload == b"[DONE]":
                    continue  # the body ends next; reading to the end keeps the connection
                for item in orjson.loads(payload)["completion"]:
                    if item["delta"]:
                        sink.append(item["delta"])

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        async with self.session.post(self.endpoint, data=_body(tag), headers=JSON_HEADERS) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].rstrip(b"\r\n")
                if payload == b"[DONE]":
                    continue
                for item in orjson.loads(payload)["completion"]:
                    if item["delta"] and sink.append(item["delta"]):
                        await sink.pause()


class Split(Readline):
    """Hand-tuned and not conformant: ``iter_any()`` + ``split(b"\\n\\n")`` + orjson."""

    name = "split"
    label = "aiohttp iter_any + split (not conformant)"

    async def run(self, tag: int, sink: Sink) -> None:
        async with self.session.post(self.endpoint, data=_body(tag), headers=JSON_HEADERS) as resp:
            resp.raise_for_status()
            rest = b""
            async for chunk in resp.content.iter_any():
                blocks = (rest + chunk).split(b"\n\n")
                rest = blocks.pop()
                for block in blocks:
                    payload = block[block.index(b"data: ") + 6 :]
                    if payload == b"[DONE]":
                        continue
                    for item in orjson.loads(payload)["completion"]:
                        if item["delta"]:
                            sink.append(item["delta"])

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        async with self.session.post(self.endpoint, data=_body(tag), headers=JSON_HEADERS) as resp:
            resp.raise_for_status()
            rest = b""
            async for chunk in resp.content.iter_any():
                blocks = (rest + chunk).split(b"\n\n")
                rest = blocks.pop()
                for block in blocks:
                    payload = block[block.index(b"data: ") + 6 :]
                    if payload == b"[DONE]":
                        continue
                    for item in orjson.loads(payload)["completion"]:
                        if item["delta"] and sink.append(item["delta"]):
                            await sink.pause()


class HttpxSSE(Client):
    """httpx + httpx-sse, with the BOM stripped from every line.

    httpx-sse follows the WHATWG rule (a BOM is skipped only at the start of the stream), so on
    Elasticsearch's bytes every event's first line is the unknown field ``"\\ufeffevent"``: the
    data still arrives, but every ``event: error`` is read as a ``message``. ``EventSource`` has
    no hook for this, so a user must run httpx-sse's own line and event decoders (private
    module) with a ``removeprefix`` in between, which is what this loop does.
    """

    name = "httpx-sse"
    label = "httpx + httpx-sse (BOM stripped by hand)"

    async def __aenter__(self) -> Self:
        import httpx
        from httpx_sse import aconnect_sse
        from httpx_sse._decoders import SSEDecoder, SSELineDecoder

        self.aconnect_sse, self.decoders = aconnect_sse, (SSELineDecoder, SSEDecoder)
        self.http = httpx.AsyncClient(
            headers={"x-load": self.load},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            timeout=httpx.Timeout(None),
        )
        self.endpoint = self.url + COMPLETION_PATH
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def run(self, tag: int, sink: Sink) -> None:
        async with self.aconnect_sse(
            self.http, "POST", self.endpoint, content=_body(tag), headers=dict(JSON_HEADERS)
        ) as source:
            source.response.raise_for_status()
            lines, decoder = self.decoders[0](), self.decoders[1]()
            async for text in source.response.aiter_text():
                for line in lines.decode(text):
                    sse = decoder.decode(line.removeprefix("\ufeff"))
                    if sse is None or sse.data == "[DONE]":
                        continue
                    if sse.event != "message":
                        raise RuntimeError(f"error event: {sse.data}")
                    for item in orjson.loads(sse.data)["completion"]:
                        if item["delta"]:
                            sink.append(item["delta"])

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        async with self.aconnect_sse(
            self.http, "POST", self.endpoint, content=_body(tag), headers=dict(JSON_HEADERS)
        ) as source:
            source.response.raise_for_status()
            lines, decoder = self.decoders[0](), self.decoders[1]()
            async for text in source.response.aiter_text():
                for line in lines.decode(text):
                    sse = decoder.decode(line.removeprefix("\ufeff"))
                    if sse is None or sse.data == "[DONE]":
                        continue
                    if sse.event != "message":
                        raise RuntimeError(f"error event: {sse.data}")
                    for item in orjson.loads(sse.data)["completion"]:
                        if item["delta"] and sink.append(item["delta"]):
                            await sink.pause()


class OpenAI(Client):
    """The openai SDK on the OpenAI-compatible route (``/v1/chat/completions``)."""

    name = "openai"
    label = "openai SDK (OpenAI route)"
    route = "openai"

    async def __aenter__(self) -> Self:
        import httpx2  # the openai SDK's own httpx fork
        import openai

        http_client = None
        if self.connections > 1000:  # the SDK's default pool allows 1,000
            http_client = openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=None)
            )
        self.client = openai.AsyncOpenAI(
            api_key="bench",
            base_url=self.url + "/v1",
            max_retries=0,
            timeout=None,
            default_headers={"x-load": self.load},
            http_client=http_client,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def _open(self, tag: int) -> Any:
        return await self.client.chat.completions.create(
            model="bench",
            messages=[{"role": "user", "content": f"benchmark #{tag}#"}],
            stream=True,
        )

    async def run(self, tag: int, sink: Sink) -> None:
        async with await self._open(tag) as stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    sink.append(chunk.choices[0].delta.content)

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        async with await self._open(tag) as stream:
            async for chunk in stream:
                if (
                    chunk.choices
                    and chunk.choices[0].delta.content
                    and sink.append(chunk.choices[0].delta.content)
                ):
                    await sink.pause()


class Elasticsearch(Client):
    """The official client: ``AsyncElasticsearch.perform_request`` on the ``_stream`` path.

    Its transport reads the whole body before returning (spec §8.2), so the first token
    arrives with the last; the SSE text (BOMs included) is then split by hand.
    """

    name = "elasticsearch"
    label = "elasticsearch-py perform_request (buffers the whole body)"
    streams = False
    # connections_per_node sets aiohttp's limit_per_host only; TCPConnector's total limit keeps
    # its default of 100, so at most 100 requests are in flight whatever is configured.
    max_connections = 100

    async def __aenter__(self) -> Self:
        from elasticsearch import AsyncElasticsearch

        self.es = AsyncElasticsearch(
            self.url,
            headers={"x-load": self.load},
            connections_per_node=max(10, self.connections),
            request_timeout=600,
            max_retries=0,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.es.close()

    async def _text(self, tag: int) -> str:
        resp = await self.es.perform_request(
            "POST",
            COMPLETION_PATH,
            headers={"accept": "application/json", "content-type": "application/json"},
            body={"input": f"benchmark #{tag}#"},
        )
        body: str = resp.body
        return body

    @staticmethod
    def _tokens(text: str) -> list[str]:
        out = []
        for block in text.split("\n\n"):
            block = block.removeprefix("\ufeff")
            if not block:
                continue
            head, _, data = block.partition("\ndata: ")
            if head != "event: message":
                raise RuntimeError(f"error event: {data}")
            if data == "[DONE]":
                continue
            for item in orjson.loads(data)["completion"]:
                if item["delta"]:
                    out.append(item["delta"])
        return out

    async def run(self, tag: int, sink: Sink) -> None:
        for token in self._tokens(await self._text(tag)):
            sink.append(token)

    async def run_slow(self, tag: int, sink: SlowSink) -> None:
        for token in self._tokens(await self._text(tag)):
            if sink.append(token):
                await sink.pause()


CLIENTS: dict[str, type[Client]] = {
    c.name: c
    for c in (
        AsyncInfer,
        Readline,
        Split,
        HttpxSSE,
        OpenAI,
        Elasticsearch,
        AsyncInferChat,
        AsyncInferNoText,
    )
}
BASELINE = Readline.name


async def http_json(url: str, method: str, path: str, load: str = "") -> Any:
    """A tiny raw HTTP/1.1 call for the load server's control routes (its own connection)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nhost: {host}\r\nx-load: {load}\r\n"
            "content-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return orjson.loads(await reader.readexactly(length))
    finally:
        writer.close()
        await writer.wait_closed()
