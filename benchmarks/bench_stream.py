"""End-to-end streaming throughput: asyncinfer against hand-written aiohttp loops.

    python benchmarks/bench_stream.py [--events 200000] [--rounds 5] [--quick]

Starts ``loadserver.py`` in its own process, then runs each client in a fresh process, the
clients interleaved (A B C, A B C, ...), and prints medians and ratios to the readline loop.
Each client checks the token count and a hash of the text, so a fast wrong answer fails.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson

import asyncinfer

HERE = Path(__file__).parent
PATH = "/_inference/completion/bench/_stream"
BODY = orjson.dumps({"input": "benchmark"})
HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


async def client_asyncinfer(url: str) -> list[str]:
    """The SDK: CompletionStream."""
    tokens = []
    async with (
        asyncinfer.InferenceClient(url) as client,
        client.stream_completion("bench", "benchmark") as stream,
    ):
        async for token in stream:
            tokens.append(token)
    return tokens


async def client_readline(url: str) -> list[str]:
    """What most people write: ``async for line in resp.content`` + orjson (the baseline)."""
    tokens = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + PATH, data=BODY, headers=HEADERS) as resp,
    ):
        async for line in resp.content:
            if not line.startswith(b"data: "):
                continue
            payload = line[6:].rstrip(b"\r\n")
            if payload == b"[DONE]":
                break
            for item in orjson.loads(payload)["completion"]:
                if item["delta"]:
                    tokens.append(item["delta"])
    return tokens


async def client_split(url: str) -> list[str]:
    """Hand-tuned and not conformant: ``iter_any()`` + ``split(b"\\n\\n")`` + orjson."""
    tokens = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + PATH, data=BODY, headers=HEADERS) as resp,
    ):
        rest = b""
        async for chunk in resp.content.iter_any():
            blocks = (rest + chunk).split(b"\n\n")
            rest = blocks.pop()
            for block in blocks:
                payload = block[block.index(b"data: ") + 6 :]
                if payload == b"[DONE]":
                    return tokens
                for item in orjson.loads(payload)["completion"]:
                    if item["delta"]:
                        tokens.append(item["delta"])
    return tokens


CLIENTS: dict[str, Callable[[str], Awaitable[list[str]]]] = {
    "asyncinfer": client_asyncinfer,
    "aiohttp readline + orjson": client_readline,
    "aiohttp iter_any + split (not conformant)": client_split,
}
BASELINE = "aiohttp readline + orjson"


def run_child(name: str, url: str) -> None:
    """In the child process: run one client once, print its figures as JSON."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    tokens = asyncio.run(CLIENTS[name](url))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    digest = hashlib.sha256("".join(tokens).encode()).hexdigest()[:16]
    print(orjson.dumps({"wall": wall, "cpu": cpu, "tokens": len(tokens), "hash": digest}).decode())


def start_server(events: int, deltas: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "loadserver.py"),
            "--events",
            str(events),
            "--deltas",
            str(deltas),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        raise SystemExit(f"load server did not start: {line!r}")
    return server, f"http://127.0.0.1:{line.split()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--deltas", type=int, default=1, help="deltas per event")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20,000 events, 1 round")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.url)
        return
    if args.quick:
        args.events, args.rounds = 20_000, 1
    server, url = start_server(args.events, args.deltas)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    try:
        for _ in range(args.rounds):
            for name in CLIENTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", name, "--url", url],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                results[name].append(orjson.loads(out.stdout))
    finally:
        server.kill()
        server.wait()
    expected = {(r["tokens"], r["hash"]) for r in results[BASELINE]}
    for name, runs in results.items():
        got = {(r["tokens"], r["hash"]) for r in runs}
        if got != expected:
            raise SystemExit(f"{name} received different tokens: {got} != {expected}")
    tokens = int(results[BASELINE][0]["tokens"])
    base = statistics.median(r["wall"] for r in results[BASELINE])
    print(
        f"\n{args.events:,} events x {args.deltas} delta(s), {tokens:,} tokens, "
        f"median of {args.rounds} interleaved rounds, one fresh process per run\n"
    )
    print("| client | tokens/s | CPU µs/token | speed vs readline |")
    print("|---|---:|---:|---:|")
    for name, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        print(f"| {name} | {tokens / wall:,.0f} | {cpu / tokens * 1e6:.2f} | {base / wall:.2f}x |")


if __name__ == "__main__":
    main()
