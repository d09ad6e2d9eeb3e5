"""Batches fail fast when the cluster is gone: the circuit over connection failures."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from asyncinfer import ConnectError, InferenceClient, Limits
from asyncinfer.testing import ElasticsearchEmulator


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _counting_session(attempts: list[int]) -> aiohttp.ClientSession:
    async def started(*_: object) -> None:
        attempts.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(started)
    return aiohttp.ClientSession(trace_configs=[trace])


async def test_a_batch_against_a_closed_port_fails_fast() -> None:
    attempts: list[int] = []
    session = _counting_session(attempts)
    try:
        url = f"http://127.0.0.1:{_closed_port()}"
        async with InferenceClient(url, session=session) as client:  # default retries: 3
            results = await client.map_completions(
                "my-endpoint", [f"prompt {i}" for i in range(300)], return_exceptions=True
            )
            async with client.as_completed("my-endpoint", ["a", "b", "c"]) as more:
                late = [outcome async for _, outcome in more]
    finally:
        await session.close()
    assert all(isinstance(r, ConnectError) for r in results)
    assert all(isinstance(r, ConnectError) for r in late)
    # Without the circuit: 300 inputs x 4 attempts = 1,200 connection attempts. With it: the
    # 10 failures that open it, plus at most one attempt per worker already on its way.
    assert 10 <= len(attempts) <= 10 + 16
    assert "failing fast" in str(results[-1])


async def test_the_circuit_can_be_turned_off_or_tuned() -> None:
    attempts: list[int] = []
    session = _counting_session(attempts)
    try:
        url = f"http://127.0.0.1:{_closed_port()}"
        async with InferenceClient(
            url, session=session, retries=0, limits=Limits(circuit_failures=None)
        ) as client:
            results = await client.map_completions(
                "e", ["x"] * 40, concurrency=1, return_exceptions=True
            )
    finally:
        await session.close()
    assert all(isinstance(r, ConnectError) for r in results)
    assert len(attempts) == 40  # every input tried: no circuit


async def test_a_probe_that_connects_closes_the_circuit(es: ElasticsearchEmulator) -> None:
    attempts: list[int] = []
    session = _counting_session(attempts)
    try:
        dead = f"http://127.0.0.1:{_closed_port()}"
        async with InferenceClient(
            [dead, es.url], session=session, retries=0, limits=Limits(circuit_failures=2)
        ) as client:
            transport = client._transport
            # Open the circuit by hand on the dead node only: as if the pool were down.
            transport.pool.nodes = [transport.pool.nodes[0]]
            for _ in range(2):
                with pytest.raises(ConnectError):
                    await client.completion("my-endpoint", "hi")
            before = len(attempts)
            with pytest.raises(ConnectError, match="failing fast"):
                await client.completion("my-endpoint", "hi")
            assert len(attempts) == before  # open: nothing was attempted
            # The cluster is back (a live node, as a sniff would find it): the next request is
            # a probe; it connects, and the circuit closes.
            transport.pool.replace([es.url])
            result = await client.completion("my-endpoint", "hi")
            assert result.text
            assert len(attempts) == before + 1
            assert (await client.completion("my-endpoint", "again")).text
    finally:
        await session.close()
