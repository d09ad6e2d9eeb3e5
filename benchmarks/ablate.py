"""What each of asyncinfer's memory and CPU tricks buys: the same scenario with one undone.

Each trick in the client whose comment cites a figure is undone here by a monkeypatch, in a
fresh process per run, against the load server (interleaved rounds, medians):

    python benchmarks/ablate.py                      # fan-out: RSS per open stream
    python benchmarks/ablate.py --live               # one event per chunk: tokens/s, CPU/token

A trick stays in the client only where its figure here is clearly above run-to-run noise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent


def undo(trick: str) -> None:
    """Undo one trick in this process (private names: this is a measurement, not an API)."""
    import asyncinfer._protocol as protocol
    from asyncinfer._transport import Response, Transport

    if trick == "headers":  # a plain merged dict per request, as a first version would
        Transport._merged_headers = lambda self, headers: {**self._headers, **headers}  # type: ignore[method-assign,assignment,misc]
    elif trick == "read_raw":  # a coroutine per read instead of aiohttp's own awaitable
        Response.read_chunk_raw = lambda self: self.read_chunk()  # type: ignore[method-assign]
    elif trick == "exact_size":  # keep orjson's bytes (and their 4 KiB allocation) as they are
        protocol._exact_size.__code__ = (lambda body: body).__code__
    elif trick != "none":
        raise SystemExit(f"unknown trick {trick!r}")


def child(argv: list[str]) -> int:
    undo(argv.pop(0))
    sys.path.insert(0, str(HERE))
    import scenarios

    return scenarios.main(argv)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--live", action="store_true", help="live throughput instead of fan-out")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.live:
        tricks = ["none", "read_raw"]
        spec: dict[str, Any] = {"scenario": "throughput", "events": 50_000, "per_write": 1}
    else:
        tricks = ["none", "headers", "read_raw", "exact_size"]
        spec = {"scenario": "fanout", "streams": args.streams}
    server = subprocess.Popen(
        [sys.executable, str(HERE / "loadserver.py"), "--cpu", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = "http://127.0.0.1:" + server.stdout.readline().split()[1]
    results: dict[str, list[dict[str, Any]]] = {trick: [] for trick in tricks}
    try:
        for _ in range(args.rounds):
            for trick in tricks:
                cmd = [sys.executable, __file__, "--child", trick, "--client", "asyncinfer"]
                cmd += ["--url", url, "--cpu", "1", "--run", orjson.dumps(spec).decode()]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                results[trick].append(orjson.loads(out.splitlines()[-1]))
    finally:
        server.kill()
    for trick, runs in results.items():
        label = "all tricks in" if trick == "none" else f"{trick} undone"
        if args.live:
            tps = statistics.median(r["tokens_per_s"] for r in runs)
            cpu = statistics.median(r["cpu_us_per_token"] for r in runs)
            print(f"{label:20s} {tps:>10,.0f} tokens/s  {cpu:.2f} µs CPU/token")
        else:
            kb = statistics.median(r["rss_per_stream"] for r in runs) / 1024
            print(f"{label:20s} {kb:6.2f} KB RSS per open stream")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
