"""Time to first token of this checkout against another one, in many alternated processes.

    python benchmarks/ttft_ab.py --before ../wt/before [--after .] [--pairs 30] [--streams 300]

Each pair runs asyncinfer from this checkout, asyncinfer from ``--before`` (a worktree of an
older commit: its package comes first on ``PYTHONPATH``) and the readline baseline, each in a
fresh process exactly as ``run.py``'s TTFT job runs a client, against one load server. It
prints each side's median and lower quartile, the ratios to readline, and a bootstrap 95%
interval of the difference of the medians.

Why not one process for both: a process's speed depends on its memory layout (±10% between
fresh processes of the same code here), and readline runs 5-10% slower in a process that
also runs asyncinfer, which hides most of a per-request regression. Many fresh processes,
alternated, average the layouts out the way ``run.py`` meets them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from run import child, fix_malloc, start_server  # noqa: E402


def ttft(url: str, client: str, streams: int, package: Path | None) -> float:
    """One fresh process's median time to first token, µs."""
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package), env.get("PYTHONPATH", "")])
    (result,) = child(client, url, [{"scenario": "ttft", "streams": streams}], env)
    if "error" in result:
        raise SystemExit(f"{client} ({package or 'this checkout'}): {result['error']}")
    return float(result["median_us"])


def interval(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """Bootstrap 95% interval of ``median(a) - median(b)``."""
    rng = random.Random(1)
    diffs = sorted(
        statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
        for _ in range(rounds)
    )
    return diffs[rounds // 40], diffs[rounds - rounds // 40 - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="default: this one")
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--streams", type=int, default=300)
    args = parser.parse_args()
    fix_malloc()  # as run.py measures (see there)
    packages = {"after": args.after.resolve(), "before": args.before.resolve()}
    for name, path in packages.items():
        if not (path / "asyncinfer" / "__init__.py").is_file():
            raise SystemExit(f"--{name} {path}: no asyncinfer package there")
    server, url = start_server()
    runs: dict[str, list[float]] = {"after": [], "before": [], "readline": []}
    try:
        for _ in range(args.pairs):
            runs["after"].append(ttft(url, "asyncinfer", args.streams, packages["after"]))
            runs["before"].append(ttft(url, "asyncinfer", args.streams, packages["before"]))
            runs["readline"].append(ttft(url, "readline", args.streams, None))
    finally:
        server.kill()
    base = statistics.median(runs["readline"])
    for name, values in runs.items():
        quartile = statistics.quantiles(values, n=4)[0]
        median = statistics.median(values)
        print(f"{name:9s} median {median:6.1f} µs  lower quartile {quartile:6.1f} µs  "
              f"{median / base:.2f}x readline")  # fmt: skip
    low, high = interval(runs["after"], runs["before"])
    diff = statistics.median(runs["after"]) - statistics.median(runs["before"])
    print(f"after - before: {diff:+.1f} µs (95% interval {low:+.1f} to {high:+.1f} µs) "
          f"over {args.pairs} pairs of {args.streams} streams")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
