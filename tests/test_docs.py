"""Every Python example in the README and docs/ runs, against the emulator."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncinfer.testing import ElasticsearchEmulator

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXAMPLES = [
    pytest.param(
        code, id=f"{page.relative_to(ROOT)}:{page.read_text()[: m.start()].count(chr(10)) + 1}"
    )
    for page in PAGES
    for m in BLOCK.finditer(page.read_text())
    for code in [m[1]]
]


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    # The newest release the emulator knows, so that the docs can show every API (9.4-9.6).
    async with ElasticsearchEmulator(version="9.6.0") as emulator:
        emulator.add_endpoint("my-endpoint", "completion")
        yield emulator


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("code", EXAMPLES)
async def test_example_runs(es: ElasticsearchEmulator, code: str, tmp_path: Path) -> None:
    # The docs address a local cluster; the emulator stands in for it, with the endpoints
    # the docs use.
    es.add_endpoint("my-chat", "chat_completion")
    es.add_endpoint("my-embeddings", "text_embedding", service_settings={"dimensions": 8})
    es.add_endpoint("my-elser", "sparse_embedding")
    es.add_endpoint("my-reranker", "rerank")
    es.add_endpoint("my-multimodal", "embedding")
    code = code.replace("http://localhost:9200", es.url)
    if "def test_" in code:
        # A pytest example: run it with pytest, which loads asyncinfer's plugin.
        (tmp_path / "test_example.py").write_text(code)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            str(tmp_path),
        ]
    else:
        command = [sys.executable, "-W", "error", "-c", code]
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, (
        f"example failed:\n{code}\n--- stdout:\n{out.decode()}\n--- stderr:\n{err.decode()}"
    )
    assert out.strip(), "an example should show its result"
