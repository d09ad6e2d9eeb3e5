"""Production transport: retries, nodes, auth, TLS, product check, secrets, logging, stats.

Most tests use the emulator; where it cannot misbehave enough (TLS, a server that is not
Elasticsearch, sniffing, a compressing proxy, a reset before any byte) a few lines of
aiohttp.web or raw asyncio stand in, still over real loopback sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import logging
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme
from aiohttp import web

import asyncinfer
from asyncinfer import InferenceClient, RetryPolicy, StreamState, Timeouts
from asyncinfer._protocol import parse_cloud_id
from asyncinfer.testing import ElasticsearchEmulator, Fault

PROMPT = "What is Elastic?"
FAST = RetryPolicy(backoff_initial=0.01, jitter=0)
ES_BODY = (
    b'\xef\xbb\xbfevent: message\ndata: {"completion":[{"delta":"Hi"}]}\n\n'
    b"\xef\xbb\xbfevent: message\ndata: [DONE]\n\n"
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- retries ----------------------------------------------------------------------------------


async def test_503_then_success(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503, reason="busy"))
    async with InferenceClient(es.url, retries=FAST) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        text = await stream.read_text()
    assert text == "".join(es.answer_for("my-endpoint", PROMPT))
    assert [r.status for r in es.requests] == [503, 200]
    assert stream.stats.retries == 1


async def test_retries_are_on_by_default_and_bounded(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=502), times=None)
    policy = RetryPolicy(backoff_initial=0.01)
    assert policy.max_retries == 3
    async with InferenceClient(es.url, retries=policy) as client:
        with pytest.raises(asyncinfer.ServerError) as info:
            await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert info.value.status == 502
    assert len(es.requests) == 4  # the first attempt and 3 retries


async def test_not_retried_when_the_status_is_not_retryable(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=500), times=None)
    async with InferenceClient(es.url, retries=FAST) as client:
        with pytest.raises(asyncinfer.ServerError):
            await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert len(es.requests) == 1


async def test_retry_after_is_honoured_up_to_its_cap(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=429, reason="rate limited", retry_after="5"))
    policy = RetryPolicy(backoff_initial=0.01, jitter=0, max_retry_after=0.3)
    async with InferenceClient(es.url, retries=policy) as client:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    first, second = es.requests
    # It waited at least the (capped) Retry-After, not the 10 ms back-off.
    assert second.received_at - first.received_at >= 0.3


async def test_timed_out_answers_are_retried(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=408, reason="Request timed out after [30s]"))
    async with InferenceClient(es.url, retries=FAST) as client:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert [r.status for r in es.requests] == [408, 200]


async def test_error_event_before_any_token_is_retried(es: ElasticsearchEmulator) -> None:
    # The first event carries only an empty delta: no output yet.
    es.add_fault(Fault(error_after=1, error_status=503))
    async with InferenceClient(es.url, retries=FAST) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        tokens = [t async for t in stream]
    assert tokens == [t for t in es.answer_for("my-endpoint", PROMPT) if t]
    assert len(es.requests) == 2


async def test_never_retried_after_a_token(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(error_after=3, error_status=503))
    async with InferenceClient(es.url, retries=FAST) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        with pytest.raises(asyncinfer.StreamApiError) as info:
            await stream.read_text()
    assert info.value.partial_text == stream.text != ""
    assert len(es.requests) == 1


async def test_a_retry_never_sleeps_past_the_total_timeout(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503), times=None)
    policy = RetryPolicy(backoff_initial=5)
    async with InferenceClient(es.url, retries=policy, timeouts=Timeouts(total=1)) as client:
        with pytest.raises(asyncinfer.ServerError):  # the real error, at once
            await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert len(es.requests) == 1


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_aclose_or_cancel_ends_a_back_off_at_once(
    es: ElasticsearchEmulator, how: str
) -> None:
    es.add_fault(Fault(status=503), times=None)
    async with InferenceClient(es.url, retries=RetryPolicy(backoff_initial=60)) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        reader = asyncio.create_task(stream.read_text())
        await _wait_for(lambda: bool(es.requests) and es.requests[0].status is not None)
        await asyncio.sleep(0.05)  # now in the 60 s back-off
        if how == "aclose":
            await stream.aclose()
            assert await asyncio.wait_for(reader, 5) == ""
        else:
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(reader, 5)
    assert len(es.requests) == 1
    assert stream.stats.ended == "cancelled"


async def test_the_remaining_budget_becomes_the_server_timeout(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url, timeouts=Timeouts(total=30)) as client:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
        await client.stream_completion("my-endpoint", PROMPT, server_timeout="90s").read_text()
    budget = es.requests[0].query["timeout"]
    assert re.fullmatch(r"\d+ms", budget)
    assert 25_000 < int(budget[:-2]) <= 30_000
    assert es.requests[1].query["timeout"] == "90s"  # the caller's own value wins


# --- nodes ------------------------------------------------------------------------------------


async def test_a_dead_node_is_skipped_and_retried_later(es: ElasticsearchEmulator) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    async with InferenceClient([dead, es.url], retries=FAST) as client:
        first = client.stream_completion("my-endpoint", PROMPT)
        await first.read_text()
        assert first.stats.retries == 1  # the dead node, then the live one
        pool = client._transport.pool
        assert pool.nodes[0].failures == 1
        assert pool.nodes[0].dead_until is not None
        for _ in range(3):  # while it is dead, every request goes to the live node
            second = client.stream_completion("my-endpoint", PROMPT)
            await second.read_text()
            assert second.stats.retries == 0
    assert len(es.requests) == 4


async def test_when_every_node_is_dead_one_is_tried_anyway(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url, retries=FAST) as client:
        pool = client._transport.pool
        pool.mark_dead(pool.nodes[0], now=asyncio.get_running_loop().time())
        await client.stream_completion("my-endpoint", PROMPT).read_text()
        assert pool.nodes[0].dead_until is None  # it answered: alive again


def test_dead_node_back_off_doubles_up_to_30_s() -> None:
    from asyncinfer._transport import NodePool

    pool = NodePool(["http://a", "http://b"])
    node = pool.nodes[0]
    backoffs = []
    for _ in range(7):
        pool.mark_dead(node, now=100.0)
        assert node.dead_until is not None
        backoffs.append(node.dead_until - 100.0)
    assert backoffs == [1, 2, 4, 8, 16, 30, 30]
    assert pool.select(now=100.0) is pool.nodes[1]
    assert pool.select(now=131.0) in pool.nodes  # back in rotation after its back-off


def test_dead_node_back_off_stays_capped_after_thousands_of_failures() -> None:
    # 10,000 concurrent connects to one node failing at once each mark it dead: 2 ** 1100
    # used to raise a bare OverflowError out of the failing call.
    from asyncinfer._transport import NodePool

    pool = NodePool(["http://a"])
    node = pool.nodes[0]
    for _ in range(5000):
        pool.mark_dead(node, now=100.0)
    assert node.failures == 5000
    assert node.dead_until == 130.0


async def test_reset_before_any_response_byte_moves_to_another_node(
    es: ElasticsearchEmulator,
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with InferenceClient([url, es.url], retries=FAST) as client:
            stream = client.stream_completion("my-endpoint", PROMPT)
            assert await stream.read_text()
            assert stream.stats.retries == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_sniffing_finds_the_cluster_nodes(es: ElasticsearchEmulator) -> None:
    port = es.url.rsplit(":", 1)[1]

    async def nodes(_: web.Request) -> web.Response:
        body = {"nodes": {"n1": {"http": {"publish_address": f"localhost/127.0.0.1:{port}"}}}}
        return web.json_response(body, headers={"X-elastic-product": "Elasticsearch"})

    async with (
        serve([("GET", "/_nodes/_all/http", nodes)]) as seed,
        InferenceClient(seed, sniff_on_start=True) as client,
    ):
        await client.stream_completion("my-endpoint", PROMPT).read_text()
        assert client.hosts == [f"http://localhost:{port}"]
    assert len(es.requests) == 1


async def test_a_slow_sniff_on_start_is_under_the_stream_time_limits(
    es: ElasticsearchEmulator,
) -> None:
    port = es.url.rsplit(":", 1)[1]

    async def slow_nodes(_: web.Request) -> web.Response:
        await asyncio.sleep(3)  # within the sniff's own 5 s limit
        body = {"nodes": {"n1": {"http": {"publish_address": f"127.0.0.1:{port}"}}}}
        return web.json_response(body, headers={"X-elastic-product": "Elasticsearch"})

    async with (
        serve([("GET", "/_nodes/_all/http", slow_nodes)]) as seed,
        InferenceClient(seed, sniff_on_start=True, retries=0) as client,
    ):
        stream = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(total=0.3))
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncinfer.TotalTimeoutError):
            await stream.read_text()
        assert asyncio.get_running_loop().time() - started < 2
    assert es.requests == []


async def test_aclose_during_the_sniff_on_start_sends_nothing(es: ElasticsearchEmulator) -> None:
    port = es.url.rsplit(":", 1)[1]

    async def slow_nodes(_: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        body = {"nodes": {"n1": {"http": {"publish_address": f"127.0.0.1:{port}"}}}}
        return web.json_response(body, headers={"X-elastic-product": "Elasticsearch"})

    async with (
        serve([("GET", "/_nodes/_all/http", slow_nodes)]) as seed,
        InferenceClient(seed, sniff_on_start=True) as client,
    ):
        stream = client.stream_completion("my-endpoint", PROMPT)
        entering = asyncio.create_task(stream.__aenter__())
        await asyncio.sleep(0.1)
        await stream.aclose()
        assert await asyncio.wait_for(entering, 5) is stream
        assert stream.state is StreamState.CLOSED
        deadlines = stream._attempts.deadlines
        assert deadlines is not None and deadlines._timer is None
    assert es.requests == []


def test_cloud_id() -> None:
    data = base64.b64encode(b"us-east-1.aws.found.io$es-uuid$kibana-uuid").decode()
    assert parse_cloud_id(f"my-deployment:{data}") == "https://es-uuid.us-east-1.aws.found.io:443"
    with_port = base64.b64encode(b"example.com:9243$abc$def").decode()
    assert parse_cloud_id(f"name:{with_port}") == "https://abc.example.com:9243"
    missing = base64.b64encode(b"example.com").decode()
    with pytest.raises(ValueError, match="missing host and port information"):
        parse_cloud_id(f"name:{missing}")
    with pytest.raises(ValueError, match="no ':'"):
        parse_cloud_id("nocolon")
    with pytest.raises(ValueError, match="sniffing cannot be used with cloud_id"):
        InferenceClient(cloud_id=f"x:{data}", sniff_on_start=True)
    client = InferenceClient(cloud_id=f"x:{data}")
    assert client.hosts == ["https://es-uuid.us-east-1.aws.found.io:443"]


# --- auth, headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "header"),
    [
        ({"api_key": "ZW5jb2RlZA=="}, "ApiKey ZW5jb2RlZA=="),
        ({"api_key": ("id", "key")}, "ApiKey " + base64.b64encode(b"id:key").decode()),
        ({"basic_auth": ("elastic", "pw")}, "Basic " + base64.b64encode(b"elastic:pw").decode()),
        ({"bearer_auth": "tok"}, "Bearer tok"),
    ],
)
async def test_authentication_headers(
    es: ElasticsearchEmulator, kwargs: dict[str, object], header: str
) -> None:
    async with InferenceClient(es.url, **kwargs) as client:  # type: ignore[arg-type]
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert es.requests[-1].headers["Authorization"] == header


async def test_credentials_in_the_url_become_basic_auth(es: ElasticsearchEmulator) -> None:
    url = es.url.replace("http://", "http://elastic:s3cret@")
    async with InferenceClient(url) as client:
        assert client.url == es.url
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    assert (
        es.requests[-1].headers["Authorization"]
        == "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    )


def test_only_one_form_of_authentication() -> None:
    with pytest.raises(ValueError, match="only one of api_key, basic_auth, bearer_auth"):
        InferenceClient("http://x", api_key="a", bearer_auth="b")
    with pytest.raises(ValueError, match="Authorization header cannot be combined"):
        InferenceClient("http://x", api_key="a", headers={"Authorization": "Basic x"})
    with pytest.raises(ValueError, match="either hosts or cloud_id"):
        InferenceClient()


async def test_headers_opaque_id_and_user_agent(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url, headers={"X-Team": "search"}) as client:
        await client.stream_completion("my-endpoint", PROMPT, opaque_id="req-42").read_text()
    headers = es.requests[-1].headers
    assert headers["X-Team"] == "search"
    assert headers["X-Opaque-Id"] == "req-42"
    assert re.fullmatch(
        r"asyncinfer/\d+\.\d+\.\d+ \(python \d+\.\d+\.\d+; aiohttp \d+\.\d+\.\d+\)",
        headers["User-Agent"],
    )


# --- product check ----------------------------------------------------------------------------


async def not_elasticsearch(_: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await _write_body(_, response)
    return response


async def _write_body(request: web.Request, response: web.StreamResponse) -> None:
    await response.prepare(request)
    await response.write(ES_BODY)
    await response.write_eof()


STREAM_PATH = "/_inference/completion/my-endpoint/_stream"


async def test_a_server_that_is_not_elasticsearch_is_refused() -> None:
    async with serve([("POST", STREAM_PATH, not_elasticsearch)]) as url:
        async with InferenceClient(url) as client:
            with pytest.raises(asyncinfer.UnsupportedProductError, match="X-elastic-product"):
                await client.stream_completion("my-endpoint", PROMPT).read_text()
        async with InferenceClient(url, product_check_streams=False) as client:
            assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"
        async with InferenceClient(url, product_check=False) as client:
            assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"


# --- a proxy that compresses ------------------------------------------------------------------


async def test_a_compressing_proxy_is_decoded() -> None:
    async def gzipped(request: web.Request) -> web.Response:
        assert "gzip" not in request.headers.get("Accept-Encoding", "")
        return web.Response(
            body=gzip.compress(ES_BODY),
            headers={
                "Content-Type": "text/event-stream",
                "Content-Encoding": "gzip",
                "X-elastic-product": "Elasticsearch",
            },
        )

    async with serve([("POST", STREAM_PATH, gzipped)]) as url, InferenceClient(url) as client:
        assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"


# --- TLS --------------------------------------------------------------------------------------


async def product_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-elastic-product": "Elasticsearch"}
    )
    await _write_body(request, response)
    return response


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_url(ca: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with serve([("POST", STREAM_PATH, product_stream)], ssl_context=context) as url:
        yield url.replace("http://", "https://")


async def test_tls_with_the_right_ca(ca: trustme.CA, tls_url: str) -> None:
    with ca.cert_pem.tempfile() as ca_file:
        async with InferenceClient(tls_url, ca_certs=ca_file) as client:
            assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"


async def test_tls_with_an_unknown_ca_fails_closed(tls_url: str) -> None:
    async with InferenceClient(tls_url, retries=FAST) as client:
        with pytest.raises(asyncinfer.TLSError, match="certificate"):
            await client.stream_completion("my-endpoint", PROMPT).read_text()
        assert client._transport.pool.nodes[0].failures == 0  # not retried, not marked dead


def _fingerprint(der: bytes, *, colons: bool) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2)) if colons else digest.lower()


async def test_pinned_leaf_fingerprint_replaces_ca_verification(tls_url: str) -> None:
    host, port = tls_url.removeprefix("https://").split(":")
    leaf = await asyncio.to_thread(_server_leaf, host, int(port))
    for colons in (True, False):
        fingerprint = _fingerprint(leaf, colons=colons)
        async with InferenceClient(tls_url, ssl_assert_fingerprint=fingerprint) as client:
            assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"


async def test_wrong_fingerprint_fails_closed(tls_url: str) -> None:
    async with InferenceClient(tls_url, ssl_assert_fingerprint="ab" * 32) as client:
        with pytest.raises(asyncinfer.TLSError, match="ingerprint"):
            await client.stream_completion("my-endpoint", PROMPT).read_text()
    with pytest.raises(ValueError, match="SHA-256"):
        InferenceClient(tls_url, ssl_assert_fingerprint="abc")


@pytest.mark.skipif(sys.version_info < (3, 13), reason="the chain is exposed from Python 3.13")
async def test_pinned_ca_fingerprint(ca: trustme.CA, tls_url: str) -> None:
    ca_der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
    fingerprint = _fingerprint(ca_der, colons=True)
    async with InferenceClient(tls_url, ssl_assert_fingerprint=fingerprint) as client:
        assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"


async def test_client_certificate(ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS
    client_cert = ca.issue_cert("client@example.com")
    async with serve([("POST", STREAM_PATH, product_stream)], ssl_context=context) as url:
        url = url.replace("http://", "https://")
        with (
            ca.cert_pem.tempfile() as ca_file,
            client_cert.private_key_and_cert_chain_pem.tempfile() as pem,
        ):
            async with InferenceClient(url, ca_certs=ca_file, client_cert=pem) as client:
                assert await client.stream_completion("my-endpoint", PROMPT).read_text() == "Hi"
            async with InferenceClient(url, ca_certs=ca_file, retries=0) as client:
                with pytest.raises(asyncinfer.ConnectError):
                    await client.stream_completion("my-endpoint", PROMPT).read_text()


def _server_leaf(host: str, port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port)) as sock, context.wrap_socket(sock) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


# --- secrets, logging, stats ------------------------------------------------------------------

SECRET = "PLANTED-SECRET-7f3a"


async def test_secrets_never_leak(
    es: ElasticsearchEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncinfer")
    dead = f"http://user:{SECRET}@127.0.0.1:{closed_port()}"
    texts: list[str] = []
    es.add_fault(
        Fault(status=401, error_type="security_exception", reason="unable to authenticate")
    )
    for kwargs in (
        {"api_key": SECRET},
        {"basic_auth": ("elastic", SECRET)},
        {"bearer_auth": SECRET},
    ):
        async with InferenceClient([dead, es.url], retries=FAST, **kwargs) as client:  # type: ignore[arg-type]
            stream = client.stream_completion("my-endpoint", PROMPT)
            try:
                await stream.read_text()
            except asyncinfer.AsyncInferError as exc:
                texts += [str(exc), repr(exc), repr(exc.args)]
            texts += [
                repr(client),
                str(client),
                repr(stream),
                repr(client.hosts),
                repr(stream.stats),
            ]
    with pytest.raises(ValueError, match="http") as info:
        InferenceClient(f"ftp://u:{SECRET}@host")
    texts.append(str(info.value))
    texts += [record.getMessage() for record in caplog.records]
    assert es.requests[-1].headers["Authorization"].startswith("Bearer")  # the secret was used
    leaks = [text for text in texts if SECRET in text]
    assert not leaks


async def test_one_debug_line_per_attempt(
    es: ElasticsearchEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncinfer")
    es.add_fault(Fault(status=503))
    async with InferenceClient(es.url, retries=FAST) as client:
        await client.stream_completion("my-endpoint", PROMPT).read_text()
    lines = [r.getMessage() for r in caplog.records if "status=" in r.getMessage()]
    path = "/_inference/completion/my-endpoint/_stream"
    assert len(lines) == 2
    assert lines[0].startswith(f"POST {path} node={es.url} status=503 duration=")
    assert lines[0].endswith("retry=0")
    assert "status=200" in lines[1] and lines[1].endswith("retry=1")


async def test_stats(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url) as client:
        stream = client.stream_completion("my-endpoint", PROMPT)
        assert stream.stats.ended is None
        await stream.read_text()
        stats = stream.stats
        assert stats.ended == "done"
        assert stats.tokens == len(stream.tokens) > 0
        assert stats.events == es.requests[-1].events_sent
        assert stats.bytes == es.requests[-1].bytes_sent
        assert stats.time_to_first_token is not None
        assert 0 < stats.time_to_first_token <= stats.duration
        assert stats.retries == 0

        es.add_fault(Fault(stall_after=3))
        timed_out = client.stream_completion("my-endpoint", PROMPT, timeouts=Timeouts(idle=0.1))
        with pytest.raises(asyncinfer.IdleTimeoutError):
            await timed_out.read_text()
        assert timed_out.stats.ended == "timeout"
        assert timed_out.stats.longest_gap >= 0


# --- helpers ----------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


class serve:  # used like a function
    """A tiny aiohttp.web server on loopback for what the emulator cannot do."""

    def __init__(
        self, routes: list[tuple[str, str, Handler]], ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.app = web.Application()
        for method, path, handler in routes:
            self.app.router.add_route(method, path, handler)
        self.ssl_context = ssl_context
        self.runner = web.AppRunner(self.app)

    async def __aenter__(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_503_then_success_on_another_node() -> None:
    async with ElasticsearchEmulator() as one, ElasticsearchEmulator() as two:
        for es in (one, two):
            es.add_endpoint("my-endpoint")
        one.add_fault(Fault(status=503), times=None)
        async with InferenceClient([one.url, two.url], retries=FAST) as client:
            for _ in range(3):
                await client.stream_completion("my-endpoint", PROMPT).read_text()
    # The 503 took node one out of rotation: every later request went to node two.
    assert [r.status for r in one.requests] == [503]
    assert [r.status for r in two.requests] == [200, 200, 200]


async def test_connection_limit_is_client_wide(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=2))
    limits = asyncinfer.Limits(connections=1)
    async with InferenceClient(es.url, limits=limits) as client:
        first = client.stream_completion("my-endpoint", PROMPT)
        await first.__anext__()
        second = asyncio.create_task(client.stream_completion("my-endpoint", PROMPT).read_text())
        await asyncio.sleep(0.2)
        assert len(es.requests) == 1  # the second waits for the only connection
        assert es.open_connections == 1
        await first.aclose()
        assert await asyncio.wait_for(second, 10)
    assert len(es.requests) == 2


async def test_one_span_per_call_ended_however_the_stream_ends(
    es: ElasticsearchEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from asyncinfer import _tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with InferenceClient(es.url) as client:
        # No provider configured (the API's proxy): no span at all, not even a no-op one.
        assert _tracing.start_span("POST /x", {}) is None
        await client.stream_completion("my-endpoint", PROMPT).read_text()
        # A provider configured while the client exists (set_tracer_provider is once per
        # process, so it is patched in here) is used from the next call on.
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
        await client.stream_completion("my-endpoint", PROMPT).read_text()  # done
        es.add_fault(Fault(stall_after=2))
        async with client.stream_completion("my-endpoint", PROMPT) as stream:  # cancelled
            await stream.__anext__()
    spans = exporter.get_finished_spans()
    assert [s.attributes["asyncinfer.ended"] for s in spans] == ["done", "cancelled"]
    assert spans[0].name == "POST /_inference/completion/{inference_id}/_stream"
    assert spans[0].attributes["asyncinfer.inference_id"] == "my-endpoint"
    assert spans[0].attributes["asyncinfer.tokens"] > 0


def test_retry_after_seconds_or_http_date() -> None:
    import email.utils
    import time

    from asyncinfer._exchange import _retry_after

    assert _retry_after({"Retry-After": "7"}) == 7.0
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    parsed = _retry_after({"Retry-After": later})
    assert parsed is not None
    assert 55 < parsed <= 60
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({}) is None


async def test_a_callers_session_is_used_and_left_open(es: ElasticsearchEmulator) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with InferenceClient(es.url, session=session) as client:
            await client.stream_completion("my-endpoint", PROMPT).read_text()
        assert not session.closed
        async with session.get(es.url + "/") as resp:  # still usable
            assert resp.status == 200


async def test_reset_mid_headers_is_a_connect_error_and_retried(es: ElasticsearchEmulator) -> None:
    async def half_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/ev")
        await writer.drain()
        writer.transport.abort()

    server = await asyncio.start_server(half_headers, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with InferenceClient(url, retries=0) as client:
            with pytest.raises(asyncinfer.ConnectError):
                await client.stream_completion("my-endpoint", PROMPT).read_text()
        async with InferenceClient([url, es.url], retries=FAST) as client:
            assert await client.stream_completion("my-endpoint", PROMPT).read_text()
    finally:
        server.close()
        await server.wait_closed()


async def test_sniffing_again_when_a_node_fails(es: ElasticsearchEmulator) -> None:
    port = es.url.rsplit(":", 1)[1]
    sniffs = 0

    async def nodes(_: web.Request) -> web.Response:
        nonlocal sniffs
        sniffs += 1
        body = {"nodes": {"n1": {"http": {"publish_address": f"127.0.0.1:{port}"}}}}
        return web.json_response(body, headers={"X-elastic-product": "Elasticsearch"})

    dead = f"http://127.0.0.1:{closed_port()}"
    async with (
        serve([("GET", "/_nodes/_all/http", nodes)]) as seed,
        InferenceClient([dead, seed], sniff_on_node_failure=True, retries=FAST) as client,
    ):
        # The dead node's failure starts a sniff, which finds the real node.
        with contextlib.suppress(asyncinfer.AsyncInferError):
            await client.stream_completion("my-endpoint", PROMPT, retries=1).read_text()
        await _wait_for(lambda: client.hosts == [es.url])
        assert sniffs >= 1
        assert await client.stream_completion("my-endpoint", PROMPT).read_text()


def test_retry_back_off_stays_capped_for_huge_retry_counts() -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=20, jitter=0, max_retries=10_000)
    assert policy.backoff(5000, 0.0) == 20  # 2.0 ** 4999 used to raise OverflowError


def test_request_headers_go_to_aiohttp_merged_once_with_istr_names() -> None:
    # Given str names, aiohttp makes a lower-cased copy of each per request (memory held by
    # every request on its way); istr names it takes as they are.
    from multidict import istr

    from asyncinfer._protocol import STREAM_HEADERS

    client = InferenceClient("http://127.0.0.1:9", headers={"X-Custom": "1", "Accept": "x/y"})
    transport = client._transport
    merged = transport._merged_headers(STREAM_HEADERS)
    assert transport._merged_headers(STREAM_HEADERS) is merged
    assert all(type(name) is istr for name in merged)
    # The request's own headers win over the client's, whatever the case.
    assert merged["accept"] == "text/event-stream"
    assert merged["x-custom"] == "1"


def test_requests_to_one_endpoint_share_one_path_string() -> None:
    # A fan-out to one endpoint holds one path, not one per open stream.
    from asyncinfer._protocol import stream_completion_request

    first = stream_completion_request("my-endpoint", "a")
    second = stream_completion_request("my-" + "endpoint", "b")
    assert first.path == "/_inference/completion/my-endpoint/_stream"
    assert second.path is first.path
