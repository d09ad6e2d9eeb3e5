"""The emulator's exact bytes, over real loopback sockets.

A hand-written HTTP/1.1 client (asyncio streams) checks the status line, headers and chunked
framing byte for byte; aiohttp's client is used where framing does not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import attrs
import orjson
import pytest

from asyncinfer.testing import ElasticsearchEmulator, Fault, RecordedRequest

BOM = b"\xef\xbb\xbf"
PROMPT = "What is Elastic?"
BODY = orjson.dumps({"input": PROMPT})
STREAM = "/_inference/completion/my-endpoint/_stream"
JSON = {"Content-Type": "application/json"}
DONE = BOM + b"event: message\ndata: [DONE]\n\n"


# --- a raw HTTP/1.1 client ----------------------------------------------------------------------


@attrs.define
class Raw:
    """One response as read off the socket."""

    status_line: str
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    body: bytes
    complete: bool  # the chunked body ended with its zero-length chunk

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    @property
    def events(self) -> list[bytes]:
        return [e + b"\n\n" for e in self.body.split(b"\n\n")[:-1]]


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> Raw:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in header_lines)]
    raw = Raw(status_line, headers, [], b"", False)
    if raw.header("Content-Length") is not None:
        raw.body = await reader.readexactly(int(raw.header("Content-Length") or 0))
        raw.complete = True
        return raw
    assert raw.header("Transfer-Encoding") == "chunked", raw.headers
    try:
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            data = await reader.readexactly(size + 2)
            assert data[-2:] == b"\r\n"
            if size == 0:
                raw.complete = True
                break
            raw.chunks.append(data[:-2])
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    raw.body = b"".join(raw.chunks)
    return raw


@attrs.define
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        self.writer.write(request_bytes(method, path, body, headers))
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def connect(es: ElasticsearchEmulator) -> Connection:
    host, port = es.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    return Connection(reader, writer)


async def exchange(
    es: ElasticsearchEmulator,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Raw:
    conn = await connect(es)
    try:
        await conn.send(method, path, body, headers)
        return await read_response(conn.reader)
    finally:
        await conn.close()


async def post_stream(
    es: ElasticsearchEmulator, path: str = STREAM, body: bytes = BODY, **headers: str
) -> Raw:
    return await exchange(es, "POST", path, body, {**JSON, **headers})


def message(payload: object) -> bytes:
    return BOM + b"event: message\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(error_type: str, reason: str, status: int) -> bytes:
    return BOM + b"event: error\ndata: " + envelope(error_type, reason, status) + b"\n\n"


def envelope(error_type: str, reason: str, status: int) -> bytes:
    cause = {"type": error_type, "reason": reason}
    return orjson.dumps({"error": {"root_cause": [cause], **cause}, "status": status})


def deltas_of(raw: Raw) -> list[list[str]]:
    groups = []
    for event in raw.events:
        assert event.startswith(BOM + b"event: message\ndata: "), event
        data = event[len(BOM + b"event: message\ndata: ") : -2]
        if data != b"[DONE]":
            groups.append([d["delta"] for d in orjson.loads(data)["completion"]])
    return groups


def assert_sse_head(raw: Raw, status: int) -> None:
    assert raw.status_line == f"HTTP/1.1 {status} {_REASONS[status]}"
    assert raw.header("X-elastic-product") == "Elasticsearch"
    assert raw.header("Content-Type") == "text/event-stream"  # §2.1: no charset
    assert raw.header("Transfer-Encoding") == "chunked"
    assert raw.header("Content-Length") is None
    # Elasticsearch (Netty) sends neither.
    assert raw.header("Server") is None and raw.header("Date") is None


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    async with ElasticsearchEmulator() as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        yield emulator


# --- success ----------------------------------------------------------------------------------


async def test_success_stream_bytes(es: ElasticsearchEmulator) -> None:
    raw = await post_stream(es)
    assert_sse_head(raw, 200)
    assert raw.complete
    assert raw.body == es.stream_body_for("my-endpoint", PROMPT)
    events = raw.events
    assert b"".join(events) == raw.body
    assert all(e.startswith(BOM + b"event: message\ndata: ") for e in events)  # §3.1
    assert events[0] == message({"completion": [{"delta": ""}]})
    assert events[-1] == DONE
    groups = deltas_of(raw)
    assert [d for g in groups[1:] for d in g] == es.answer_for("my-endpoint", PROMPT)
    sizes = {len(g) for g in groups[1:]}
    assert sizes == {1, 2, 3}  # single- and multi-delta events (deltas_per_event=3)
    (record,) = es.requests
    assert (record.status, record.completed, record.disconnected_at) == (200, True, None)
    assert record.events_sent == len(events)
    assert record.bytes_sent == len(raw.body)


async def test_one_write_per_event(es: ElasticsearchEmulator) -> None:
    raw = await post_stream(es)
    assert raw.chunks == raw.events


def test_answer_is_deterministic_and_exercises_utf8() -> None:
    es = ElasticsearchEmulator()
    es.add_endpoint("my-endpoint", answer_tokens=200)
    es.add_endpoint("other", answer_tokens=200)
    answer = es.answer_for("my-endpoint", PROMPT)
    # Pinned: hashlib, not hash(), so the same on every machine and run.
    assert answer[:6] == ["What", " is", " Elastic?", " Elasticsearch", " stores", " documents"]
    # A budget, not a count: whole sentences while the next one fits (none is over 14 words).
    assert 200 - 14 < len(answer) <= 200
    assert answer[-1].endswith((".", "?", "!", "🦌"))
    assert all(token.startswith(" ") for token in answer[1:])
    assert es.answer_for("my-endpoint", PROMPT) == answer
    assert es.answer_for("my-endpoint", "something else") != answer
    assert es.answer_for("other", PROMPT) != answer
    assert any(len(t.encode()) != len(t) for t in answer), "no multi-byte UTF-8 in the answer"
    with pytest.raises(KeyError):
        es.answer_for("nope", PROMPT)


@pytest.mark.parametrize("tokens", [40, 60, 61, 97, 500])
def test_default_answer_ends_on_a_whole_sentence(tokens: int) -> None:
    es = ElasticsearchEmulator()
    es.add_endpoint("demo", answer_tokens=tokens)
    text = "".join(es.answer_for("demo", "What is Elastic?"))
    # The answer is the echo plus sentences from the model's list, none of them cut.
    assert text.startswith("What is Elastic? ")
    rest = text.removeprefix("What is Elastic? ")
    assert rest.endswith((".", "🦌"))
    assert len(text.split()) <= tokens


@pytest.mark.parametrize(
    ("version", "missing"),
    [("9.6.0", set()), ("9.2.0", {"my-multimodal"}), ("8.16.0", {"my-multimodal", "my-chat"})],
)
async def test_the_docs_endpoints_leave_out_task_types_the_version_lacks(
    version: str, missing: set[str]
) -> None:
    docs = {
        ("completion", "my-endpoint"),
        ("chat_completion", "my-chat"),
        ("text_embedding", "my-embeddings"),
        ("sparse_embedding", "my-elser"),
        ("rerank", "my-reranker"),
        ("embedding", "my-multimodal"),
    }
    async with ElasticsearchEmulator(version=version) as es:
        assert es.endpoints == []  # a new emulator has none: tests see only their own
        created = es.add_docs_endpoints(event_delay=0.01, answer_tokens=12)
        assert set(es.endpoints) == {(t, i) for t, i in docs if i not in missing}
        assert sorted(created) == sorted(i for _, i in docs if i not in missing)
        assert len(es.answer_for("my-endpoint", "hi there")) <= 12
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{es.url}/_inference/my-embeddings") as resp,
        ):
            settings = (await resp.json())["endpoints"][0]["service_settings"]
        assert settings["dimensions"] == 8


def test_a_budget_below_one_sentence_is_still_honoured() -> None:
    es = ElasticsearchEmulator()
    es.add_endpoint("tiny", answer_tokens=5)
    assert len(es.answer_for("tiny", "What is Elastic?")) == 5


async def test_fixed_and_callable_answers(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("fixed", answer="Hello  café world ", deltas_per_event=1)
    assert es.answer_for("fixed", "x") == ["Hello", "  café", " world "]
    es.add_endpoint("listed", answer=["a", "", "b"])
    assert es.answer_for("listed", "x") == ["a", "", "b"]
    es.add_endpoint("upper", answer=lambda text: [text.upper()])
    raw = await post_stream(es, "/_inference/upper/_stream")
    assert deltas_of(raw) == [[""], [PROMPT.upper()]]


async def test_json_is_written_as_jackson_writes_it(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("odd", answer=["a\x1fb", "\\u001f", "é/\n"])
    raw = await post_stream(es, "/_inference/odd/_stream")
    # Raw UTF-8, short escapes, upper-case hex escapes; an escaped backslash stays as it is.
    assert raw.body == (
        message({"completion": [{"delta": ""}]})
        + BOM
        + b'event: message\ndata: {"completion":[{"delta":"a\\u001Fb"}]}\n\n'
        + BOM
        + b'event: message\ndata: {"completion":[{"delta":"\\\\u001f"},'
        + b'{"delta":"\xc3\xa9/\\n"}]}\n\n'
        + DONE
    )


async def test_non_streaming_provider_sends_one_result_event(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("plain", streaming=False)
    raw = await post_stream(es, "/_inference/completion/plain/_stream")
    assert_sse_head(raw, 200)
    result = "".join(es.answer_for("plain", PROMPT))
    assert raw.body == message({"completion": [{"result": result}]}) + DONE  # §3.2


async def test_list_input_and_timeout_query(es: ElasticsearchEmulator) -> None:
    body = orjson.dumps({"input": ["a", "b"], "task_settings": {"temperature": 0.1}})
    raw = await post_stream(es, STREAM + "?timeout=30s", body)
    assert raw.status == 200
    assert raw.body == es.stream_body_for("my-endpoint", ["a", "b"])
    record = es.requests[-1]
    assert record.query == {"timeout": "30s"}
    assert record.path == STREAM
    assert record.json == {"input": ["a", "b"], "task_settings": {"temperature": 0.1}}
    assert record.headers["content-type"] == "application/json"


async def test_x_opaque_id_is_echoed(es: ElasticsearchEmulator) -> None:
    raw = await post_stream(es, **{"X-Opaque-Id": "trace-1"})
    assert raw.header("X-Opaque-Id") == "trace-1"
    raw = await exchange(es, "GET", "/_inference/nope", headers={"X-Opaque-Id": "trace-2"})
    assert (raw.status, raw.header("X-Opaque-Id")) == (404, "trace-2")
    raw = await post_stream(es)
    assert raw.header("X-Opaque-Id") is None


# --- errors before the stream -----------------------------------------------------------------

NOT_STREAMABLE = (
    "Streaming is not allowed for service [emulator] and task [{}]. "
    "Supported tasks: [completion,chat_completion]"
)
PARSER = "[cluster:internal/xpack/inference]"


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type", "reason"),
    [
        pytest.param(
            "/_inference/completion/nope/_stream",
            BODY,
            404,
            "resource_not_found_exception",
            "Inference endpoint not found [nope]",
            id="unknown-id",
        ),
        pytest.param(
            "/_inference/nope/_stream",
            BODY,
            404,
            "resource_not_found_exception",
            "Inference endpoint not found [nope]",
            id="unknown-id-no-task-type",
        ),
        pytest.param(
            "/_inference/completion/embed/_stream",
            BODY,
            400,
            "status_exception",
            "Incompatible task_type, the requested type [completion] does not match the model "
            "type [text_embedding]",
            id="task-type-mismatch",
        ),
        pytest.param(
            "/_inference/text_embedding/embed/_stream",
            BODY,
            405,
            "status_exception",
            NOT_STREAMABLE.format("text_embedding"),
            id="not-streamable",
        ),
        pytest.param(
            "/_inference/embed/_stream",
            BODY,
            405,
            "status_exception",
            NOT_STREAMABLE.format("any"),  # ES names the request's task type
            id="not-streamable-no-task-type",
        ),
        pytest.param(
            STREAM,
            b'{"input":"x","inptu":"y"}',
            400,
            "x_content_parse_exception",
            f"[1:14] {PARSER} unknown field [inptu] did you mean [input]?",
            id="unknown-field",
        ),
        pytest.param(
            STREAM,
            b'{\n  "input": "x",\n  "stream": true\n}',
            400,
            "x_content_parse_exception",
            f"[3:3] {PARSER} unknown field [stream]",
            id="unknown-field-second-line",
        ),
        pytest.param(
            STREAM,
            b'{"input":5}',
            400,
            "x_content_parse_exception",
            f"[1:10] {PARSER} input doesn't support values of type: VALUE_NUMBER",
            id="wrong-type",
        ),
        pytest.param(
            STREAM,
            b'{"task_settings":{}}',
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [input] cannot be null;",
            id="missing-input",
        ),
        pytest.param(
            STREAM,
            b'{"input":[]}',
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [input] cannot be an empty array;",
            id="empty-input",
        ),
        pytest.param(
            STREAM,
            b'{"input":"x","top_n":3}',
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [top_n] cannot be specified for task type [completion];",
            id="rerank-field",
        ),
        pytest.param(
            STREAM,
            b'["x"]',
            400,
            "x_content_parse_exception",
            "[1:1] Expected START_OBJECT but was: START_ARRAY",
            id="not-an-object",
        ),
    ],
)
async def test_errors_before_the_stream_are_sse(
    es: ElasticsearchEmulator, path: str, body: bytes, status: int, error_type: str, reason: str
) -> None:
    es.add_endpoint("embed", "text_embedding")
    raw = await post_stream(es, path, body)
    assert_sse_head(raw, status)
    assert raw.complete
    # §5.2: one error event, no [DONE].
    assert raw.body == error_event(error_type, reason, status)
    record = es.requests[-1]
    assert (record.status, record.completed, record.events_sent) == (status, True, 1)


async def test_body_that_is_not_json(es: ElasticsearchEmulator) -> None:
    raw = await post_stream(es, body=b'{"input": nope}')
    assert_sse_head(raw, 400)
    event = raw.events[0]
    assert event.startswith(BOM + b"event: error\ndata: ")
    error = orjson.loads(event[len(BOM + b"event: error\ndata: ") :])
    assert error["status"] == 400
    assert error["error"]["type"] == "x_content_parse_exception"
    assert error["error"]["reason"].startswith("[1:")
    assert raw.events == [event]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "expected"),
    [
        pytest.param(
            "/_inference/nonsense/my-endpoint/_stream",
            BODY,
            JSON,
            400,
            envelope("status_exception", "Unknown task_type [nonsense]", 400),
            id="unknown-task-type",
        ),
        pytest.param(
            STREAM,
            b"",
            JSON,
            400,
            envelope("parse_exception", "request body is required", 400),
            id="no-body",
        ),
        pytest.param(
            STREAM + "?stream=true",
            BODY,
            JSON,
            400,
            envelope(
                "illegal_argument_exception",
                f"request [{STREAM}] contains unrecognized parameter: [stream]",
                400,
            ),
            id="unknown-query-param",
        ),
        pytest.param(
            STREAM + "?timeout=soon",
            BODY,
            JSON,
            400,
            envelope(
                "parse_exception",
                "failed to parse setting [timeout] with value [soon] as a time value: unit is "
                "missing or unrecognized",
                400,
            ),
            id="bad-timeout",
        ),
        pytest.param(
            STREAM,
            BODY,
            {},
            406,
            b'{"error":"Content-Type header is missing","status":406}',
            id="no-content-type",
        ),
        pytest.param(
            STREAM,
            BODY,
            {"Content-Type": "text/plain"},
            406,
            b'{"error":"Content-Type header [text/plain] is not supported","status":406}',
            id="text-plain",
        ),
    ],
)
async def test_rest_layer_errors_are_plain_json(
    es: ElasticsearchEmulator,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    expected: bytes,
) -> None:
    raw = await exchange(es, "POST", path, body, headers)
    assert raw.status_line == f"HTTP/1.1 {status} {_REASONS[status]}"
    assert raw.header("Content-Type") == "application/json"
    assert raw.header("X-elastic-product") == "Elasticsearch"
    assert raw.header("Content-Length") == str(len(expected))
    assert raw.body == expected


COMPAT_9 = "application/vnd.elasticsearch+json; compatible-with=9"


@pytest.mark.parametrize(
    ("accept", "content_type", "cause"),
    [
        pytest.param(
            "text/event-stream",
            COMPAT_9,
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version. "
            f"Accept=text/event-stream, Content-Type={COMPAT_9}",
            id="one-side-versioned",  # what elasticsearch-py would send (§8.5)
        ),
        pytest.param(
            "application/vnd.elasticsearch+json; compatible-with=8",
            COMPAT_9,
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version and the compatible versions must "
            "match. Accept=application/vnd.elasticsearch+json; compatible-with=8, "
            f"Content-Type={COMPAT_9}",
            id="mismatch",
        ),
        pytest.param(
            "application/vnd.elasticsearch+json; compatible-with=7",
            COMPAT_9,
            "Accept version must be either version 9 or 8, but found 7. "
            "Accept=application/vnd.elasticsearch+json; compatible-with=7",
            id="too-old",
        ),
    ],
)
async def test_compatible_with_rules(
    es: ElasticsearchEmulator, accept: str, content_type: str, cause: str
) -> None:
    headers = {"Accept": accept, "Content-Type": content_type}
    raw = await exchange(es, "POST", STREAM, BODY, headers)
    reason = "Invalid media-type value on headers [Accept, Content-Type]"
    inner = {"type": "media_type_header_exception", "reason": reason}
    expected = {
        "error": {
            "root_cause": [inner],
            **inner,
            "caused_by": {"type": "status_exception", "reason": cause},
        },
        "status": 400,
    }
    assert raw.status == 400
    assert raw.header("Content-Type") == "application/json"
    assert raw.body == orjson.dumps(expected)


async def test_versioned_on_both_sides_streams(es: ElasticsearchEmulator) -> None:
    raw = await exchange(es, "POST", STREAM, BODY, {"Accept": COMPAT_9, "Content-Type": COMPAT_9})
    assert_sse_head(raw, 200)
    assert raw.body == es.stream_body_for("my-endpoint", PROMPT)
    raw = await exchange(es, "GET", "/_inference", headers={"Accept": COMPAT_9})
    assert raw.header("Content-Type") == "application/vnd.elasticsearch+json;compatible-with=9"


async def test_unknown_routes_and_methods(es: ElasticsearchEmulator) -> None:
    raw = await exchange(es, "GET", "/_nope/x?y=1")
    assert raw.status == 400
    assert raw.body == b'{"error":"no handler found for uri [/_nope/x?y=1] and method [GET]"}'
    raw = await exchange(es, "GET", STREAM)
    assert raw.status == 405
    assert raw.header("Allow") == "POST"
    assert raw.body == (
        b'{"error":"Incorrect HTTP method for uri [' + STREAM.encode() + b"] and method [GET], "
        b'allowed: [POST]","status":405}'
    )


# --- faults -----------------------------------------------------------------------------------


async def test_status_fault_is_an_sse_error_with_retry_after(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=429, reason="slow down", retry_after="7"))
    raw = await post_stream(es)
    assert_sse_head(raw, 429)
    assert raw.header("Retry-After") == "7"
    assert raw.body == error_event("status_exception", "slow down", 429)


async def test_status_fault_on_a_json_route(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503, error_type="cluster_block_exception", reason="blocked"))
    raw = await exchange(es, "GET", "/_inference/my-endpoint")
    assert raw.status == 503
    assert raw.header("Content-Type") == "application/json"
    assert raw.body == envelope("cluster_block_exception", "blocked", 503)


async def test_error_mid_stream_has_no_done(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(error_after=2, error_status=429, reason="rate limited"))
    raw = await post_stream(es)
    assert_sse_head(raw, 200)  # the status was already sent (§3.2)
    assert raw.complete
    full = (await post_stream(es)).events
    assert raw.events == [*full[:2], error_event("status_exception", "rate limited", 429)]
    assert DONE not in raw.body
    record = es.requests[0]
    assert (record.completed, record.events_sent) == (True, 3)


async def test_error_after_more_events_than_exist_replaces_done(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(error_after=10_000))
    raw = await post_stream(es)
    full = es.stream_body_for("my-endpoint", PROMPT)
    assert raw.body == full[: -len(DONE)] + error_event(
        "status_exception", "simulated failure", 500
    )


async def test_end_after_finishes_cleanly_without_done(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(end_after=3))
    raw = await post_stream(es)
    assert raw.complete  # the zero-length chunk was sent
    assert raw.events == (await post_stream(es)).events[:3]
    assert es.requests[0].completed


@pytest.mark.parametrize("write_size", [None, 4096])
async def test_drop_after_leaves_the_body_incomplete(
    es: ElasticsearchEmulator, write_size: int | None
) -> None:
    # With write_size, the 3 events still buffered are flushed before the connection drops.
    es.add_fault(Fault(drop_after=3, write_size=write_size))
    raw = await post_stream(es)
    assert raw.status == 200
    assert not raw.complete
    assert raw.events == (await post_stream(es)).events[:3]
    record = es.requests[0]
    await record.wait_closed()
    assert not record.completed
    assert record.events_sent == 3


async def test_stall_then_disconnect_is_recorded(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=2))
    conn = await connect(es)
    await conn.send("POST", STREAM, BODY, JSON)
    await conn.reader.readuntil(b"\r\n\r\n")
    received = b""
    while received.count(b"\n\n") < 2:
        received += await conn.reader.read(65536)
    record = es.requests[0]
    assert not record.closed
    with pytest.raises(TimeoutError):  # silence: no heartbeats (§2.1)
        await asyncio.wait_for(conn.reader.read(1), 0.1)
    await conn.close()
    await record.wait_closed()
    assert record.disconnected_at is not None
    assert record.disconnected_at > record.received_at
    assert (record.completed, record.events_sent) == (False, 2)
    await es.wait_for_connections(0)


async def test_disconnect_stops_generation(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("slow", answer_tokens=400, event_delay=0.01)
    conn = await connect(es)
    await conn.send("POST", "/_inference/slow/_stream", BODY, JSON)
    await conn.reader.readuntil(b"\r\n\r\n")
    await conn.reader.read(1)
    await conn.close()
    record = es.requests[0]
    await record.wait_closed()
    assert record.disconnected_at is not None
    sent = record.events_sent
    await asyncio.sleep(0.05)
    assert record.events_sent == sent < 100


async def test_first_event_delay_holds_back_the_headers(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=60))
    conn = await connect(es)
    await conn.send("POST", STREAM, BODY, JSON)
    while not es.requests:  # the emulator offers no event for arrivals
        await asyncio.sleep(0.005)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(conn.reader.read(1), 0.1)  # not even the status line (§3.3)
    record = es.requests[0]
    assert record.status is None
    await conn.close()
    await record.wait_closed()
    assert record.disconnected_at is not None and record.status is None
    # A short delay still gives the whole, normal response.
    es.add_fault(Fault(first_event_delay=0.05))
    raw = await post_stream(es)
    assert raw.body == es.stream_body_for("my-endpoint", PROMPT)


@pytest.mark.parametrize("write_size", [1, 7, 4096])
async def test_write_size_rechunks_the_body(es: ElasticsearchEmulator, write_size: int) -> None:
    es.add_endpoint("utf8", answer="café 日本 🦌 Überblick " * 20)
    es.add_fault(Fault(write_size=write_size))
    raw = await post_stream(es, "/_inference/utf8/_stream")
    unsplit = es.stream_body_for("utf8", PROMPT)
    assert raw.body == unsplit
    assert all(len(c) == write_size for c in raw.chunks[:-1])
    assert 0 < len(raw.chunks[-1]) <= write_size
    if write_size < 10:
        # Splits land inside BOMs and multi-byte characters.
        assert any(not c.startswith(BOM) and BOM[:1] in c for c in raw.chunks)
        with pytest.raises(UnicodeDecodeError):
            for chunk in raw.chunks:
                chunk.decode()
    else:
        assert len(raw.chunks) < len(raw.events)  # several events share a write
    assert es.requests[0].bytes_sent == len(unsplit)
    assert es.requests[0].events_sent == len(raw.events)


async def test_raw_body(es: ElasticsearchEmulator) -> None:
    es.add_fault(
        Fault(
            raw_body=b"<html>Bad Gateway</html>",
            raw_status=502,
            raw_content_type="text/html",
            raw_headers={"X-Proxy": "nginx"},
        )
    )
    raw = await post_stream(es)
    assert raw.status_line == "HTTP/1.1 502 Bad Gateway"
    assert raw.header("Content-Type") == "text/html"
    assert raw.header("X-Proxy") == "nginx"
    assert raw.header("Transfer-Encoding") == "chunked"
    assert (raw.body, raw.complete) == (b"<html>Bad Gateway</html>", True)


async def test_faults_are_consumed_in_order_and_by_id(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("other")
    es.add_fault(Fault(status=503), inference_id="other", times=2)
    es.add_fault(Fault(status=429))
    es.add_fault(Fault(status=502))
    statuses = [(await post_stream(es)).status for _ in range(3)]
    assert statuses == [429, 502, 200]
    other = "/_inference/other/_stream"
    statuses = [(await post_stream(es, other)).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    es.add_fault(Fault(status=500), times=None)
    assert [(await post_stream(es)).status for _ in range(3)] == [500, 500, 500]
    es.clear_faults()
    assert (await post_stream(es)).status == 200


async def test_failed_requests_do_not_consume_faults(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503))
    assert (await post_stream(es, body=b'{"input":[]}')).status == 400
    assert (await post_stream(es)).status == 503


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="write_size"):
        Fault(write_size=0)
    with pytest.raises(ValueError, match="stall_after"):
        Fault(stall_after=-1)
    with pytest.raises(ValueError, match="status"):
        Fault(status=99)
    with pytest.raises(ValueError, match="times"):
        ElasticsearchEmulator().add_fault(Fault(), times=0)
    with pytest.raises(ValueError, match="task_type"):
        ElasticsearchEmulator().add_endpoint("x", "any")


# --- GET routes -------------------------------------------------------------------------------


async def test_get_endpoints(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("embed", "text_embedding", service="openai", task_settings={"user": "u"})
    mine = {
        "inference_id": "my-endpoint",
        "task_type": "completion",
        "service": "emulator",
        "service_settings": {"model_id": "emulator"},
    }
    embed = {
        "inference_id": "embed",
        "task_type": "text_embedding",
        "service": "openai",
        "service_settings": {"model_id": "emulator"},
        "task_settings": {"user": "u"},
    }
    async with aiohttp.ClientSession(es.url) as session:

        async def get(path: str) -> tuple[int, object]:
            async with session.get(path) as response:
                assert response.headers["X-elastic-product"] == "Elasticsearch"
                assert response.headers["Content-Type"] == "application/json"
                return response.status, json.loads(await response.read())

        both = (200, {"endpoints": [embed, mine]})  # sorted by id
        assert await get("/_inference") == both
        assert await get("/_inference/_all") == both
        assert await get("/_inference/my-endpoint") == (200, {"endpoints": [mine]})
        assert await get("/_inference/completion/my-endpoint") == (200, {"endpoints": [mine]})
        assert await get("/_inference/text_embedding/_all") == (200, {"endpoints": [embed]})
        assert await get("/_inference/rerank/_all") == (200, {"endpoints": []})
        status, body = await get("/_inference/nope")
        assert (status, body) == (404, orjson.loads(envelope(
            "resource_not_found_exception", "Inference endpoint not found [nope]", 404
        )))  # fmt: skip
        reason = (
            "Requested task type [completion] does not match the inference endpoint's task "
            "type [text_embedding]"
        )
        status, body = await get("/_inference/completion/embed")
        assert (status, body) == (400, orjson.loads(envelope("status_exception", reason, 400)))
    es.remove_endpoint("embed")
    raw = await exchange(es, "GET", "/_inference")
    assert raw.body == orjson.dumps({"endpoints": [mine]})


async def test_get_root(es: ElasticsearchEmulator) -> None:
    raw = await exchange(es, "GET", "/")
    assert raw.status == 200
    assert raw.header("Content-Type") == "application/json"
    # RestMainAction pretty-prints by default, Jackson style.
    assert raw.body.startswith(b'{\n  "name" : "')
    assert raw.body.endswith(b'  "tagline" : "You Know, for Search"\n}\n')
    info = json.loads(raw.body)
    assert info["version"]["number"] == "9.2.0"
    assert info["version"]["build_flavor"] == "default"
    assert info["tagline"] == "You Know, for Search"
    compact = await exchange(es, "GET", "/?pretty=false")
    assert json.loads(compact.body) == info and b"\n" not in compact.body


# --- connections, lifecycle -------------------------------------------------------------------


async def test_open_connections(es: ElasticsearchEmulator) -> None:
    assert es.open_connections == 0
    first, second = await connect(es), await connect(es)
    await es.wait_for_connections(2)
    await first.send("POST", STREAM, BODY, JSON)
    await read_response(first.reader)
    await first.send("POST", STREAM, BODY, JSON)  # kept alive: same connection
    await read_response(first.reader)
    assert es.requests[0].peer == es.requests[1].peer
    assert es.open_connections == 2
    await first.close()
    await es.wait_for_connections(1)
    with pytest.raises(TimeoutError, match=r"expected 3 open connection.*still 1"):
        await es.wait_for_connections(3, timeout=0.05)
    await second.close()
    await es.wait_for_connections(0)


async def test_close_ends_stalled_streams() -> None:
    es = ElasticsearchEmulator()
    await es.start()
    es.add_endpoint("my-endpoint")
    es.add_fault(Fault(stall_after=1))
    conn = await connect(es)
    await conn.send("POST", STREAM, BODY, JSON)
    await conn.reader.readuntil(b"\r\n\r\n")
    await es.close()
    raw = await read_response_tail(conn.reader)
    assert raw == b""  # the connection ended after the stalled event's chunk
    record = es.requests[0]
    assert record.closed
    assert record.disconnected_at is None and not record.completed
    await es.close()  # idempotent
    await conn.close()
    with pytest.raises(ConnectionRefusedError):
        await connect(es)


async def read_response_tail(reader: asyncio.StreamReader) -> bytes:
    # The first event's chunk, then EOF: return what follows the first chunk.
    size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
    await reader.readexactly(size + 2)
    return await reader.read()


def test_in_thread_mode() -> None:
    with ElasticsearchEmulator.in_thread() as es:
        es.add_endpoint("my-endpoint")
        request = urllib.request.Request(es.url + STREAM, data=BODY, headers=JSON)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            body = response.read()
        assert body == es.stream_body_for("my-endpoint", PROMPT)
        (record,) = es.requests
        assert record.status == 200
        url = es.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)


def test_es_emulator_fixture(es_emulator: ElasticsearchEmulator) -> None:
    request = urllib.request.Request(es_emulator.url + STREAM, data=BODY, headers=JSON)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    assert body == es_emulator.stream_body_for("my-endpoint", PROMPT)


async def test_es_emulator_fixture_from_another_loop(es_emulator: ElasticsearchEmulator) -> None:
    es_emulator.add_fault(Fault(stall_after=2))
    async with aiohttp.ClientSession() as session:
        response = await session.post(es_emulator.url + STREAM, data=BODY, headers=JSON)
        await response.content.readuntil(b"\n\n")
        response.close()
    record: RecordedRequest = es_emulator.requests[-1]
    await record.wait_closed()  # polls: the emulator runs on another loop
    assert record.disconnected_at is not None
    await es_emulator.wait_for_connections(0)


def test_endpoints_lists_the_registry_sorted_by_id() -> None:
    es = ElasticsearchEmulator()
    es.add_endpoint("b-embed", "text_embedding")
    es.add_endpoint("a-chat", "chat_completion")
    assert es.endpoints == [("chat_completion", "a-chat"), ("text_embedding", "b-embed")]
    es.remove_endpoint("a-chat")
    assert es.endpoints == [("text_embedding", "b-embed")]
