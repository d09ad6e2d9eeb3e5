"""What a user's ``mypy --strict`` sees of the fan-out helpers: precise in the common case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

SNIPPET = """
import asyncinfer
from asyncinfer import CompletionResult


async def main(client: asyncinfer.InferenceClient) -> None:
    results: list[CompletionResult] = await client.map_completions("e", ["a", "b"])
    reveal_type(results)
    mixed = await client.map_completions("e", ["a"], return_exceptions=True)
    reveal_type(mixed)
    streams = [client.stream_completion("e", p) for p in ("a", "b")]
    async with asyncinfer.merge_streams(streams) as merged:
        async for index, token in merged:
            text: str = token
            reveal_type(token)
    async with asyncinfer.merge_streams(streams, return_exceptions=True) as merged_errors:
        async for index, item in merged_errors:
            reveal_type(item)
    async with client.as_completed("e", ["a"]) as done:
        async for index, outcome in done:
            reveal_type(outcome)
"""


def test_mypy_strict_sees_the_precise_types(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    # Run from the project root: mypy's cache from `make lint` makes this a few seconds.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    revealed = [
        line.split("Revealed type is ", 1)[1]
        for line in run.stdout.splitlines()
        if "Revealed type" in line
    ]
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert errors == [], run.stdout
    assert revealed == [
        '"list[asyncinfer._models.CompletionResult]"',
        '"list[asyncinfer._models.CompletionResult | BaseException]"',
        '"str"',
        '"str | BaseException"',
        '"asyncinfer._models.CompletionResult | BaseException"',
    ], run.stdout
