"""Lifecycle edges: closing from another task, failed streams, [DONE] timing, pool waits,
chat retries, fan-out inputs that fail, and argument checks that must fail early."""

from __future__ import annotations

import asyncio
import gc

import orjson
import pytest

import asyncinfer
from asyncinfer import InferenceClient, Limits, RetryPolicy, StreamState, Timeouts
from asyncinfer._protocol import format_time_value
from asyncinfer.testing import ElasticsearchEmulator, Fault

PROMPT = "What is Elastic?"
FAST = RetryPolicy(backoff_initial=0.01, jitter=0)


async def test_aclose_while_the_headers_are_awaited(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.5, event_delay=0.05))
    async with InferenceClient(es.url) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        entering = asyncio.create_task(stream.__aenter__())
        await asyncio.sleep(0.1)
        await stream.aclose()
        assert await asyncio.wait_for(entering, 5) is stream  # enters quietly, closed
        assert stream.state is StreamState.CLOSED
        assert [t async for t in stream] == []
        await es.requests[-1].wait_closed()
        assert es.requests[-1].disconnected_at is not None


async def test_aclose_from_another_task_ends_a_read_quietly(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=3))
    async with InferenceClient(es.url) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        reader = asyncio.create_task(stream.read_text())
        while len(stream.tokens) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await stream.aclose()
        assert await asyncio.wait_for(reader, 5) == stream.text != ""
        assert stream.state is StreamState.CLOSED


async def test_closing_the_client_during_a_read_says_so(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=3))
    client = InferenceClient(es.url)
    stream = client.stream_completion("my-endpoint", PROMPT)
    reader = asyncio.create_task(stream.read_text())
    while len(stream.tokens) < 2:
        await asyncio.sleep(0.01)
    await client.close()
    # The read in progress says the client was closed, and keeps what arrived.
    with pytest.raises(asyncinfer.ClientClosedError, match="closed while this stream") as info:
        await asyncio.wait_for(reader, 5)
    assert info.value.partial_text == stream.text
    assert stream.state is StreamState.CLOSED
    assert client._transport.pool.nodes[0].failures == 0  # the node did nothing wrong


async def test_aclose_while_the_request_is_on_its_way_keeps_its_time_limit(
    es: ElasticsearchEmulator,
) -> None:
    # Elasticsearch sends its headers with the first event: another task's aclose() must not
    # leave the opening task waiting without its first-event limit.
    es.add_fault(Fault(first_event_delay=30))
    async with InferenceClient(es.url, retries=RetryPolicy(max_retries=0)) as client:
        stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(first_event=0.3))

        async def enter() -> StreamState:
            async with stream:
                return stream.state

        opener = asyncio.create_task(enter())
        await asyncio.sleep(0.05)
        await stream.aclose()
        assert await asyncio.wait_for(opener, 5) is StreamState.CLOSED  # quietly, in ~0.3 s


async def test_aclose_during_a_back_off_inside_async_with(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503), times=None)
    async with InferenceClient(es.url, retries=RetryPolicy(backoff_initial=30)) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)

        async def enter() -> StreamState:
            async with stream:
                return stream.state

        task = asyncio.create_task(enter())
        while not es.requests or es.requests[0].status is None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await stream.aclose()
        assert await asyncio.wait_for(task, 5) is StreamState.CLOSED


async def test_aclose_while_waiting_for_a_connection_slot(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=2))
    async with InferenceClient(es.url, limits=Limits(connections=1)) as client:
        holder = client.stream_completion("my-endpoint", PROMPT)
        await holder.__anext__()  # holds the one slot, stalled
        waiting = client.stream_completion("my-endpoint", PROMPT)
        reader = asyncio.create_task(anext(aiter(waiting), None))
        await asyncio.sleep(0.1)
        await waiting.aclose()
        # The wait ends at once, without a slot, while the holder still has its own.
        assert await asyncio.wait_for(reader, 2) is None
        assert not waiting._attempts.slot and waiting.state is StreamState.CLOSED
        await holder.aclose()
        assert client._transport._slots is not None
        assert client._transport._slots._value == 1  # every slot back
        after = client.stream_completion("my-endpoint", PROMPT)
        assert await asyncio.wait_for(after.read_text(), 5)


async def test_closing_the_client_while_a_stream_waits_says_so(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=2))
    client = InferenceClient(es.url, limits=Limits(connections=1))
    holder = client.stream_completion("my-endpoint", PROMPT)
    await holder.__anext__()
    waiting = client.stream_completion("my-endpoint", PROMPT)
    reader = asyncio.create_task(waiting.read_text())
    await asyncio.sleep(0.1)
    await client.close()
    # Neither an empty answer nor a shortened one: both streams say the client was closed.
    with pytest.raises(asyncinfer.ClientClosedError, match="closed while this stream"):
        await asyncio.wait_for(reader, 2)
    with pytest.raises(asyncinfer.ClientClosedError) as info:
        await holder.read_text()
    assert info.value.partial_text == holder.text != ""


async def test_a_refused_read_text_changes_nothing(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.3))
    async with InferenceClient(es.url) as client:
        stream = client.stream_completion("my-endpoint", PROMPT, keep_text=False)
        reader = asyncio.create_task(anext(aiter(stream)))
        await asyncio.sleep(0.05)
        with pytest.raises(asyncinfer.UsageError, match="one task at a time"):
            await stream.read_text()
        assert not stream.text_kept  # still keep_text=False
        await reader
        async for _ in stream:
            pass
        assert stream.text == ""


async def test_a_failed_stream_stays_failed(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(drop_after=4))
    async with InferenceClient(es.url, retries=0) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        with pytest.raises(asyncinfer.ReadError) as first:
            await stream.read_text()
        with pytest.raises(asyncinfer.ReadError) as again:
            await stream.read_text()  # never a silent, shorter answer
        assert again.value is first.value
        with pytest.raises(asyncinfer.ReadError):
            async with stream:
                pass
        # Like any __aenter__, it raises when awaited, not when called.
        entering = stream.__aenter__()
        with pytest.raises(asyncinfer.ReadError):
            await entering


async def test_tokens_that_came_with_done_are_not_held_back() -> None:
    body = (
        b'\xef\xbb\xbfevent: message\ndata: {"completion":[{"delta":"Hello"},{"delta":" world"}]}'
        b"\n\n\xef\xbb\xbfevent: message\ndata: [DONE]\n\n"
    )
    seen = asyncio.Event()

    async def never_ends(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"X-elastic-product: Elasticsearch\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n"
            % (len(body), body)
        )
        await writer.drain()
        await seen.wait()  # the body's end never comes until the test is done
        writer.close()

    server = await asyncio.start_server(never_ends, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with InferenceClient(url, timeouts=Timeouts(idle=30)) as client:
            stream = client.stream_completion("x", PROMPT)
            first = await asyncio.wait_for(stream.__anext__(), 5)
            second = await asyncio.wait_for(stream.__anext__(), 5)
            assert [first, second] == ["Hello", " world"]
            assert stream.done
            await stream.aclose()
    finally:
        seen.set()
        server.close()
        await server.wait_closed()


async def test_waiting_for_a_connection_is_not_a_first_event_timeout(
    es: ElasticsearchEmulator,
) -> None:
    es.add_fault(Fault(first_event_delay=0.4), times=None)
    limits = Limits(connections=2)
    async with InferenceClient(es.url, limits=limits, timeouts=Timeouts(first_event=1)) as client:
        texts = await asyncio.gather(
            *(client.stream_completion("my-endpoint", PROMPT).read_text() for _ in range(5))
        )
    assert all(texts)
    assert len(es.requests) == 5


async def test_chat_error_status_comes_from_its_code(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion")
    es.add_fault(
        Fault(error_after=1, provider_status=429, provider_error_type="rate_limit"),
        inference_id="chat",
    )
    async with InferenceClient(es.url, retries=FAST) as client:
        stream = client.stream_chat_completion("chat", [{"role": "user", "content": "hi"}])
        message = await stream.final_message()
    # The error came before any content: retried, and the failed attempt's chunks forgotten.
    assert message.content == "".join(
        es.chat_answer_for("chat", [{"role": "user", "content": "hi"}])
    )
    assert len(es.requests) == 2
    assert sum(1 for c in stream.chunks for ch in c.choices if ch.delta.role) == 1


def test_chunk_without_choices() -> None:
    chunk = asyncinfer.ChatCompletionChunk.from_dict(
        orjson.loads(b'{"id":"x","model":"m","object":"chat.completion.chunk"}')
    )
    assert chunk.choices == []


async def test_fan_out_inputs_that_raise(es: ElasticsearchEmulator) -> None:
    def prompts() -> object:
        yield "one"
        yield "two"
        raise RuntimeError("the input file broke")

    async with InferenceClient(es.url) as client:
        with pytest.raises(RuntimeError, match="input file broke"):
            await asyncio.wait_for(
                client.map_completions("my-endpoint", prompts(), concurrency=2),  # type: ignore[arg-type]
                10,
            )


async def test_an_abandoned_fan_out_stops_its_calls(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=30), times=None)
    async with InferenceClient(es.url, retries=0) as client:
        results = client.as_completed("my-endpoint", ["a", "b", "c"], concurrency=3)
        waiting = asyncio.create_task(results.__anext__())
        while len(es.requests) < 3:
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        del results, waiting
        gc.collect()
        await es.wait_for_connections(0)


async def test_stats_after_the_loop_is_gone() -> None:
    async def run() -> asyncinfer.CompletionStream:
        async with ElasticsearchEmulator() as es:
            es.add_endpoint("my-endpoint")
            async with InferenceClient(es.url) as client:
                stream = client.stream_completion("my-endpoint", PROMPT)
                await stream.read_text()
                return stream

    stream = await run()
    stats = await asyncio.to_thread(lambda: stream.stats)  # no running loop in that thread
    assert stats.ended == "done"


def test_arguments_that_must_fail_early() -> None:
    with pytest.raises(ValueError, match="max_event_bytes"):
        Limits(max_event_bytes=0)
    assert format_time_value(0.0004) == "1ms"  # never "0s", which means "unset"
    with pytest.raises(ValueError, match="cannot be combined"):
        InferenceClient("https://x:9200", ssl_assert_fingerprint="ab" * 32, client_cert="c.pem")
    with pytest.raises(ValueError, match="used as is"):
        import ssl

        InferenceClient("https://x:9200", ssl_context=ssl.create_default_context(), ca_certs="ca")
    with pytest.raises(ValueError, match="unknown fields"):
        from asyncinfer._models import message_to_json

        message_to_json({"role": "user", "content": "hi", "name": "bob"}, 0)


async def test_percent_encoded_credentials_in_the_url(es: ElasticsearchEmulator) -> None:
    import base64

    url = es.url.replace("http://", "http://elastic:p%40ss@")
    async with InferenceClient(url) as client:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert (
        es.requests[-1].headers["Authorization"]
        == "Basic " + base64.b64encode(b"elastic:p@ss").decode()
    )
