"""Chat completion, Elasticsearch 9.4+ shapes: multimodal content, reasoning, usage details.

Over real loopback sockets: the client against the emulator as 9.4 (and 9.2, where the shapes
are refused), the emulator's parser byte for byte, and a raw-socket server for tool call
fragments that Elasticsearch's own reader sent without their id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

import asyncinfer
from asyncinfer import (
    AssistantMessage,
    FilePart,
    ImagePart,
    InferenceClient,
    ReasoningDetail,
    TextPart,
    UserMessage,
)
from asyncinfer.testing import ElasticsearchEmulator, Fault

BOM = b"\xef\xbb\xbf"
CHAT = "/_inference/chat_completion/chat/_stream"
PARSER = "[UnifiedCompletionRequest] failed to parse field [messages]"
QUESTION = "What is on this picture?"


@pytest.fixture
async def es94() -> AsyncIterator[ElasticsearchEmulator]:
    async with ElasticsearchEmulator(version="9.4.0") as emulator:
        emulator.add_endpoint("chat", "chat_completion")
        yield emulator


@pytest.fixture
async def client94(es94: ElasticsearchEmulator) -> AsyncIterator[InferenceClient]:
    async with InferenceClient(es94.url, retries=0) as client:
        yield client


# --- multimodal content: what the client sends ---------------------------------------------------


async def test_text_image_and_file_parts_are_sent_as_elasticsearch_reads_them(
    es94: ElasticsearchEmulator, client94: InferenceClient
) -> None:
    parts = [
        TextPart(QUESTION),
        ImagePart("https://example.com/cat.png", detail="low"),
        ImagePart.from_bytes(b"\x89PNG", "image/png"),
        FilePart.from_bytes(b"%PDF-1.7", filename="cat.pdf"),
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AA==", "detail": None}},
    ]
    message = await client94.stream_chat_completion("chat", [UserMessage(parts)]).final_message()
    assert es94.requests[-1].status == 200
    assert es94.requests[-1].json["messages"][0]["content"] == [
        {"type": "text", "text": QUESTION},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjc=",
                                  "filename": "cat.pdf"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AA=="}},
    ]  # fmt: skip
    # The model answers the text parts; images and files have no text.
    messages = [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    assert message.content == "".join(es94.chat_answer_for("chat", messages))


@pytest.mark.parametrize(
    ("part", "error"),
    [
        ({"type": "video", "text": "x"}, ".type must be one of text, image_url, file; got 'video'"),
        ({"type": "text"}, ".text must be a string, got None"),
        ({"type": "text", "text": "x", "cache": 1}, " has unknown fields: ['cache']"),
        ({"type": "image_url", "text": "x"}, " has unknown fields: ['text']"),
        ({"type": "image_url", "image_url": "http://x"}, ".image_url must be a mapping"),
        ({"type": "image_url", "image_url": {}}, ".image_url.url must be a string"),
        (
            {"type": "image_url", "image_url": {"url": "u", "size": 2}},
            ".image_url has unknown fields: ['size']",
        ),
        (ImagePart("u", detail="huge"), ".image_url.detail must be one of auto, low, high"),
        (
            {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}},
            ".file.file_id is not supported by Elasticsearch; send file_data and filename",
        ),
        ({"type": "file", "file": {"file_data": "d"}}, ".file.filename must be a string"),
        ("just text", " must be a TextPart, ImagePart, FilePart or a mapping"),
    ],
)
async def test_a_malformed_part_fails_before_any_io(
    es94: ElasticsearchEmulator, client94: InferenceClient, part: Any, error: str
) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError) as info:
        client94.stream_chat_completion("chat", [UserMessage([TextPart("hi"), part])])
    assert str(info.value).startswith("messages[0].content[1]" + error)
    assert es94.requests == []


async def test_before_9_4_an_image_part_is_refused_as_elasticsearch_refuses_it() -> None:
    async with ElasticsearchEmulator(version="9.3.0") as es:
        es.add_endpoint("chat", "chat_completion")
        async with InferenceClient(es.url, retries=0) as client:
            stream = client.stream_chat_completion("chat", [UserMessage([ImagePart("u")])])
            with pytest.raises(asyncinfer.BadRequestError) as info:
                await stream.final_message()
    key = at(es.requests[-1].body, b'"image_url":{')
    # ContentObject (8.18-9.3) knows text and type only: unknown field [image_url], nested.
    assert info.value.reason == f"{key} {PARSER}"
    assert (info.value.code, info.value.error_type) == ("bad_request", "x_content_parse_exception")


# --- multimodal content and reasoning details: what the emulator accepts, as ES 9.4 ---------------


def at(body: bytes, marker: bytes, delta: int = 0) -> str:
    """``[line:column]`` of the first ``marker`` in the request bytes (plus ``delta``)."""
    return f"[1:{body.index(marker) + 1 + delta}]"


def user(*parts: object) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(parts)}]}


def replayed(*details: object) -> dict[str, Any]:
    turn = {"role": "assistant", "content": "Yes.", "reasoning": "r", "reasoning_details": details}
    return {"messages": [{"role": "user", "content": "Hi"}, turn]}


DETAIL = {"type": "reasoning.text", "text": "t"}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
CLOSE = b"}]}]}"  # the part's END_OBJECT, then the content array, message and messages


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param(user({"type": "video", "text": "x"}), (CLOSE, 0), id="unknown-type"),
        pytest.param(user({"type": "anything", "text": "x"}), (CLOSE, 0), id="free-type-pre-9.4"),
        pytest.param(user({"type": "text", "text": "x", "n": 1}), (CLOSE, 0), id="extra-key"),
        pytest.param(user({"type": "text"}), (CLOSE, 0), id="text-missing"),
        pytest.param(user({"text": "x"}), (CLOSE, 0), id="type-missing"),
        pytest.param(user({"type": "image_url", "image_url": {}}), (b"}}]", 1), id="no-url"),
        pytest.param(
            user({"type": "image_url", "image_url": {"url": "u", "detail": "huge"}}),
            (b"}}]", 1),
            id="bad-detail",
        ),
        pytest.param(
            user({"type": "file", "file": {"file_data": "d", "filename": "f", "file_id": "i"}}),
            (b"}}]", 1),
            id="file-id",
        ),
        pytest.param(user({"type": "file", "file": "d"}), (CLOSE, 0), id="file-not-a-map"),
        pytest.param(user("hello"), (b'"hello"', 0), id="not-an-object"),
        pytest.param(
            replayed({"type": "reasoning.text", "text": "t", "colour": "red"}),
            (b'"colour"', 0),
            id="detail-unknown-field",
        ),
        pytest.param(
            replayed({"type": "reasoning.text", "index": "first", "text": "t"}),
            (b'"first"', 0),
            id="detail-index-not-a-long",
        ),
        pytest.param(
            replayed({"type": "reasoning.fancy", "text": "t"}), (b"}]}]}", 0), id="detail-type"
        ),
        pytest.param(
            replayed({"type": "reasoning.encrypted", "data": "d", "summary": "s"}),
            (b"}]}]}", 0),
            id="detail-exclusive-fields",
        ),
        pytest.param(
            replayed({"type": "reasoning.encrypted", "text": "t"}),
            (b"}]}]}", 0),
            id="detail-needs-data",
        ),
        pytest.param(replayed({"type": "reasoning.text"}), (b"}]}]}", 0), id="detail-empty"),
        pytest.param(replayed({"text": "t"}), (b"}]}]}", 0), id="detail-type-missing"),
    ],
)
async def test_9_4_parses_parts_and_details_as_elasticsearch(
    es94: ElasticsearchEmulator, body: dict[str, Any], where: tuple[bytes, int]
) -> None:
    status, error = await post_error(es94, body)
    sent = orjson.dumps(body)
    assert status == 400
    assert error == {
        "error": {
            "code": "bad_request",
            "message": f"{at(sent, *where)} {PARSER}",
            "type": "x_content_parse_exception",
        }
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(user({"type": " TEXT ", "text": "x"}), id="type-trimmed-any-case"),
        pytest.param(
            user({"image_url": {"detail": "Low", "url": "u"}, "type": "image_url"}), id="detail"
        ),
        pytest.param(user({"type": "image_url", "image_url": {"url": "u", "detail": None}})),
        pytest.param(user(IMAGE, {"type": "file", "file": {"file_data": "d", "filename": "f"}})),
        pytest.param(replayed({"type": "reasoning.encrypted", "data": "d", "index": 0})),
        pytest.param(replayed({"type": "reasoning.summary", "summary": "s", "format": "f"})),
        pytest.param(replayed({"type": "reasoning.text", "signature": "sig", "id": "rs_1"})),
        pytest.param(
            {"messages": [{"role": "assistant", "content": "x", "reasoning_details": DETAIL}]},
            id="one-detail-object-for-an-array",
        ),
    ],
)
async def test_9_4_accepts_what_elasticsearch_accepts(
    es94: ElasticsearchEmulator, body: dict[str, Any]
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(es94.url + CHAT, json=body) as response,
    ):
        assert response.status == 200, await response.read()
        assert (await response.read()).endswith(b"data: [DONE]\n\n")


async def post_error(es: ElasticsearchEmulator, body: object) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(es.url + CHAT, data=orjson.dumps(body), headers=JSON) as response,
    ):
        raw = await response.read()
    assert raw.startswith(BOM + b"event: error\ndata: ") and raw.endswith(b"\n\n"), raw
    return response.status, orjson.loads(raw.split(b"data: ", 1)[1])


JSON = {"Content-Type": "application/json"}


# --- reasoning: streamed, typed, and sent back ---------------------------------------------------


async def test_reasoning_deltas_and_usage_details_are_typed_and_sent_back(
    es94: ElasticsearchEmulator, client94: InferenceClient
) -> None:
    history: list[Any] = [
        {"role": "user", "content": "What is Elastic?"},
        {"role": "assistant", "content": "A search company."},
        UserMessage("And what is ELSER?"),
    ]
    stream = client94.stream_chat_completion("chat", history, reasoning={"effort": "low"})
    async with stream:
        chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thoughts = [d.reasoning for d in deltas if d.reasoning]
    (detail,) = [detail for d in deltas for detail in d.reasoning_details]
    assert len(thoughts) > 1 and "".join(thoughts).startswith('The user wrote "And what is ELSER?"')
    assert detail.type == "reasoning.encrypted" and detail.index == 0 and detail.data
    assert stream.text == "".join(d.content or "" for d in deltas)  # content only

    usage = chunks[-1].usage
    assert usage is not None
    reasoning_tokens = len("".join(thoughts).split())
    assert usage.completion_tokens_details == asyncinfer.CompletionTokensDetails(
        reasoning_tokens=reasoning_tokens
    )
    assert usage.prompt_tokens_details == asyncinfer.PromptTokensDetails(cached_tokens=6)
    assert usage.completion_tokens == reasoning_tokens + len(stream.text.split())
    assert list(usage.raw) == [  # Elasticsearch's key order
        "completion_tokens", "prompt_tokens", "total_tokens",
        "prompt_tokens_details", "completion_tokens_details",
    ]  # fmt: skip

    message = await stream.final_message()
    assert message.reasoning == "".join(thoughts)
    assert message.reasoning_details == [detail]
    assert message.usage == usage
    # The reasoning turn goes back with the next question, as Elasticsearch 9.4 reads it.
    history += [message.to_assistant_message(), UserMessage("Thanks, and in short?")]
    again = await client94.stream_chat_completion("chat", history).final_message()
    assert again.content and es94.requests[-1].status == 200
    turn = es94.requests[-1].json["messages"][3]
    assert turn == {
        "role": "assistant",
        "content": message.content,
        "reasoning": message.reasoning,
        "reasoning_details": [{"type": "reasoning.encrypted", "index": 0, "data": detail.data}],
    }
    assert again.usage is not None and again.usage.completion_tokens_details is None


@pytest.mark.parametrize(
    ("reasoning", "streamed", "counted"),
    [
        ({"effort": "high", "exclude": True}, False, True),
        ({"effort": "none"}, False, False),
        ({"enabled": True}, True, True),
    ],
)
async def test_reasoning_follows_the_request(
    client94: InferenceClient, reasoning: dict[str, Any], streamed: bool, counted: bool
) -> None:
    stream = client94.stream_chat_completion("chat", [UserMessage("Hi")], reasoning=reasoning)
    message = await stream.final_message()
    assert (message.reasoning is not None, bool(message.reasoning_details)) == (streamed, streamed)
    assert message.usage is not None
    assert (message.usage.completion_tokens_details is not None) == counted
    assert message.usage.prompt_tokens_details is None  # one message: nothing cached


async def test_before_9_4_usage_has_no_details(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion")
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    async with InferenceClient(es.url) as client:
        message = await client.stream_chat_completion(
            "chat", [*history, {"role": "user", "content": "Bye"}]
        ).final_message()
    assert message.usage is not None
    assert message.usage.raw.keys() == {"completion_tokens", "prompt_tokens", "total_tokens"}
    assert message.usage.prompt_tokens_details is None


@pytest.mark.parametrize(
    ("details", "match"),
    [
        ([{"type": "reasoning.fancy", "text": "t"}], r"\.type must be one of reasoning\.encrypted"),
        ([{"type": "reasoning.encrypted", "text": "t"}], "a reasoning.encrypted detail needs data"),
        ([{"type": "reasoning.summary", "text": "t"}], "a reasoning.summary detail needs summary"),
        ([ReasoningDetail(type="reasoning.text")], "needs text or signature"),
        (
            [ReasoningDetail(type="reasoning.encrypted", data="d", signature="s")],
            "data and signature cannot be sent together",
        ),
        ([{"type": "reasoning.text", "text": "t", "colour": 1}], r"unknown fields: \['colour'\]"),
        ([{"type": "reasoning.text", "text": "t", "index": "0"}], r"\.index must be an int"),
        ([{"type": "reasoning.text", "text": 5}], r"\.text must be a string"),
        (["thought"], "must be a ReasoningDetail or a mapping"),
        ({"type": "reasoning.text", "text": "t"}, r"reasoning_details must be a list"),
    ],
)
async def test_reasoning_details_are_checked_before_any_io(
    es94: ElasticsearchEmulator, client94: InferenceClient, details: Any, match: str
) -> None:
    turn = AssistantMessage(content="Yes.", reasoning="r", reasoning_details=details)
    with pytest.raises(asyncinfer.InvalidRequestError, match=match):
        client94.stream_chat_completion("chat", [UserMessage("Hi"), turn])
    with pytest.raises(asyncinfer.InvalidRequestError, match=r"messages\[1\]\.reasoning_details"):
        client94.stream_chat_completion(
            "chat", [UserMessage("Hi"), {"role": "assistant", "content": "Yes.",
                                         "reasoning_details": details}]
        )  # fmt: skip
    assert es94.requests == []


@pytest.mark.parametrize("key", ["reasoning", "reasoning_details"])
async def test_reasoning_is_only_for_assistant_turns(client94: InferenceClient, key: str) -> None:
    with pytest.raises(asyncinfer.InvalidRequestError, match=rf"\.{key} is only for assistant"):
        client94.stream_chat_completion("chat", [{"role": "user", "content": "x", key: "r"}])


# --- raw bytes: fragments as some Elasticsearch releases sent them -----------------------------


def stream_of(*deltas: dict[str, Any], usage: dict[str, Any] | None = None) -> bytes:
    def event(payload: dict[str, Any]) -> bytes:
        return BOM + b"event: message\ndata: " + orjson.dumps(payload) + b"\n\n"

    head = {"id": "chatcmpl-1"}
    tail = {"model": "m", "object": "chat.completion.chunk"}
    body = b"".join(event({**head, "choices": [{"delta": d, "index": 0}], **tail}) for d in deltas)
    if usage is not None:
        body += event({**head, "choices": [], **tail, "usage": usage})
    return body + BOM + b"event: message\ndata: [DONE]\n\n"


@contextlib.asynccontextmanager
async def raw_server(body: bytes) -> AsyncIterator[str]:
    """A server that answers every request with ``body`` as an SSE stream, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"
            b"content-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def fragment(index: int, arguments: str, **extra: Any) -> dict[str, Any]:
    function = {"arguments": arguments, **extra.pop("function", {})}
    return {"tool_calls": [{"index": index, **extra, "function": function, "type": None}]}


FRAGMENTS = {
    # Gemini through EIS: one fragment, with an empty id and name and the whole arguments.
    "one-fragment-empty-id": [fragment(0, '{"q":"x"}', id="", function={"name": ""})],
    # The fragment that had the id lost: the arguments come in pieces, without an id.
    "pieces-without-id": [fragment(0, '{"q":'), fragment(1, "{}"), fragment(0, '"x"}')],
    # GPT-OSS: a second call reuses index 0 with its own id.
    "index-reused-with-new-id": [
        fragment(0, '{"q":"x"}', id="call_a", function={"name": "search"}),
        fragment(0, "{}", id="call_b", function={"name": "clock"}),
    ],
}
EXPECTED = {
    "one-fragment-empty-id": [("", "", '{"q":"x"}')],
    "pieces-without-id": [("", "", '{"q":"x"}'), ("", "", "{}")],
    "index-reused-with-new-id": [("call_a", "search", '{"q":"x"}'), ("call_b", "clock", "{}")],
}


@pytest.mark.parametrize("case", list(FRAGMENTS))
async def test_tool_call_fragments_are_assembled_by_index(case: str) -> None:
    body = stream_of(*FRAGMENTS[case], {})
    async with raw_server(body) as url, InferenceClient(url) as client:
        message = await client.stream_chat_completion("e", [UserMessage("Hi")]).final_message()
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls]
    assert calls == EXPECTED[case]
    assert all(c.type == "function" for c in message.tool_calls)


async def test_reasoning_detail_fragments_are_joined_by_index() -> None:
    text = {"type": "reasoning.text", "index": 0, "format": "anthropic-claude-v1"}
    body = stream_of(
        {"role": "assistant", "reasoning": "Think"},
        {"reasoning": "ing.", "reasoning_details": [{**text, "text": "Think"}]},
        {"reasoning_details": [{**text, "text": "ing."}]},
        {"reasoning_details": [{"type": "reasoning.text", "index": 0, "signature": "sig"}]},
        {"reasoning_details": [{"type": "reasoning.encrypted", "index": 1, "data": "AA=="}]},
        {"content": "Done."},
        usage={
            "completion_tokens": 9,
            "prompt_tokens": 4,
            "total_tokens": 13,
            "completion_tokens_details": {"reasoning_tokens": 7},
        },
    )
    async with raw_server(body) as url, InferenceClient(url) as client:
        message = await client.stream_chat_completion("e", [UserMessage("Hi")]).final_message()
    assert message.reasoning == "Thinking." and message.content == "Done."
    assert message.reasoning_details == [
        ReasoningDetail(
            type="reasoning.text", index=0, format="anthropic-claude-v1", text="Thinking.",
            signature="sig",
        ),
        ReasoningDetail(type="reasoning.encrypted", index=1, data="AA=="),
    ]  # fmt: skip
    assert message.usage is not None and message.usage.prompt_tokens_details is None
    assert message.usage.completion_tokens_details == asyncinfer.CompletionTokensDetails(
        reasoning_tokens=7
    )


async def test_a_reasoning_details_chunk_is_output_so_a_later_error_is_not_retried(
    es94: ElasticsearchEmulator,
) -> None:
    # An encrypted-reasoning model may send reasoning_details with no reasoning text: the
    # caller has seen model output, so a retry would replay it.
    def event(chunk: dict[str, Any]) -> bytes:
        return BOM + b"event: message\ndata: " + orjson.dumps(chunk) + b"\n\n"

    head = {"id": "c1", "model": "m", "object": "chat.completion.chunk"}
    role = {**head, "choices": [{"delta": {"role": "assistant"}, "index": 0}]}
    detail = {"type": "reasoning.encrypted", "index": 0, "data": "opaque"}
    details = {**head, "choices": [{"delta": {"reasoning_details": [detail]}, "index": 0}]}
    error = orjson.dumps(
        {"error": {"type": "status_exception", "reason": "rate limited"}, "status": 429}
    )
    body = event(role) + event(details) + BOM + b"event: error\ndata: " + error + b"\n\n"
    es94.add_fault(Fault(raw_body=body))
    async with InferenceClient(es94.url, retries=2) as client:
        stream = client.stream_chat_completion("chat", [{"role": "user", "content": "Hi"}])
        seen = []
        with pytest.raises(asyncinfer.StreamApiError) as info:
            async for chunk in stream:
                seen.append(chunk)
    assert info.value.status == 429
    assert [d.type for c in seen for ch in c.choices for d in ch.delta.reasoning_details] == [
        "reasoning.encrypted"
    ]
    assert len(es94.requests) == 1, "not retried after output"
