"""CompletionStream over real loopback sockets against the emulator."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import orjson
import pytest

import asyncinfer
from asyncinfer import InferenceClient, StreamState, Timeouts
from asyncinfer._alarms import Alarms
from asyncinfer.testing import ElasticsearchEmulator, Fault

PROMPT = "What is Elastic?"
PATH = "/_inference/completion/my-endpoint/_stream"


def expected_tokens(es: ElasticsearchEmulator, prompt: str = PROMPT) -> list[str]:
    return [t for t in es.answer_for("my-endpoint", prompt) if t]


async def test_streams_every_token_in_order(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    received = []
    async with client.stream_completion("my-endpoint", PROMPT) as stream:
        async for token in stream:
            received.append(token)
    assert received == expected_tokens(es)
    assert len(received) > 10
    assert stream.text == "".join(received)
    assert stream.tokens == received
    assert stream.state is StreamState.DONE and stream.done


async def test_request_is_what_elasticsearch_accepts(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    stream = client.stream_completion(
        "my-endpoint", PROMPT, task_settings={"temperature": 0.2}, server_timeout=90
    )
    assert es.requests == []  # creating the stream does no I/O
    async with stream:
        await stream.read_text()
    (request,) = es.requests
    assert (request.method, request.path) == ("POST", PATH)
    assert request.query == {"timeout": "90s"}
    assert request.json == {"input": PROMPT, "task_settings": {"temperature": 0.2}}
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "text/event-stream"
    # Spec §2.1: no compression on _stream (Netty compresses only for a coding asked for);
    # §2.2: never pretty.
    assert headers["Accept-Encoding"] == "identity"
    assert "pretty" not in request.query
    assert headers["User-Agent"].startswith(f"asyncinfer/{asyncinfer.__version__} (python ")


@pytest.mark.parametrize(
    ("value", "sent"), [("2m", "2m"), (1.5, "1500ms"), (30, "30s"), ("500ms", "500ms")]
)
async def test_server_timeout_becomes_time_value(
    es: ElasticsearchEmulator, client: InferenceClient, value: str | float, sent: str
) -> None:
    await client.stream_completion("my-endpoint", PROMPT, server_timeout=value).read_text()
    assert es.requests[-1].query["timeout"] == sent


async def test_ids_are_escaped_into_one_path_segment(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    with pytest.raises(asyncinfer.NotFoundError):
        await client.stream_completion("a/b c", PROMPT).read_text()
    assert es.requests[-1].path == "/_inference/completion/a%2Fb%20c/_stream"


async def test_without_async_with_reads_to_the_end_and_releases(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    tokens = [token async for token in client.stream_completion("my-endpoint", PROMPT)]
    assert tokens == expected_tokens(es)
    # The connection went back to the pool: a second stream reuses it.
    await client.stream_completion("my-endpoint", "again").read_text()
    assert es.open_connections == 1
    assert es.requests[0].peer == es.requests[1].peer


async def test_leaving_right_after_the_last_token_keeps_the_connection(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # The last tokens, [DONE] and the body's end come in one write; the tokens are yielded
    # before the body's end is looked at, and leaving `async with` then (no read that sees
    # the end) still leaves the connection in the pool (aiohttp released it at the end).
    es.add_fault(Fault(write_size=1 << 20))
    want = expected_tokens(es)
    async with client.stream_completion("my-endpoint", PROMPT) as stream:
        got = [await stream.__anext__() for _ in want]
        await asyncio.sleep(0.05)  # the body's end is in by now
    assert got == want and stream.done
    await client.stream_completion("my-endpoint", "again").read_text()
    assert es.requests[0].peer == es.requests[1].peer


async def test_non_streaming_fallback_is_one_token(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("plain", streaming=False)
    async with InferenceClient(es.url) as client:
        text = await client.stream_completion("plain", PROMPT).read_text()
    assert text == "".join(es.answer_for("plain", PROMPT))


@pytest.mark.parametrize("write_size", [1, 2, 7, 100, 4096])
async def test_any_split_of_the_body_gives_the_same_tokens(
    es: ElasticsearchEmulator, client: InferenceClient, write_size: int
) -> None:
    es.add_fault(Fault(write_size=write_size))
    tokens = [t async for t in client.stream_completion("my-endpoint", PROMPT)]
    assert tokens == expected_tokens(es)


# --- errors before the stream ---------------------------------------------------------------


async def test_unknown_endpoint_is_not_found(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    stream = client.stream_completion("nope", PROMPT)
    with pytest.raises(asyncinfer.NotFoundError) as info:
        async with stream:
            pytest.fail("entered a stream that failed")
    err = info.value
    assert err.status == 404
    assert err.error_type == "resource_not_found_exception"
    assert err.reason == "Inference endpoint not found [nope]"
    assert err.body["status"] == 404
    assert err.endpoint == "POST /_inference/completion/nope/_stream"
    assert "404" in str(err) and "Inference endpoint not found [nope]" in str(err)
    assert err.partial_text == ""
    assert stream.state is StreamState.FAILED


async def test_task_type_mismatch_is_a_bad_request(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("embed", "text_embedding")
    async with InferenceClient(es.url) as client:
        with pytest.raises(asyncinfer.BadRequestError) as info:
            # The URL says completion; the endpoint is text_embedding: a task type mismatch.
            await client.stream_completion("embed", PROMPT).read_text()
    assert "Incompatible task_type" in (info.value.reason or "")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, asyncinfer.BadRequestError),
        (401, asyncinfer.AuthenticationError),
        (403, asyncinfer.AuthorizationError),
        (408, asyncinfer.ApiError),
        (429, asyncinfer.TooManyRequestsError),
        (500, asyncinfer.ServerError),
        (503, asyncinfer.ServerError),
    ],
)
async def test_sse_error_body_before_the_stream(
    es: ElasticsearchEmulator, client: InferenceClient, status: int, cls: type[Exception]
) -> None:
    es.add_fault(Fault(status=status, error_type="status_exception", reason="Request timed out"))
    with pytest.raises(cls) as info:
        await client.stream_completion("my-endpoint", PROMPT, retries=0).read_text()
    err = info.value
    assert isinstance(err, asyncinfer.ApiError)
    assert (err.status, err.error_type, err.reason) == (
        status,
        "status_exception",
        "Request timed out",
    )


async def test_simple_error_string_is_split_into_type_and_reason(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    body = b'{"error":"ElasticsearchStatusException[Streaming is not allowed]","status":405}'
    es.add_fault(Fault(raw_body=body, raw_status=405, raw_content_type="application/json"))
    with pytest.raises(asyncinfer.MethodNotAllowedError) as info:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert info.value.error_type == "ElasticsearchStatusException"
    assert info.value.reason == "Streaming is not allowed"


async def test_a_proxy_html_error_keeps_its_text(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(
        Fault(raw_body=b"<html>Bad Gateway</html>", raw_status=502, raw_content_type="text/html")
    )
    with pytest.raises(asyncinfer.ServerError) as info:
        await client.stream_completion("my-endpoint", PROMPT, retries=0).read_text()
    assert info.value.status == 502
    assert info.value.body == "<html>Bad Gateway</html>"
    assert info.value.error_type is None


async def test_200_that_is_not_an_event_stream(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(raw_body=b'{"completion":[]}', raw_content_type="application/json"))
    with pytest.raises(asyncinfer.UnexpectedResponseError) as info:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert info.value.content_type == "application/json"
    assert "text/event-stream" in str(info.value)
    assert info.value.body == '{"completion":[]}'


async def test_list_input_is_refused_before_any_io(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match="input must be a string"):
        client.stream_completion("my-endpoint", ["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inference_id"):
        client.stream_completion("", PROMPT)
    with pytest.raises(ValueError, match="server_timeout"):
        client.stream_completion("my-endpoint", PROMPT, server_timeout="soon")
    assert es.requests == []


async def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with InferenceClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(asyncinfer.ConnectError) as info:
            await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert isinstance(info.value, ConnectionError)
    assert f"127.0.0.1:{port}" in str(info.value)


# --- errors during the stream: nothing received is lost ----------------------------------------


async def test_error_event_mid_stream_after_every_earlier_token(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(
        Fault(error_after=3, error_status=429, error_type="status_exception", reason="rate limited")
    )
    received = []
    with pytest.raises(asyncinfer.StreamApiError) as info:
        async with client.stream_completion("my-endpoint", PROMPT) as stream:
            async for token in stream:
                received.append(token)
    err = info.value
    assert isinstance(err, asyncinfer.ApiError) and isinstance(err, asyncinfer.StreamError)
    assert (err.status, err.error_type, err.reason) == (429, "status_exception", "rate limited")
    assert received, "the tokens before the error were yielded"
    assert err.partial_text == "".join(received) == stream.text
    assert received == expected_tokens(es)[: len(received)]
    assert stream.state is StreamState.FAILED


async def test_body_ending_without_done_is_incomplete(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(end_after=4))
    stream = client.stream_completion("my-endpoint", PROMPT)
    with pytest.raises(asyncinfer.IncompleteStreamError, match=r"without \[DONE\]") as info:
        await stream.read_text()
    assert info.value.partial_text == stream.text != ""


async def test_connection_dropped_mid_stream_is_a_read_error(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(drop_after=4))
    stream = client.stream_completion("my-endpoint", PROMPT)
    with pytest.raises(asyncinfer.ReadError) as info:
        await stream.read_text()
    assert isinstance(info.value, asyncinfer.TransportError)
    assert info.value.partial_text == stream.text != ""


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"chat":[]}', "missing key 'completion'"),
        (b'{"completion":[{"text":"x"}]}', "missing key 'result'"),
    ],
)
async def test_malformed_event_is_a_protocol_error_naming_it(
    es: ElasticsearchEmulator, client: InferenceClient, data: bytes, match: str
) -> None:
    good = b'\xef\xbb\xbfevent: message\ndata: {"completion":[{"delta":"Hi"}]}\n\n'
    es.add_fault(Fault(raw_body=good + b"\xef\xbb\xbfevent: message\ndata: " + data + b"\n\n"))
    stream = client.stream_completion("my-endpoint", PROMPT)
    with pytest.raises(asyncinfer.SSEProtocolError, match=match) as info:
        await stream.read_text()
    assert data.decode()[:8] in str(info.value)
    assert info.value.partial_text == "Hi"


async def test_event_over_the_size_limit(es: ElasticsearchEmulator) -> None:
    body = b"\xef\xbb\xbfevent: message\ndata: " + orjson.dumps(
        {"completion": [{"delta": "x" * 5000}]}
    )
    es.add_fault(Fault(raw_body=body + b"\n\n"))
    async with InferenceClient(es.url, max_event_bytes=4096) as client:
        with pytest.raises(asyncinfer.SSEProtocolError, match="max_event_bytes=4096"):
            await client.stream_completion("my-endpoint", PROMPT).read_text()


# --- timeouts ---------------------------------------------------------------------------------


async def test_first_event_timeout(es: ElasticsearchEmulator, client: InferenceClient) -> None:
    es.add_fault(Fault(first_event_delay=30))
    stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(first_event=0.2))
    with pytest.raises(asyncinfer.FirstEventTimeoutError) as info:
        async with stream:
            pass
    assert isinstance(info.value, TimeoutError)
    assert info.value.limit == "first_event" and "first_event timeout of 0.2s" in str(info.value)
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None


async def test_idle_timeout_keeps_partial_text(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=3))
    stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(idle=0.2))
    with pytest.raises(asyncinfer.IdleTimeoutError) as info:
        await stream.read_text()
    assert info.value.partial_text == stream.text != ""
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None


async def test_a_trickle_that_never_completes_an_event_times_out(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # One byte every 50 ms keeps the socket busy but never completes an event.
    es.add_fault(Fault(write_size=1, write_delay=0.05))
    stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(first_event=0.5))
    with pytest.raises(asyncinfer.FirstEventTimeoutError):
        await stream.read_text()


async def test_total_timeout(es: ElasticsearchEmulator, client: InferenceClient) -> None:
    es.add_fault(Fault(event_delay=0.1))
    stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(total=0.35))
    with pytest.raises(asyncinfer.TotalTimeoutError) as info:
        await stream.read_text()
    assert info.value.partial_text == stream.text != ""


async def test_events_that_keep_coming_keep_the_idle_limit_from_firing(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # The stream lasts several idle limits, but no gap between events comes near one: the
    # idle clock restarts at every event (the one timer, fired early, is re-armed).
    es.add_fault(Fault(event_delay=0.04))
    limits = Timeouts(first_event=0.4, idle=0.4)
    stream = client.stream_completion("my-endpoint", PROMPT, timeouts=limits)
    assert await stream.read_text() == "".join(expected_tokens(es))
    assert stream.stats.duration > 2 * 0.4  # long enough for the timer to have fired early


async def test_one_timer_serves_a_whole_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # A loop timer per read (or per call) would cost a heap push each (and with thousands of
    # streams, a heap of comparisons each). The emulator runs in its own thread here, so every
    # timer armed on this loop is the client's.
    loop = asyncio.get_running_loop()
    armed: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        handle = call_at(when, callback, *args, **kwargs)
        armed.append(handle)
        return handle

    alarms_set: list[float] = []
    set_alarm = Alarms.set

    def counting_set(self: Alarms, when: float, callback: Any) -> Any:
        alarms_set.append(when)
        return set_alarm(self, when, callback)

    with ElasticsearchEmulator.in_thread() as es:
        es.add_endpoint("my-endpoint", "completion")
        es.add_fault(Fault(event_delay=0.005))  # every event in a read of its own
        async with InferenceClient(es.url) as client:
            await client.stream_completion("my-endpoint", "warm-up").read_text()
            monkeypatch.setattr(loop, "call_at", counting_call_at)
            monkeypatch.setattr(Alarms, "set", counting_set)
            stream = client.stream_completion("my-endpoint", PROMPT)
            await stream.read_text()
            assert stream.stats.events >= 10
            assert 1 <= len(alarms_set) <= 2, alarms_set  # first-event limit, then idle
            # The client's one loop timer, armed at the warm-up's nearest deadline, is
            # sooner than any of this stream's: at most one more, never one per read.
            assert len(armed) <= 1, armed
            assert client._transport.alarms.pending() == 0  # nothing left behind
            await client.stream_completion("my-endpoint", "again").read_text()
            monkeypatch.undo()
            assert len(armed) <= 1, armed  # nor one per call


def test_timeouts_are_validated() -> None:
    with pytest.raises(ValueError, match="idle"):
        Timeouts(idle=0)
    assert Timeouts(total=None).total is None
    assert Timeouts().first_event is not None and Timeouts().first_event > 120


# --- cancellation and cleanup -----------------------------------------------------------------


async def test_break_closes_the_connection_at_once(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(event_delay=0.05))
    async with client.stream_completion("my-endpoint", PROMPT) as stream:
        async for _ in stream:
            break
    assert stream.state is StreamState.CLOSED
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None
    assert not es.requests[-1].completed
    await es.wait_for_connections(0)
    assert stream.text == expected_tokens(es)[0]


async def test_aclose_is_idempotent(es: ElasticsearchEmulator, client: InferenceClient) -> None:
    es.add_fault(Fault(stall_after=2))
    stream = client.stream_completion("my-endpoint", PROMPT)
    await stream.__anext__()
    await stream.aclose()
    await stream.aclose()
    assert stream.state is StreamState.CLOSED
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    await es.wait_for_connections(0)


async def test_cancelling_the_consumer_closes_the_connection(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=2))
    got_one = asyncio.Event()

    async def consume() -> None:
        async with client.stream_completion("my-endpoint", PROMPT) as stream:
            async for _ in stream:
                got_one.set()

    task = asyncio.create_task(consume())
    await got_one.wait()
    await asyncio.sleep(0.05)  # let the consumer block in a read
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None
    await es.wait_for_connections(0)


async def test_asyncio_timeout_around_the_loop_closes_the_connection(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=2))
    stream = client.stream_completion("my-endpoint", PROMPT)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2), stream:
            async for _ in stream:
                pass
    assert stream.state is StreamState.CLOSED
    assert stream.text != ""
    await es.wait_for_connections(0)


async def test_abandoned_stream_is_closed_when_dropped(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=2))
    async for _ in client.stream_completion("my-endpoint", PROMPT):
        break
    gc.collect()
    await es.wait_for_connections(0)
    assert es.requests[-1].disconnected_at is not None


async def test_two_tasks_cannot_read_one_stream(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=2))  # the first event carries only an empty delta
    stream = client.stream_completion("my-endpoint", PROMPT)
    async with stream:
        await stream.__anext__()
        reader = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0.05)
        with pytest.raises(asyncinfer.UsageError, match="one task at a time"):
            await stream.__anext__()
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader


async def test_closing_the_client_closes_its_streams(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=2))
    client = InferenceClient(es.url)
    stream = client.stream_completion("my-endpoint", PROMPT)
    await stream.__anext__()
    await client.close()
    assert stream.state is StreamState.CLOSED
    await es.wait_for_connections(0)
    with pytest.raises(asyncinfer.ClientClosedError, match="closed"):
        client.stream_completion("my-endpoint", PROMPT)


async def test_repr_shows_state(es: ElasticsearchEmulator, client: InferenceClient) -> None:
    stream = client.stream_completion("my-endpoint", PROMPT)
    assert repr(stream) == "<CompletionStream completion/my-endpoint new tokens=0>"
    await stream.read_text()
    assert (
        repr(stream)
        == f"<CompletionStream completion/my-endpoint done tokens={len(stream.tokens)}>"
    )
    assert repr(client) == f"<InferenceClient {es.url} open>"


# --- backpressure -----------------------------------------------------------------------------


async def test_slow_consumer_holds_the_server_back(es: ElasticsearchEmulator) -> None:
    token = "x" * 1000
    total_tokens = 200_000  # 200 MB offered
    es.add_endpoint("big", answer=RepeatedAnswer(token, total_tokens), deltas_per_event=1)
    read_bufsize = 64 * 1024
    async with (
        InferenceClient(es.url, read_bufsize=read_bufsize) as client,
        client.stream_completion("big", PROMPT) as stream,
    ):
        max_buffered = 0
        async for _ in stream:
            max_buffered = max(max_buffered, stream.buffered_bytes)
            if len(stream.tokens) >= 200:
                break
            await asyncio.sleep(0.001)  # a slow consumer
        request = es.requests[-1]
        # Wait until the server can write no more: TCP has stopped it.
        sent = -1
        while sent != request.bytes_sent:
            sent = request.bytes_sent
            await asyncio.sleep(0.2)
        assert stream.buffered_bytes <= 1024 * 1024
    # Kernel socket buffers hold a few MB on loopback; the rest of the 200 MB was never sent.
    assert sent < 40 * 1024 * 1024, f"server sent {sent} bytes to a consumer that read 200 KB"
    assert max_buffered <= 1024 * 1024, f"client buffered {max_buffered} bytes"


class RepeatedAnswer:
    """A lazily repeated token, so the emulator need not hold 200 MB of answer."""

    def __init__(self, token: str, count: int) -> None:
        self.token, self.count = token, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> str:
        if not -self.count <= index < self.count:
            raise IndexError(index)
        return self.token

    def __call__(self, _input: str) -> RepeatedAnswer:
        return self


# --- relaying to browsers ---------------------------------------------------------------------


async def test_sse_relay_is_standard_sse(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    from asyncinfer.sse import SSEDecoder

    stream = client.stream_completion("my-endpoint", PROMPT)
    relayed = [chunk async for chunk in stream.sse()]
    body = b"".join(relayed)
    assert b"\xef\xbb\xbf" not in body
    events = SSEDecoder().feed(body)  # strict WHATWG, as a browser's EventSource
    assert [e.event for e in events] == ["token"] * len(expected_tokens(es)) + ["done"]
    assert [orjson.loads(e.data)["text"] for e in events[:-1]] == expected_tokens(es)
    assert orjson.loads(events[-1].data) == {"done": True}
    assert stream.done


async def test_sse_relay_reports_an_error_and_ends(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    from asyncinfer.sse import SSEDecoder

    es.add_fault(Fault(error_after=2, error_status=429, reason="slow down"))
    body = b"".join([c async for c in client.stream_completion("my-endpoint", PROMPT).sse()])
    events = SSEDecoder().feed(body)
    assert events[-1].event == "error"
    error = orjson.loads(events[-1].data)
    assert (error["error"], error["status"]) == ("StreamApiError", 429)
    assert "slow down" in error["message"]
    assert {e.event for e in events[:-1]} == {"token"}


async def test_sse_relay_closes_upstream_when_the_browser_leaves(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_fault(Fault(stall_after=3))
    relay = client.stream_completion("my-endpoint", PROMPT).sse()
    await relay.__anext__()
    await relay.aclose()  # what a web framework does when the client disconnects
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None
    await es.wait_for_connections(0)


async def test_keep_text_false_holds_nothing_once_yielded(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("long", answer_tokens=2000, deltas_per_event=5)
    async with InferenceClient(es.url) as client:
        stream = client.stream_completion("long", PROMPT, keep_text=False)
        count = 0
        async for token in stream:
            assert token
            count += 1
            assert stream.text == ""
            assert stream.tokens == []
        assert count == len([t for t in es.answer_for("long", PROMPT) if t])
        assert stream.stats.tokens == count
        es.add_fault(Fault(error_after=5))
        failing = client.stream_completion("long", PROMPT, keep_text=False)
        with pytest.raises(asyncinfer.StreamApiError) as info:
            async for _ in failing:
                pass
        assert info.value.partial_text == ""
        # The whole answer is gone once tokens went by unkept: read_text() says so.
        with pytest.raises(asyncinfer.TextNotKeptError, match="keep_text=False"):
            await stream.read_text()
        # Before any token, read_text() keeps the whole answer whatever keep_text says.
        whole = client.stream_completion("long", PROMPT, keep_text=False)
        assert await whole.read_text() == "".join(es.answer_for("long", PROMPT))


async def test_text_past_max_kept_text_is_dropped_and_says_so(es: ElasticsearchEmulator) -> None:
    limit = 100
    # 360 characters, an event at a time (so the stream keeps its text for a while).
    es.add_endpoint("long", answer=["abcde "] * 60, event_delay=0.002)
    want = "".join(es.answer_for("long", PROMPT))
    async with InferenceClient(es.url, limits=asyncinfer.Limits(max_kept_text=limit)) as client:
        stream = client.stream_completion("long", PROMPT)
        received: list[str] = []
        kept_while = 0
        async for token in stream:
            received.append(token)
            # What the stream holds: bounded by the limit.
            kept = sum(map(len, stream._reader.ledger.parts))
            assert kept <= limit
            if stream.text_kept:
                kept_while += 1
                assert stream.text.startswith("".join(received)) and len(stream.text) <= limit
            else:
                with pytest.raises(asyncinfer.TextNotKeptError, match=r"Limits\.max_kept_text"):
                    _ = stream.text
                with pytest.raises(asyncinfer.TextNotKeptError):
                    _ = stream.tokens
        assert 0 < kept_while < len(received)  # kept up to the limit, then dropped
        assert "".join(received) == want  # every token was yielded
        assert stream.stats.tokens == len(received)
        with pytest.raises(asyncinfer.TextNotKeptError):
            await stream.read_text()

        # An error after the limit: no partial text, and a note on the error says why.
        es.add_fault(Fault(error_after=40))
        failing = client.stream_completion("long", PROMPT)
        with pytest.raises(asyncinfer.StreamApiError) as info:
            async for _ in failing:
                pass
        assert info.value.partial_text == ""
        assert any("max_kept_text" in note for note in info.value.__notes__)

        # read_text() (called before reading) keeps the whole answer past the limit.
        assert await client.stream_completion("long", PROMPT).read_text() == want

    # The default keeps every realistic answer whole.
    assert asyncinfer.Limits().max_kept_text == 1024 * 1024
    with pytest.raises(ValueError, match="max_kept_text"):
        asyncinfer.Limits(max_kept_text=0)
    async with InferenceClient(es.url, limits=asyncinfer.Limits(max_kept_text=None)) as client:
        stream = client.stream_completion("long", PROMPT)
        async for _ in stream:
            pass
        assert stream.text == want and stream.text_kept
