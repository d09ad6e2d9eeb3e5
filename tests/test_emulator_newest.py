"""The emulator's 9.4-9.6 routes byte for byte: bodies, key order and error texts as ES writes
them (see the emulator's ``_es_bodies``, ``_chat_completion`` and ``_region_policy``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from asyncinfer.testing import ElasticsearchEmulator

JSON = {"Content-Type": "application/json"}
USER = [{"role": "user", "content": "What is Elastic?"}]
POLICY = "/_inference/_region_policy"


def envelope(error_type: str, reason: str, status: int, **extra: Any) -> dict[str, Any]:
    cause = {"type": error_type, "reason": reason}
    return {"error": {"root_cause": [cause], **cause, **extra}, "status": status}


async def call(
    es: ElasticsearchEmulator, method: str, path: str, body: object = None
) -> tuple[int, bytes]:
    data = None if body is None else orjson.dumps(body)
    async with aiohttp.ClientSession() as session:
        headers = JSON if data is not None else {}
        async with session.request(method, es.url + path, data=data, headers=headers) as r:
            assert r.headers["X-elastic-product"] == "Elasticsearch"
            assert r.headers["Content-Type"] == "application/json"
            return r.status, await r.read()


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    async with ElasticsearchEmulator(version="9.6.0") as emulator:
        emulator.add_endpoint("chat", "chat_completion", service_settings={"model_id": "gpt-4o"})
        emulator.add_endpoint("mm", "embedding", service_settings={"dimensions": 4})
        emulator.add_endpoint("rr", "rerank")
        yield emulator


# --- non-streaming chat completion (9.6) --------------------------------------------------------


async def test_chat_completion_bytes(es: ElasticsearchEmulator) -> None:
    status, raw = await call(es, "POST", "/_inference/chat_completion/chat", {"messages": USER})
    assert status == 200
    body = orjson.loads(raw)
    content = "".join(es.chat_answer_for("chat", USER))
    # UnifiedChatCompletionResults with "message": id, choices, model, object, usage; each
    # choice message, finish_reason, index; the message content, role.
    expected = {
        "id": body["id"],
        "choices": [
            {
                "message": {"content": content, "role": "assistant"},
                "finish_reason": "stop",
                "index": 0,
            }
        ],
        "model": "gpt-4o",
        "object": "chat.completion",
        "usage": body["usage"],
    }
    assert raw == orjson.dumps(expected)
    assert list(body["usage"]) == ["completion_tokens", "prompt_tokens", "total_tokens"]
    # No task type in the URL: the endpoint's task type takes the chat path too.
    assert (await call(es, "POST", "/_inference/chat", {"messages": USER}))[1] == raw


async def test_chat_completion_tool_call_bytes(es: ElasticsearchEmulator) -> None:
    body = {
        "messages": [{"role": "user", "content": "use lookup"}],
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
    }
    status, raw = await call(es, "POST", "/_inference/chat_completion/chat", body)
    message = orjson.loads(raw)["choices"][0]["message"]
    assert status == 200
    # No content: a null field is not written. ToolCall: index, id, function, type.
    assert list(message) == ["role", "tool_calls"]
    (call_) = message["tool_calls"]
    assert list(call_[0]) == ["index", "id", "function", "type"]
    assert call_[0]["function"] == {"arguments": '{"query":"use lookup"}', "name": "lookup"}


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        pytest.param(
            "/_inference/chat_completion/chat",
            {"messages": USER, "stream": True},
            400,
            {
                "error": {
                    "code": "bad_request",
                    "message": "[1:60] [UnifiedCompletionRequest] unknown field [stream]",
                    "type": "x_content_parse_exception",
                }
            },
            id="unknown-field-openai-shaped",
        ),
        pytest.param(
            "/_inference/chat_completion/nope",
            {"messages": USER},
            404,
            {
                "error": {
                    "code": "not_found",
                    "message": "Inference endpoint not found [nope]",
                    "type": "resource_not_found_exception",
                }
            },
            id="unknown-id",
        ),
        pytest.param(
            "/_inference/chat_completion/rr",
            {"messages": USER},
            400,
            {
                "error": {
                    "code": "bad_request",
                    "message": "Incompatible task_type for unified API, the requested type "
                    "[chat_completion] must be one of [chat_completion]",
                    "type": "status_exception",
                }
            },
            id="not-a-chat-endpoint",
        ),
        pytest.param(
            "/_inference/chat_completion/chat",
            {"messages": []},
            400,
            envelope(
                "action_request_validation_exception",
                "Validation Failed: 1: Field [messages] cannot be an empty array;",
                400,
            ),
            id="empty-messages-standard-envelope",
        ),
        pytest.param(
            "/_inference/nope",
            {"messages": USER},
            404,
            envelope("resource_not_found_exception", "Inference endpoint not found [nope]", 404),
            id="lookup-without-task-type-standard-envelope",
        ),
    ],
)
async def test_chat_completion_errors(
    es: ElasticsearchEmulator, path: str, body: object, status: int, expected: object
) -> None:
    assert await call(es, "POST", path, body) == (status, orjson.dumps(expected))


async def test_chat_completion_refused_before_9_6() -> None:
    async with ElasticsearchEmulator(version="9.5.3") as es:
        es.add_endpoint("chat", "chat_completion")
        status, raw = await call(es, "POST", "/_inference/chat_completion/chat", {"messages": USER})
    assert status == 400
    assert orjson.loads(raw)["error"]["type"] == "unified_chat_completion_exception"


# --- embedding (9.4) ------------------------------------------------------------------------------


async def test_embedding_bytes(es: ElasticsearchEmulator) -> None:
    body = {"input": ["a", {"content": [{"type": "text", "value": "b"}]}]}
    status, raw = await call(es, "POST", "/_inference/embedding/mm", body)
    vectors = [es.embedding_for("mm", "a"), es.embedding_for("mm", "b")]
    assert (status, raw) == (200, orjson.dumps({"embeddings": [{"embedding": v} for v in vectors]}))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"input": []},
            envelope(
                "action_request_validation_exception",
                "Validation Failed: 1: Field [inputs] cannot be an empty array;",
                400,
            ),
            id="empty",
        ),
        pytest.param(
            {"inputs": ["x"]},
            envelope(
                "x_content_parse_exception",
                "[1:2] [EmbeddingRequest] unknown field [inputs] did you mean [input]?",
                400,
            ),
            id="unknown-field",
        ),
        pytest.param(
            {"input_type": "search"},
            envelope("illegal_argument_exception", "Required [input]", 400),
            id="no-input",
        ),
        pytest.param(
            {"input": [1]},
            envelope(
                "x_content_parse_exception",
                "[1:11] [EmbeddingRequest] failed to parse field [input]",
                400,
                caused_by={
                    "type": "x_content_parse_exception",
                    "reason": "Unsupported token [VALUE_NUMBER]",
                },
            ),
            id="number",
        ),
        pytest.param(
            {"input": {"content": {"type": "video", "value": "x"}}},
            envelope(
                "x_content_parse_exception",
                "[1:29] [EmbeddingRequest] failed to parse field [input]",
                400,
                caused_by={
                    "type": "x_content_parse_exception",
                    "reason": "[1:29] [InferenceStringGroup] failed to parse field [content]",
                    "caused_by": {
                        "type": "x_content_parse_exception",
                        "reason": "[1:29] [InferenceString] failed to parse field [type]",
                        "caused_by": {
                            "type": "illegal_argument_exception",
                            "reason": "Unrecognized type [video], must be one of [text, image]",
                        },
                    },
                },
            ),
            id="unknown-data-type",
        ),
        pytest.param(
            {"input": {"content": {"type": "image", "format": "text", "value": "x"}}},
            envelope(
                "x_content_parse_exception",
                "[1:64] [EmbeddingRequest] failed to parse field [input]",
                400,
                caused_by={
                    "type": "x_content_parse_exception",
                    "reason": "[1:64] [InferenceStringGroup] failed to parse field [content]",
                    "caused_by": {
                        "type": "x_content_parse_exception",
                        "reason": "Failed to build [InferenceString] after last required field "
                        "arrived",
                        "caused_by": {
                            "type": "illegal_argument_exception",
                            "reason": "Data type [image] does not support data format [text], "
                            "supported formats are [base64]",
                        },
                    },
                },
            ),
            id="format-of-another-type",
        ),
    ],
)
async def test_embedding_errors(es: ElasticsearchEmulator, body: object, expected: object) -> None:
    assert await call(es, "POST", "/_inference/embedding/mm", body) == (400, orjson.dumps(expected))


async def test_embedding_task_type_before_9_4() -> None:
    async with ElasticsearchEmulator(version="9.3.0") as es:
        put = {"service": "emulator", "service_settings": {}}
        expected = envelope("status_exception", "Unknown task_type [embedding]", 400)
        for method, path, body in [
            ("POST", "/_inference/embedding/x", {"input": "a"}),
            ("PUT", "/_inference/embedding/x", put),
            ("PUT", "/_inference/x", {"task_type": "embedding", **put}),
        ]:
            assert await call(es, method, path, body) == (400, orjson.dumps(expected))


# --- rerank (9.5) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"input": ["a"]},
            envelope("illegal_argument_exception", "Required [query]", 400),
            id="no-query",
        ),
        pytest.param(
            {"input": [], "query": "", "top_n": 0},
            envelope(
                "action_request_validation_exception",
                "Validation Failed: 1: Field [input] cannot be an empty array;2: Field [query] "
                "cannot be empty;3: Field [top_n] must be greater than or equal to 1;",
                400,
            ),
            id="validation-accumulates",
        ),
        pytest.param(
            {"input": ["a"], "query": {"type": "image", "value": "data:image/png;base64,AA=="}},
            envelope(
                "x_content_parse_exception",
                "[1:76] [RerankRequest] failed to parse field [query]",
                400,
                caused_by={
                    "type": "x_content_parse_exception",
                    "reason": "Field [query] contains unsupported [type] value [image]. "
                    "Supported values are [text]",
                },
            ),
            id="image-query",
        ),
    ],
)
async def test_rerank_request_errors(
    es: ElasticsearchEmulator, body: object, expected: object
) -> None:
    assert await call(es, "POST", "/_inference/rerank/rr", body) == (400, orjson.dumps(expected))


async def test_rerank_objects(es: ElasticsearchEmulator) -> None:
    body = {
        "query": {"type": "text", "value": "elastic"},
        "input": {"type": "text", "value": "elastic"},  # a single input is a list of one
        "return_documents": "true",
    }
    status, raw = await call(es, "POST", "/_inference/rr", body)
    assert (status, orjson.loads(raw)) == (
        200,
        {"rerank": [{"index": 0, "relevance_score": 1.0, "text": "elastic"}]},
    )


# --- region policy (9.5) --------------------------------------------------------------------------


async def test_region_policy_documents(es: ElasticsearchEmulator) -> None:
    put = {"region_policy": {"allowed_regions": [{"csp": "gcp", "region": "us-central1"}]}}
    status, raw = await call(es, "PUT", POLICY, put)
    created = orjson.loads(raw)
    assert status == 200 and list(created) == ["region_policy", "created_at"]
    assert created["region_policy"] == put["region_policy"]
    # strict_date_optional_time_nanos: at least milliseconds, UTC.
    assert created["created_at"][:2] == "20" and created["created_at"][19] == "."
    assert created["created_at"].endswith("Z") and len(created["created_at"]) >= 24
    assert await call(es, "GET", POLICY) == (200, raw)
    replace = {"region_policy": {"allowed_geos": "us"}}  # a single string is a list of one
    status, raw = await call(es, "PUT", POLICY + "?force", replace)
    replaced = orjson.loads(raw)
    assert list(replaced) == ["region_policy", "created_at", "updated_at"]
    assert replaced["region_policy"] == {"allowed_geos": ["us"]}
    assert replaced["created_at"] == created["created_at"]
    assert await call(es, "DELETE", POLICY) == (200, b'{"acknowledged":true}')
    missing = envelope(
        "resource_not_found_exception", "No region policy is configured for this deployment", 404
    )
    for method in ("GET", "DELETE"):
        assert await call(es, method, POLICY) == (404, orjson.dumps(missing))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"allowed_geos": ["us"]},
            envelope(
                "x_content_parse_exception",
                "[1:2] [put_region_policy_request] unknown field [allowed_geos]",
                400,
            ),
            id="unknown-top-level-field",
        ),
        pytest.param(
            {
                "region_policy": {
                    "allowed_geos": ["us"],
                    "allowed_regions": [{"csp": "a", "region": "b"}],
                }
            },
            envelope(
                "x_content_parse_exception",
                "[1:85] [put_region_policy_request] failed to parse field [region_policy]",
                400,
                caused_by={
                    "type": "illegal_argument_exception",
                    "reason": "The following fields are not allowed together: "
                    "[allowed_geos, allowed_regions] ",
                },
            ),
            id="both-lists",
        ),
        pytest.param(
            {"region_policy": {"allowed_regions": []}},
            envelope(
                "action_request_validation_exception",
                "Validation Failed: 1: [region_policy.allowed_regions] must not be empty;",
                400,
            ),
            id="empty-lists",
        ),
        pytest.param(
            {},
            envelope("illegal_argument_exception", "Required [region_policy]", 400),
            id="no-policy",
        ),
    ],
)
async def test_region_policy_put_errors(
    es: ElasticsearchEmulator, body: object, expected: object
) -> None:
    assert await call(es, "PUT", POLICY, body) == (400, orjson.dumps(expected))
    assert (await call(es, "GET", POLICY))[0] == 404  # nothing stored


async def test_region_policy_without_a_body(es: ElasticsearchEmulator) -> None:
    expected = envelope("parse_exception", "body is required", 400)
    assert await call(es, "PUT", POLICY) == (400, orjson.dumps(expected))


async def test_region_policy_routes_before_9_5() -> None:
    async with ElasticsearchEmulator(version="9.4.0") as es:
        status, raw = await call(es, "GET", POLICY)
    missing = "Inference endpoint not found [_region_policy]"
    assert (status, raw) == (
        404,
        orjson.dumps(envelope("resource_not_found_exception", missing, 404)),
    )


# --- update: chunking settings (9.5) ------------------------------------------------------------


async def test_update_chunking_settings(es: ElasticsearchEmulator) -> None:
    body = {"chunking_settings": {"strategy": "sentence"}}
    status, raw = await call(es, "PUT", "/_inference/mm/_update", body)
    chunking = {"strategy": "sentence", "max_chunk_size": 250, "sentence_overlap": 1}
    assert status == 200 and orjson.loads(raw)["chunking_settings"] == chunking
    status, raw = await call(es, "PUT", "/_inference/mm/_update", {"chunking_settings": "x"})
    reason = "Unable to parse [chunking_settings] in the request [{chunking_settings=x}]"
    assert (status, raw) == (400, orjson.dumps(envelope("status_exception", reason, 400)))
