"""What the user sees is the truth: a stream's text, its end and its bytes at the edges.

Over real loopback sockets: the emulator, and a raw-socket server where the emulator cannot
misbehave the way a proxy in front of Elasticsearch does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from asyncinfer import InferenceClient, StreamState, Timeouts
from asyncinfer.testing import ElasticsearchEmulator, Fault

PROMPT = "What is Elastic?"
BOM = b"\xef\xbb\xbf"
MESSAGES = [{"role": "user", "content": PROMPT}]


def expected_tokens(es: ElasticsearchEmulator) -> list[str]:
    return [t for t in es.answer_for("my-endpoint", PROMPT) if t]


# --- 1. text, tokens and partial_text are what the loop yielded --------------------------------


async def test_text_is_what_the_loop_yielded_while_one_read_holds_the_whole_answer(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(write_size=1 << 20))  # the whole answer in one write: one read
    want = expected_tokens(es)
    yielded: list[str] = []
    async with client.stream_completion("my-endpoint", PROMPT) as stream:
        async for token in stream:
            yielded.append(token)
            assert stream.text == "".join(yielded)
            assert stream.tokens == yielded
            assert stream.stats.tokens == len(yielded)
            if len(yielded) == 2:
                assert stream.received_items == len(want)  # read ahead, not yet text
                break
    assert stream.tokens == want[:2]
    assert stream.text == "".join(want[:2]) == stream.partial_text
    assert stream.stats.tokens == 2
    assert stream.state is StreamState.CLOSED and not stream.done


async def test_text_after_a_task_cancel_mid_loop_is_what_was_yielded(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(write_size=1 << 20))
    want = expected_tokens(es)
    stream = client.stream_completion("my-endpoint", PROMPT)
    second = asyncio.Event()

    async def relay() -> None:
        async with stream:
            async for _token in stream:
                if len(stream.tokens) == 2:
                    second.set()
                    await asyncio.sleep(3600)  # a browser that stopped reading

    task = asyncio.create_task(relay())
    await second.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.tokens == want[:2]
    assert stream.text == "".join(want[:2])
    assert stream.state is StreamState.CLOSED


async def test_chat_text_and_chunks_are_what_was_yielded(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion", answer=["one ", "two ", "three ", "four "])
    es.add_fault(Fault(write_size=1 << 20))
    async with (
        InferenceClient(es.url) as client,
        client.stream_chat_completion("chat", MESSAGES) as stream,
    ):
        yielded = []
        async for chunk in stream:
            yielded.append(chunk)
            if any(c.index == 0 and c.delta.content for c in chunk.choices):
                assert stream.received_items > len(yielded)  # read ahead, not yet text
                break
    assert stream.chunks == yielded
    assert stream.text == "".join(c.delta.content or "" for y in yielded for c in y.choices)
    assert stream.text == "one "
    assert stream.received_items == len(yielded)  # closing discarded the rest


async def test_an_error_after_the_last_yielded_token_keeps_them_all(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # One read brings tokens and the error event: the tokens are yielded first, and the
    # error's partial_text is exactly them.
    es.add_fault(Fault(write_size=1 << 20, error_after=4))
    yielded: list[str] = []
    with pytest.raises(Exception) as caught:  # noqa: PT011 (checked below)
        async with client.stream_completion("my-endpoint", PROMPT) as stream:
            async for token in stream:
                yielded.append(token)
                assert stream.text == "".join(yielded)
    assert type(caught.value).__name__ == "StreamApiError"
    assert yielded and caught.value.partial_text == "".join(yielded) == stream.text


# --- 2. [DONE] ends the loop at once, whatever the body's end does -----------------------------


class HeldEnd:
    """A server that writes a whole answer and [DONE] but holds the last chunk of the body
    (as a proxy that buffers it would) until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.connections = 0
        self.client_left = asyncio.Event()  # the first connection saw the client close it
        self.server: asyncio.Server | None = None

    def body(self) -> bytes:
        events = [
            BOM + b'event: message\ndata: {"completion":[{"delta":"Hello"}]}\n\n',
            BOM + b'event: message\ndata: {"completion":[{"delta":" world"}]}\n\n',
            BOM + b"event: message\ndata: [DONE]\n\n",
        ]
        return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = (
                b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"
                b"content-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            writer.write(head + self.body())
            await writer.drain()
            if first:
                held = asyncio.ensure_future(self.release.wait())
                gone = asyncio.ensure_future(reader.read())  # b"" once the client closes
                await asyncio.wait((held, gone), return_when=asyncio.FIRST_COMPLETED)
                held.cancel()
                if gone.done():
                    self.client_left.set()
                    return
                gone.cancel()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            await reader.read()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def _all(stream: AsyncIterator[str]) -> list[str]:
    return [token async for token in stream]


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldEnd, str]]:
    server = HeldEnd()
    async with server as url:
        yield server, url


async def test_done_ends_the_loop_while_the_body_end_is_held(
    held: tuple[HeldEnd, str],
) -> None:
    server, url = held
    # No client time limit: a loop that waited for the body's end would wait for ever (the
    # wait_for is a guard against a hang, not a measure of speed).
    async with InferenceClient(url, timeouts=Timeouts(first_event=None, idle=None)) as client:
        async with client.stream_completion("e", PROMPT) as stream:
            tokens = await asyncio.wait_for(_all(stream), 30)
        assert tokens == ["Hello", " world"] and stream.done
        assert not server.release.is_set()  # ended before the server finished the body
        # The stalled connection was closed, not kept: Elasticsearch (or the proxy) sees it.
        await asyncio.wait_for(server.client_left.wait(), 5)
        # The next request does not wait behind it.
        async with client.stream_completion("e", PROMPT) as again:
            assert await again.read_text() == "Hello world"
        assert server.connections == 2


async def test_the_body_end_that_came_with_done_keeps_the_connection(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    for _ in range(3):
        async with client.stream_completion("my-endpoint", PROMPT) as stream:
            await stream.read_text()
    assert len({r.peer for r in es.requests}) == 1  # one client port: one connection


async def test_a_break_after_the_last_token_keeps_the_connection(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # [DONE] and the body's end came in the read of the last token; the stream lets the
    # connection go when it closes, after the break, and the next request reuses it.
    for _ in range(3):
        es.add_fault(Fault(write_size=1 << 20))  # the whole answer in one write
        async with client.stream_completion("my-endpoint", PROMPT) as stream:
            async for _token in stream:
                if stream.done:
                    break  # the last token: [DONE] was read with it
            assert stream.done and stream.received_items == len(stream.tokens)
        assert stream.state is StreamState.DONE
    assert len({r.peer for r in es.requests}) == 1


# --- 3. invalid UTF-8 inside an event is U+FFFD -----------------------------------------------


async def _raw_answer(body: bytes) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"
            b"content-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("events", [1, 5])  # event by event, and the block path
async def test_invalid_utf8_in_a_delta_becomes_replacement_characters(events: int) -> None:
    bad = BOM + b'event: message\ndata: {"completion":[{"delta":"x\xffy"}]}\n\n'
    good = BOM + b'event: message\ndata: {"completion":[{"delta":"ok"}]}\n\n'
    body = good * (events - 1) + bad + BOM + b"event: message\ndata: [DONE]\n\n"
    async for url in _raw_answer(body):
        async with InferenceClient(url) as client:
            text = await client.stream_completion("e", PROMPT).read_text()
    assert text == "ok" * (events - 1) + "x\ufffdy"


async def test_invalid_utf8_in_a_chat_chunk_becomes_replacement_characters() -> None:
    chunk = (
        b'{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
        b'"delta":{"role":"assistant","content":"caf\xc3"}}]}'
    )
    body = (
        BOM
        + b"event: message\ndata: "
        + chunk
        + b"\n\n"
        + BOM
        + b"event: message\ndata: [DONE]\n\n"
    )
    async for url in _raw_answer(body):
        async with (
            InferenceClient(url) as client,
            client.stream_chat_completion("e", MESSAGES) as stream,
        ):
            chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.content == "caf\ufffd"
    assert stream.text == "caf\ufffd"
