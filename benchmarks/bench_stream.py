"""End-to-end single-stream throughput of every client: ``run.py``'s throughput job alone.

    python benchmarks/bench_stream.py [--events 200000] [--deltas 1] [--rounds 5] [--quick]

Starts ``loadserver.py`` pinned to one core, then runs each client in a fresh process pinned to
the other, interleaved (A B C, A B C, ...), and prints medians and ratios to the readline loop.
Each run checks the token count and a hash of the text, so a fast wrong answer fails. The
clients are those of ``clients.py``; ``run.py`` runs this and every other scenario.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--deltas", type=int, default=1, help="deltas per event")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5,000 events, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds = 5_000, 1
    job = next(j for j in run.plan(quick=False, rounds=args.rounds) if j.key == "throughput")
    job.params = {"events": args.events, "deltas": args.deltas}
    if args.quick:
        job.round_caps = {}
    server, url = run.start_server()
    try:
        runs = run.run_jobs(url, [job], quick=False)
    finally:
        server.kill()
        server.wait()
    print("\n".join(run.render_throughput(job, runs)))
    errors = run.errors_of(job, runs)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
