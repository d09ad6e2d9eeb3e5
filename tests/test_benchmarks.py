"""The benchmarks' --quick modes run (a smoke test; no speed is asserted here)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.parametrize("script", ["bench_decoder.py", "bench_stream.py"])
async def test_quick_mode_prints_a_table(script: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCHMARKS / script), "--quick",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "| asyncinfer" in out.decode() or "_feed" in out.decode()
    assert out.decode().count("|") > 10
