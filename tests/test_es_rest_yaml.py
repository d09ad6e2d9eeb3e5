"""Elasticsearch's own YAML REST tests for the Inference API, replayed with the client.

Each test makes the YAML case's requests with asyncinfer against the emulator and asserts what
the case asserts (``match``, ``length``, ``is_true``, ``catch``). Where the client refuses a
request before sending it (a task type Elasticsearch does not have), the test checks that, and
then sends the YAML's request itself to check the emulator's answer. Every case runs against
the oldest, the first 8.18-style and the default release; the 9.5-9.6 cases at the end run
against the releases that have their APIs.

Sources: elastic/elasticsearch
``x-pack/plugin/src/yamlRestTest/resources/rest-api-spec/test/inference/inference_crud.yml``
(index commits e43a3531 and, for its earlier cases, 09f0ae4d, whose ``models`` key became
``endpoints`` in 8.13) and elastic/elasticsearch-clients-tests ``tests/inference/10_basic.yml``
(both stored revisions, read at pquentin/elasticsearch-clients-tests); the sources of the
9.5-9.6 cases are named above them.
"""

from __future__ import annotations

import contextlib
import re
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


# --- 9.5-9.6 cases: each runs against the first release that has the API and the newest -------
#
# Sources: elastic/elasticsearch x-pack/plugin/inference/src/yamlRestTest/resources/
# rest-api-spec/test/inference/200_chat_completion_non_streaming.yml (a225f97c) and
# 170_region_policy_crud.yml (2cdcb000).

NO_POLICY = "No region policy is configured for this deployment"


@pytest.fixture(params=("9.5.0", "9.6.0"))
async def es95(request: pytest.FixtureRequest) -> AsyncIterator[ElasticsearchEmulator]:
    """A release with the region policy API (9.5+), no policy stored."""
    async with ElasticsearchEmulator(version=request.param) as emulator:
        yield emulator


@pytest.fixture
async def client95(es95: ElasticsearchEmulator) -> AsyncIterator[asyncinfer.InferenceClient]:
    async with asyncinfer.InferenceClient(es95.url, retries=0) as c:
        yield c
        # teardown: delete_region_policy, catch: missing
        with contextlib.suppress(asyncinfer.NotFoundError):
            await c.delete_region_policy()


# 200_chat_completion_non_streaming.yml, "Non-streaming chat completion returns a single JSON
# response". The YAML's test service echoes the input upper-cased with 1-token counts; the
# emulator's deterministic model answers instead, so the test checks the same fields against it.
async def test_non_streaming_chat_completion_returns_a_single_json_response() -> None:
    async with (
        ElasticsearchEmulator(version="9.6.0") as es,
        asyncinfer.InferenceClient(es.url, retries=0) as client,
    ):
        await client.put_endpoint(
            "chat_completion",
            "test-non-streaming-cc",
            service="openai",
            service_settings={"model_id": "test-model", "api_key": "test-key"},
        )
        messages = [{"role": "user", "content": "hello world"}]
        answer = await client.chat_completion("test-non-streaming-cc", messages)
        assert es.requests[-1].path == "/_inference/chat_completion/test-non-streaming-cc"
        assert answer.object == "chat.completion"
        assert answer.model == "test-model"
        assert answer.id  # is_true: id
        (choice,) = answer.choices  # is_true: choices
        assert choice.index == 0
        assert choice.message.role == "assistant"
        assert choice.message.content == "".join(
            es.chat_answer_for("test-non-streaming-cc", messages)
        )
        assert choice.finish_reason == "stop"
        usage = answer.usage
        assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0
        assert usage.total_tokens == usage.completion_tokens + usage.prompt_tokens


# 170_region_policy_crud.yml, "Put region policy with allowed_regions"
async def test_put_region_policy_with_allowed_regions(client95: asyncinfer.InferenceClient) -> None:
    info = await client95.put_region_policy(
        allowed_regions=[("aws", "us-east-1"), ("aws", "eu-west-1")],
        fallback_region=("aws", "us-east-1"),
    )
    policy = info.raw["region_policy"]
    assert policy["allowed_regions"] == [
        {"csp": "aws", "region": "us-east-1"},
        {"csp": "aws", "region": "eu-west-1"},
    ]
    assert policy["fallback_region"] == {"csp": "aws", "region": "us-east-1"}
    assert info.region_policy.allowed_regions == [
        asyncinfer.CspRegion("aws", "us-east-1"),
        asyncinfer.CspRegion("aws", "eu-west-1"),
    ]
    assert info.created_at  # is_true
    assert (info.created_by, info.updated_at, info.updated_by) == (None, None, None)  # is_false
    assert await client95.delete_region_policy() is True


# 170_region_policy_crud.yml, "Put region policy with allowed_geos"
async def test_put_region_policy_with_allowed_geos(client95: asyncinfer.InferenceClient) -> None:
    info = await client95.put_region_policy(allowed_geos=["us", "eu"])
    assert info.raw["region_policy"]["allowed_geos"] == ["us", "eu"]
    assert info.region_policy.allowed_geos == ["us", "eu"]
    assert info.created_at
    assert (info.created_by, info.updated_at, info.updated_by) == (None, None, None)


# 170_region_policy_crud.yml, "Get region policy"
async def test_get_region_policy(client95: asyncinfer.InferenceClient) -> None:
    await client95.put_region_policy(
        allowed_regions=[("gcp", "us-central1")], fallback_region=("gcp", "us-central1")
    )
    info = await client95.get_region_policy()
    assert info.raw["region_policy"]["allowed_regions"] == [{"csp": "gcp", "region": "us-central1"}]
    assert info.region_policy.fallback_region == asyncinfer.CspRegion("gcp", "us-central1")
    assert info.created_at
    assert (info.created_by, info.updated_at, info.updated_by) == (None, None, None)


# 170_region_policy_crud.yml, "Delete region policy", "Get region policy when none exists" and
# "Delete region policy when none exists"
async def test_delete_region_policy(client95: asyncinfer.InferenceClient) -> None:
    with pytest.raises(asyncinfer.NotFoundError) as none_yet:
        await client95.get_region_policy()
    assert none_yet.value.reason == NO_POLICY
    await client95.put_region_policy(allowed_geos=["us"])
    assert await client95.delete_region_policy() is True  # acknowledged: true
    for call in (client95.get_region_policy, client95.delete_region_policy):
        with pytest.raises(asyncinfer.NotFoundError) as missing:  # catch: missing
            await call()
        assert missing.value.status == 404
        assert missing.value.reason == NO_POLICY


# 170_region_policy_crud.yml, "Put region policy replaces existing"
async def test_put_region_policy_replaces_existing(client95: asyncinfer.InferenceClient) -> None:
    first = await client95.put_region_policy(allowed_geos=["us"])
    await client95.put_region_policy(allowed_regions=[("azure", "eastus")])
    info = await client95.get_region_policy()
    assert "allowed_geos" not in info.raw["region_policy"]  # is_false
    assert info.region_policy.allowed_geos is None
    assert info.region_policy.allowed_regions == [asyncinfer.CspRegion("azure", "eastus")]
    assert info.created_at == first.created_at  # is_true; kept from the first PUT
    assert info.updated_at  # is_true
    assert (info.created_by, info.updated_by) == (None, None)


# 170_region_policy_crud.yml, the four "Put region policy rejects ..." cases. The client refuses
# each before any I/O; the YAML's own body then gets ES's 400 from the emulator.
@pytest.mark.parametrize(
    ("fields", "body", "reason", "cause"),
    [
        pytest.param(
            None, {"allowed_geos": ["us"]}, r"unknown field \[allowed_geos\]", None, id="top-level"
        ),
        pytest.param(
            {"allowed_geos": ["us"], "allowed_regions": [("aws", "us-east-1")]},
            {
                "region_policy": {
                    "allowed_geos": ["us"],
                    "allowed_regions": [{"csp": "aws", "region": "us-east-1"}],
                }
            },
            r"failed to parse field \[region_policy\]",
            "not allowed together",
            id="both",
        ),
        pytest.param(
            {"allowed_geos": []},
            {"region_policy": {"allowed_geos": []}},
            r"\[region_policy\.allowed_geos\] must not be empty",
            None,
            id="empty-geos",
        ),
        pytest.param(
            {"allowed_regions": []},
            {"region_policy": {"allowed_regions": []}},
            r"\[region_policy\.allowed_regions\] must not be empty",
            None,
            id="empty-regions",
        ),
    ],
)
async def test_put_region_policy_rejects(
    es95: ElasticsearchEmulator,
    client95: asyncinfer.InferenceClient,
    fields: dict[str, Any] | None,
    body: dict[str, Any],
    reason: str,
    cause: str | None,
) -> None:
    if fields is not None:
        with pytest.raises(asyncinfer.InvalidRequestError):
            await client95.put_region_policy(**fields)
        assert es95.requests == []
    status, answer = await send(es95, "PUT", "/_inference/_region_policy", body)
    assert status == 400  # catch: bad_request
    assert re.search(reason, answer["error"]["reason"])
    if cause is not None:
        assert cause in answer["error"]["caused_by"]["reason"]
