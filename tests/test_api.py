"""The whole Inference API through InferenceClient, over loopback, against the emulator."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import asyncinfer
from asyncinfer import InferenceClient, Tool, UserMessage
from asyncinfer.testing import ElasticsearchEmulator, Fault

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is Elastic?"},
]


@pytest.fixture
async def api(es: ElasticsearchEmulator) -> AsyncIterator[InferenceClient]:
    es.add_endpoint("chat", "chat_completion")
    es.add_endpoint("embed", "text_embedding", service_settings={"dimensions": 16})
    es.add_endpoint("embed-bytes", "text_embedding", service_settings={"element_type": "byte"})
    es.add_endpoint(
        "embed-bits", "text_embedding", service_settings={"element_type": "bit", "dimensions": 16}
    )
    es.add_endpoint("sparse", "sparse_embedding")
    es.add_endpoint("ranker", "rerank")
    async with InferenceClient(es.url, retries=0) as client:
        yield client


# --- chat completion streaming ----------------------------------------------------------------


async def test_chat_stream_chunks_and_final_message(
    es: ElasticsearchEmulator, api: InferenceClient
) -> None:
    expected = "".join(es.chat_answer_for("chat", MESSAGES))
    async with api.stream_chat_completion("chat", MESSAGES, max_completion_tokens=64) as stream:
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == []  # the usage chunk
    assert chunks[-1].usage is not None
    # The stream keeps each chunk's event data and rebuilds the chunks from it.
    assert stream.chunks == chunks and [c.raw for c in stream.chunks] == [c.raw for c in chunks]
    assert stream.text == stream.partial_text == expected
    message = await stream.final_message()  # already read: assembles what arrived
    assert (message.role, message.content, message.finish_reason) == ("assistant", expected, "stop")
    assert message.usage == chunks[-1].usage
    assert message.tool_calls == []
    body = es.requests[-1].json
    assert es.requests[-1].path == "/_inference/chat_completion/chat/_stream"
    assert body == {"messages": MESSAGES, "max_completion_tokens": 64}


async def test_chat_stream_past_max_kept_text(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion", answer=["word "] * 200)
    expected = "".join(es.chat_answer_for("chat", MESSAGES))
    async with InferenceClient(es.url, limits=asyncinfer.Limits(max_kept_text=2000)) as client:
        stream = client.stream_chat_completion("chat", MESSAGES)
        chunks = [chunk async for chunk in stream]
        assert not stream.text_kept and not stream._reader.ledger.records
        with pytest.raises(asyncinfer.TextNotKeptError, match=r"final_message\(\)"):
            _ = stream.chunks
        assert repr(stream).endswith(f"done chunks={len(chunks)}>")  # counted, kept or not
        with pytest.raises(asyncinfer.TextNotKeptError):
            _ = stream.text
        # What the relay and the CLI need is tracked whatever is kept.
        assert stream.usage is not None and stream.usage == chunks[-1].usage
        assert stream.finish_reason == "stop"
        # final_message() keeps every chunk, past the limit too.
        message = await client.stream_chat_completion("chat", MESSAGES).final_message()
        assert message.content == expected and message.usage is not None
        # keep_text=False: the relay's closing event still has finish_reason and usage.
        relay = client.stream_chat_completion("chat", MESSAGES, keep_text=False).sse()
        events = [event async for event in relay]
        done = orjson.loads(events[-1].split(b"data: ", 1)[1])
        assert done["finish_reason"] == "stop" and done["usage"] == chunks[-1].usage.raw


async def test_chat_text_deltas_and_models(es: ElasticsearchEmulator, api: InferenceClient) -> None:
    messages = [
        asyncinfer.SystemMessage("Be brief."),
        UserMessage([asyncinfer.TextPart("Hi there")]),
    ]
    stream = api.stream_chat_completion("chat", messages, temperature=0.2, stop="\n\n")
    deltas = [d async for d in stream.text_deltas()]
    assert all(deltas)
    assert "".join(deltas) == stream.text
    assert es.requests[-1].json["stop"] == ["\n\n"]
    assert es.requests[-1].json["messages"][1]["content"] == [{"type": "text", "text": "Hi there"}]


async def test_chat_tool_call_is_assembled(es: ElasticsearchEmulator, api: InferenceClient) -> None:
    tool = Tool(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    stream = api.stream_chat_completion(
        "chat", [{"role": "user", "content": "call get_weather for Boston"}], tools=[tool]
    )
    message = await stream.final_message()
    assert message.finish_reason == "tool_calls"
    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert call.id and call.type == "function"
    assert isinstance(orjson.loads(call.function.arguments), dict)
    assert message.content is None or message.content == ""


async def test_chat_errors_in_the_openai_shape(
    es: ElasticsearchEmulator, api: InferenceClient
) -> None:
    with pytest.raises(asyncinfer.NotFoundError) as info:
        await api.stream_chat_completion("nope", MESSAGES).final_message()
    err = info.value
    assert (err.status, err.code, err.error_type) == (
        404,
        "not_found",
        "resource_not_found_exception",
    )
    assert err.reason == "Inference endpoint not found [nope]"

    es.add_fault(Fault(error_after=3), inference_id="chat")
    stream = api.stream_chat_completion("chat", MESSAGES)
    with pytest.raises(asyncinfer.StreamApiError) as mid:
        await stream.final_message()
    assert mid.value.partial_text == stream.text != ""
    assert mid.value.reason

    es.add_fault(Fault(provider_status=503, provider_message="overloaded"), inference_id="chat")
    with pytest.raises(asyncinfer.BadRequestError, match="status \\[503\\]"):
        await api.stream_chat_completion("chat", MESSAGES).final_message()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"messages": []}, "messages must not be empty"),
        ({"messages": "hi"}, "messages must be a list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"temperature": "hot"}, "temperature"),
    ],
)
async def test_chat_requests_are_validated_before_io(
    es: ElasticsearchEmulator, api: InferenceClient, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {"messages": MESSAGES, **kwargs}
    with pytest.raises(asyncinfer.InvalidRequestError, match=match):
        api.stream_chat_completion("chat", **args)
    assert es.requests == []


# --- non-streaming inference --------------------------------------------------------------------


async def test_completion(es: ElasticsearchEmulator, api: InferenceClient) -> None:
    result = await api.completion("my-endpoint", "What is Elastic?")
    assert result.text == "".join(es.answer_for("my-endpoint", "What is Elastic?"))
    many = await api.completion("my-endpoint", ["a", "b"])
    assert many.results == ["".join(es.answer_for("my-endpoint", p)) for p in ("a", "b")]
    assert es.requests[-1].path == "/_inference/completion/my-endpoint"
    assert many.raw == {"completion": [{"result": r} for r in many.results]}


@pytest.mark.parametrize(
    ("endpoint", "kind"), [("embed", "float"), ("embed-bytes", "byte"), ("embed-bits", "bit")]
)
async def test_text_embedding_kinds(
    es: ElasticsearchEmulator, api: InferenceClient, endpoint: str, kind: str
) -> None:
    result = await api.text_embedding(endpoint, ["alpha", "beta"], input_type="ingest")
    assert result.kind == kind
    assert result.embeddings == [es.embedding_for(endpoint, t) for t in ("alpha", "beta")]
    assert result.embeddings[0] != result.embeddings[1]
    assert es.requests[-1].json == {"input": ["alpha", "beta"], "input_type": "ingest"}


async def test_sparse_embedding(api: InferenceClient) -> None:
    result = await api.sparse_embedding("sparse", ["elastic search engine"])
    (vector,) = result.embeddings
    assert vector.tokens and all(isinstance(w, float) for w in vector.tokens.values())
    assert vector.is_truncated is False


async def test_rerank(es: ElasticsearchEmulator, api: InferenceClient) -> None:
    docs = ["cats and dogs", "elastic search engine", "search"]
    result = await api.rerank("ranker", "elastic search", docs)
    scores = [hit.relevance_score for hit in result.results]
    assert scores == sorted(scores, reverse=True)
    assert result.results[0].index == 1
    assert result.results[0].text == docs[1]
    top = await api.rerank("ranker", "elastic search", docs, top_n=1, return_documents=False)
    assert [(hit.index, hit.text) for hit in top.results] == [(1, None)]
    assert es.requests[-1].json == {
        "query": "elastic search",
        "input": docs,
        "top_n": 1,
        "return_documents": False,
    }


async def test_generic_inference(api: InferenceClient) -> None:
    result = await api.inference(None, "embed", input="hello")
    assert isinstance(result, asyncinfer.TextEmbeddingResult)
    assert len(result.embeddings[0]) == 16


async def test_validation_errors_from_elasticsearch(api: InferenceClient) -> None:
    with pytest.raises(asyncinfer.BadRequestError) as info:
        await api.inference("sparse_embedding", "sparse", input="x", query="q")
    assert info.value.error_type == "action_request_validation_exception"
    assert "Field [query] cannot be specified" in (info.value.reason or "")
    with pytest.raises(asyncinfer.BadRequestError, match="Incompatible task_type"):
        await api.completion("embed", "x")
    with pytest.raises(asyncinfer.InvalidRequestError, match="documents must be a list"):
        await api.rerank("ranker", "q", "not a list")  # type: ignore[arg-type]


async def test_a_json_call_is_retried_like_a_stream(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("embed", "text_embedding")
    es.add_fault(Fault(status=503), inference_id="embed")
    policy = asyncinfer.RetryPolicy(backoff_initial=0.01)
    async with InferenceClient(es.url, retries=policy) as client:
        result = await client.text_embedding("embed", "x")
    assert result.embeddings
    assert [r.status for r in es.requests] == [503, 200]


# --- endpoint management ------------------------------------------------------------------------


async def test_endpoint_lifecycle(es: ElasticsearchEmulator, api: InferenceClient) -> None:
    info = await api.put_endpoint(
        "completion",
        "my-openai",
        service="openai",
        service_settings={"api_key": "sk-secret", "model_id": "gpt-4o"},
        task_settings={"user": "me"},
    )
    assert (info.inference_id, info.task_type, info.service) == (
        "my-openai",
        "completion",
        "openai",
    )
    assert "api_key" not in info.service_settings  # Elasticsearch never returns secrets
    assert info.task_settings == {"user": "me"}

    (got,) = await api.get_endpoints(inference_id="my-openai")
    assert got == info
    listed = await api.get_endpoints()
    assert "my-openai" in [e.inference_id for e in listed]
    by_type = await api.get_endpoints("completion")
    assert {e.task_type for e in by_type} == {"completion"}

    updated = await api.update_endpoint("my-openai", task_settings={"user": "you"})
    assert updated.task_settings == {"user": "you"}

    es.add_pipeline_reference("my-openai", "my-pipeline")
    with pytest.raises(asyncinfer.ConflictError, match="referenced by pipelines"):
        await api.delete_endpoint("my-openai")
    dry = await api.delete_endpoint("my-openai", dry_run=True)
    assert (dry.acknowledged, dry.pipelines) == (False, ["my-pipeline"])
    deleted = await api.delete_endpoint("my-openai", force=True)
    assert deleted.acknowledged is True
    with pytest.raises(asyncinfer.NotFoundError):
        await api.get_endpoints(inference_id="my-openai")


async def test_put_errors(api: InferenceClient) -> None:
    with pytest.raises(asyncinfer.BadRequestError, match="already exists"):
        await api.put_endpoint(
            "completion",
            "my-endpoint",
            service="openai",
            service_settings={"api_key": "k", "model_id": "m"},
        )
    with pytest.raises(asyncinfer.InvalidRequestError, match="service_settings must be a mapping"):
        await api.put_endpoint("completion", "x", service="openai", service_settings="no")  # type: ignore[arg-type]


async def test_services(api: InferenceClient) -> None:
    services = await api.get_services()
    names = [s.service for s in services]
    assert "openai" in names
    assert names == sorted(names)
    rerankers = await api.get_services("rerank")
    assert all("rerank" in s.task_types for s in rerankers)


# --- the official client agrees ---------------------------------------------------------------


@pytest.fixture
async def newest() -> AsyncIterator[tuple[ElasticsearchEmulator, InferenceClient]]:
    """The ``api`` endpoints on an Elasticsearch 9.6 emulator, which has every API."""
    async with ElasticsearchEmulator(version="9.6.0") as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        emulator.add_endpoint("chat", "chat_completion")
        emulator.add_endpoint("embed", "text_embedding", service_settings={"dimensions": 16})
        emulator.add_endpoint("mm", "embedding")
        emulator.add_endpoint("sparse", "sparse_embedding")
        emulator.add_endpoint("ranker", "rerank")
        async with InferenceClient(emulator.url, retries=0) as client:
            yield emulator, client


async def test_the_official_client_gets_the_same_answers(
    newest: tuple[ElasticsearchEmulator, InferenceClient],
) -> None:
    """The emulator speaks Elasticsearch as its own client expects, product check included.

    elasticsearch-py 9.5 has ``embedding`` and the region policy methods; it has no method for
    non-streaming chat completion, so ``inference(task_type="chat_completion", body=...)``
    (the route Elasticsearch's own YAML test uses) stands in for it.
    """
    from elasticsearch import AsyncElasticsearch
    from elasticsearch.exceptions import GeneralAvailabilityWarning

    es, api = newest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        official = AsyncElasticsearch(es.url)
    try:
        await _same_inference_answers(official, api)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GeneralAvailabilityWarning)  # experimental APIs
            await _same_newest_answers(official, api)
        await _same_management_answers(official, api)
    finally:
        await official.close()
    # It sent its compatibility headers on both sides, and the emulator accepted them.
    official_requests = [r for r in es.requests if "compatible-with" in r.headers.get("Accept", "")]
    assert official_requests


async def _same_inference_answers(official: Any, api: InferenceClient) -> None:
    ours = await api.completion("my-endpoint", "hello")
    theirs = await official.inference.completion(inference_id="my-endpoint", input="hello")
    assert theirs.body == ours.raw

    ours_e = await api.text_embedding("embed", ["a", "b"])
    theirs_e = await official.inference.text_embedding(inference_id="embed", input=["a", "b"])
    assert theirs_e.body == ours_e.raw

    ours_s = await api.sparse_embedding("sparse", "a b c")
    theirs_s = await official.inference.sparse_embedding(inference_id="sparse", input="a b c")
    assert theirs_s.body == ours_s.raw

    docs = ["x y", "elastic"]
    ours_r = await api.rerank("ranker", "elastic", docs, top_n=2)
    theirs_r = await official.inference.rerank(
        inference_id="ranker", query="elastic", input=docs, top_n=2
    )
    assert theirs_r.body == ours_r.raw


async def _same_newest_answers(official: Any, api: InferenceClient) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    inputs = ["a", asyncinfer.ContentItem.image(image)]
    ours = await api.embedding("mm", inputs)
    wire = [inputs[0], {"content": {"type": "image", "format": "base64", "value": image}}]
    theirs = await official.inference.embedding(inference_id="mm", embedding={"input": wire})
    assert theirs.body == ours.raw

    query = {"type": "text", "value": "elastic"}
    docs = ["x y", {"type": "text", "value": "elastic"}]
    ours_r = await api.rerank("ranker", query, docs, return_documents=False)
    theirs_r = await official.inference.rerank(
        inference_id="ranker", query=query, input=docs, return_documents=False
    )
    assert theirs_r.body == ours_r.raw

    chat = await api.chat_completion("chat", MESSAGES)
    theirs_c = await official.inference.inference(
        task_type="chat_completion", inference_id="chat", body={"messages": MESSAGES}
    )
    assert theirs_c.body == chat.raw


async def _same_management_answers(official: Any, api: InferenceClient) -> None:
    await official.inference.put(
        inference_id="made-by-official",
        inference_config={
            "task_type": "completion",  # no task type in the URL: the body carries it
            "service": "openai",
            "service_settings": {"api_key": "k", "model_id": "m"},
        },
    )
    (ours_info,) = await api.get_endpoints(inference_id="made-by-official")
    theirs_info = await official.inference.get(inference_id="made-by-official")
    assert theirs_info.body["endpoints"][0] == ours_info.raw
    updated = await official.inference.update(
        inference_id="made-by-official",
        inference_config={
            "task_settings": {"user": "u"},
            "chunking_settings": {"strategy": "none"},
        },
    )
    assert updated.body["task_settings"] == {"user": "u"}
    assert updated.body["chunking_settings"] == {"strategy": "none"}
    deleted = await official.inference.delete(inference_id="made-by-official")
    assert deleted.body["acknowledged"] is True
    assert [
        r.inference_id for r in await api.get_endpoints() if r.inference_id == "made-by-official"
    ] == []

    put = await official.inference.put_region_policy(region_policy={"allowed_geos": ["us"]})
    ours_policy = await api.get_region_policy()
    assert put.body == ours_policy.raw
    assert (await official.inference.get_region_policy()).body == ours_policy.raw
    assert (await official.inference.delete_region_policy()).body == {"acknowledged": True}
