"""The command line, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys

from asyncinfer.testing import ElasticsearchEmulator


async def run(*args: str, url: str | None = None) -> tuple[int, str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ELASTICSEARCH_", "ASYNCINFER_"))
    }
    if url is not None:
        env["ELASTICSEARCH_URL"] = url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncinfer", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_stream_without_a_url_uses_the_built_in_emulator() -> None:
    code, out, err = await run("stream", "What is Elastic?", "--stats")
    assert code == 0, err
    assert "built-in emulator" in err
    assert "time to first token" in err
    assert out.startswith("What is Elastic?")  # the demo model echoes the prompt first
    assert len(out.split()) > 20


async def test_stream_from_a_cluster(es: ElasticsearchEmulator) -> None:
    code, out, err = await run("stream", "hello", "-i", "my-endpoint", url=es.url)
    assert code == 0, err
    assert out == "".join(es.answer_for("my-endpoint", "hello")) + "\n"
    assert "emulator" not in err


async def test_exit_codes_name_the_failure(es: ElasticsearchEmulator) -> None:
    code, _, err = await run("stream", "hello", "-i", "nope", url=es.url)
    assert code == 4
    assert "NotFoundError" in err and "Inference endpoint not found [nope]" in err
    code, _, err = await run("stream", "hello", "-i", "x", url="http://127.0.0.1:1")
    assert code == 3
    assert "ConnectError" in err
    code, _, err = await run("stream", "hello", url=es.url)
    assert code == 2
    assert "-i" in err
