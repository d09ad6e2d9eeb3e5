"""The command line, run as a real subprocess against the in-loop emulator.

The subprocesses are asyncio subprocesses, so the test's loop keeps serving the emulator while
they run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from aiohttp import web

import asyncinfer
from asyncinfer._cli import connect, errors, output, parsing
from asyncinfer.testing import ElasticsearchEmulator, Fault

ROOT = Path(__file__).parent.parent


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[Any]:
        return [orjson.loads(line) for line in self.out.splitlines()]


def _env(url: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ELASTICSEARCH_", "ASYNCINFER_"))
    }
    if url is not None:
        env["ELASTICSEARCH_URL"] = url
    env.update(extra or {})
    return env


@contextlib.asynccontextmanager
async def start(
    *args: str,
    url: str | None = None,
    env: dict[str, str] | None = None,
    stdin: int | None = asyncio.subprocess.DEVNULL,
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.PIPE,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m asyncinfer ARGS``; killed if the test leaves early."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncinfer", *args, env=_env(url, env),
        stdin=stdin, stdout=stdout, stderr=stderr,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run(
    *args: str,
    url: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> Result:
    pipe = asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE
    async with start(*args, url=url, env=env, stdin=pipe) as proc:
        out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    assert "Traceback" not in err.decode(), err.decode()
    return Result(proc.returncode, out.decode(), err.decode())


async def run_with_terminal_stderr(*args: str, url: str) -> Result:
    """Like :func:`run`, with stderr on a pseudo-terminal (as when a person watches)."""
    leader, follower = os.openpty()
    try:
        async with start(*args, url=url, stderr=follower) as proc:
            os.close(follower)
            follower = -1
            os.set_blocking(leader, False)
            chunks: list[bytes] = []
            reader = asyncio.create_task(proc.stdout.read())  # type: ignore[union-attr]
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except BlockingIOError:
                    if proc.returncode is not None or reader.done():
                        await proc.wait()
                        with contextlib.suppress(BlockingIOError, OSError):
                            chunks.append(os.read(leader, 65536))
                        break
                    await asyncio.sleep(0.01)
                    continue
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            out = await reader
            await proc.wait()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert proc.returncode is not None
    err = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal's ONLCR
    assert "Traceback" not in err, err
    return Result(proc.returncode, out.decode(), err)


def answer(es: ElasticsearchEmulator, inference_id: str, prompt: str) -> str:
    return "".join(es.answer_for(inference_id, prompt))


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


# --- stream ----------------------------------------------------------------------------------


async def test_stream_without_a_url_uses_the_built_in_emulator() -> None:
    result, quiet = await asyncio.gather(
        run("stream", "What is Elastic?"), run("stream", "What is Elastic?", "--no-stats")
    )
    assert result.code == 0, result.err
    assert "built-in emulator" in result.err and "'my-endpoint'" in result.err
    # make demo ends on the stats line (tokens, time to first token, tokens/s) by default.
    assert re.search(
        r"time to first token [\d.]+ ms; \d+ tokens in [\d.]+ s \([\d.]+ tokens/s\)", result.err
    ), result.err
    assert quiet.code == 0 and "time to first token" not in quiet.err
    assert result.out.startswith("What is Elastic?")  # the demo model echoes the prompt first
    # A budget of whole sentences: at most DEMO_ANSWER_TOKENS words, ending on a sentence.
    assert connect.DEMO_ANSWER_TOKENS - 14 < len(result.out.split()) <= connect.DEMO_ANSWER_TOKENS
    assert result.out.rstrip().endswith((".", "🦌"))
    assert "waiting" not in result.err  # no spinner when stderr is not a terminal


async def test_stream_from_a_cluster(es: ElasticsearchEmulator) -> None:
    result = await run("stream", "hello", "-i", "my-endpoint", url=es.url)
    assert result.code == 0, result.err
    assert result.out == answer(es, "my-endpoint", "hello") + "\n"
    assert result.err == ""


async def test_stream_reads_the_prompt_from_stdin(es: ElasticsearchEmulator) -> None:
    result = await run("stream", "-i", "my-endpoint", url=es.url, stdin=b"hello from stdin\n")
    assert result.code == 0, result.err
    assert result.out == answer(es, "my-endpoint", "hello from stdin") + "\n"
    assert es.requests[-1].json == {"input": "hello from stdin"}


async def test_stream_json_writes_one_object_per_token(es: ElasticsearchEmulator) -> None:
    result = await run("stream", "hello", "-i", "my-endpoint", "--json", url=es.url)
    assert result.code == 0, result.err
    assert result.json_lines() == [{"token": t} for t in es.answer_for("my-endpoint", "hello")]


async def test_stream_stats(es: ElasticsearchEmulator) -> None:
    result = await run("stream", "hello", "-i", "my-endpoint", "--stats", url=es.url)
    assert result.code == 0, result.err
    tokens = es.answer_for("my-endpoint", "hello")
    characters = len("".join(tokens))
    (line,) = result.err.splitlines()
    assert re.fullmatch(
        rf"asyncinfer: time to first token [\d.]+ ms; {len(tokens)} tokens in [\d.]+ s "
        rf"\([\d.]+ tokens/s\); {characters} characters",
        line,
    ), line


async def test_connection_settings_from_options_and_environment(es: ElasticsearchEmulator) -> None:
    by_env, by_option = await asyncio.gather(
        run(
            "stream",
            "hello",
            url=es.url,
            env={"ASYNCINFER_INFERENCE_ID": "my-endpoint", "ELASTICSEARCH_API_KEY": "from-env"},
        ),
        run("stream", "hello", "--url", es.url, "-i", "my-endpoint", "--api-key", "from-option"),
    )
    assert by_env.code == by_option.code == 0, (by_env.err, by_option.err)
    assert by_env.out == by_option.out == answer(es, "my-endpoint", "hello") + "\n"
    keys = sorted(r.headers["authorization"] for r in es.requests)
    assert keys == ["ApiKey from-env", "ApiKey from-option"]


async def test_spinner_until_the_first_token_only_on_a_terminal(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.4))
    result = await run_with_terminal_stderr("stream", "hello", "-i", "my-endpoint", url=es.url)
    assert result.code == 0, result.err
    assert result.out == answer(es, "my-endpoint", "hello") + "\n"
    frames = re.findall(r"\r(.) waiting for the first token", result.err)
    assert len(frames) >= 3 and set(frames) <= set(output.SPINNER_FRAMES)
    assert result.err.endswith("\r\x1b[K")  # the spinner erased its line


async def test_ctrl_c_ends_cleanly_and_closes_the_connection(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=3))
    want = "".join(es.answer_for("my-endpoint", "hello")[:3]).encode()
    async with start("stream", "hello", "-i", "my-endpoint", url=es.url) as proc:
        assert proc.stdout is not None
        # Interrupt once the three tokens sent are on stdout (not merely sent: on a loaded
        # machine the CLI may not have read the third yet).
        first = b""
        while len(first) < len(want):
            first += await asyncio.wait_for(proc.stdout.read(len(want) - len(first)), 10)
        await eventually(lambda: es.requests[-1].events_sent == 3)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 130
    assert "Traceback" not in err.decode()
    assert err.decode() == "asyncinfer: interrupted\n"
    assert first + out == want + b"\n"  # the line was ended
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None
    assert not es.requests[-1].completed


# --- chat ------------------------------------------------------------------------------------


async def test_chat_streams_the_assistant_content(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion")
    result = await run(
        "chat", "Hello!", "--system", "Be brief.", "-i", "chat", "--stats", url=es.url
    )
    assert result.code == 0, result.err
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello!"},
    ]
    assert es.requests[-1].json["messages"] == messages
    assert result.out == "".join(es.chat_answer_for("chat", messages)) + "\n"
    assert "time to first token" in result.err
    assert re.search(r"usage: \d+ prompt \+ \d+ completion = \d+ tokens", result.err)


async def test_chat_json_writes_each_chunk_and_reads_stdin(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("chat", "chat_completion")
    result = await run("chat", "-i", "chat", "--json", url=es.url, stdin=b"Hello!\n")
    assert result.code == 0, result.err
    chunks = result.json_lines()
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    content = "".join(
        choice["delta"].get("content") or "" for c in chunks for choice in c["choices"]
    )
    messages = [{"role": "user", "content": "Hello!"}]
    assert content == "".join(es.chat_answer_for("chat", messages))
    assert chunks[-1].get("usage")


# --- complete --------------------------------------------------------------------------------


async def test_complete_prints_the_whole_answer(es: ElasticsearchEmulator) -> None:
    plain, as_json = await asyncio.gather(
        run("complete", "hello", "-i", "my-endpoint", url=es.url),
        run("complete", "-i", "my-endpoint", "--json", url=es.url, stdin=b"hello\n"),
    )
    assert plain.code == as_json.code == 0, (plain.err, as_json.err)
    assert plain.out == answer(es, "my-endpoint", "hello") + "\n"
    assert as_json.json_lines() == [
        {"input": "hello", "result": answer(es, "my-endpoint", "hello")}
    ]
    assert all(r.path == "/_inference/completion/my-endpoint" for r in es.requests)


async def test_batch_writes_results_in_input_order_with_error_objects(
    es: ElasticsearchEmulator, tmp_path: Path
) -> None:
    # The first request to arrive is slow, the next two fail: results complete out of order.
    es.add_fault(Fault(first_event_delay=0.5), inference_id="my-endpoint")
    es.add_fault(Fault(status=400, reason="bad input"), inference_id="my-endpoint", times=2)
    prompts = [f"prompt number {i}" for i in range(8)]
    lines = [*prompts[:3], "", orjson.dumps({"input": prompts[3], "id": 7}).decode(), *prompts[4:]]
    lines += ['{"text": "no input key"}', "{not json"]
    source = tmp_path / "prompts.txt"
    source.write_text("\n".join(lines) + "\n")
    result = await run(
        "complete", "--input-file", str(source), "--concurrency", "4", "-i", "my-endpoint",
        url=es.url,
    )  # fmt: skip
    records = result.json_lines()
    # Every non-blank line, in order; nothing dropped.
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert [r["input"] for r in records[:8]] == prompts
    failed = [r for r in records[:8] if "error" in r]
    assert len(failed) == 2
    for record in failed:
        assert record["error"]["type"] == "BadRequestError"
        assert record["error"]["status"] == 400
        assert "bad input" in record["error"]["message"]
    for record in records[:8]:
        if "error" not in record:
            assert record["result"] == answer(es, "my-endpoint", record["input"])
    assert records[8]["error"]["type"] == records[9]["error"]["type"] == "InvalidInput"
    assert records[8]["input"] is None and 'no "input"' in records[8]["error"]["message"]
    assert "not valid JSON" in records[9]["error"]["message"]
    assert len(es.requests) == 8
    # The first failure in input order is an API error.
    assert result.code == 4
    assert result.err.splitlines()[-1] == (
        "asyncinfer: 4 of 10 inputs failed (see their error objects)"
    )
    assert "\r" not in result.err  # no progress bar when stderr is not a terminal


async def test_batch_concurrency_is_bounded(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(first_event_delay=0.15), times=None)
    stdin = "".join(f"prompt {i}\n" for i in range(6)).encode()
    in_flight: list[int] = []
    async with start(
        "complete", "--input-file", "-", "--concurrency", "2", "-i", "my-endpoint",
        url=es.url, stdin=asyncio.subprocess.PIPE,
    ) as proc:  # fmt: skip
        communicate = asyncio.create_task(proc.communicate(stdin))
        while not communicate.done():
            in_flight.append(sum(1 for r in es.requests if not r.closed))
            await asyncio.sleep(0.005)
        out, _ = await communicate
    assert proc.returncode == 0
    assert max(in_flight) == 2
    records = [orjson.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in records] == [f"prompt {i}" for i in range(6)]


async def test_batch_progress_bar_only_on_a_terminal(
    es: ElasticsearchEmulator, tmp_path: Path
) -> None:
    es.add_fault(Fault(first_event_delay=0.05), times=None)
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"prompt {i}\n" for i in range(12)))
    result = await run_with_terminal_stderr(
        "complete", "--input-file", str(source), "--concurrency", "2", "-i", "my-endpoint",
        url=es.url,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert len(result.json_lines()) == 12
    bars = [line for line in result.err.split("\r") if "/12 " in line]
    assert bars[0].startswith(" 0/12 ") and "ETA ?" in bars[0]
    assert any(re.search(r"\d+\.\d/s ETA \d+s", bar) for bar in bars[1:-1]), bars
    assert re.match(r"12/12 █{24} 100% +[\d.]+/s in \d+s", bars[-1]), bars[-1]
    assert result.err.endswith("\n")


async def test_a_batch_against_a_closed_port_fails_fast_and_counts_failures(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = tmp_path / "prompts.txt"
    source.write_text("".join(f"prompt {i}\n" for i in range(60)))
    result = await run_with_terminal_stderr(
        "complete", "--input-file", str(source), "-i", "my-endpoint",
        url=f"http://127.0.0.1:{port}",
    )  # fmt: skip
    records = result.json_lines()
    assert len(records) == 60
    assert {r["error"]["type"] for r in records} <= {"ConnectError", "CircuitOpenError"}
    assert records[-1]["error"]["type"] == "CircuitOpenError"  # the rest failed at once
    assert result.code == 3
    bars = [line for line in result.err.split("\r") if "/60 " in line]
    assert re.match(r"60/60 █{24} 100% +[\d.]+/s in \d+s · 60 failed", bars[-1]), bars[-1]
    assert result.err.splitlines()[-1] == (
        "asyncinfer: 60 of 60 inputs failed (see their error objects)"
    )


async def test_ctrl_c_in_a_batch(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(stall_after=0), times=None)  # every request hangs
    async with start(
        "complete", "--input-file", "-", "-i", "my-endpoint", url=es.url,
        stdin=asyncio.subprocess.PIPE,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(b"one\ntwo\nthree\n")
        proc.stdin.close()
        await eventually(lambda: len(es.requests) == 3)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 130
    assert err.decode() == "asyncinfer: interrupted\n"
    assert out == b""
    for request in es.requests:
        await request.wait_closed()
        assert request.disconnected_at is not None


# --- embed, rerank ---------------------------------------------------------------------------


async def test_embed(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("dense", "text_embedding")
    es.add_endpoint("sparse", "sparse_embedding")
    dense, as_json, sparse = await asyncio.gather(
        run("embed", "first text", "second text", "-i", "dense", url=es.url),
        run("embed", "-i", "dense", "--json", "--input-type", "search", url=es.url,
            stdin=b"first text\n\nsecond text\n"),
        run("embed", "--sparse", "first text", "-i", "sparse", url=es.url),
    )  # fmt: skip
    for result in (dense, as_json, sparse):
        assert result.code == 0, result.err
    texts = ["first text", "second text"]
    vectors = [es.embedding_for("dense", t) for t in texts]
    assert dense.json_lines() == vectors
    assert as_json.json_lines() == [
        {"input": t, "embedding": v} for t, v in zip(texts, vectors, strict=True)
    ]
    (weights,) = sparse.json_lines()
    assert weights and all(isinstance(w, float) for w in weights.values())
    bodies = {r.path: r.json for r in es.requests if r.json.get("input_type")}
    assert bodies == {"/_inference/text_embedding/dense": {"input": texts, "input_type": "search"}}


async def test_rerank(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("ranker", "rerank")
    documents = ["the search index", "café", "an index"]
    ranked, top, from_stdin = await asyncio.gather(
        run("rerank", "search index", *documents, "-i", "ranker", url=es.url),
        run("rerank", "search index", *documents, "-i", "ranker", "--top-n", "1", "--json",
            url=es.url),
        run("rerank", "search index", "-i", "ranker", url=es.url,
            stdin="\n".join(documents).encode()),
    )  # fmt: skip
    for result in (ranked, top, from_stdin):
        assert result.code == 0, result.err
    rows = [line.split("\t") for line in ranked.out.splitlines()]
    scores = [float(score) for score, _, _ in rows]
    assert scores == sorted(scores, reverse=True)
    assert sorted(int(index) for _, index, _ in rows) == [0, 1, 2]
    assert all(documents[int(index)] == text for _, index, text in rows)
    assert rows[0][2] == "the search index"
    assert from_stdin.out == ranked.out
    (best,) = top.json_lines()
    assert best == {"index": 0, "relevance_score": scores[0], "text": "the search index"}


# --- endpoints -------------------------------------------------------------------------------


async def test_endpoints_put_list_get_delete(es: ElasticsearchEmulator) -> None:
    put = await run(
        "endpoints", "put", "text_embedding", "my-embedder", "--service", "emulator",
        "--service-settings", '{"model_id": "tiny", "dimensions": 4}', url=es.url,
    )  # fmt: skip
    assert put.code == 0, put.err
    created = orjson.loads(put.out)
    assert created["inference_id"] == "my-embedder"
    assert created["task_type"] == "text_embedding"
    assert put.out.startswith("{\n  ")  # pretty by default

    listing, as_json, get = await asyncio.gather(
        run("endpoints", "list", url=es.url),
        run("endpoints", "list", "--task-type", "text_embedding", "--json", url=es.url),
        run("endpoints", "get", "my-embedder", "--json", url=es.url),
    )
    assert listing.out.splitlines() == [
        "INFERENCE_ID  TASK_TYPE       SERVICE",
        "my-embedder   text_embedding  emulator",
        "my-endpoint   completion      emulator",
    ]
    assert [e["inference_id"] for e in as_json.json_lines()] == ["my-embedder"]
    assert get.json_lines() == [created]

    dry_run = await run("endpoints", "delete", "my-embedder", "--dry-run", "--json", url=es.url)
    assert dry_run.code == 0, dry_run.err
    assert orjson.loads(dry_run.out)["acknowledged"] is False
    deleted = await run("endpoints", "delete", "my-embedder", url=es.url)
    assert deleted.code == 0, deleted.err
    assert orjson.loads(deleted.out)["acknowledged"] is True
    missing = await run("endpoints", "get", "my-embedder", url=es.url)
    assert missing.code == 4
    assert "NotFoundError" in missing.err


async def test_endpoints_without_a_url_lists_the_demo_endpoints() -> None:
    result = await run("endpoints", "list", "--json")
    assert result.code == 0, result.err
    found = {(e["inference_id"], e["task_type"]) for e in result.json_lines()}
    assert found == {(i, t) for t, i in connect.DEMO_ENDPOINTS.items()}
    assert "built-in emulator" in result.err


# --- serve -----------------------------------------------------------------------------------


async def test_serve_runs_the_emulator_until_ctrl_c() -> None:
    async with start("serve", "--port", "0") as proc:
        assert proc.stdout is not None and proc.stderr is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        async with asyncinfer.InferenceClient(url) as client:
            text = await client.stream_completion("my-endpoint", "hello").read_text()
            embedded = await client.text_embedding("my-embeddings", "hello")
            endpoints = await client.get_endpoints()
        assert text.startswith("hello")
        assert len(embedded.embeddings) == 1
        assert {e.inference_id for e in endpoints} == set(connect.DEMO_ENDPOINTS.values())
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert "Traceback" not in err.decode()
    assert f"emulator listening on {url}" in err.decode()


async def test_serve_adds_endpoints_and_requires_the_api_key() -> None:
    async with start(
        "serve", "--port", "0", "--endpoint", "completion:my-gpt", "--endpoint",
        "rerank:my-ranker", "--api-key", "s3cret",
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        async with asyncinfer.InferenceClient(url) as anonymous:
            with pytest.raises(asyncinfer.AuthenticationError) as refused:
                await anonymous.get_endpoints()
        assert refused.value.error_type == "security_exception"
        async with asyncinfer.InferenceClient(url, api_key="s3cret") as client:
            endpoints = {(e.inference_id, e.task_type) for e in await client.get_endpoints()}
            text = await client.stream_completion("my-gpt", "hello").read_text()
        assert {("my-gpt", "completion"), ("my-ranker", "rerank")} <= endpoints
        assert {(i, t) for t, i in connect.DEMO_ENDPOINTS.items()} <= endpoints
        assert text.startswith("hello")
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert "my-gpt (completion)" in err.decode() and "ApiKey" in err.decode()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("completion", "argument --endpoint: expected TASK:ID"),
        ("completion:", "argument --endpoint: expected TASK:ID"),
        ("bogus:x", "--endpoint bogus:x: unknown task_type 'bogus'"),
    ],
)
async def test_serve_refuses_a_bad_endpoint(spec: str, message: str) -> None:
    result = await run("serve", "--port", "0", "--endpoint", spec)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""  # refused before it listens


async def test_serve_defaults_to_the_newest_release_and_the_docs_endpoints() -> None:
    async with start("serve", "--port", "0") as proc:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        async with asyncinfer.InferenceClient(url) as client:
            # Non-streaming chat_completion and region policies came in 9.6 and 9.5.
            chat = await client.chat_completion("my-chat", [{"role": "user", "content": "hi"}])
            vectors = await client.embedding("my-multimodal", ["a text"])
        assert chat.raw and len(vectors.embeddings) == 1
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0


def test_the_demo_endpoints_are_the_docs_endpoints() -> None:
    emulator = ElasticsearchEmulator(version=connect.DEMO_ES_VERSION)
    created = emulator.add_docs_endpoints()
    assert sorted(created) == sorted(connect.DEMO_ENDPOINTS.values())
    assert set(emulator.endpoints) == set(connect.DEMO_ENDPOINTS.items())


# --- small usage mistakes --------------------------------------------------------------------


async def test_a_blank_prompt_is_refused_like_an_empty_one(es: ElasticsearchEmulator) -> None:
    es.add_endpoint("my-chat", "chat_completion")
    results = await asyncio.gather(
        run("stream", "   ", "-i", "my-endpoint", url=es.url),
        run("stream", "", "-i", "my-endpoint", url=es.url),
        run("chat", " \t ", "-i", "my-chat", url=es.url),
        run("complete", "\n", "-i", "my-endpoint", url=es.url),
    )
    for result, name in zip(results, ["prompt", "prompt", "message", "prompt"], strict=True):
        assert result.code == 2, result
        assert result.err == f"asyncinfer: error: give a {name} as an argument or on stdin\n"
    assert es.requests == []  # refused before any request


async def test_an_unknown_option_shows_the_sub_commands_usage() -> None:
    stream, delete, top = await asyncio.gather(
        run("stream", "--bogus"),
        run("endpoints", "delete", "x", "--bogus"),
        run("--bogus", "stream", "hi"),
    )
    assert stream.code == 2
    assert stream.err.startswith("usage: asyncinfer stream "), stream.err
    assert "--stats" in stream.err  # the sub-command's own options
    assert "asyncinfer stream: error: unrecognized arguments: --bogus" in stream.err
    assert delete.code == 2
    assert delete.err.startswith("usage: asyncinfer endpoints delete "), delete.err
    assert "asyncinfer endpoints delete: error: unrecognized arguments: --bogus" in delete.err
    # Before the sub-command too, the usage shown is of the command line that was run.
    assert top.code == 2
    assert top.err.startswith("usage: asyncinfer stream "), top.err
    assert "unrecognized arguments: --bogus" in top.err


async def test_negative_retries_are_refused_naming_the_option() -> None:
    result = await run("stream", "hi", "--retries", "-1")
    assert result.code == 2
    assert "argument --retries: must be >= 0, got '-1'" in result.err
    assert result.out == ""


@pytest.mark.parametrize("product_header", [None, "Kibana"])
async def test_a_url_that_is_not_elasticsearch_names_the_product_check(
    product_header: str | None,
) -> None:
    async def not_found(request: web.Request) -> web.Response:
        headers = {} if product_header is None else {"X-elastic-product": product_header}
        return web.Response(status=404, text="404: Not Found", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        result = await run("stream", "hi", "-i", "x", url=f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert result.code == 3, result  # a transport error: the server is not one we can use
    assert result.err.startswith("asyncinfer: UnsupportedProductError: "), result.err
    assert "X-elastic-product: Elasticsearch" in result.err
    assert "status 404" in result.err


async def test_a_dry_run_delete_shows_error_message_only_when_there_is_one(
    es: ElasticsearchEmulator,
) -> None:
    es.add_endpoint("unused")
    es.add_endpoint("used")
    es.add_pipeline_reference("used", "my-pipeline")
    unused, unused_json, used = await asyncio.gather(
        run("endpoints", "delete", "unused", "--dry-run", url=es.url),
        run("endpoints", "delete", "unused", "--dry-run", "--json", url=es.url),
        run("endpoints", "delete", "used", "--dry-run", "--json", url=es.url),
    )
    for result in (unused, unused_json, used):
        assert result.code == 0, result.err
    assert orjson.loads(unused.out) == orjson.loads(unused_json.out)
    assert "error_message" not in orjson.loads(unused.out)
    assert orjson.loads(unused.out)["acknowledged"] is False
    shown = orjson.loads(used.out)
    assert shown["pipelines"] == ["my-pipeline"]
    assert shown["error_message"]  # a real refusal is still shown


# --- errors, exit codes, logging -------------------------------------------------------------


async def test_exit_codes_name_the_failure(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(error_after=3, error_status=400, reason="oops"), inference_id="mid")
    es.add_fault(Fault(end_after=3), inference_id="short")
    es.add_endpoint("mid")
    es.add_endpoint("short")
    not_found, refused, mid_stream, truncated = await asyncio.gather(
        run("stream", "hello", "-i", "nope", url=es.url),
        run("stream", "hello", "-i", "x", "--retries", "0", url="http://127.0.0.1:1"),
        run("stream", "hello", "-i", "mid", url=es.url),
        run("stream", "hello", "-i", "short", url=es.url),
    )
    assert not_found.code == 4
    assert not_found.out == ""
    (line,) = not_found.err.splitlines()  # one clear line
    assert line.startswith("asyncinfer: NotFoundError: 404 resource_not_found_exception:")
    assert "Inference endpoint not found [nope]" in line
    assert refused.code == 3
    assert refused.err.startswith("asyncinfer: ConnectError: ")
    assert len(refused.err.splitlines()) == 1  # the retries are not logged without -v
    assert mid_stream.code == 5
    assert mid_stream.err.startswith("asyncinfer: StreamApiError: 400")
    assert truncated.code == 5
    assert truncated.err.startswith("asyncinfer: IncompleteStreamError:")
    # What arrived before the failure was written, and its line ended.
    for result, inference_id in ((mid_stream, "mid"), (truncated, "short")):
        assert result.out == "".join(es.answer_for(inference_id, "hello")[:3]) + "\n"


async def test_usage_errors_exit_2(es: ElasticsearchEmulator, tmp_path: Path) -> None:
    results = await asyncio.gather(
        run("stream", "hello", url=es.url),
        run("stream", "-i", "e", url=es.url, stdin=b"  \n"),
        run("complete", "hello", "--input-file", str(tmp_path / "x"), "-i", "e", url=es.url),
        run("complete", "--input-file", str(tmp_path / "missing"), "-i", "e", url=es.url),
        run("complete", "--input-file", "-", "--concurrency", "0"),
        run("embed", "--sparse", "--input-type", "search", "text"),
        run("endpoints", "put", "completion", "x", "--service", "s", "--service-settings", "[]"),
        run("nonsense"),
    )
    messages = [
        "give the inference endpoint with -i or ASYNCINFER_INFERENCE_ID",
        "give a prompt as an argument or on stdin",
        "give a prompt or --input-file, not both",
        "cannot read",
        "--concurrency: expected a positive integer, got '0'",
        "--input-type applies to dense embeddings only",
        "--service-settings: expected a JSON object, got '[]'",
        "invalid choice: 'nonsense'",
    ]
    for result, message in zip(results, messages, strict=True):
        assert result.code == 2, (message, result)
        assert message in result.err, (message, result.err)
        assert result.out == ""


async def test_cloud_id(es: ElasticsearchEmulator) -> None:
    result = await run("stream", "hello", "-i", "x", "--cloud-id", "not-a-cloud-id")
    assert result.code == 2
    # Given to the client, which found it malformed.
    assert result.err.startswith("asyncinfer: InvalidRequestError:"), result.err
    both = await run("stream", "hi", "-i", "x", "--cloud-id", "name:abc", url=es.url)
    assert both.code == 2
    assert both.err == "asyncinfer: error: give --url or --cloud-id, not both\n"


async def test_verbose_logs_retries(es: ElasticsearchEmulator) -> None:
    es.add_fault(Fault(status=503, reason="try again"), inference_id="my-endpoint")
    verbose = await run("-v", "stream", "hello", "-i", "my-endpoint", url=es.url)
    assert verbose.code == 0, verbose.err
    assert verbose.out == answer(es, "my-endpoint", "hello") + "\n"
    assert "DEBUG asyncinfer.cli: connecting to" in verbose.err
    assert re.search(r"DEBUG asyncinfer: retry 1 of POST \S+ in [\d.]+s after", verbose.err)
    es.add_fault(Fault(status=503, reason="try again"), inference_id="my-endpoint")
    quiet = await run("stream", "hello", "-i", "my-endpoint", "--stats", url=es.url)
    assert quiet.code == 0, quiet.err
    assert "retry" not in quiet.err and "DEBUG" not in quiet.err
    assert len(es.requests) == 4  # each retried once


async def test_a_closed_stdout_stops_quietly(es: ElasticsearchEmulator) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `asyncinfer stream ... | head -c 0`
    try:
        async with start("stream", "hello", "-i", "my-endpoint", url=es.url, stdout=write_end) as p:
            _, err = await asyncio.wait_for(p.communicate(), 10)
    finally:
        os.close(write_end)
    assert p.returncode == 141
    assert err == b""


async def test_the_console_script_is_the_same_program() -> None:
    script = Path(sys.executable).parent / "asyncinfer"
    proc = await asyncio.create_subprocess_exec(script, "--version", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().strip() == asyncinfer.__version__
    assert (await run("--version")).out == out.decode()


# --- the documentation -----------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {n}": s for n, s in _subparsers(sub).items()})
    return found


def test_the_docs_cover_every_command_option_variable_and_exit_code() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    for command, parser in _subparsers(parsing.build_parser()).items():
        assert f"asyncinfer {command}" in page, command
        for action in parser._actions:
            for option in action.option_strings:
                assert f"`{option}" in page or f"{option}`" in page, (command, option)
    for variable in ("ELASTICSEARCH_URL", "ELASTICSEARCH_API_KEY", "ASYNCINFER_INFERENCE_ID"):
        assert f"`{variable}`" in page
    codes = {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    for value in codes.values():
        assert re.search(rf"^\| {value} \|", page, re.MULTILINE), value
