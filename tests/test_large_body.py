"""Large request bodies go out without blocking the loop, and without aiohttp's warning."""

from __future__ import annotations

from asyncinfer import InferenceClient
from asyncinfer.testing import ElasticsearchEmulator

EIGHT_MB = 8 * 1024 * 1024


async def test_an_8_mb_input_is_sent_whole_and_without_a_resource_warning(
    es: ElasticsearchEmulator,
) -> None:
    # pytest runs with filterwarnings=error: aiohttp's "Sending a large body directly with
    # raw bytes might lock the event loop" ResourceWarning would fail this test.
    text = "x" * EIGHT_MB
    async with InferenceClient(es.url, retries=0) as client:
        result = await client.completion("my-endpoint", text)
        assert result.text
        async with client.stream_completion("my-endpoint", text) as stream:
            assert await stream.read_text()
    bodies = [r for r in es.requests if r.path.startswith("/_inference/completion/")]
    assert len(bodies) == 2
    for request in bodies:
        assert request.headers["Content-Type"].startswith("application/json")
        assert request.json is not None
        assert request.json["input"] == text
        assert len(request.body) > EIGHT_MB


async def test_a_small_body_is_unchanged(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url, retries=0) as client:
        assert (await client.completion("my-endpoint", "hi")).text
    (request,) = [r for r in es.requests if r.path.startswith("/_inference/completion/")]
    assert request.json == {"input": "hi"}
