"""Shared fixtures: an in-loop Elasticsearch emulator and a client, plus leak checks."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator


@pytest.fixture(autouse=True)
async def _loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail a test whose loop reported an error: aiohttp reports unclosed sessions and
    connections through the loop's exception handler, not through warnings."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not errors, f"the event loop reported: {[e.get('message') for e in errors]}"


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    """A fresh emulator with a completion endpoint named ``my-endpoint``."""
    async with ElasticsearchEmulator() as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        yield emulator


@pytest.fixture
async def client(es: ElasticsearchEmulator) -> AsyncIterator[asyncinfer.InferenceClient]:
    """A client of the ``es`` emulator."""
    async with asyncinfer.InferenceClient(es.url) as c:
        yield c
