"""The emulator's version profiles: each difference between releases, seen by the client.

Every test runs the same request against releases on both sides of a change, over real
sockets; the facts and their sources are in ``asyncinfer/testing/_versions.py``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator, Fault

OLD = ("8.16.3", "8.17.1")  # before the proxy action and chat_completion
NEW = ("8.18.0", "9.0.0", "9.2.0")


async def raw(
    es: ElasticsearchEmulator, method: str, path: str, body: object = None
) -> tuple[int, dict[str, str], bytes]:
    """One request without the client, for what the client never sends."""
    data = None if body is None else orjson.dumps(body)
    headers = {} if data is None else {"Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, es.url + path, data=data, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.read()


# --- SSE error bodies: 8.16-8.17 keep caused_by inside root_cause --------------------------------

HELLO = {"type": "illegal_state_exception", "reason": "hello there"}


async def _stream_error(version: str, fault: Fault) -> asyncinfer.ApiError:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        es.add_fault(fault)
        async with asyncinfer.InferenceClient(es.url, retries=0) as client:
            with pytest.raises(asyncinfer.ApiError) as caught:
                await client.stream_completion("my-endpoint", "hi").read_text()
    return caught.value


@pytest.mark.parametrize("version", OLD)
async def test_old_stream_errors_keep_caused_by_in_root_cause(version: str) -> None:
    # ServerSentEventsRestActionListenerTests.testOnFailure (8.16-8.17) pins these bytes.
    error = await _stream_error(version, Fault(status=500, **_hello()))
    assert isinstance(error, asyncinfer.ServerError)
    assert error.body == {
        "error": {"root_cause": [{**HELLO, "caused_by": HELLO}], **HELLO},
        "status": 500,
    }
    assert (error.error_type, error.reason) == ("illegal_state_exception", "hello there")


@pytest.mark.parametrize("version", NEW)
async def test_new_stream_errors_skip_the_cause_in_root_cause(version: str) -> None:
    error = await _stream_error(version, Fault(status=500, **_hello()))
    assert error.body == {"error": {"root_cause": [HELLO], **HELLO}, "status": 500}


async def test_old_mid_stream_errors_keep_caused_by_in_root_cause() -> None:
    error = await _stream_error("8.17.1", Fault(error_after=2, error_status=500, **_hello()))
    assert isinstance(error, asyncinfer.StreamApiError)
    assert error.body["error"]["root_cause"] == [{**HELLO, "caused_by": HELLO}]
    newer = await _stream_error("8.18.0", Fault(error_after=2, error_status=500, **_hello()))
    assert newer.body["error"]["root_cause"] == [HELLO]


async def test_old_es_exceptions_have_no_cause_to_show() -> None:
    # An ElasticsearchStatusException without a cause renders the same in every release.
    fault = Fault(status=429, error_type="status_exception", reason="slow down")
    old = await _stream_error("8.16.3", fault)
    new = await _stream_error("9.2.0", fault)
    assert old.body == new.body
    assert "caused_by" not in old.body["error"]["root_cause"][0]


def _hello() -> dict[str, Any]:
    return {"error_type": HELLO["type"], "reason": HELLO["reason"]}


# --- task types: chat_completion from 8.18, embedding from 9.4 ----------------------------------


@pytest.mark.parametrize("version", OLD)
async def test_chat_completion_is_an_unknown_task_type_before_8_18(version: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        with pytest.raises(ValueError, match=r"no task type 'chat_completion' .*8\.18\.0"):
            es.add_endpoint("chat", "chat_completion")
        async with asyncinfer.InferenceClient(es.url) as client:
            stream = client.stream_chat_completion("chat", [{"role": "user", "content": "hi"}])
            with pytest.raises(asyncinfer.BadRequestError) as caught:
                await stream.final_message()
    # Parsed from the URL by the REST handler: plain JSON, not an SSE event.
    assert caught.value.body == {
        "error": {
            "root_cause": [
                {"type": "status_exception", "reason": "Unknown task_type [chat_completion]"}
            ],
            "type": "status_exception",
            "reason": "Unknown task_type [chat_completion]",
        },
        "status": 400,
    }
    assert es.requests[-1].status == 400


async def test_chat_completion_streams_from_8_18() -> None:
    async with ElasticsearchEmulator(version="8.18.0") as es:
        es.add_endpoint("chat", "chat_completion")
        messages = [{"role": "user", "content": "hi"}]
        async with asyncinfer.InferenceClient(es.url) as client:
            message = await client.stream_chat_completion("chat", messages).final_message()
        assert message.content == "".join(es.chat_answer_for("chat", messages))


@pytest.mark.parametrize(
    ("version", "known"), [("9.2.0", False), ("9.3.0", False), ("9.4.0", True)]
)
async def test_embedding_task_type_from_9_4(version: str, known: bool) -> None:
    async with (
        ElasticsearchEmulator(version=version) as es,
        asyncinfer.InferenceClient(es.url) as client,
    ):
        if known:
            assert await client.get_endpoints(task_type="embedding") == []
        else:
            with pytest.raises(
                asyncinfer.BadRequestError, match=r"Unknown task_type \[embedding\]"
            ):
                await client.get_endpoints(task_type="embedding")
        services = await client.get_services()
    emulator = next(s for s in services if s.service == "emulator")
    assert ("embedding" in emulator.task_types) is known


# --- APIs a release lacks: _update before 8.17, _services before 8.18 ---------------------------


async def test_update_api_is_missing_from_8_16() -> None:
    async with ElasticsearchEmulator(version="8.16.3") as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url) as client:
            with pytest.raises(asyncinfer.BadRequestError) as with_task_type:
                await client.update_endpoint(
                    "my-endpoint", task_type="completion", task_settings={"temperature": 0.1}
                )
            # /_inference/my-endpoint/_update is the PUT route for id _update, task my-endpoint.
            with pytest.raises(asyncinfer.BadRequestError) as without:
                await client.update_endpoint("my-endpoint", task_settings={"temperature": 0.1})
    # RestController.handleBadRequest: {"error": "..."} and no status field.
    assert with_task_type.value.body == {
        "error": "no handler found for uri [/_inference/completion/my-endpoint/_update] and "
        "method [PUT]"
    }
    assert without.value.reason == "Unknown task_type [my-endpoint]"


async def test_update_api_exists_from_8_17() -> None:
    async with ElasticsearchEmulator(version="8.17.1") as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url) as client:
            updated = await client.update_endpoint(
                "my-endpoint", task_type="completion", task_settings={"temperature": 0.1}
            )
    assert updated.task_settings == {"temperature": 0.1}


@pytest.mark.parametrize("version", OLD)
async def test_services_api_is_missing_before_8_18(version: str) -> None:
    async with (
        ElasticsearchEmulator(version=version) as es,
        asyncinfer.InferenceClient(es.url) as client,
    ):
        # GET _inference/{id} and GET _inference/{task_type}/{id} take the requests.
        with pytest.raises(asyncinfer.NotFoundError) as all_services:
            await client.get_services()
        with pytest.raises(asyncinfer.BadRequestError) as by_task_type:
            await client.get_services("completion")
    assert all_services.value.reason == "Inference endpoint not found [_services]"
    assert by_task_type.value.reason == "Unknown task_type [_services]"


async def test_services_api_exists_from_8_18() -> None:
    async with (
        ElasticsearchEmulator(version="8.18.0") as es,
        asyncinfer.InferenceClient(es.url) as client,
    ):
        services = await client.get_services("chat_completion")
    assert "openai" in {s.service for s in services}


@pytest.mark.parametrize("version", ["8.16.0", "8.17.0", "8.18.0", "9.2.0"])
async def test_no_release_serves_the_unified_route(version: str) -> None:
    # The _unified paths lived behind the "unified" feature flag only (spec §4.6).
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        status, _, body = await raw(es, "POST", "/_inference/completion/my-endpoint/_unified", {})
    assert status == 400
    assert orjson.loads(body) == {
        "error": "no handler found for uri [/_inference/completion/my-endpoint/_unified] and "
        "method [POST]"
    }


# --- body parsing: in the REST handler before 8.18, in the proxy action after -------------------


@pytest.mark.parametrize(
    ("version", "parser"),
    [("8.16.3", "cluster:monitor/xpack/inference"), ("9.2.0", "cluster:internal/xpack/inference")],
)
async def test_unknown_body_field_names_the_release_parser(version: str, parser: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url) as client:
            with pytest.raises(asyncinfer.BadRequestError) as caught:
                await client.inference("completion", "my-endpoint", input="hi", bogus=1)
    assert caught.value.error_type == "x_content_parse_exception"
    assert caught.value.reason == f"[1:15] [{parser}] unknown field [bogus]"


@pytest.mark.parametrize(
    ("version", "content_type"), [("8.17.1", "application/json"), ("8.18.0", "text/event-stream")]
)
async def test_stream_body_parse_errors_are_sse_from_8_18(version: str, content_type: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        path = "/_inference/completion/my-endpoint/_stream"
        status, headers, _ = await raw(es, "POST", path, {"input": "hi", "bogus": 1})
    assert status == 400
    assert headers["Content-Type"] == content_type


# --- 405: a release streams only the task types it knows ----------------------------------------


@pytest.mark.parametrize(
    ("version", "supported"),
    [("8.17.1", "[completion]"), ("9.2.0", "[completion,chat_completion]")],
)
async def test_streaming_not_allowed_lists_the_release_task_types(
    version: str, supported: str
) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("embedder", "text_embedding", service="openai")
        status, _, body = await raw(es, "POST", "/_inference/embedder/_stream", {"input": "hi"})
    assert status == 405
    reason = orjson.loads(body.removeprefix(b"\xef\xbb\xbfevent: error\ndata: "))["error"]["reason"]
    assert reason == (
        "Streaming is not allowed for service [openai] and task [any]. Supported tasks: "
        + supported
    )


# --- X-elastic-product on streams (ES issue #119000) --------------------------------------------


@pytest.mark.parametrize("version", ["8.16.0", "8.16.2", "8.17.0"])
async def test_streams_of_8_16_0_to_8_17_0_lack_the_product_header(version: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url) as client:
            with pytest.raises(asyncinfer.UnsupportedProductError):
                await client.stream_completion("my-endpoint", "hi").read_text()
        async with asyncinfer.InferenceClient(es.url, product_check_streams=False) as client:
            text = await client.stream_completion("my-endpoint", "hi").read_text()
            # Other answers carry the header: the first one verifies the client.
            assert await client.get_endpoints()
        assert text == "".join(es.answer_for("my-endpoint", "hi"))


@pytest.mark.parametrize("version", ["8.16.3", "8.17.1", "9.2.0"])
async def test_fixed_releases_send_the_product_header_on_streams(version: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        es.add_endpoint("my-endpoint")
        async with asyncinfer.InferenceClient(es.url) as client:
            assert await client.stream_completion("my-endpoint", "hi").read_text()


# --- GET /, versions, the command line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "wire", "index"),
    [("8.16.3", "7.17.0", "7.0.0"), ("8.18.0", "7.17.0", "7.0.0"), ("9.2.0", "8.19.0", "8.0.0")],
)
async def test_root_shows_the_release_compatibility(version: str, wire: str, index: str) -> None:
    async with ElasticsearchEmulator(version=version) as es:
        status, _, body = await raw(es, "GET", "/?pretty=false")
    info = orjson.loads(body)["version"]
    assert status == 200 and info["number"] == version
    assert info["minimum_wire_compatibility_version"] == wire
    assert info["minimum_index_compatibility_version"] == index


@pytest.mark.parametrize("version", ["8.15.5", "7.17.0", "9.2", "latest"])
def test_unsupported_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match=repr(version)):
        ElasticsearchEmulator(version=version)


@pytest.fixture
async def serve_8_16() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncinfer",
        "serve",
        "--port",
        "0",
        "--es-version",
        "8.16.3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_es_version(serve_8_16: tuple[asyncio.subprocess.Process, str]) -> None:
    proc, url = serve_8_16
    async with asyncinfer.InferenceClient(url) as client:
        endpoints = {e.inference_id for e in await client.get_endpoints()}
        with pytest.raises(asyncinfer.NotFoundError):
            await client.get_services()
    # The docs' endpoints but those of task types 8.16 lacks: chat (8.18) and embedding (9.4).
    assert endpoints == {"my-endpoint", "my-embeddings", "my-elser", "my-reranker"}
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err
    assert b"my-chat" not in err and b"my-multimodal" not in err


async def test_serve_refuses_an_unsupported_version() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncinfer",
        "serve",
        "--port",
        "0",
        "--es-version",
        "8.15.0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2
    assert b"--es-version" in err and b"8.16.0" in err
