"""Throughput of SSE decoders alone on an Elasticsearch completion stream.

Usage::

    python benchmarks/bench_decoder.py [--quick] [--repeat N] [--json]

The stream is what Elasticsearch sends for ``_stream`` on a completion endpoint (spec §3.1 and
§3.5): a UTF-8 BOM before every event, ``event: message``, one ``data:`` line holding
``{"completion":[{"delta":"..."}, ...]}`` (about 100 bytes an event) and a final ``[DONE]``.
It is cut into feeds of 1 B, 64 B, 4 KiB and 64 KiB and decoded by:

* ``naive split``: a hand-tuned ``buf.split(b"\\n\\n")`` splitter for exactly this framing. It
  is not a conforming decoder (no CR line ends, comments, multi-line data, id or retry, size
  limit); it is the speed of light the others are measured against;
* client path: what the client's read loop runs: ``feed_message_block()`` (a read of whole message
  events as one block of their data and a count), else ``feed_raw()``;
* ``_feed()``: asyncinfer's raw tuples;
* ``feed()``: asyncinfer's public API, one :class:`~asyncinfer.sse.ServerSentEvent` an event;
* ``httpx-sse``: what ``EventSource.aiter_sse`` runs (an incremental UTF-8 decode, then
  httpx-sse's line and event decoders), plus the BOM strip a user must add (see clients.py);
* ``openai``: the openai SDK's byte-line splitter and event decoder, plus the same BOM strip.

Each form decodes the same feeds; the forms are run in turn (A B C ... repeated ``--repeat``
times) and each figure is the median. MB/s are 10**6 bytes of stream per second. ``--quick``
decodes a smaller stream in a few seconds, for CI; ``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import codecs
import platform
import random
import statistics
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


def run_client_path(chunks: Sequence[bytes]) -> int:
    """What the client's read loop runs: whole message events as one block, else ``_feed``."""
    decoder = SSEDecoder(bom_every_event=True)
    messages, feed = decoder.feed_message_block, decoder.feed_raw
    count = 0
    for chunk in chunks:
        block = messages(chunk)
        count += len(feed(chunk)) if block is None else block[1]
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


def run_httpx_sse(chunks: Sequence[bytes]) -> int:
    """httpx's incremental text decode, then httpx-sse's decoders, with the BOM stripped."""
    from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
    from httpx_sse._decoders import SSELineDecoder

    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines, decoder = SSELineDecoder(), HttpxSSEDecoder()
    count = 0
    for chunk in chunks:
        decoded = text.decode(chunk)
        if not decoded:
            continue
        for line in lines.decode(decoded):
            if decoder.decode(line.removeprefix("\ufeff")) is not None:
                count += 1
    return count


def run_openai(chunks: Sequence[bytes]) -> int:
    """The openai SDK's line splitter and event decoder, with the BOM stripped."""
    from openai._streaming import SSEDecoder as OpenAISSEDecoder
    from openai._streaming import _SSELineDecoder

    lines, decoder = _SSELineDecoder(), OpenAISSEDecoder()
    count = 0
    for chunk in chunks:
        for line in lines.feed(chunk):
            if decoder.decode(line.removeprefix(_BOM).decode("utf-8")) is not None:
                count += 1
    return count


FORMS: dict[str, Callable[[Sequence[bytes]], int]] = {
    "naive split (baseline)": run_naive,
    "asyncinfer client path (`feed_message_block()`, else `feed_raw()`)": run_client_path,
    "asyncinfer `_feed()` raw": run_raw_feed,
    "asyncinfer `feed()` public": run_feed,
    "httpx-sse decoders + BOM strip": run_httpx_sse,
    "openai SDK decoder + BOM strip": run_openai,
}
BASELINE = "naive split (baseline)"


def available_forms() -> dict[str, Callable[[Sequence[bytes]], int]]:
    """The forms whose libraries are installed (httpx-sse and openai are bench extras)."""
    forms = {}
    for name, fn in FORMS.items():
        try:
            fn([])
        except ImportError:
            continue
        forms[name] = fn
    return forms


def measure(quick: bool, repeat: int) -> dict[str, object]:
    """Median MB/s and events/s per feed size and form, forms interleaved."""
    # 1-byte feeds cost one call per byte, so they get a smaller stream.
    big, small = (256 * 1024, 32 * 1024) if quick else (4 * 1024 * 1024, 512 * 1024)
    streams = {size: make_stream(size) for size in {big, small}}
    forms = available_forms()
    rows = []
    for feed_size in FEED_SIZES:
        stream, events = streams[small if feed_size == 1 else big]
        chunks = split(stream, feed_size)
        times: dict[str, list[float]] = {name: [] for name in forms}
        for _ in range(repeat):
            for name, fn in forms.items():
                start = time.perf_counter()
                count = fn(chunks)
                times[name].append(time.perf_counter() - start)
                if count != events:
                    raise AssertionError(f"{name} decoded {count} events, expected {events}")
        for name in forms:
            elapsed = statistics.median(times[name])
            rows.append(
                {
                    "feed": feed_size,
                    "decoder": name,
                    "mb_per_s": len(stream) / elapsed / 1e6,
                    "events_per_s": events / elapsed,
                    "vs_naive": statistics.median(times[BASELINE]) / elapsed,
                }
            )
    return {
        "python": platform.python_version(),
        "repeat": repeat,
        "streams": {str(size): {"bytes": len(s), "events": n} for size, (s, n) in streams.items()},
        "rows": rows,
    }


def table(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, list)
    lines = [
        "| feed size | decoder | MB/s | events/s | vs naive |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['feed']:,} B | {row['decoder']} | {row['mb_per_s']:,.1f} "
            f"| {row['events_per_s']:,.0f} | {row['vs_naive']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small stream, for a CI smoke test")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (median)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (index)")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from loadserver import pin

        pin(args.cpu)
    result = measure(args.quick, args.repeat or (3 if args.quick else 5))
    if args.json:
        print(orjson.dumps(result).decode())
        return 0
    print(f"Python {result['python']}, median of {result['repeat']}, forms interleaved")
    streams = result["streams"]
    assert isinstance(streams, dict)
    for info in streams.values():
        print(
            f"stream: {info['bytes']:,} bytes, {info['events']:,} events, "
            f"{info['bytes'] / info['events']:.0f} bytes/event"
        )
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
