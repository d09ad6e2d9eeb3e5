"""One client, one process: the scenarios, each returning its figures as a dict.

    python benchmarks/scenarios.py --client asyncinfer --url http://127.0.0.1:PORT \\
        --run '{"scenario": "throughput", "events": 200000}' [--run ...] [--cpu 1]

prints one JSON line per ``--run``. ``run.py`` starts a fresh process per run (in ``--quick``
mode, one per client for all scenarios). Every scenario checks what the client received
against :func:`loadserver.expected` (token count and a hash of the text) and fails the process
when it differs: a fast wrong answer is not a result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from clients import CLIENTS, Client, http_json
from loadserver import (
    Config,
    digest,
    es_stream_bytes,
    expected,
    pin,
    raise_nofile_limit,
    text_tokens,
)

_PAGE = os.sysconf("SC_PAGE_SIZE")


class CheckError(AssertionError):
    """A client received something other than what the server sent."""


def check(name: str, got: list[str], want: list[str]) -> None:
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
        raise CheckError(
            f"{name}: received {len(got)} tokens (hash {digest(''.join(got))}), expected "
            f"{len(want)} (hash {digest(''.join(want))}); first difference at {first}"
        )


def rss() -> int:
    """Resident set size now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def peak_rss() -> int:
    """The process's high-water resident set size, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def open_sockets() -> int:
    """Sockets among this process's file descriptors."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # the fd of the listdir itself, closed by now
    return count


# --- sinks ------------------------------------------------------------------------------------


class FirstToken(list[str]):
    """Notes when the first token arrived."""

    at = 0.0

    def append(self, token: str, /) -> None:
        if not self:
            self.at = time.perf_counter()
        super().append(token)


class CountTo(list[str]):
    """Sets ``reached`` once ``target`` tokens arrived."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target = target
        self.reached = asyncio.Event()

    def append(self, token: str, /) -> None:
        super().append(token)
        if len(self) == self.target:
            self.reached.set()


class Slow:
    """A consumer slower than the network: a pause every ``every`` tokens; keeps only a hash."""

    def __init__(self, every: int, pause: float) -> None:
        self.every = every
        self.delay = pause
        self.count = 0
        self.hash = hashlib.sha256()
        self.samples: list[int] = []

    def append(self, token: str, /) -> bool:
        self.hash.update(token.encode())
        self.count += 1
        return self.count % self.every == 0

    async def pause(self) -> None:
        self.samples.append(rss())
        await asyncio.sleep(self.delay)


# --- what the server sends in each scenario -----------------------------------------------------


def throughput_config(*, events: int, deltas: int = 1, token_size: int = 8,
                      per_write: int = 256, **_: object) -> Config:  # fmt: skip
    return Config(events=events, deltas=deltas, token_size=token_size, per_write=per_write)


def ttft_config(**_: object) -> Config:
    return Config(events=1, empty_first=False)  # one event, one token, then [DONE]


def fanout_config(*, streams: int, events: int = 20, per_write: int = 5, delay: float = 0.0,
                  **_: object) -> Config:  # fmt: skip
    return Config(events=events, per_write=per_write, delay=delay, barrier=streams)


def slow_config(*, events: int, token_size: int, per_write: int = 64, **_: object) -> Config:
    return Config(events=events, token_size=token_size, per_write=per_write)


def cancel_config(*, after: int = 100, **_: object) -> Config:
    return Config(events=after + 1, stall=True)  # the empty first event, then ``after`` tokens


def configs(scenario: str, params: dict[str, Any]) -> list[Config]:
    """What the server must build for a run (so that ``run.py`` can have it built first)."""
    if scenario == "throughput":
        return [throughput_config(**params)]
    if scenario == "ttft":
        return [ttft_config()]
    if scenario == "fanout":
        return [fanout_config(**params)]
    if scenario == "slow":
        return [slow_config(**params)]
    return [cancel_config(**params)]


# --- scenarios ---------------------------------------------------------------------------------


async def throughput(
    cls: type[Client], url: str, *, events: int, deltas: int = 1, token_size: int = 8,
    per_write: int = 256,
) -> dict[str, Any]:  # fmt: skip
    """One long stream as fast as it goes: tokens/s and CPU per token."""
    config = throughput_config(events=events, deltas=deltas, token_size=token_size,
                               per_write=per_write)  # fmt: skip
    async with cls(url, config.header()) as client:
        await client.run(0, [])  # a one-token warm-up: connect, create sessions, lazy imports
        sink: list[str] = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        await client.run(1, sink)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    check(cls.name, sink, text_tokens(config))
    return {
        "tokens": len(sink),
        "wall_s": wall,
        "cpu_s": cpu,
        "tokens_per_s": len(sink) / wall,
        "cpu_us_per_token": cpu / len(sink) * 1e6,
    }


async def ttft(cls: type[Client], url: str, *, streams: int) -> dict[str, Any]:
    """Time to first token of 1-event streams, one after another on a kept-alive connection."""
    config = ttft_config()
    want = text_tokens(config)
    async with cls(url, config.header()) as client:
        await client.run(0, [])  # connect, and warm whatever is lazy
        before = await http_json(url, "GET", "/_load/stats")
        times = []
        for i in range(streams):
            sink = FirstToken()
            t0 = time.perf_counter()
            await client.run(i + 1, sink)
            times.append(sink.at - t0)
            check(cls.name, sink, want)
        after = await http_json(url, "GET", "/_load/stats")
    return {
        "streams": streams,
        "median_us": statistics.median(times) * 1e6,
        "p90_us": statistics.quantiles(times, n=10)[-1] * 1e6 if streams > 1 else times[0] * 1e6,
        # each stats call opens one connection of its own
        "new_connections": after["accepted"] - before["accepted"] - 1,
    }


async def fanout(
    cls: type[Client], url: str, *, streams: int, events: int = 20, per_write: int = 5,
    delay: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    """``streams`` concurrent streams: the server holds each after its first write until all
    ``streams`` got theirs, so they really are open at once."""
    limit = raise_nofile_limit()
    if limit < streams + 64:
        return {"skipped": f"RLIMIT_NOFILE hard limit {limit} < {streams} streams + 64"}
    # A client that cannot open ``streams`` connections runs them in waves of its maximum.
    barrier = min(streams, cls.max_connections or streams)
    config = fanout_config(streams=barrier, events=events, per_write=per_write, delay=delay)
    want = text_tokens(config)
    async with cls(url, config.header(), connections=streams) as client:
        await client.run(0, [])  # warm-up (not held at the barrier)
        gc.collect()
        rss0 = rss()
        sinks: list[list[str]] = [[] for _ in range(streams)]
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(client.run(i + 1, sinks[i]) for i in range(streams)), return_exceptions=True
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        peak = peak_rss()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise CheckError(
            f"{cls.name}: {len(errors)} of {streams} streams failed, e.g. {errors[0]!r}"
        )
    for sink in sinks:
        check(cls.name, sink, want)
    return {
        "streams": streams,
        "concurrent": barrier,
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before": rss0,
        "peak_rss": peak,
        "rss_per_stream": (peak - rss0) / streams,
    }


async def slow(
    cls: type[Client], url: str, *, events: int, token_size: int, every: int, pause: float,
    per_write: int = 64,
) -> dict[str, Any]:  # fmt: skip
    """A consumer slower than the network: how much the client buffers (RSS growth)."""
    config = slow_config(events=events, token_size=token_size, per_write=per_write)
    async with cls(url, config.header()) as client:
        # Imports, sessions and first-use allocations are not growth: warm up first.
        await client.run(0, [])
        gc.collect()
        sink = Slow(every, pause)
        rss0 = rss()
        t0 = time.perf_counter()
        await client.run_slow(1, sink)
        wall = time.perf_counter() - t0
        peak = max([peak_rss(), *sink.samples])
    count, want = expected(config)
    if (sink.count, sink.hash.hexdigest()[:16]) != (count, want):
        raise CheckError(f"{cls.name}: received {sink.count} tokens, expected {count}")
    return {
        "tokens": sink.count,
        "bytes_fed": es_stream_bytes(config),
        "wall_s": wall,
        "rss_before": rss0,
        "peak_rss": peak,
        "rss_growth": peak - rss0,
        "sampled_growth": max(sink.samples, default=rss0) - rss0,
    }


async def cancel(cls: type[Client], url: str, *, cycles: int, after: int = 100) -> dict[str, Any]:
    """Cancel the consuming task after ``after`` tokens of a stream the server never ends.

    The latency is from ``task.cancel()`` to the server seeing end of file or reset (both
    ``time.monotonic``); then sockets, tasks and warnings left over.
    """
    config = cancel_config(after=after)
    want = text_tokens(config)
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    loop.set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    await http_json(url, "POST", "/_load/reset")
    cancelled_at: dict[str, float] = {}
    swallowed = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with cls(url, config.header()) as client:
            sockets0, tasks0 = open_sockets(), len(asyncio.all_tasks())
            for i in range(1, cycles + 1):
                sink = CountTo(after)
                task = asyncio.create_task(client.run(i, sink))
                waiter = asyncio.create_task(sink.reached.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=30)
                if not waiter.done():
                    waiter.cancel()
                    task.cancel()
                    raise CheckError(f"{cls.name}: {len(sink)} tokens, then {task!r}")
                cancelled_at[str(i)] = time.monotonic()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if not task.cancelled():
                    swallowed += 1
                if i == 1:
                    check(cls.name, sink, want)
            await asyncio.sleep(0.05)  # let closes scheduled with call_soon run
            sockets_left = open_sockets() - sockets0
            tasks_left = len(asyncio.all_tasks()) - tasks0
        stats = await http_json(url, "GET", "/_load/stats")
        gc.collect()
        await asyncio.sleep(0)
    aborted: dict[str, float] = stats["aborted"]
    latencies = [aborted[tag] - t for tag, t in cancelled_at.items() if tag in aborted]
    unseen = len(cancelled_at) - len(latencies)
    return {
        "cycles": cycles,
        "median_us": statistics.median(latencies) * 1e6 if latencies else None,
        "p90_us": statistics.quantiles(latencies, n=10)[-1] * 1e6 if len(latencies) > 1 else None,
        "max_us": max(latencies) * 1e6 if latencies else None,
        "unseen": unseen,
        "sockets_left": sockets_left,
        "tasks_left": tasks_left,
        "cancel_swallowed": swallowed,
        "warnings": len(caught) + len(loop_errors),
        "warning_texts": sorted({str(w.message)[:120] for w in caught} | set(loop_errors))[:5],
    }


SCENARIOS: dict[str, Callable[..., Coroutine[Any, Any, dict[str, Any]]]] = {
    "throughput": throughput,
    "ttft": ttft,
    "fanout": fanout,
    "slow": slow,
    "cancel": cancel,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--client", required=True, choices=sorted(CLIENTS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (index)")
    parser.add_argument("--run", action="append", default=[], help="JSON: scenario and params")
    args = parser.parse_args(argv)
    pin(args.cpu)
    raise_nofile_limit()
    cls = CLIENTS[args.client]
    for spec in args.run:
        params = orjson.loads(spec)
        scenario = SCENARIOS[params.pop("scenario")]
        result = asyncio.run(scenario(cls, args.url, **params))
        print(orjson.dumps(result).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
