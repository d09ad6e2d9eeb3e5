"""Elasticsearch's own YAML REST tests for the Inference API, replayed with the client.

Each test makes the YAML case's requests with asyncinfer against the emulator and asserts what
the case asserts (``match``, ``length``, ``is_true``, ``catch``). Where the client refuses a
request before sending it (a task type Elasticsearch does not have), the test checks that, and
then sends the YAML's request itself to check the emulator's answer. Every case runs against
the oldest, the first 8.18-style and the default release.

Sources: elastic/elasticsearch
``x-pack/plugin/src/yamlRestTest/resources/rest-api-spec/test/inference/inference_crud.yml``
(index commits e43a3531 and, for its earlier cases, 09f0ae4d, whose ``models`` key became
``endpoints`` in 8.13) and elastic/elasticsearch-clients-tests ``tests/inference/10_basic.yml``
(both stored revisions, read at pquentin/elasticsearch-clients-tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator

VERSIONS = ("8.16.3", "8.18.0", "9.2.0")


@pytest.fixture(params=VERSIONS)
async def es(request: pytest.FixtureRequest) -> AsyncIterator[ElasticsearchEmulator]:
    """An emulator of each release, with no endpoints (as the YAML tests' fresh clusters)."""
    async with ElasticsearchEmulator(version=request.param) as emulator:
        yield emulator


@pytest.fixture
async def client(es: ElasticsearchEmulator) -> AsyncIterator[asyncinfer.InferenceClient]:
    # product_check_streams: 8.16.x streams may lack the header (not used by these cases).
    async with asyncinfer.InferenceClient(es.url, retries=0) as c:
        yield c


async def send(es: ElasticsearchEmulator, method: str, path: str, body: object) -> tuple[int, Any]:
    """The YAML's own request, for the cases the client refuses to send."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            es.url + path,
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        return response.status, orjson.loads(await response.read())


# inference_crud.yml, "Test get missing model"
async def test_get_missing_model(client: asyncinfer.InferenceClient) -> None:
    with pytest.raises(asyncinfer.NotFoundError) as caught:  # catch: missing
        await client.get_endpoints(inference_id="inference_to_get")
    assert caught.value.error_type == "resource_not_found_exception"
    assert caught.value.reason == "Inference endpoint not found [inference_to_get]"


# inference_crud.yml, "Test put inference with bad task type"
async def test_put_inference_with_bad_task_type(
    es: ElasticsearchEmulator, client: asyncinfer.InferenceClient
) -> None:
    settings = {"num_allocations": 1, "num_threads": 1}
    with pytest.raises(asyncinfer.InvalidRequestError, match="task_type must be one of"):
        await client.put_endpoint("bad", "elser_model", service="elser", service_settings=settings)
    assert es.requests == []  # refused before any I/O
    body = {"task_type": "bad", "service": "elser", "service_settings": settings}
    status, answer = await send(es, "PUT", "/_inference/elser_model", {**body, "task_settings": {}})
    assert status == 400  # catch: bad_request
    assert answer["error"]["reason"] == "Unknown task_type [bad]"


# inference_crud.yml (09f0ae4d), "Test inference with bad task type"
async def test_inference_with_bad_task_type(
    es: ElasticsearchEmulator, client: asyncinfer.InferenceClient
) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match="task_type must be one of"):
        await client.inference("bad", "elser_model", input="important text")
    assert es.requests == []
    status, answer = await send(
        es, "POST", "/_inference/bad/elser_model", {"input": "important text"}
    )
    assert status == 400  # catch: bad_request
    assert answer["error"]["reason"] == "Unknown task_type [bad]"


# inference_crud.yml (09f0ae4d), "Test get all"
async def test_get_all(client: asyncinfer.InferenceClient) -> None:
    assert await client.get_endpoints(inference_id="*") == []  # length: {models: 0}
    assert await client.get_endpoints(inference_id="_all") == []
    assert await client.get_endpoints() == []  # inference_id: "" is GET _inference


# 10_basic.yml, "Inference"
async def test_inference(es: ElasticsearchEmulator, client: asyncinfer.InferenceClient) -> None:
    created = await client.put_endpoint(
        "sparse_embedding",  # the YAML puts it in the body; the client puts it in the URL
        "elser_model_test",
        service="elser",
        service_settings={"num_allocations": 1, "num_threads": 1},
        task_settings={},
    )
    assert (created.inference_id, created.task_type) == ("elser_model_test", "sparse_embedding")

    (got,) = await client.get_endpoints(inference_id="elser_model_test")
    assert (got.inference_id, got.task_type) == ("elser_model_test", "sparse_embedding")

    text = "The sky above the port was the color of television tuned to a dead channel."
    result = await client.sparse_embedding("elser_model_test", text)
    assert result.embeddings[0].tokens  # is_true: sparse_embedding.0.embedding

    deleted = await client.delete_endpoint("elser_model_test")
    assert deleted.acknowledged is True
