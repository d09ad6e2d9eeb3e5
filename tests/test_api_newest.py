"""The 9.4-9.6 Inference APIs through InferenceClient, over loopback, against the emulator.

``embedding`` (9.4), rerank objects and the region policy (9.5), non-streaming chat completion
(9.6), and the endpoint management gaps; each against the release that has it and one before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import asyncinfer
from asyncinfer import ContentItem, CspRegion, EmbeddingContent, InferenceClient, Tool
from asyncinfer.testing import ElasticsearchEmulator, Fault

IMAGE = "data:image/png;base64,iVBORw0KGgo="
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is Elastic?"},
]
ONLY_STREAMS = (
    "The [chat_completion] task type only supports streaming, please try again with the _stream API"
)
NO_POLICY = "No region policy is configured for this deployment"


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    """An Elasticsearch 9.6 emulator with an endpoint of each new kind."""
    async with ElasticsearchEmulator(version="9.6.0") as emulator:
        _endpoints(emulator)
        yield emulator


def _endpoints(es: ElasticsearchEmulator, *, embedding: bool = True) -> None:
    es.add_endpoint("chat", "chat_completion", service_settings={"model_id": "gpt-4o"})
    if embedding:  # a release before 9.4 has no such task type to make endpoints of
        es.add_endpoint("mm", "embedding", service_settings={"dimensions": 8})
        es.add_endpoint("mm-bytes", "embedding", service_settings={"element_type": "byte"})
    es.add_endpoint("ranker", "rerank")
    es.add_endpoint("my-endpoint", "completion")


@pytest.fixture
async def client(es: ElasticsearchEmulator) -> AsyncIterator[InferenceClient]:
    async with InferenceClient(es.url, retries=0) as c:
        yield c


async def _at(version: str) -> ElasticsearchEmulator:
    emulator = ElasticsearchEmulator(version=version)
    await emulator.start()
    major, minor, _ = (int(part) for part in version.split("."))
    _endpoints(emulator, embedding=(major, minor) >= (9, 4))
    return emulator


# --- embedding (9.4) ------------------------------------------------------------------------------


async def test_embedding_of_text_images_and_groups(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    inputs = [
        "alpha",
        ContentItem.image(IMAGE),
        EmbeddingContent([ContentItem.text("a caption"), ContentItem.image(IMAGE)]),
        {"content": {"type": "text", "value": "beta"}},
    ]
    result = await client.embedding("mm", inputs, input_type="search")
    assert isinstance(result, asyncinfer.EmbeddingResult)
    assert result.kind == "float" and len(result.embeddings) == 4  # one vector per input
    assert result.embeddings[0] == es.embedding_for("mm", "alpha")
    assert result.embeddings[3] == es.embedding_for("mm", "beta")
    assert result.embeddings[1] != result.embeddings[2]
    assert list(result.raw) == ["embeddings"]
    request = es.requests[-1]
    assert request.path == "/_inference/embedding/mm"
    assert request.json == {
        "input": [
            "alpha",
            {"content": {"type": "image", "format": "base64", "value": IMAGE}},
            {
                "content": [
                    {"type": "text", "value": "a caption"},
                    {"type": "image", "format": "base64", "value": IMAGE},
                ]
            },
            {"content": {"type": "text", "value": "beta"}},
        ],
        "input_type": "search",
    }
    one = await client.embedding("mm-bytes", "gamma", task_settings={"truncate": True})
    assert one.kind == "byte" and one.embeddings == [es.embedding_for("mm-bytes", "gamma")]
    assert es.requests[-1].json == {"input": "gamma", "task_settings": {"truncate": True}}


async def test_embedding_errors_as_elasticsearch_writes_them(client: InferenceClient) -> None:
    bad_image = {"content": {"type": "image", "value": "not a data URI"}}
    with pytest.raises(asyncinfer.BadRequestError) as info:
        await client.embedding("mm", [bad_image])
    err = info.value
    assert err.error_type == "x_content_parse_exception"
    # Every level names the parser's current token: the item's closing brace.
    assert err.reason == "[1:62] [EmbeddingRequest] failed to parse field [input]"
    cause = err.body["error"]["caused_by"]
    assert cause["reason"] == "[1:62] [InferenceStringGroup] failed to parse field [content]"
    assert cause["caused_by"]["caused_by"] == {
        "type": "illegal_argument_exception",
        "reason": "base64 inputs must be specified as data URIs with the format "
        "[data:{MIME-type};base64,...]",
    }
    with pytest.raises(asyncinfer.BadRequestError, match=r"type \[embedding\] does not match"):
        await client.embedding("ranker", "x")  # not an embedding endpoint
    with pytest.raises(asyncinfer.NotFoundError):
        await client.embedding("nope", "x")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ([], "input must not be an empty list"),
        ([""], r"input\[0\] must not be empty"),
        ([3], r"input\[0\] must be a string, a ContentItem"),
        ([{"type": "text", "value": "x"}], r"input\[0\] must be \{'content'"),
        ([EmbeddingContent([])], "at least one item"),
    ],
)
async def test_embedding_inputs_are_checked_before_io(
    es: ElasticsearchEmulator, client: InferenceClient, args: Any, match: str
) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match=match):
        await client.embedding("mm", args)
    with pytest.raises(asyncinfer.InvalidRequestError, match="data URI"):
        ContentItem.image("https://example.com/cat.png")
    assert es.requests == []


async def test_embedding_before_9_4_and_groups_before_9_5() -> None:
    old = await _at("9.3.0")
    try:
        async with InferenceClient(old.url, retries=0) as client:
            unknown = r"Unknown task_type \[embedding\]"
            with pytest.raises(asyncinfer.BadRequestError, match=unknown):
                await client.embedding("mm", "x")
    finally:
        await old.close()
    first = await _at("9.4.0")
    try:
        async with InferenceClient(first.url, retries=0) as client:
            single = await client.embedding("mm", EmbeddingContent([ContentItem.text("x")]))
            assert single.embeddings == [first.embedding_for("mm", "x")]
            group = EmbeddingContent([ContentItem.text("x"), ContentItem.text("y")])
            with pytest.raises(asyncinfer.BadRequestError) as info:
                await client.embedding("mm", group)
            cause = info.value.body["error"]["caused_by"]
            assert cause["reason"].endswith(
                "[InferenceStringGroup] content doesn't support values of type: START_ARRAY"
            )
    finally:
        await first.close()


# --- rerank objects (9.5) ---------------------------------------------------------------------


async def test_rerank_with_content_items(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    documents = [
        "cats and dogs",
        ContentItem.text("elastic search engine"),
        ContentItem.image(IMAGE),
    ]
    result = await client.rerank("ranker", ContentItem.text("elastic search"), documents, top_n=2)
    assert [hit.index for hit in result.results] == [1, 0]
    assert result.results[0].text == "elastic search engine"
    assert es.requests[-1].json == {
        "query": {"type": "text", "value": "elastic search"},
        "input": [
            "cats and dogs",
            {"type": "text", "value": "elastic search engine"},
            {"type": "image", "format": "base64", "value": IMAGE},
        ],
        "top_n": 2,
    }
    with pytest.raises(asyncinfer.BadRequestError) as info:
        await client.rerank("ranker", ContentItem.image(IMAGE), ["a"])
    assert info.value.reason is not None
    assert info.value.reason.endswith("[RerankRequest] failed to parse field [query]")
    assert info.value.body["error"]["caused_by"]["reason"] == (
        "Field [query] contains unsupported [type] value [image]. Supported values are [text]"
    )


async def test_rerank_objects_before_9_5() -> None:
    old = await _at("9.4.0")
    try:
        async with InferenceClient(old.url, retries=0) as client:
            plain = await client.rerank("ranker", "elastic", ["elastic", "x"])
            assert plain.results[0].index == 0  # strings: every release
            refused = r"failed to parse field \[input\]"
            with pytest.raises(asyncinfer.BadRequestError, match=refused):
                await client.rerank("ranker", "elastic", [ContentItem.text("elastic")])
    finally:
        await old.close()


# --- non-streaming chat completion (9.6) ----------------------------------------------------------


async def test_chat_completion_is_the_stream_assembled(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    completion = await client.chat_completion("chat", MESSAGES, max_completion_tokens=64)
    assert isinstance(completion, asyncinfer.ChatCompletion)
    assert (completion.object, completion.model) == ("chat.completion", "gpt-4o")
    assert completion.id.startswith("chatcmpl-")
    (choice,) = completion.choices
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert completion.content == "".join(es.chat_answer_for("chat", MESSAGES))
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert es.requests[-1].path == "/_inference/chat_completion/chat"
    assert es.requests[-1].json == {"messages": MESSAGES, "max_completion_tokens": 64}
    streamed = await client.stream_chat_completion("chat", MESSAGES).final_message()
    assert completion.message == streamed


async def test_chat_completion_reasoning_turn_is_the_stream_assembled(
    client: InferenceClient,
) -> None:
    reasoning = {"effort": "high"}
    completion = await client.chat_completion("chat", MESSAGES, reasoning=reasoning)
    message = completion.message
    assert message.reasoning and message.reasoning_details  # 9.6 sends the turn's reasoning
    assert message.usage is not None and message.usage.completion_tokens_details is not None
    streamed = client.stream_chat_completion("chat", MESSAGES, reasoning=reasoning)
    assert message == await streamed.final_message()


async def test_chat_completion_tool_call(client: InferenceClient) -> None:
    tool = Tool(name="get_weather", parameters={"type": "object"})
    messages = [{"role": "user", "content": "call get_weather for Boston"}]
    completion = await client.chat_completion("chat", messages, tools=[tool])
    message = completion.message
    assert (message.finish_reason, message.content) == ("tool_calls", None)
    (call,) = message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert orjson.loads(call.function.arguments) == {"query": "call get_weather for Boston"}
    streamed = await client.stream_chat_completion("chat", messages, tools=[tool]).final_message()
    assert streamed.tool_calls == message.tool_calls


async def test_chat_completion_errors_are_openai_shaped(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    with pytest.raises(asyncinfer.NotFoundError) as info:
        await client.chat_completion("nope", MESSAGES)
    err = info.value
    assert (err.status, err.code, err.error_type, err.reason) == (
        404,
        "not_found",
        "resource_not_found_exception",
        "Inference endpoint not found [nope]",
    )
    expected = {"code": "not_found", "message": err.reason, "type": err.error_type}
    assert err.body == {"error": expected}
    es.add_fault(Fault(provider_status=503, provider_message="busy"), inference_id="chat")
    with pytest.raises(asyncinfer.BadRequestError, match=r"status \[503\]") as provider:
        await client.chat_completion("chat", MESSAGES)
    assert provider.value.code == "bad_request"
    with pytest.raises(asyncinfer.InvalidRequestError, match="messages must not be empty"):
        await client.chat_completion("chat", [])


async def test_chat_completion_before_9_6_only_streams() -> None:
    old = await _at("9.5.0")
    try:
        async with InferenceClient(old.url, retries=0) as client:
            with pytest.raises(asyncinfer.BadRequestError) as info:
                await client.chat_completion("chat", MESSAGES)
            assert info.value.reason == ONLY_STREAMS
            assert info.value.error_type == "unified_chat_completion_exception"
            message = await client.stream_chat_completion("chat", MESSAGES).final_message()
            assert message.content
    finally:
        await old.close()


# --- region policy (9.5) ----------------------------------------------------------------------


async def test_region_policy_lifecycle(es: ElasticsearchEmulator, client: InferenceClient) -> None:
    with pytest.raises(asyncinfer.NotFoundError) as missing:
        await client.get_region_policy()
    assert (missing.value.error_type, missing.value.reason) == (
        "resource_not_found_exception",
        NO_POLICY,
    )
    created = await client.put_region_policy(allowed_geos=["us", "eu"])
    assert created.region_policy == asyncinfer.RegionPolicy(allowed_geos=["us", "eu"])
    assert created.created_at.endswith("Z") and created.updated_at is None
    assert created.created_by is None
    assert es.requests[-1].json == {"region_policy": {"allowed_geos": ["us", "eu"]}}
    assert await client.get_region_policy() == created

    regions = [CspRegion("aws", "us-east-1"), ("aws", "eu-west-1")]
    replaced = await client.put_region_policy(
        allowed_regions=regions, fallback_region={"csp": "aws", "region": "us-east-1"}, force=True
    )
    assert es.requests[-1].query == {"force": "true"}
    assert replaced.region_policy.allowed_geos is None
    assert replaced.region_policy.allowed_regions == [
        CspRegion("aws", "us-east-1"),
        CspRegion("aws", "eu-west-1"),
    ]
    assert replaced.region_policy.fallback_region == CspRegion("aws", "us-east-1")
    assert replaced.created_at == created.created_at and replaced.updated_at is not None
    again = await client.put_region_policy(replaced.region_policy)  # a policy round-trips
    assert again.region_policy == replaced.region_policy

    assert await client.delete_region_policy() is True
    with pytest.raises(asyncinfer.NotFoundError, match=NO_POLICY):
        await client.delete_region_policy()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of allowed_geos and allowed_regions"),
        ({"allowed_geos": ["us"], "allowed_regions": [("aws", "x")]}, "exactly one"),
        ({"allowed_geos": []}, "allowed_geos must be a non-empty list"),
        ({"allowed_geos": "us"}, "allowed_geos must be a non-empty list"),
        ({"allowed_regions": [("aws",)]}, r"allowed_regions\[0\] must be a CspRegion"),
        ({"allowed_geos": ["us"], "force": "yes"}, "force"),
    ],
)
async def test_region_policy_arguments_are_checked_before_io(
    es: ElasticsearchEmulator, client: InferenceClient, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match=match):
        await client.put_region_policy(**kwargs)
    assert es.requests == []


async def test_region_policy_before_9_5_is_an_endpoint_id() -> None:
    old = await _at("9.4.0")
    try:
        async with InferenceClient(old.url, retries=0) as client:
            # The path then reaches GET _inference/{inference_id}.
            with pytest.raises(asyncinfer.NotFoundError, match=r"not found \[_region_policy\]"):
                await client.get_region_policy()
    finally:
        await old.close()


# --- endpoint management ----------------------------------------------------------------------


async def test_put_endpoint_with_the_task_type_in_the_body(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    settings = {"api_key": "sk-1", "model_id": "gpt-4o"}
    info = await client.put_endpoint(
        "body-typed", task_type="completion", service="openai", service_settings=settings
    )
    assert (info.inference_id, info.task_type) == ("body-typed", "completion")
    assert es.requests[-1].path == "/_inference/body-typed"
    assert es.requests[-1].json == {
        "task_type": "completion",
        "service": "openai",
        "service_settings": settings,
    }
    with pytest.raises(asyncinfer.InvalidRequestError, match="needs a task type"):
        await client.put_endpoint("x", service="openai", service_settings=settings)
    with pytest.raises(asyncinfer.InvalidRequestError, match="two task types"):
        await client.put_endpoint(
            "completion", "x", task_type="rerank", service="openai", service_settings=settings
        )


async def test_update_endpoint_chunking_service_and_timeout(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    es.add_endpoint("embed", "text_embedding")
    updated = await client.update_endpoint(
        "embed", chunking_settings={"strategy": "word", "max_chunk_size": 120}, server_timeout=45
    )
    assert updated.chunking_settings == {"strategy": "word", "max_chunk_size": 120, "overlap": 100}
    assert es.requests[-1].query == {"timeout": "45s"}
    with pytest.raises(asyncinfer.BadRequestError) as info:
        await client.update_endpoint("embed", service="openai", task_settings={"user": "u"})
    assert info.value.reason == (
        "Request contained fields which cannot be updated, remove these fields and try again "
        "[{service=openai}]"
    )
    with pytest.raises(asyncinfer.InvalidRequestError, match="chunking_settings"):
        await client.update_endpoint("embed", service="openai")

    old = await _at("9.4.0")
    try:
        old.add_endpoint("embed", "text_embedding")
        async with InferenceClient(old.url, retries=0) as before:
            with pytest.raises(asyncinfer.BadRequestError, match="cannot be updated"):
                await before.update_endpoint("embed", chunking_settings={"strategy": "none"})
    finally:
        await old.close()


async def test_delete_dry_run_error_message(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    unused = await client.delete_endpoint("ranker", dry_run=True)
    assert (unused.acknowledged, unused.error_message) == (False, "")
    es.add_pipeline_reference("ranker", "my-pipeline")
    used = await client.delete_endpoint("ranker", dry_run=True)
    assert used.pipelines == ["my-pipeline"]
    assert used.error_message is not None
    assert used.error_message.startswith(
        "Inference endpoint ranker is referenced by pipelines: [my-pipeline]."
    )
    with pytest.raises(asyncinfer.ConflictError) as info:
        await client.delete_endpoint("ranker")
    assert info.value.status == 409 and info.value.reason == used.error_message
    done = await client.delete_endpoint("ranker", force=True)
    assert (done.acknowledged, done.error_message) == (True, None)


async def test_services_of_early_releases_with_provider(
    es: ElasticsearchEmulator, client: InferenceClient
) -> None:
    # 8.16-8.17 wrote "provider", "configuration" and task types as objects.
    early = [
        {
            "provider": "openai",
            "task_types": [{"task_type": "completion", "configuration": {}}, "text_embedding"],
            "configuration": {"api_key": {"label": "API Key"}},
        }
    ]
    es.add_fault(Fault(raw_body=orjson.dumps(early), raw_content_type="application/json"))
    (service,) = await client.get_services()
    assert (service.service, service.name) == ("openai", None)
    assert service.task_types == ["completion", "text_embedding"]
    assert service.configurations == {"api_key": {"label": "API Key"}}
