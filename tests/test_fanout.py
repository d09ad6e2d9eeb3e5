"""Fan-out helpers against the emulator: order, bounds, errors, cancellation, backpressure."""

from __future__ import annotations

import asyncio

import pytest

import asyncinfer
from asyncinfer import InferenceClient, RetryPolicy
from asyncinfer.testing import ElasticsearchEmulator, Fault

PROMPTS = [f"prompt number {i}" for i in range(40)]


def answer(es: ElasticsearchEmulator, prompt: str) -> str:
    return "".join(es.answer_for("my-endpoint", prompt))


async def test_map_completions_keeps_input_order(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("my-endpoint", event_delay=0)
    async with InferenceClient(es.url) as client:
        results = await client.map_completions("my-endpoint", PROMPTS, concurrency=8)
    texts = [r.text for r in results if isinstance(r, asyncinfer.CompletionResult)]
    assert texts == [answer(es, p) for p in PROMPTS]


async def test_concurrency_is_bounded(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.05), times=None)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(1 for r in es.requests if not r.closed))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    try:
        async with InferenceClient(es.url) as client:
            results = await client.map_completions("my-endpoint", PROMPTS[:20], concurrency=3)
    finally:
        watcher.cancel()
    assert len(results) == 20
    assert 1 <= peak <= 3


async def test_errors_are_results_or_raised(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("broken", "completion")
    es.add_fault(Fault(status=400, reason="bad prompt"), inference_id="broken", times=None)
    async with InferenceClient(es.url, retries=0) as client:
        ok = client.map_completions("my-endpoint", PROMPTS[:3], return_exceptions=True)
        results = await ok
        assert all(isinstance(r, asyncinfer.CompletionResult) for r in results)
        mixed = await client.map_completions("broken", ["a", "b"], return_exceptions=True)
        assert all(isinstance(r, asyncinfer.BadRequestError) for r in mixed)
        with pytest.raises(asyncinfer.BadRequestError, match="bad prompt"):
            await client.map_completions("broken", ["a", "b"])


async def test_as_completed_yields_every_index_once(es: ElasticsearchEmulator) -> None:
    async with (
        InferenceClient(es.url) as client,
        client.as_completed("my-endpoint", PROMPTS, concurrency=5) as results,
    ):
        seen = {index: result async for index, result in results}
    assert sorted(seen) == list(range(len(PROMPTS)))
    assert all(isinstance(r, asyncinfer.CompletionResult) for r in seen.values())


async def test_leaving_early_cancels_every_call(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=30), times=None)  # every call hangs
    es.add_endpoint("fast")
    async with InferenceClient(es.url, retries=0) as client:
        task = asyncio.create_task(client.map_completions("my-endpoint", PROMPTS, concurrency=4))
        while len(es.requests) < 4:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(es.requests) == 4  # no more were started
        await es.wait_for_connections(0)  # and every connection was closed


async def test_a_429_cools_the_whole_client_down(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=429, reason="rate limited", retry_after="1"))
    policy = RetryPolicy(backoff_initial=0.01, jitter=0, max_retry_after=0.4)
    async with InferenceClient(es.url, retries=policy) as client:
        first = asyncio.create_task(client.completion("my-endpoint", "first"))
        while not es.requests or es.requests[0].status != 429:
            await asyncio.sleep(0.005)
        # Another call, started during the cool-down, waits for it too.
        others = await client.map_completions("my-endpoint", PROMPTS[:4], concurrency=4)
        await first
    limited = es.requests[0]
    assert len(others) == 4
    assert len(es.requests) == 6
    assert all(r.received_at - limited.received_at >= 0.4 for r in es.requests[1:])


async def test_merge_streams_tags_tokens_with_their_prompt(es: ElasticsearchEmulator) -> None:
    prompts = PROMPTS[:5]
    async with InferenceClient(es.url) as client:
        streams = [client.stream_completion("my-endpoint", p) for p in prompts]
        texts = ["" for _ in prompts]
        async with asyncinfer.merge_streams(streams) as merged:
            async for index, token in merged:
                assert isinstance(token, str)
                texts[index] += token
    assert texts == [answer(es, p) for p in prompts]


async def test_merge_streams_error_closes_the_others(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("stalls")
    es.add_fault(Fault(stall_after=2), inference_id="stalls", times=None)
    es.add_endpoint("fails")
    es.add_fault(Fault(error_after=3), inference_id="fails", times=None)
    async with InferenceClient(es.url, retries=0) as client:
        streams = [
            client.stream_completion("stalls", "a"),
            client.stream_completion("fails", "b"),
        ]
        with pytest.raises(asyncinfer.StreamApiError):
            async for _ in asyncinfer.merge_streams(streams):
                pass
        assert all(s.state is not asyncinfer.StreamState.OPEN for s in streams)
        stalled = next(r for r in es.requests if r.path.endswith("/stalls/_stream"))
        await stalled.wait_closed()
        assert stalled.disconnected_at is not None  # the other stream was closed at once

        es.add_fault(Fault(error_after=3), inference_id="fails", times=None)
        kept = [
            client.stream_completion("my-endpoint", "c"),
            client.stream_completion("fails", "d"),
        ]
        results: dict[int, list[object]] = {0: [], 1: []}
        async for index, item in asyncinfer.merge_streams(kept, return_exceptions=True):
            results[index].append(item)
        assert isinstance(results[1][-1], asyncinfer.StreamApiError)
        assert "".join(str(t) for t in results[0]) == "".join(es.answer_for("my-endpoint", "c"))
