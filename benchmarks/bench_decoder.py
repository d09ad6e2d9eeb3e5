"""Throughput of the SSE decoder on an Elasticsearch completion stream.

Usage::

    python benchmarks/bench_decoder.py [--quick] [--repeat N]

The stream is what Elasticsearch sends for ``_stream`` on a completion endpoint (spec §3.1 and
§3.5): a UTF-8 BOM before every event, ``event: message``, one ``data:`` line holding
``{"completion":[{"delta":"..."}, ...]}`` (about 100 bytes an event) and a final ``[DONE]``.
It is cut into feeds of 1 B, 64 B, 4 KiB and 64 KiB and decoded three ways:

* ``feed()``: the public API, one :class:`~asyncinfer.sse.ServerSentEvent` per event;
* ``_feed()``: the raw tuples that the client's read loop consumes;
* ``naive``: a hand-tuned ``buf.split(b"\\n\\n")`` splitter for exactly this framing. It is not
  a conforming decoder (no CR line ends, comments, multi-line data, id or retry, size limit);
  it is here as the speed of light the decoder is measured against.

Each figure is the best of ``--repeat`` runs (the least disturbed by other work on the
machine); MB/s are 10**6 bytes of stream per second. ``--quick`` decodes a smaller stream and
finishes in a few seconds, for CI.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence

import orjson

from asyncinfer.sse import SSEDecoder

_BOM = b"\xef\xbb\xbf"
_EVENT_PREFIX = _BOM + b"event: "
_DONE = _BOM + b"event: message\ndata: [DONE]\n\n"
_TEXT = (
    "Elastic is a search company that builds self-managed and SaaS offerings for search, "
    "logging, security, observability and analytics use cases. Its vector database, "
    "semantic retrieval and inference endpoints let developers ground models in their own "
    "data: recherche sémantique, 検索, поиск, búsqueda."
)
_WORDS = _TEXT.split(" ")

FEED_SIZES = (1, 64, 4 * 1024, 64 * 1024)


def make_stream(size: int, seed: int = 0) -> tuple[bytes, int]:
    """Build a completion stream of at least ``size`` bytes; return it and its event count."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    total = 0
    while total < size:
        # Most chunks carry one delta of a few words; some carry two, as providers batch.
        deltas = [
            {"delta": " " + " ".join(rng.choices(_WORDS, k=rng.randint(2, 8)))}
            for _ in range(1 if rng.random() < 0.8 else 2)
        ]
        event = _BOM + b"event: message\ndata: " + orjson.dumps({"completion": deltas}) + b"\n\n"
        parts.append(event)
        total += len(event)
    parts.append(_DONE)
    return b"".join(parts), len(parts)


def split(stream: bytes, feed_size: int) -> list[bytes]:
    return [stream[i : i + feed_size] for i in range(0, len(stream), feed_size)]


def run_feed(chunks: Sequence[bytes]) -> int:
    decoder = SSEDecoder(bom_every_event=True)
    count = 0
    for chunk in chunks:
        count += len(decoder.feed(chunk))
    decoder.close()
    return count


def run_raw_feed(chunks: Sequence[bytes]) -> int:
    decoder = SSEDecoder(bom_every_event=True)
    feed = decoder._feed
    count = 0
    for chunk in chunks:
        count += len(feed(chunk))
    decoder.close()
    return count


def run_naive(chunks: Sequence[bytes]) -> int:
    """Split on blank lines; read the type and data of Elasticsearch's three-line events."""
    buf = b""
    events: list[tuple[str, bytes]] = []
    prefix_len = len(_EVENT_PREFIX)
    for chunk in chunks:
        buf += chunk
        if 10 not in chunk or b"\n\n" not in buf:  # 10 is LF; int membership is faster
            continue
        *blocks, buf = buf.split(b"\n\n")
        for block in blocks:
            head, _, data = block.partition(b"\ndata: ")
            events.append((head[prefix_len:].decode(), data))
    return len(events)


def best_time(
    fn: Callable[[Sequence[bytes]], int], chunks: Sequence[bytes], repeat: int, expected: int
) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(chunks)
        elapsed = time.perf_counter() - start
        if count != expected:
            raise AssertionError(f"{fn.__name__} decoded {count} events, expected {expected}")
        best = min(best, elapsed)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small stream, for a CI smoke test")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (best is kept)")
    args = parser.parse_args(argv)
    # 1-byte feeds cost one call per byte, so they get a smaller stream.
    big, small = (256 * 1024, 32 * 1024) if args.quick else (4 * 1024 * 1024, 512 * 1024)
    repeat = args.repeat or (3 if args.quick else 5)

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), best of {repeat}"
    )
    streams = {size: make_stream(size) for size in {big, small}}
    for _size, (stream, events) in sorted(streams.items()):
        print(
            f"stream: {len(stream):,} bytes, {events:,} events, "
            f"{len(stream) / events:.0f} bytes/event"
        )
    print()
    print("| feed size | decoder | MB/s | events/s | vs naive |")
    print("| ---: | --- | ---: | ---: | ---: |")
    forms: list[tuple[str, Callable[[Sequence[bytes]], int]]] = [
        ("naive split (baseline)", run_naive),
        ("`_feed()` raw", run_raw_feed),
        ("`feed()` public", run_feed),
    ]
    for feed_size in FEED_SIZES:
        stream, events = streams[small if feed_size == 1 else big]
        chunks = split(stream, feed_size)
        naive = None
        for name, fn in forms:
            elapsed = best_time(fn, chunks, repeat, events)
            naive = naive or elapsed
            print(
                f"| {feed_size:,} B | {name} | {len(stream) / elapsed / 1e6:,.1f} "
                f"| {events / elapsed:,.0f} | {naive / elapsed:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
