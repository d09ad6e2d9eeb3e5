"""Models: what Elasticsearch really sends parses; what callers pass is validated before I/O."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import asyncinfer
from asyncinfer import (
    AssistantMessage,
    ChatCompletionChunk,
    SystemMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from asyncinfer._models import message_to_json, parse_inference, tool_to_json
from asyncinfer._models_endpoints import EndpointInfo
from asyncinfer._stream import assemble_message

# The composed example stream of spec §4.3, event by event.
SPEC_CHAT_EVENTS = [
    b'{"id":"chatcmpl-1","choices":[{"delta":{"content":"","role":"assistant"},"index":0}],'
    b'"model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}',
    b'{"id":"chatcmpl-1","choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":'
    b'{"arguments":"","name":"get_weather"},"type":"function"}]},"index":0}],'
    b'"model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}',
    b'{"id":"chatcmpl-1","choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":'
    b'"{\\"city\\":\\"Boston\\"}"},"type":null}]},"index":0}],"model":"gpt-4o-2024-08-06",'
    b'"object":"chat.completion.chunk"}',
    b'{"id":"chatcmpl-1","choices":[{"delta":{},"finish_reason":"tool_calls","index":0}],'
    b'"model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}',
    b'{"id":"chatcmpl-1","choices":[],"model":"gpt-4o-2024-08-06","object":"chat.completion.chunk",'
    b'"usage":{"completion_tokens":28,"prompt_tokens":16,"total_tokens":44}}',
]


def chunks(events: list[bytes]) -> list[ChatCompletionChunk]:
    return [ChatCompletionChunk.from_dict(orjson.loads(e)) for e in events]


def test_chat_chunks_as_elasticsearch_writes_them() -> None:
    first, call, args, finish, usage = chunks(SPEC_CHAT_EVENTS)
    assert first.id == "chatcmpl-1"
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].finish_reason is None  # omitted, not null
    assert call.choices[0].delta.tool_calls[0].type == "function"
    assert args.choices[0].delta.tool_calls[0].type is None  # "type": null
    assert args.choices[0].delta.tool_calls[0].id is None
    assert finish.choices[0].finish_reason == "tool_calls"
    assert usage.choices == []
    assert usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.total_tokens) == (16, 44)


def test_the_specification_wrapper_is_accepted() -> None:
    inner = orjson.loads(SPEC_CHAT_EVENTS[0])
    assert ChatCompletionChunk.from_dict(
        {"chat_completion": inner}
    ) == ChatCompletionChunk.from_dict(inner)


@pytest.mark.parametrize(
    "payload",
    [
        {"completion": [{"delta": "x"}]},
        [1, 2],
        {"id": "x", "choices": "no"},
        {"choices": [{"delta": 3}]},
    ],
)
def test_not_a_chat_chunk(payload: Any) -> None:
    with pytest.raises(asyncinfer.SSEProtocolError, match="not a chat completion chunk"):
        ChatCompletionChunk.from_dict(payload)


def test_final_message_assembles_tool_calls_from_fragments() -> None:
    message = assemble_message(chunks(SPEC_CHAT_EVENTS))
    assert message.role == "assistant"
    assert message.content is None  # only tool calls
    assert message.tool_calls == [
        ToolCall(
            id="call_1",
            function=asyncinfer.FunctionCall(name="get_weather", arguments='{"city":"Boston"}'),
        )
    ]
    assert message.finish_reason == "tool_calls"
    assert message.usage is not None
    assert message.usage.completion_tokens == 28


def test_final_message_joins_content() -> None:
    events = [
        b'{"id":"a","choices":[{"delta":{"content":"","role":"assistant"},"index":0}]}',
        b'{"id":"a","choices":[{"delta":{"content":"Hel"},"index":0}]}',
        b'{"id":"a","choices":[{"delta":{"content":"lo"},"index":0}]}',
        b'{"id":"a","choices":[{"delta":{},"finish_reason":"stop","index":0}]}',
    ]
    message = assemble_message(chunks(events))
    assert (message.content, message.finish_reason, message.tool_calls) == ("Hello", "stop", [])


# --- request messages --------------------------------------------------------------------------


def test_message_models_and_dicts_give_the_same_json() -> None:
    call = ToolCall(id="c1", function=asyncinfer.FunctionCall(name="f", arguments="{}"))
    models = [
        SystemMessage("Be brief."),
        UserMessage([TextPart("Weather?")]),
        AssistantMessage(content="Checking.", tool_calls=[call]),
        ToolMessage(content="cold", tool_call_id="c1"),
    ]
    dicts = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "content": "cold", "tool_call_id": "c1"},
    ]
    assert [message_to_json(m, i) for i, m in enumerate(models)] == dicts
    assert [message_to_json(m, i) for i, m in enumerate(dicts)] == dicts


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"role": "robot", "content": "x"}, r"messages\[3\]\.role must be one of"),
        ({"role": "user"}, r"messages\[3\]\.content is required"),
        ({"role": "tool", "content": "x"}, r"messages\[3\]\.tool_call_id is required"),
        ({"role": "user", "content": 5}, r"messages\[3\]\.content must be a string"),
        ({"role": "user", "content": []}, r"messages\[3\]\.content must not be an empty list"),
        ({"role": "user", "content": "x", "stream": True}, r"unknown fields: \['stream'\]"),
        ({"role": "assistant"}, "needs content or tool_calls"),
        ({"role": "user", "content": "x", "tool_calls": [{}]}, "only for assistant"),
        ("hello", r"messages\[3\] must be a mapping"),
    ],
)
def test_invalid_messages_name_the_field(message: Any, match: str) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match=match):
        message_to_json(message, 3)


def test_tools() -> None:
    tool = Tool(name="get_weather", description="d", parameters={"type": "object"})
    assert tool_to_json(tool, 0) == {
        "type": "function",
        "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object"}},
    }
    with pytest.raises(ValueError, match=r"tools\[1\]\.function\.name"):
        tool_to_json({"type": "function"}, 1)


# --- non-streaming results ---------------------------------------------------------------------


def test_results_of_every_task_type() -> None:
    completion = parse_inference({"completion": [{"result": "a"}, {"result": "b"}]})
    assert isinstance(completion, asyncinfer.CompletionResult)
    assert (completion.results, completion.text) == (["a", "b"], "a")

    for key, kind in (
        ("text_embedding", "float"),
        ("text_embedding_bytes", "byte"),
        ("text_embedding_bits", "bit"),
    ):
        result = parse_inference({key: [{"embedding": [1, -2]}]})
        assert isinstance(result, asyncinfer.TextEmbeddingResult)
        assert (result.kind, result.embeddings) == (kind, [[1, -2]])

    sparse = parse_inference(
        {"sparse_embedding": [{"is_truncated": True, "embedding": {"elastic": 1.5}}]}
    )
    assert isinstance(sparse, asyncinfer.SparseEmbeddingResult)
    assert sparse.embeddings == [
        asyncinfer.SparseEmbedding(tokens={"elastic": 1.5}, is_truncated=True)
    ]

    # The specification's example writes the numbers as strings (spec §6.2).
    rerank = parse_inference(
        {
            "rerank": [
                {"index": "2", "relevance_score": "0.5", "text": "c"},
                {"index": 0, "relevance_score": 0.1},
            ]
        }
    )
    assert isinstance(rerank, asyncinfer.RerankResult)
    assert rerank.results == [
        asyncinfer.RerankHit(index=2, relevance_score=0.5, text="c"),
        asyncinfer.RerankHit(index=0, relevance_score=0.1, text=None),
    ]


def test_endpoint_info_of_old_and_new_versions() -> None:
    new = EndpointInfo._from(
        {
            "inference_id": "x",
            "task_type": "completion",
            "service": "openai",
            "service_settings": {},
        }
    )
    old = EndpointInfo._from({"model_id": "x", "task_type": "completion", "service": "openai"})
    assert new == old
    assert new.task_settings == {}
    assert new.chunking_settings is None
