"""The benchmarks' --quick modes run end to end (a smoke test: no speed is asserted here).

Every client's correctness check (token count and text hash) still runs in quick mode, and a
failed check makes the script exit non-zero, so these tests fail on a wrong answer.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
CLIENT_LABELS = [
    "asyncinfer",
    "aiohttp readline + orjson (baseline)",
    "aiohttp iter_any + split (not conformant)",
    "httpx + httpx-sse (BOM stripped by hand)",
    "openai SDK (OpenAI route)",
    "elasticsearch-py perform_request (buffers the whole body)",
    "asyncinfer chat_completion",
    "asyncinfer, keep_text=False",
]
DECODERS = [
    "naive split (baseline)",
    "asyncinfer client path (`feed_message_block()`, else `feed_raw()`)",
    "asyncinfer `_feed()` raw",
    "asyncinfer `feed()` public",
    "httpx-sse decoders + BOM strip",
    "openai SDK decoder + BOM strip",
]


async def run_script(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode()


@pytest.mark.timeout(300)
async def test_run_quick_covers_every_scenario_and_client(tmp_path: Path) -> None:
    out = await run_script(str(BENCHMARKS / "run.py"), "--quick", "--out", str(tmp_path))
    md = (tmp_path / "results.md").read_text()
    assert md in out
    for heading in [
        "### Targets",
        "### Single-stream throughput\n",
        "### Single-stream throughput, one event per HTTP chunk",
        "### Time to first token",
        "### Fan-out",
        "### Slow consumer",
        "### Cancellation",
        "### Decoder only",
    ]:
        assert heading in md
    for label in CLIENT_LABELS:
        assert f"| {label} |" in md
    for decoder in DECODERS:
        assert md.count(f"| {decoder} |") == 4  # one row per feed size
    raw = orjson.loads((tmp_path / "results.json").read_bytes())
    runs = raw["runs"]
    assert set(runs) == {
        "throughput", "throughput-live", "ttft", "fanout-1000", "fanout-5000", "fanout-10000",
        "slow", "cancel",
    }  # fmt: skip
    for key, per_client in runs.items():
        for client, results in per_client.items():
            assert results, (key, client)
            for result in results:
                assert "error" not in result, (key, client, result)
    for result in runs["cancel"]["asyncinfer"]:
        assert result["unseen"] == 0
        assert result["sockets_left"] == result["tasks_left"] == result["warnings"] == 0
    assert [t["target"] for t in raw["targets"]]  # evaluated, met or not
    png = (tmp_path / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 100_000
    # --render measures nothing and writes the same tables from results.json.
    (tmp_path / "results.md").unlink()
    await run_script(str(BENCHMARKS / "run.py"), "--render", "--out", str(tmp_path))
    assert (tmp_path / "results.md").read_text() == md


@pytest.mark.timeout(120)
async def test_decoder_quick_prints_every_decoder() -> None:
    out = await run_script(str(BENCHMARKS / "bench_decoder.py"), "--quick")
    for decoder in DECODERS:
        assert out.count(f"| {decoder} |") == 4


@pytest.mark.timeout(120)
async def test_stream_quick_prints_every_client() -> None:
    out = await run_script(str(BENCHMARKS / "bench_stream.py"), "--quick")
    for label in CLIENT_LABELS[:-1]:  # keep_text=False runs in the slow-consumer scenario
        assert f"| {label} |" in out
    assert "| aiohttp readline + orjson (baseline) | " in out


@pytest.mark.timeout(120)
async def test_ablate_measures_every_trick_it_undoes() -> None:
    out = await run_script(str(BENCHMARKS / "ablate.py"), "--streams", "200", "--rounds", "1")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["all", "headers", "read_raw", "exact_size"]
    assert all(line.endswith("KB RSS per open stream") for line in lines)


@pytest.mark.timeout(120)
async def test_ttft_ab_compares_two_checkouts_against_readline() -> None:
    # This checkout against itself: the script runs, labels each side and bounds the gap.
    root = str(BENCHMARKS.parent)
    out = await run_script(
        str(BENCHMARKS / "ttft_ab.py"), "--before", root, "--pairs", "2", "--streams", "20"
    )
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["after", "before", "readline"]
    assert lines[2].endswith("1.00x readline")
    assert lines[3].startswith("after - before: ") and "over 2 pairs of 20 streams" in lines[3]
