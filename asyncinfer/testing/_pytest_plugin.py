"""pytest plugin (entry point ``asyncinfer``): the ``es_emulator`` fixture."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncinfer.testing import ElasticsearchEmulator

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def es_emulator() -> Iterator[ElasticsearchEmulator]:
    """An Elasticsearch emulator in its own thread, with a completion endpoint ``my-endpoint``.

    The fixture is synchronous and the emulator has its own event loop, so it serves tests
    written for pytest-asyncio, anyio or plain threads alike. Use ``es_emulator.url``.
    """
    with ElasticsearchEmulator.in_thread() as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        yield emulator
