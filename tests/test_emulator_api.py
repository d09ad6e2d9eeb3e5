"""The emulator's whole Inference API: endpoint management, non-streaming inference, chat streams.

Over real loopback sockets: aiohttp's client for JSON routes, a hand-written HTTP/1.1 reader where
the bytes of a stream matter. Expected strings are ES's (see the emulator's module docstrings).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import orjson
import pytest

from asyncinfer.testing import ElasticsearchEmulator, Fault

BOM = b"\xef\xbb\xbf"
JSON = {"Content-Type": "application/json"}
DONE = BOM + b"event: message\ndata: [DONE]\n\n"
MESSAGE = BOM + b"event: message\ndata: "
ERROR = BOM + b"event: error\ndata: "
CHAT = "/_inference/chat_completion/chat/_stream"
USER = [{"role": "user", "content": "What is Elastic?"}]


# --- a raw HTTP/1.1 client ----------------------------------------------------------------------


@attrs.define
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool

    @property
    def events(self) -> list[bytes]:
        return [e + b"\n\n" for e in self.body.split(b"\n\n")[:-1]]

    def payloads(self) -> list[Any]:
        """The JSON data of every message event ([DONE] excluded)."""
        result = []
        for event in self.events:
            assert event.startswith(MESSAGE), event
            data = event[len(MESSAGE) : -2]
            if data != b"[DONE]":
                result.append(orjson.loads(data))
        return result


async def raw_request(
    es: ElasticsearchEmulator, method: str, path: str, body: bytes = b"", **headers: str
) -> Raw:
    host, port = es.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [
            f"{method} {path} HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        if body:
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n"))[:-4].decode().split("\r\n")
        response_headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        raw = Raw(int(status_line.split()[1]), response_headers, b"", False)
        if "content-length" in response_headers:
            raw.body = await reader.readexactly(int(response_headers["content-length"]))
            raw.complete = True
            return raw
        chunks = []
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    raw.complete = True
                    break
                chunks.append(data[:-2])
        raw.body = b"".join(chunks)
        return raw
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def post_sse(es: ElasticsearchEmulator, path: str, body: object) -> Raw:
    return await raw_request(es, "POST", path, orjson.dumps(body), **JSON)


def envelope(error_type: str, reason: str, status: int, **extra: object) -> dict[str, Any]:
    cause = {"type": error_type, "reason": reason}
    return {"error": {"root_cause": [cause], **cause, **extra}, "status": status}


def unified(code: str, message: str, error_type: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": error_type}}


def sse_error(raw: Raw) -> Any:
    """The single error event of an error response sent before the stream (§5.2)."""
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.complete and len(raw.events) == 1, raw.body
    assert raw.body.startswith(ERROR)
    return orjson.loads(raw.body[len(ERROR) : -2])


@attrs.define
class Api:
    session: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, body: object = None, **headers: str
    ) -> tuple[int, Any]:
        data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        hdrs = {**JSON, **headers} if data is not None else headers
        async with self.session.request(method, path, data=data, headers=hdrs) as response:
            assert response.headers["X-elastic-product"] == "Elasticsearch"
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(await response.read())


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    async with ElasticsearchEmulator() as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        yield emulator


@pytest.fixture
async def api(es: ElasticsearchEmulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(es.url) as session:
        yield Api(session)


OPENAI_EMBED = {"service": "openai", "service_settings": {"api_key": "sk-1", "model_id": "te-3"}}


# --- endpoint management (§7) -----------------------------------------------------------------


async def test_put_get_update_delete_lifecycle(es: ElasticsearchEmulator, api: Api) -> None:
    status, created = await api.call("PUT", "/_inference/text_embedding/emb", OPENAI_EMBED)
    info = {
        "inference_id": "emb",
        "task_type": "text_embedding",
        "service": "openai",
        # api_key stripped; OpenAI's default rate limit written in.
        "service_settings": {"model_id": "te-3", "rate_limit": {"requests_per_minute": 3000}},
    }
    assert (status, created) == (200, info)
    assert await api.call("GET", "/_inference/emb") == (200, {"endpoints": [info]})
    mine = {
        "inference_id": "my-endpoint",
        "task_type": "completion",
        "service": "emulator",
        "service_settings": {"model_id": "emulator"},
    }
    assert await api.call("GET", "/_inference") == (200, {"endpoints": [info, mine]})  # by id

    update = {"service_settings": {"api_key": "sk-2"}, "task_settings": {"user": "u1"}}
    status, updated = await api.call("PUT", "/_inference/emb/_update", update)
    assert (status, updated) == (200, {**info, "task_settings": {"user": "u1"}})
    update = {"task_settings": {"dims": 2}}
    status, updated = await api.call("PUT", "/_inference/text_embedding/emb/_update", update)
    assert updated["task_settings"] == {"user": "u1", "dims": 2}  # merged
    assert (await api.call("GET", "/_inference/text_embedding/emb"))[1] == {"endpoints": [updated]}

    ack = {"acknowledged": True, "pipelines": [], "indexes": []}
    assert await api.call("DELETE", "/_inference/text_embedding/emb") == (200, ack)
    status, body = await api.call("GET", "/_inference/emb")
    assert status == 404
    assert body == envelope(
        "resource_not_found_exception", "Inference endpoint not found [emb]", 404
    )


async def test_put_task_type_in_body_with_chunking_and_task_settings(
    es: ElasticsearchEmulator, api: Api
) -> None:
    body = {
        "task_type": "sparse_embedding",
        "service": "elasticsearch",
        "service_settings": {"model_id": ".elser_model_2", "num_threads": 1},
        "task_settings": {},
        "chunking_settings": {"strategy": "word", "max_chunk_size": 100},
    }
    status, info = await api.call("PUT", "/_inference/elser", body)
    assert status == 200
    assert info == {
        "inference_id": "elser",
        "task_type": "sparse_embedding",
        "service": "elasticsearch",
        "service_settings": {"model_id": ".elser_model_2", "num_threads": 1},
        # empty task_settings omitted; chunking defaults filled in, in ES's key order
        "chunking_settings": {"strategy": "word", "max_chunk_size": 100, "overlap": 100},
    }
    assert list(info["chunking_settings"]) == ["strategy", "max_chunk_size", "overlap"]
    # The new endpoint answers inference requests.
    status, result = await api.call("POST", "/_inference/elser", {"input": "hello"})
    assert status == 200 and list(result["sparse_embedding"][0]["embedding"]) == ["hello"]


ELSER_DEPRECATED = (
    "The [elser] service is deprecated and will be removed in a future release. Use the "
    "[elasticsearch] service instead, with [model_id] set to [.elser_model_2_linux-x86_64] in "
    "the [service_settings]"
)


@pytest.mark.parametrize(
    ("settings", "warnings"),
    [
        pytest.param(
            {"num_threads": 1, "num_allocations": 1},
            [
                "Putting elasticsearch service inference endpoints (including elser service) "
                "without a model_id field is deprecated and will be removed in a future "
                "release. Please specify a model_id field.",
                ELSER_DEPRECATED,
            ],
            id="no-model-id",
        ),
        pytest.param(
            {"model_id": ".elser_model_2", "num_threads": 2}, [ELSER_DEPRECATED], id="elser-model"
        ),
    ],
)
async def test_put_with_the_elser_alias(
    es: ElasticsearchEmulator, settings: dict[str, Any], warnings: list[str]
) -> None:
    # InferenceServiceRegistry.getService("elser") is the elasticsearch service; elserCase
    # picks the ELSER model and logs deprecations, which ES sends as Warning headers.
    body = {"service": "elser", "service_settings": settings}
    async with (
        aiohttp.ClientSession(es.url) as session,
        session.put("/_inference/sparse_embedding/old", json=body) as response,
    ):
        assert response.status == 200
        info = await response.json()
        sent = response.headers.getall("Warning")
    prefix = "299 Elasticsearch-9.2.0-" + hashlib.sha1(b"9.2.0").hexdigest()
    assert sent == [f'{prefix} "{w}"' for w in warnings]
    assert info["service"] == "elasticsearch"
    # ElasticsearchInternalServiceSettings' key order.
    expected = {"model_id": ".elser_model_2_linux-x86_64", **settings}
    order = ("num_allocations", "num_threads", "model_id")
    assert info["service_settings"] == {k: expected[k] for k in order if k in expected}
    assert list(info["service_settings"]) == [k for k in order if k in expected]


async def test_put_endpoint_streams(es: ElasticsearchEmulator, api: Api) -> None:
    body = {"service": "emulator", "service_settings": {"model_id": "m"}}
    assert (await api.call("PUT", "/_inference/completion/fresh", body))[0] == 200
    raw = await post_sse(es, "/_inference/fresh/_stream", {"input": "hi"})
    assert raw.status == 200
    assert raw.body == es.stream_body_for("fresh", "hi")


def _status_error(reason: str, status: int = 400) -> tuple[int, dict[str, Any]]:
    return status, envelope("status_exception", reason, status)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        pytest.param(
            "/_inference/text_embedding/x",
            {**OPENAI_EMBED, "foo": 1, "bar": {"a": [1, "b"]}},
            _status_error(
                "Model configuration contains settings [{foo=1, bar={a=[1, b]}}] unknown to the "
                "[openai] service"
            ),
            id="unknown-fields",
        ),
        pytest.param(
            "/_inference/completion/x",
            {"service": "nope", "service_settings": {}},
            _status_error("Unknown service [nope]"),
            id="unknown-service",
        ),
        pytest.param(
            "/_inference/completion/x",
            {"service_settings": {}},
            _status_error("Inference endpoint configuration is missing the [service] setting"),
            id="no-service",
        ),
        pytest.param(
            "/_inference/x",
            OPENAI_EMBED,
            _status_error("model is missing required setting [task_type]"),
            id="no-task-type",
        ),
        pytest.param(
            "/_inference/completion/x",
            {**OPENAI_EMBED, "task_type": "text_embedding"},
            _status_error(
                "Cannot resolve conflicting task_type parameter in the request URL [completion] "
                "and the request body [text_embedding]"
            ),
            id="conflicting-task-types",
        ),
        pytest.param(
            "/_inference/x",
            {**OPENAI_EMBED, "task_type": "any"},
            _status_error("task_type [any] is not valid type for inference"),
            id="any-in-body",
        ),
        pytest.param(
            "/_inference/rerank/x",
            OPENAI_EMBED,
            _status_error("The [openai] service does not support task type [rerank]"),
            id="unsupported-task-type",
        ),
        pytest.param(
            "/_inference/completion/x",
            {"service": "openai"},
            _status_error("Missing required field [service_settings]"),
            id="no-service-settings",
        ),
        pytest.param(
            "/_inference/completion/x",
            {"service": "openai", "service_settings": {"api_key": "k"}},
            (
                400,
                envelope(
                    "validation_exception",
                    "Validation Failed: 1: [service_settings] does not contain the required "
                    "setting [model_id];",
                    400,
                ),
            ),
            id="missing-setting",
        ),
        pytest.param(
            "/_inference/completion/x",
            {"service": "openai", "service_settings": {"model_id": "m"}},
            (
                400,
                envelope(
                    "validation_exception",
                    "Validation Failed: 1: [secret_settings] does not contain the required "
                    "setting [api_key];",
                    400,
                ),
            ),
            id="missing-secret",
        ),
        pytest.param(
            "/_inference/completion/My_Id",
            OPENAI_EMBED,
            (
                400,
                envelope(
                    "action_request_validation_exception",
                    "Validation Failed: 1: Invalid inference_id; 'My_Id' can contain lowercase "
                    "alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with "
                    "alphanumeric;",
                    400,
                ),
            ),
            id="invalid-id",
        ),
        pytest.param(
            "/_inference/nonsense/x",
            OPENAI_EMBED,
            _status_error("Unknown task_type [nonsense]"),
            id="unknown-url-task-type",
        ),
    ],
)
async def test_put_errors(
    es: ElasticsearchEmulator, api: Api, path: str, body: object, expected: object
) -> None:
    assert await api.call("PUT", path, body) == expected
    assert "x" not in [
        e["inference_id"] for e in (await api.call("GET", "/_inference"))[1]["endpoints"]
    ]


async def test_put_duplicate_id(es: ElasticsearchEmulator, api: Api) -> None:
    body = {"service": "emulator", "service_settings": {}}
    assert await api.call("PUT", "/_inference/completion/my-endpoint", body) == (
        400,
        envelope(
            "resource_already_exists_exception",
            "Inference endpoint [my-endpoint] already exists",
            400,
        ),
    )


async def test_delete_referenced_by_pipelines(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_pipeline_reference("my-endpoint", "pipe-b")
    es.add_pipeline_reference("my-endpoint", "pipe-a")
    message = (
        "Inference endpoint my-endpoint is referenced by pipelines: [pipe-a, pipe-b]. Ensure that "
        "no pipelines are using this inference endpoint, or use force to ignore this warning and "
        "delete the inference endpoint."
    )
    # TransportDeleteInferenceEndpointAction: 409 CONFLICT.
    assert await api.call("DELETE", "/_inference/my-endpoint") == _status_error(message, 409)
    dry = {
        "acknowledged": False,
        "pipelines": ["pipe-a", "pipe-b"],
        "indexes": [],
        "error_message": message,
    }
    assert await api.call("DELETE", "/_inference/my-endpoint?dry_run=true") == (200, dry)
    assert (await api.call("GET", "/_inference/my-endpoint"))[0] == 200  # nothing deleted
    ack = {"acknowledged": True, "pipelines": [], "indexes": []}
    assert await api.call("DELETE", "/_inference/completion/my-endpoint?force=true") == (200, ack)
    assert (await api.call("GET", "/_inference/my-endpoint"))[0] == 404


async def test_delete_dry_run_and_errors(es: ElasticsearchEmulator, api: Api) -> None:
    dry = {"acknowledged": False, "pipelines": [], "indexes": [], "error_message": ""}
    assert await api.call("DELETE", "/_inference/my-endpoint?dry_run") == (200, dry)
    assert (await api.call("GET", "/_inference/my-endpoint"))[0] == 200
    assert await api.call("DELETE", "/_inference/nope") == (
        404,
        envelope("resource_not_found_exception", "Inference endpoint not found [nope]", 404),
    )
    assert await api.call("DELETE", "/_inference/rerank/my-endpoint") == _status_error(
        "Requested task type [rerank] does not match the inference endpoint's task type "
        "[completion]"
    )
    assert await api.call("DELETE", "/_inference/my-endpoint?force=yes") == (
        400,
        envelope(
            "illegal_argument_exception",
            "Failed to parse value [yes] as only [true] or [false] are allowed.",
            400,
        ),
    )
    assert (await api.call("GET", "/_inference/my-endpoint"))[0] == 200


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        pytest.param(
            "/_inference/rerank/my-endpoint/_update",
            {"task_settings": {"a": 1}},
            _status_error("Task type must match the task type of the existing endpoint"),
            id="url-task-type-mismatch",
        ),
        pytest.param(
            "/_inference/my-endpoint/_update",
            {"task_type": "rerank", "task_settings": {"a": 1}},
            _status_error("Task type must match the task type of the existing endpoint"),
            id="body-task-type-mismatch",
        ),
        pytest.param(
            "/_inference/completion/my-endpoint/_update",
            {"task_type": "rerank"},
            _status_error(
                "Cannot resolve conflicting task_type parameter in the request URL [completion] "
                "and the request body [rerank]"
            ),
            id="conflicting-task-types",
        ),
        pytest.param(
            "/_inference/my-endpoint/_update",
            {"service": "openai", "task_settings": {}},
            _status_error(
                "Request contained fields which cannot be updated, remove these fields and try "
                "again [{service=openai}]"
            ),
            id="unknown-fields",
        ),
        pytest.param(
            "/_inference/my-endpoint/_update",
            {},
            _status_error("Request body is empty"),
            id="empty-body",
        ),
        pytest.param(
            "/_inference/my-endpoint/_update",
            {"service_settings": "x"},
            _status_error("Unable to parse service settings in the request [{service_settings=x}]"),
            id="settings-not-an-object",
        ),
        pytest.param(
            "/_inference/nope/_update",
            {"task_settings": {"a": 1}},
            (
                404,
                envelope(
                    "resource_not_found_exception",
                    "The inference endpoint [nope] does not exist and cannot be updated",
                    404,
                ),
            ),
            id="unknown-id",
        ),
    ],
)
async def test_update_errors(
    es: ElasticsearchEmulator, api: Api, path: str, body: object, expected: object
) -> None:
    assert await api.call("PUT", path, body) == expected
    endpoint = (await api.call("GET", "/_inference/my-endpoint"))[1]["endpoints"][0]
    assert "task_settings" not in endpoint  # unchanged


async def test_services_catalogue(es: ElasticsearchEmulator, api: Api) -> None:
    status, services = await api.call("GET", "/_inference/_services")
    assert status == 200 and isinstance(services, list)  # a top-level array (§7.5)
    names = [s["service"] for s in services]
    assert names == sorted(names)
    assert {"emulator", "openai", "elastic", "elasticsearch", "hugging_face", "cohere"} <= set(
        names
    )
    openai = next(s for s in services if s["service"] == "openai")
    assert list(openai) == ["service", "name", "task_types", "configurations"]
    assert openai["name"] == "OpenAI"
    assert openai["task_types"] == ["text_embedding", "completion", "chat_completion"]
    api_key = openai["configurations"]["api_key"]
    assert list(api_key) == [
        "description", "label", "required", "sensitive", "updatable", "type",
        "supported_task_types",
    ]  # fmt: skip
    assert (api_key["sensitive"], api_key["updatable"], api_key["type"]) == (True, True, "str")
    status, rerankers = await api.call("GET", "/_inference/_services/rerank")
    assert status == 200
    assert [s["service"] for s in rerankers] == [
        s["service"] for s in services if "rerank" in s["task_types"]
    ]
    assert "openai" not in [s["service"] for s in rerankers]
    assert await api.call("GET", "/_inference/_services/bogus") == _status_error(
        "Unknown task_type [bogus]"
    )
    # "_services" is no endpoint id: PUT takes the id route and ES's id check refuses it.
    status, body = await api.call("PUT", "/_inference/_services", OPENAI_EMBED)
    assert status == 400 and "Invalid inference_id; '_services'" in body["error"]["reason"]


# --- non-streaming inference (§6) -------------------------------------------------------------


async def test_completion_result_per_input(es: ElasticsearchEmulator, api: Api) -> None:
    status, body = await api.call(
        "POST", "/_inference/completion/my-endpoint", {"input": ["a", "b"]}
    )
    assert status == 200
    assert body == {
        "completion": [
            {"result": "".join(es.answer_for("my-endpoint", "a"))},
            {"result": "".join(es.answer_for("my-endpoint", "b"))},
        ]
    }
    assert (await api.call("POST", "/_inference/my-endpoint", {"input": "a"}))[1] == {
        "completion": body["completion"][:1]
    }


async def test_text_embedding_is_deterministic(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_endpoint("emb", "text_embedding", service_settings={})
    status, body = await api.call(
        "POST", "/_inference/text_embedding/emb", {"input": ["x", "y", "x"]}
    )
    assert status == 200
    vectors = [item["embedding"] for item in body["text_embedding"]]
    assert vectors[0] == es.embedding_for("emb", "x")
    assert vectors[1] == es.embedding_for("emb", "y") != vectors[0]
    assert vectors[2] == vectors[0]
    assert len(vectors[0]) == 8  # the default dimensions
    assert all(-1 <= v < 1 and round(v, 6) == v for v in vectors[0])
    # Pinned: hashlib, not hash(), so the same on every machine and run.
    assert vectors[0][:3] == [-0.312563, -0.901216, -0.735932]
    es.add_endpoint("emb2", "text_embedding", service_settings={})
    assert es.embedding_for("emb2", "x") != vectors[0]  # seeded by the endpoint id too
    with pytest.raises(KeyError):
        es.embedding_for("nope", "x")


@pytest.mark.parametrize(
    ("element_type", "key", "length"),
    [
        ("float", "text_embedding", 16),
        ("byte", "text_embedding_bytes", 16),
        ("bit", "text_embedding_bits", 2),
    ],
)
async def test_text_embedding_element_types(
    es: ElasticsearchEmulator, api: Api, element_type: str, key: str, length: int
) -> None:
    settings = {"dimensions": 16, "element_type": element_type}
    es.add_endpoint("emb", "text_embedding", service_settings=settings)
    status, body = await api.call("POST", "/_inference/emb", {"input": "hello"})
    assert status == 200 and list(body) == [key]
    (vector,) = [item["embedding"] for item in body[key]]
    assert vector == es.embedding_for("emb", "hello")
    assert len(vector) == length
    if element_type == "float":
        assert all(isinstance(v, float) for v in vector)
    else:
        # Signed bytes (bit vectors: 8 dimensions packed into each).
        assert all(isinstance(v, int) and -128 <= v <= 127 for v in vector)
        assert min(vector) < 0
    pinned = {"float": None, "byte": [-27, 115, -48], "bit": [-27, 115]}[element_type]
    assert pinned is None or vector[:3] == pinned


async def test_sparse_embedding(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_endpoint("elser", "sparse_embedding")
    long_text = " ".join(f"w{i}" for i in range(600))
    status, body = await api.call(
        "POST", "/_inference/sparse_embedding/elser", {"input": ["Hello, hello world!", long_text]}
    )
    assert status == 200
    first, second = body["sparse_embedding"]
    assert list(first) == ["is_truncated", "embedding"]
    assert first["is_truncated"] is False
    assert set(first["embedding"]) == {"hello", "world"}
    weights = list(first["embedding"].values())
    assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    assert second["is_truncated"] is True  # more than 512 words
    assert len(second["embedding"]) == 512
    again = (await api.call("POST", "/_inference/elser", {"input": "world hello"}))[1]
    assert again["sparse_embedding"][0]["embedding"] == first["embedding"]


async def test_rerank(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_endpoint("rr", "rerank")
    docs = [
        "nothing here",
        "search engines",
        "elastic search",
        "an elastic band",
        "elastic search!",
    ]
    body = {"input": docs, "query": "Elastic search"}
    status, result = await api.call("POST", "/_inference/rerank/rr", body)
    assert status == 200
    assert result == {
        "rerank": [
            {"index": 2, "relevance_score": 1.0, "text": "elastic search"},
            {"index": 4, "relevance_score": 1.0, "text": "elastic search!"},  # tie: by index
            {"index": 1, "relevance_score": 0.5, "text": "search engines"},
            {"index": 3, "relevance_score": 0.5, "text": "an elastic band"},
            {"index": 0, "relevance_score": 0.0, "text": "nothing here"},
        ]
    }
    top = (
        await api.call("POST", "/_inference/rr", {**body, "top_n": 2, "return_documents": False})
    )[1]
    assert top == {
        "rerank": [{"index": 2, "relevance_score": 1.0}, {"index": 4, "relevance_score": 1.0}]
    }
    # The older style: the options inside task_settings.
    old = {**body, "task_settings": {"top_n": 1, "return_documents": False}}
    assert (await api.call("POST", "/_inference/rr", old))[1] == {"rerank": top["rerank"][:1]}


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type", "reason"),
    [
        pytest.param(
            "/_inference/rerank/rr",
            {"input": ["a"]},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [query] cannot be null for task type [rerank];",
            id="rerank-without-query",
        ),
        pytest.param(
            "/_inference/completion/my-endpoint",
            {"input": "a", "return_documents": True},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [return_documents] cannot be specified for task type "
            "[completion];",
            id="rerank-option-on-completion",
        ),
        pytest.param(
            "/_inference/sparse_embedding/rr",
            {"input": "a", "input_type": "search"},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [input_type] cannot be specified for task type "
            "[sparse_embedding];",
            id="input-type-on-sparse",
        ),
        pytest.param(
            "/_inference/text_embedding/rr",
            {"input": "a", "query": "q"},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [query] cannot be specified for task type "
            "[text_embedding];",
            id="query-on-embeddings",
        ),
        pytest.param(
            "/_inference/rr",
            {"input": "a", "stream": True},
            400,
            "x_content_parse_exception",
            "[1:14] [cluster:internal/xpack/inference] unknown field [stream]",
            id="unknown-field",
        ),
        pytest.param(
            "/_inference/rr",
            {"input": []},
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: Field [input] cannot be an empty array;",
            id="empty-input",
        ),
        pytest.param(
            "/_inference/nope",
            {"input": "a"},
            404,
            "resource_not_found_exception",
            "Inference endpoint not found [nope]",
            id="unknown-id",
        ),
        pytest.param(
            "/_inference/completion/rr",
            {"input": "a"},
            400,
            "status_exception",
            "Incompatible task_type, the requested type [completion] does not match the model "
            "type [rerank]",
            id="task-type-mismatch",
        ),
    ],
)
async def test_inference_errors(
    es: ElasticsearchEmulator,
    api: Api,
    path: str,
    body: object,
    status: int,
    error_type: str,
    reason: str,
) -> None:
    es.add_endpoint("rr", "rerank")
    assert await api.call("POST", path, body) == (status, envelope(error_type, reason, status))


CHAT_ONLY_STREAMS = (
    "The [chat_completion] task type only supports streaming, please try again with the _stream API"
)


async def test_chat_completion_without_stream_is_refused(
    es: ElasticsearchEmulator, api: Api
) -> None:
    es.add_endpoint("chat", "chat_completion")
    cause = {"type": "status_exception", "reason": CHAT_ONLY_STREAMS}
    expected = {
        "error": {
            "root_cause": [cause],
            "type": "unified_chat_completion_exception",
            "reason": CHAT_ONLY_STREAMS,
            "caused_by": cause,
        },
        "status": 400,
    }
    for path in ("/_inference/chat_completion/chat", "/_inference/chat"):
        assert await api.call("POST", path, {"messages": USER}) == (400, expected)
    # With the task type in the URL the proxy refuses before it looks the endpoint up.
    assert await api.call("POST", "/_inference/chat_completion/nope", {"input": "x"}) == (
        400,
        expected,
    )


# --- faults on JSON routes --------------------------------------------------------------------


async def test_status_fault_on_inference(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_fault(Fault(status=429, reason="slow down", retry_after="3"), inference_id="my-endpoint")
    async with api.session.post("/_inference/my-endpoint", json={"input": "x"}) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
        assert await response.json() == envelope("status_exception", "slow down", 429)
    assert (await api.call("POST", "/_inference/my-endpoint", {"input": "x"}))[0] == 200


async def test_first_event_delay_and_raw_body_on_json_routes(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.15))
    started = asyncio.get_running_loop().time()
    raw = await raw_request(es, "POST", "/_inference/my-endpoint", b'{"input":"x"}', **JSON)
    assert asyncio.get_running_loop().time() - started >= 0.15
    assert raw.status == 200 and orjson.loads(raw.body)["completion"]
    es.add_fault(Fault(raw_body=b"<html>oops</html>", raw_status=502, raw_content_type="text/html"))
    raw = await raw_request(es, "DELETE", "/_inference/my-endpoint")
    assert (raw.status, raw.headers["content-type"], raw.body) == (
        502,
        "text/html",
        b"<html>oops</html>",
    )
    assert es.requests[-1].completed


async def test_drop_and_stall_on_json_routes(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(drop_after=0))
    with pytest.raises(asyncio.IncompleteReadError):
        await raw_request(es, "POST", "/_inference/my-endpoint", b'{"input":"x"}', **JSON)
    record = es.requests[-1]
    await record.wait_closed()
    assert (record.status, record.completed) == (None, False)
    es.add_fault(Fault(stall_after=0))
    task = asyncio.create_task(raw_request(es, "GET", "/_inference/my-endpoint"))
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None


@pytest.mark.parametrize(
    ("provider_status", "message", "status", "reason"),
    [
        pytest.param(
            503,
            "overloaded",
            400,  # provider >= 500 becomes 400 (§5.5)
            "Received a server error status code for request from inference entity id [{id}] "
            "status [503]. Error message: [overloaded]",
            id="503",
        ),
        pytest.param(
            429,
            "slow down",
            429,
            "Received a rate limit status code for request from inference entity id [{id}] "
            "status [429]. Error message: [slow down]",
            id="429",
        ),
        pytest.param(
            401,
            None,
            401,
            "Received an authentication error status code for request from inference entity id "
            "[{id}] status [401]",
            id="401-without-message",
        ),
        pytest.param(
            418,
            "teapot",
            418,
            "Received an unsuccessful status code for request from inference entity id [{id}] "
            "status [418]. Error message: [teapot]",
            id="other-4xx",
        ),
    ],
)
async def test_provider_failures(
    es: ElasticsearchEmulator,
    api: Api,
    provider_status: int,
    message: str | None,
    status: int,
    reason: str,
) -> None:
    es.add_endpoint("rr", "rerank")
    fault = Fault(provider_status=provider_status, provider_message=message)
    es.add_fault(fault, times=2)
    body = {"input": ["a"], "query": "q"}
    assert await api.call("POST", "/_inference/rr", body) == (
        status,
        envelope("status_exception", reason.format(id="rr"), status),
    )
    raw = await post_sse(es, "/_inference/my-endpoint/_stream", {"input": "x"})
    assert raw.status == status
    assert sse_error(raw) == envelope("status_exception", reason.format(id="my-endpoint"), status)


async def test_provider_404_names_the_url_for_openai(es: ElasticsearchEmulator, api: Api) -> None:
    es.add_endpoint("oai", "completion", service="openai")
    es.add_fault(Fault(provider_status=404, provider_message="no such model"))
    assert await api.call("POST", "/_inference/oai", {"input": "x"}) == (
        404,
        envelope(
            "status_exception",
            "Resource not found at [https://api.openai.com/v1/chat/completions] for request from "
            "inference entity id [oai] status [404]. Error message: [no such model]",
            404,
        ),
    )


# --- chat completion streams (§4.3) -----------------------------------------------------------


@pytest.fixture
def chat(es: ElasticsearchEmulator) -> str:
    es.add_endpoint("chat", "chat_completion", service_settings={"model_id": "gpt-4o"})
    return "chat"


def chunk(choices: list[Any], chunk_id: str, usage: dict[str, int] | None = None) -> bytes:
    payload: dict[str, Any] = {
        "id": chunk_id,
        "choices": choices,
        "model": "gpt-4o",
        "object": "chat.completion.chunk",
    }
    if usage is not None:
        payload["usage"] = usage
    return MESSAGE + orjson.dumps(payload) + b"\n\n"


async def test_chat_stream_bytes(es: ElasticsearchEmulator, chat: str) -> None:
    raw = await post_sse(es, CHAT, {"messages": USER, "max_completion_tokens": 50})
    assert raw.status == 200 and raw.complete
    assert raw.headers["content-type"] == "text/event-stream"
    assert raw.headers["x-elastic-product"] == "Elasticsearch"
    assert raw.headers["transfer-encoding"] == "chunked"
    first = raw.payloads()[0]
    chunk_id = first["id"]
    assert chunk_id.startswith("chatcmpl-")
    contents = es.chat_answer_for(chat, USER)
    assert "".join(contents) == "".join(es.answer_for(chat, "What is Elastic?"))
    assert len(contents) < len(es.answer_for(chat, "What is Elastic?"))  # deltas are grouped
    usage = {
        "completion_tokens": sum(len(c.split()) for c in contents),
        "prompt_tokens": 3,
        "total_tokens": sum(len(c.split()) for c in contents) + 3,
    }
    expected = (
        chunk([{"delta": {"content": "", "role": "assistant"}, "index": 0}], chunk_id)
        + b"".join(chunk([{"delta": {"content": c}, "index": 0}], chunk_id) for c in contents)
        + chunk([{"delta": {}, "finish_reason": "stop", "index": 0}], chunk_id)
        + chunk([], chunk_id, usage)
        + DONE
    )
    assert raw.body == expected
    assert b'"created"' not in raw.body and b'"finish_reason":null' not in raw.body
    # Deterministic: the same request gives the same bytes; no task type in the URL either.
    again = await post_sse(
        es, "/_inference/chat/_stream", {"messages": USER, "max_completion_tokens": 50}
    )
    assert again.body == raw.body
    record = es.requests[0]
    assert (record.status, record.completed, record.events_sent) == (200, True, len(raw.events))


async def test_chat_history_content_parts_and_options(es: ElasticsearchEmulator, chat: str) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather"},
                {"type": "text", "text": "in Boston?"},
            ],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "content": "cold", "tool_call_id": "call_1"},
        {"role": "moderator", "content": [{"type": "anything", "text": "roles are not checked"}]},
    ]
    body = {
        "model": "gpt-4o-mini",
        "messages": messages,
        "stop": "\n\n",
        "temperature": 0.2,
        "top_p": "0.9",
        "tool_choice": "auto",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
            }
        ],
    }
    raw = await post_sse(es, CHAT, body)
    assert raw.status == 200, raw.body
    payloads = raw.payloads()
    assert {p["model"] for p in payloads} == {"gpt-4o-mini"}  # the request's model wins
    contents = [p["choices"][0]["delta"]["content"] for p in payloads[1:-2]]
    # The last *user* message is answered: its parts joined by a newline. The last message is
    # not a user message, so no tool is called although the user named one.
    assert contents == es.chat_answer_for(chat, messages)
    assert "".join(contents).startswith("Weather in Boston?")


async def test_chat_tool_call(es: ElasticsearchEmulator, chat: str) -> None:
    tools = [
        {"type": "function", "function": {"name": "search_docs", "description": "Search."}},
        {"type": "function", "function": {"name": "get_weather"}},
    ]
    messages = [{"role": "user", "content": 'Use get_weather for Boston, "please"'}]
    raw = await post_sse(es, CHAT, {"messages": messages, "tools": tools})
    payloads = raw.payloads()
    assert raw.body.endswith(DONE)
    deltas = [p["choices"][0]["delta"] if p["choices"] else None for p in payloads]
    assert deltas[0] == {"content": "", "role": "assistant"}
    head = deltas[1]["tool_calls"][0]
    assert list(head) == ["index", "id", "function", "type"]
    assert head["index"] == 0 and head["id"].startswith("call_") and head["type"] == "function"
    assert head["function"] == {"arguments": "", "name": "get_weather"}
    fragments = [d["tool_calls"][0] for d in deltas[2:-2]]
    assert len(fragments) > 2
    assert all(list(f) == ["index", "function", "type"] and f["type"] is None for f in fragments)
    assert b'"type":null' in raw.body  # written, not omitted
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert json.loads(arguments) == {"query": messages[0]["content"]}
    assert payloads[-2]["choices"] == [{"delta": {}, "finish_reason": "tool_calls", "index": 0}]
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["completion_tokens"] == len(
        fragments
    )

    async def called(**options: Any) -> str | None:
        raw = await post_sse(
            es, CHAT, {"messages": [{"role": "user", "content": "hi"}], "tools": tools, **options}
        )
        calls = [
            p for p in raw.payloads() if p["choices"] and "tool_calls" in p["choices"][0]["delta"]
        ]
        return (
            calls[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] if calls else None
        )

    assert await called() is None  # "auto" and no tool named
    assert await called(tool_choice="required") == "search_docs"
    forced = {"type": "function", "function": {"name": "get_weather"}}
    assert await called(tool_choice=forced) == "get_weather"
    none = await post_sse(es, CHAT, {"messages": messages, "tools": tools, "tool_choice": "none"})
    assert b"tool_calls" not in none.body


def at(body: object, marker: bytes, delta: int = 0) -> str:
    """``[line:column]`` of the first ``marker`` in the request bytes (plus ``delta``)."""
    return f"[1:{orjson.dumps(body).index(marker) + 1 + delta}]"


PARSER = "[UnifiedCompletionRequest]"
BAD_STREAM = {"messages": USER, "stream": True}
BAD_N = {"n": 2, "messages": USER}
BAD_TOP_P = {"messages": USER, "top_pp": 1}
BAD_MESSAGE = {"messages": [{"role": "user", "name": "bob"}]}
NO_ROLE = {"messages": [{"content": "x"}]}
NULL_CONTENT = {"messages": [{"role": "assistant", "content": None}]}
NULL_MESSAGES = {"messages": None}
BAD_TOKENS = {"messages": USER, "max_completion_tokens": "many"}
BAD_CHOICE = {"messages": USER, "tool_choice": 1}
NAMELESS_TOOL = {"messages": USER, "tools": [{"type": "function", "function": {}}]}
REASONING = {"messages": USER, "reasoning": {"effort": "low"}}


@pytest.mark.parametrize(
    ("body", "message", "error_type"),
    [
        pytest.param(
            BAD_STREAM,
            at(BAD_STREAM, b'"stream') + f" {PARSER} unknown field [stream]",
            "x_content_parse_exception",
            id="stream",
        ),
        pytest.param(
            BAD_N,
            f"[1:2] {PARSER} unknown field [n]",
            "x_content_parse_exception",
            id="n",
        ),
        pytest.param(
            BAD_TOP_P,
            at(BAD_TOP_P, b'"top_pp') + f" {PARSER} unknown field [top_pp] did you mean [top_p]?",
            "x_content_parse_exception",
            id="did-you-mean",
        ),
        pytest.param(
            BAD_MESSAGE,  # the location is the nested unknown field's
            at(BAD_MESSAGE, b'"name') + f" {PARSER} failed to parse field [messages]",
            "x_content_parse_exception",
            id="unknown-message-field",
        ),
        pytest.param(
            NO_ROLE,  # ConstructingObjectParser's "Required [role]" at the message's END_OBJECT
            at(NO_ROLE, b"}]") + f" {PARSER} failed to parse field [messages]",
            "x_content_parse_exception",
            id="message-without-role",
        ),
        pytest.param(
            NULL_CONTENT,  # Message.parseContent refuses null (8.18-9.3)
            at(NULL_CONTENT, b"null") + f" {PARSER} failed to parse field [messages]",
            "x_content_parse_exception",
            id="null-content",
        ),
        pytest.param(
            {"model": "m"},
            "Required [messages]",
            "illegal_argument_exception",
            id="no-messages",
        ),
        pytest.param(
            NULL_MESSAGES,
            at(NULL_MESSAGES, b"null") + f" {PARSER} messages doesn't support values of type: "
            "VALUE_NULL",
            "x_content_parse_exception",
            id="null-messages",
        ),
        pytest.param(
            BAD_TOKENS,
            at(BAD_TOKENS, b'"many') + f" {PARSER} failed to parse field [max_completion_tokens]",
            "x_content_parse_exception",
            id="bad-number",
        ),
        pytest.param(
            BAD_CHOICE,
            at(BAD_CHOICE, b"1}") + f" {PARSER} tool_choice doesn't support values of type: "
            "VALUE_NUMBER",
            "x_content_parse_exception",
            id="tool-choice-number",
        ),
        pytest.param(
            NAMELESS_TOOL,  # "Required [name]" at the function object's END_OBJECT
            at(NAMELESS_TOOL, b"{}", 1) + f" {PARSER} failed to parse field [tools]",
            "x_content_parse_exception",
            id="tool-without-name",
        ),
        pytest.param(
            REASONING,
            at(REASONING, b'"reasoning') + f" {PARSER} unknown field [reasoning]",
            "x_content_parse_exception",
            id="reasoning-before-9.4",
        ),
        pytest.param(
            ["x"],
            "[1:1] Expected START_OBJECT but was: START_ARRAY",
            "x_content_parse_exception",
            id="not-an-object",
        ),
    ],
)
async def test_chat_parse_errors_are_openai_shaped(
    es: ElasticsearchEmulator, chat: str, body: object, message: str, error_type: str
) -> None:
    raw = await post_sse(es, CHAT, body)
    assert raw.status == 400
    assert sse_error(raw) == unified("bad_request", message, error_type)
    assert b'"status"' not in raw.body and DONE not in raw.body


async def test_chat_body_that_is_not_json(es: ElasticsearchEmulator, chat: str) -> None:
    raw = await raw_request(es, "POST", CHAT, b'{"messages": nope}', **JSON)
    error = sse_error(raw)["error"]
    assert raw.status == 400
    assert (error["code"], error["type"]) == ("bad_request", "x_content_parse_exception")
    assert error["message"].startswith("[1:")


async def test_reasoning_is_accepted_from_9_4() -> None:
    async with ElasticsearchEmulator(version="9.4.0") as es:
        es.add_endpoint("chat", "chat_completion", service_settings={"model_id": "gpt-4o"})
        messages = [{"role": "user", "content": "hi", "reasoning": "r", "reasoning_details": []}]
        raw = await post_sse(es, CHAT, {"messages": messages, "reasoning": {"effort": "low"}})
        assert raw.status == 200 and raw.body.endswith(DONE)


async def test_chat_empty_messages_is_a_validation_error(
    es: ElasticsearchEmulator, chat: str
) -> None:
    raw = await post_sse(es, CHAT, {"messages": []})
    assert raw.status == 400
    # Request.validate() runs before the unified-format wrapper: the standard envelope.
    assert sse_error(raw) == envelope(
        "action_request_validation_exception",
        "Validation Failed: 1: Field [messages] cannot be an empty array;",
        400,
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        pytest.param(
            "/_inference/chat_completion/nope/_stream",
            {"messages": USER},
            404,
            unified(
                "not_found", "Inference endpoint not found [nope]", "resource_not_found_exception"
            ),
            id="unknown-id-with-task-type",
        ),
        pytest.param(
            "/_inference/nope/_stream",
            {"messages": USER},
            404,
            envelope("resource_not_found_exception", "Inference endpoint not found [nope]", 404),
            id="unknown-id-without-task-type",
        ),
        pytest.param(
            "/_inference/chat_completion/my-endpoint/_stream",
            {"messages": USER},
            400,
            unified(
                "bad_request",
                "Incompatible task_type for unified API, the requested type [chat_completion] "
                "must be one of [chat_completion]",
                "status_exception",
            ),
            id="chat-url-on-completion-endpoint",
        ),
        pytest.param(
            "/_inference/completion/chat/_stream",
            {"input": "x"},
            400,
            envelope(
                "status_exception",
                "Incompatible task_type, the requested type [completion] does not match the "
                "model type [chat_completion]",
                400,
            ),
            id="completion-url-on-chat-endpoint",
        ),
        pytest.param(
            "/_inference/chat/_stream",
            {"input": "x"},
            400,
            unified(
                "bad_request",
                "[1:2] [UnifiedCompletionRequest] unknown field [input]",
                "x_content_parse_exception",
            ),
            id="completion-body-on-chat-endpoint",
        ),
        pytest.param(
            "/_inference/my-endpoint/_stream",
            {"messages": USER},
            400,
            envelope(
                "x_content_parse_exception",
                "[1:2] [cluster:internal/xpack/inference] unknown field [messages]",
                400,
            ),
            id="chat-body-on-completion-endpoint",
        ),
        pytest.param(
            "/_inference/chat_completion/local/_stream",
            {"messages": USER},
            405,
            unified(
                "method_not_allowed",
                "Streaming is not allowed for service [elasticsearch].",
                "status_exception",
            ),
            id="service-without-streaming",
        ),
    ],
)
async def test_chat_routing_errors(
    es: ElasticsearchEmulator, chat: str, path: str, body: object, status: int, expected: object
) -> None:
    es.add_endpoint("local", "chat_completion", service="elasticsearch")
    raw = await post_sse(es, path, body)
    assert raw.status == status
    assert sse_error(raw) == expected


async def test_chat_stream_faults(es: ElasticsearchEmulator, chat: str) -> None:
    full = (await post_sse(es, CHAT, {"messages": USER})).events
    es.add_fault(Fault(status=503, reason="busy", retry_after="2"))
    raw = await post_sse(es, CHAT, {"messages": USER})
    assert (raw.status, raw.headers["retry-after"]) == (503, "2")
    assert sse_error(raw) == unified("service_unavailable", "busy", "status_exception")

    es.add_fault(
        Fault(error_after=2, error_status=429, error_type="status_exception", reason="limit")
    )
    raw = await post_sse(es, CHAT, {"messages": USER})
    assert raw.status == 200 and raw.complete
    error = (
        ERROR + orjson.dumps(unified("too_many_requests", "limit", "status_exception")) + b"\n\n"
    )
    assert raw.events == [*full[:2], error]  # no [DONE]

    es.add_fault(Fault(error_after=1, provider_error_type="timeout", provider_message="Timed out"))
    raw = await post_sse(es, CHAT, {"messages": USER})
    message = (
        "Received an error response for request from inference entity id [chat]. Error message: "
        "[Timed out]"
    )
    assert (
        raw.events[-1]
        == ERROR + orjson.dumps({"error": {"message": message, "type": "timeout"}}) + b"\n\n"
    )

    es.add_fault(Fault(provider_status=502, provider_message="bad gateway"))
    raw = await post_sse(es, CHAT, {"messages": USER})
    assert raw.status == 400
    assert sse_error(raw) == unified(
        "bad_request",
        "Received a server error status code for request from inference entity id [chat] status "
        "[502]. Error message: [bad gateway]",
        "status_exception",
    )
    es.add_fault(
        Fault(
            provider_status=404,
            provider_error_code="model_not_found",
            provider_error_type="invalid_request_error",
        )
    )
    raw = await post_sse(es, CHAT, {"messages": USER})
    error = sse_error(raw)["error"]
    assert (raw.status, error["code"], error["type"]) == (
        404,
        "model_not_found",
        "invalid_request_error",
    )

    es.add_fault(Fault(end_after=3))
    raw = await post_sse(es, CHAT, {"messages": USER})
    assert raw.complete and raw.events == full[:3]
    es.add_fault(Fault(drop_after=2))
    raw = await post_sse(es, CHAT, {"messages": USER})
    assert not raw.complete and raw.events == full[:2]


# --- api_key mode: Elasticsearch's 401 -------------------------------------------------------

_CHALLENGES = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]


async def test_api_key_mode_refuses_a_request_without_credentials() -> None:
    async with ElasticsearchEmulator(api_key="s3cret") as es:
        es.add_endpoint("my-endpoint")
        async with aiohttp.ClientSession() as session:
            url = f"{es.url}/_inference/completion/my-endpoint/_stream?timeout=5s"
            async with session.post(url, json={"input": "hi"}) as response:
                body = await response.read()
                assert response.status == 401
                assert response.headers.getall("WWW-Authenticate") == _CHALLENGES
                assert response.headers["Content-Type"] == "application/json"
                assert response.headers["X-elastic-product"] == "Elasticsearch"
    reason = (
        "missing authentication credentials for REST request "
        "[/_inference/completion/my-endpoint/_stream?timeout=5s]"
    )
    cause = {
        "type": "security_exception",
        "reason": reason,
        "header": {"WWW-Authenticate": _CHALLENGES},
    }
    assert orjson.loads(body) == {"error": {"root_cause": [cause], **cause}, "status": 401}
    assert es.requests[-1].status == 401


async def test_api_key_mode_maps_to_authentication_error_in_the_client() -> None:
    import asyncinfer

    async with ElasticsearchEmulator(api_key="s3cret") as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url, api_key="wrong") as client:
            with pytest.raises(asyncinfer.AuthenticationError) as info:
                await client.completion("my-endpoint", "hi")
        assert es.requests[-1].headers["Authorization"] == "ApiKey wrong"
        err = info.value
        assert err.status == 401
        assert err.error_type == "security_exception"
        assert err.reason == (
            "unable to authenticate with provided credentials and anonymous access is not "
            "allowed for this request"
        )
        async with asyncinfer.InferenceClient(es.url, api_key="s3cret") as client:
            result = await client.completion("my-endpoint", "hi")
        assert result.text == "".join(es.answer_for("my-endpoint", "hi"))


async def test_without_api_key_no_credentials_are_needed() -> None:
    async with (
        ElasticsearchEmulator() as es,
        aiohttp.ClientSession() as session,
        session.get(f"{es.url}/_inference/_all") as response,
    ):
        assert response.status == 200
