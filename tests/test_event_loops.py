"""A client belongs to the event loop it first ran in, and says so when used from another."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from asyncinfer import InferenceClient, UsageError, WrongEventLoopError
from asyncinfer.testing import ElasticsearchEmulator


def _first_loop() -> tuple[InferenceClient, int]:
    """A client used in one asyncio.run() and never closed; the requests it sent."""

    async def main() -> tuple[InferenceClient, int]:
        async with ElasticsearchEmulator() as es:
            es.add_endpoint("my-endpoint", "completion")
            client = InferenceClient(es.url, retries=0)
            result = await client.completion("my-endpoint", "hi")
            assert result.text
            async with client.stream_completion("my-endpoint", "hi") as stream:
                assert await stream.read_text()
            return client, len(es.requests)

    return asyncio.run(main())


def test_a_second_event_loop_gets_a_usage_error_and_no_resource_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client, sent = _first_loop()
        assert sent == 2

        async def again(client: InferenceClient) -> None:
            with pytest.raises(WrongEventLoopError, match="belongs to a closed event loop") as info:
                await client.completion("my-endpoint", "hi")
            assert isinstance(info.value, UsageError)
            assert "async with InferenceClient" in str(info.value)
            with pytest.raises(WrongEventLoopError, match="one client per event loop"):
                async with client.stream_completion("my-endpoint", "hi"):
                    pass
            await client.close()  # allowed: the owning loop is gone
            assert client.closed

        asyncio.run(again(client))
        del client
        gc.collect()
    resource = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert resource == [], [str(w.message) for w in resource]


def test_the_session_is_closed_when_its_loop_shuts_down() -> None:
    client, _ = _first_loop()
    # asyncio.run() closed the client's session as the loop shut down: no socket is left.
    assert client._transport._session is None
    assert not client.closed  # the client itself was not closed, only its loop's connections


async def test_a_client_closed_in_its_loop_leaves_nothing_for_shutdown(
    es: ElasticsearchEmulator,
) -> None:
    async with InferenceClient(es.url) as client:
        assert (await client.completion("my-endpoint", "hi")).text
        assert client._transport._shutdown_hook is not None
    assert client._transport._shutdown_hook is None
