"""Every Python example in the README and docs/ runs as pasted, against ``asyncinfer serve``.

One ``asyncinfer serve --port 0`` process stands in for the user's local cluster for all the
examples: the only change made to an example is its URL (``http://localhost:9200`` becomes the
served one). No endpoint is added for an example: those the docs name are the ones ``serve``
starts with, and an example that creates or deletes endpoints cleans up after itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
DOCS_URL = "http://localhost:9200"


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """The ```` ```python ```` blocks of a page, each with the line its fence is on."""
    blocks = []
    fence: int | None = None
    lines: list[str] = []
    for number, line in enumerate(page.read_text().splitlines(keepends=True), 1):
        if fence is None:
            if line.rstrip() == "```python":
                fence, lines = number, []
        elif line.rstrip() == "```":
            blocks.append((fence, "".join(lines)))
            fence = None
        else:
            lines.append(line)
    return blocks


EXAMPLES = [
    pytest.param(code, id=f"{page.relative_to(ROOT)}:{line}")
    for page in PAGES
    for line, code in python_blocks(page)
]


@pytest.fixture(scope="module")
def served_url() -> Iterator[str]:
    """The URL of one ``asyncinfer serve --port 0``, as it prints it alone on stdout."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncinfer", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, proc.stderr and proc.stderr.read())
        yield url
    finally:
        # Ctrl-C is how serve is stopped (exit 0); kill only if it does not stop.
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 25


def test_python_blocks_are_found_with_their_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nprint(1)\n```\n```console\n$ x\n```\n```python\nb = 2\n```\n")
    assert python_blocks(page) == [(2, "print(1)\n"), (8, "b = 2\n")]


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs_as_pasted(served_url: str, code: str, tmp_path: Path) -> None:
    code = code.replace(DOCS_URL, served_url)
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
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=50, check=False
    )
    assert run.returncode == 0, (
        f"example failed:\n{code}\n--- stdout:\n{run.stdout}\n--- stderr:\n{run.stderr}"
    )
    assert run.stdout.strip(), "an example should show its result"


def test_fanout_and_chat_examples_pass_mypy_strict(tmp_path: Path) -> None:
    # One mypy run over all the blocks (a module each), not one per block: mypy's start-up
    # is most of its time.
    files = []
    for name in ("fanout", "chat"):
        for line, code in python_blocks(ROOT / "docs" / f"{name}.md"):
            files.append(tmp_path / f"{name}_{line}.py")
            files[-1].write_text(code)
    assert len(files) >= 5
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
