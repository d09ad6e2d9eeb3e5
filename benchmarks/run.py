"""Every benchmark, against the field: one command, one table, one chart.

    python benchmarks/run.py            # the full run: 6-7 minutes on 2 cores
    python benchmarks/run.py --quick    # every scenario at a tiny size, for CI (~15 s)
    python benchmarks/run.py --only throughput,ttft --rounds 3
    python benchmarks/run.py --render   # tables, chart and README again from results.json

Starts ``loadserver.py`` pinned to one core; runs every client in a fresh process
(``scenarios.py``) pinned to the other; the clients take turns (A B C ..., repeated), and each
figure is the median of its rounds, with a ratio to the hand-written readline loop measured in
the same run. Every run checks the token count and a hash of the text it received.

Writes ``results.json`` (raw, git-ignored), ``results.md`` (the tables, and the targets met or
missed) and ``results.png`` (the chart) to ``--out``: ``benchmarks/results`` for a full run
(which also puts the tables in ``benchmarks/README.md``), a temporary directory for
``--quick``, ``--only`` or ``--rounds``. Exits 1 if any client failed its correctness check.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from clients import BASELINE, CLIENTS, http_json  # noqa: E402
from loadserver import raise_nofile_limit  # noqa: E402
from scenarios import configs  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
# glibc serves a malloc over its mmap threshold (128 KiB until the process frees a larger
# mmapped block) with mmap, and a shrinking realloc with mremap. asyncio receives into a
# 256 KiB buffer and shrinks it, so in a process that never freed a big block every read
# costs mmap + mremap + munmap (~20 µs of TTFT here); which client's process did depends on
# accidents like the size of the modules it compiled at import. Every process gets the
# thresholds glibc itself moves to once it has freed a 1 MiB block (trim = 2 x mmap; a fixed
# mmap threshold alone keeps trim at 128 KiB, and trimming the heap costs throughput).
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(2 * 1024 * 1024),
}
NA = "\N{EN DASH}"  # a figure that does not exist
CHILD_TIMEOUT_S = 300

# The clients in each scenario. asyncinfer-chat (ES's OpenAI-shaped chat stream) is there to
# put the openai SDK's figures next to asyncinfer parsing the same chunk shape.
STREAMING = ["asyncinfer", "readline", "split", "httpx-sse", "openai", "elasticsearch"]


@dataclass
class Job:
    """One scenario at one size: which clients, how many rounds, what each run is given."""

    key: str
    title: str
    params: dict[str, Any]
    clients: list[str]
    rounds: int
    # Fewer rounds for clients too slow to repeat within the time budget.
    round_caps: dict[str, int] = field(default_factory=dict)
    # Clients not run, and why (shown in the table).
    skipped: dict[str, str] = field(default_factory=dict)


def plan(quick: bool, rounds: int | None) -> list[Job]:
    """The full run's sizes, or tiny ones for ``--quick``."""
    q = quick
    slow_pool = (
        "not run: its connection pool is quadratic in open connections (1,000 streams take "
        "~30 s here, 5,000 took over 300 s), which would break the 10-minute budget"
    )
    fanout_skips = {"httpx-sse": slow_pool, "openai": slow_pool.replace("~30 s", "~9 s")}
    jobs = [
        Job(
            "throughput",
            "Single-stream throughput",
            {"events": 20_000 if q else 200_000},
            [*STREAMING, "asyncinfer-chat"],
            rounds or (1 if q else 7),
            round_caps={} if q else {"openai": 1, "asyncinfer-chat": 3},
        ),
        Job(
            "throughput-live",
            "Single-stream throughput, one event per HTTP chunk (live streaming)",
            {"events": 5_000 if q else 50_000, "per_write": 1},
            [*STREAMING, "asyncinfer-chat"],
            rounds or (1 if q else 3),
            round_caps={} if q else {"openai": 1, "asyncinfer-chat": 1},
        ),
        Job(
            "ttft",
            "Time to first token (kept-alive connection)",
            {"streams": 20 if q else 200},
            [*STREAMING, "asyncinfer-chat"],
            # One round's ratio spreads 0.85-1.8x here (each process lands fast or slow), and
            # nine rounds' medians of the same code spread 1.09-1.33x: the target's two clients
            # run 21 rounds; the others, whose figures only inform, fewer.
            rounds or (1 if q else 21),
            round_caps={}
            if q
            else {"httpx-sse": 5, "openai": 3, "elasticsearch": 3, "asyncinfer-chat": 9},
        ),
    ]
    for n, small in ((1_000, 20), (5_000, 50), (10_000, 100)):
        skipped = {} if q or n == 1_000 else fanout_skips
        jobs.append(
            Job(
                f"fanout-{n}",
                f"Fan-out: {n:,} concurrent streams" if not q else f"Fan-out ({small} streams)",
                {"streams": small if q else n},
                [c for c in STREAMING if c not in skipped],
                rounds or (1 if q else 3),
                round_caps={} if q else {"httpx-sse": 1, "openai": 1},
                skipped=skipped,
            )
        )
    jobs += [
        Job(
            "slow",
            "Slow consumer fed 200 MB" if not q else "Slow consumer (2 MB)",
            {
                "events": 2_000 if q else 200_000,
                "token_size": 1000,
                "every": 100,
                "pause": 0.001,
            },
            [STREAMING[0], "asyncinfer-keep-text-false", *STREAMING[1:]],
            rounds or 1,
        ),
        Job(
            "cancel",
            "Cancellation after 100 tokens" if not q else "Cancellation (20 cycles)",
            {"cycles": 20 if q else 1_000, "after": 100},
            [c for c in STREAMING if c != "elasticsearch"],
            1,
            skipped={
                "elasticsearch": "n/a: the whole body is buffered, so no token arrives before "
                "the end and there is nothing to cancel after 100 tokens"
            },
        ),
    ]
    return jobs


# --- running -----------------------------------------------------------------------------------


def start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "loadserver.py"), "--cpu", str(SERVER_CPU)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        raise SystemExit(f"load server did not start: {line!r}")
    return server, f"http://127.0.0.1:{line.split()[1]}"


def fix_malloc() -> None:
    """Give this process's children the glibc thresholds of MALLOC_ENV (unless set)."""
    for key, value in MALLOC_ENV.items():
        os.environ.setdefault(key, value)


def child(
    client: str, url: str, specs: list[dict[str, Any]], env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run ``specs`` in one fresh process (with ``env``, default this one's); one result (or
    ``{"error": ...}``) per spec."""
    cmd = [sys.executable, str(HERE / "scenarios.py"), "--client", client, "--url", url]
    cmd += ["--cpu", str(CLIENT_CPU)]
    for spec in specs:
        cmd += ["--run", orjson.dumps(spec).decode()]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S * len(specs)
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {CHILD_TIMEOUT_S * len(specs)} s"}] * len(specs)
    results = [orjson.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0:
        error = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
        results += [{"error": error[-300:]}] * (len(specs) - len(results))
    return results


def prepare(url: str, job: Job) -> None:
    """Have the server build this job's answers before the first client is timed."""
    scenario = job.key.split("-")[0]

    async def go() -> None:
        for config in configs(scenario, job.params):
            await http_json(url, "POST", "/_load/prepare", config.header())

    asyncio.run(go())


def run_jobs(url: str, jobs: list[Job], quick: bool) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each job's runs per client, interleaved; in ``--quick`` mode one process per client."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        job.key: {c: [] for c in job.clients} for job in jobs
    }
    for job in jobs:
        prepare(url, job)
    if quick:
        for client in CLIENTS:
            todo = [job for job in jobs if client in job.clients]
            specs = [{"scenario": job.key.split("-")[0], **job.params} for job in todo]
            t0 = time.perf_counter()
            for job, result in zip(todo, child(client, url, specs), strict=True):
                results[job.key][client].append(result)
            print(f"  {client}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return results
    for job in jobs:
        t0 = time.perf_counter()
        spec = {"scenario": job.key.split("-")[0], **job.params}
        for r in range(job.rounds):
            # Interleaved, and rotated each round (A B C, B C A, ...): no client always runs
            # first after another job, or right after the same neighbour.
            order = job.clients[r % len(job.clients) :] + job.clients[: r % len(job.clients)]
            for client in order:
                if r < job.round_caps.get(client, job.rounds):
                    results[job.key][client] += child(client, url, [spec])
        print(f"  {job.key}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return results


def run_decoder(quick: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "bench_decoder.py"), "--json", "--cpu", str(CLIENT_CPU)]
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-300:]}
    result: dict[str, Any] = orjson.loads(out.stdout)
    return result


# --- summarising -------------------------------------------------------------------------------


def med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if "error" not in r and r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return NA if value is None else f"{value:{spec}}{unit}"


def ratio(value: float | None, base: float | None) -> str:
    """``value`` relative to the baseline's, as ``1.23x``."""
    if value is None or not base:
        return NA
    return f"{value / base:.2f}x"


def client_label(name: str) -> str:
    return CLIENTS[name].label


Runs = dict[str, dict[str, list[dict[str, Any]]]]


def errors_of(job: Job, runs: Runs) -> list[str]:
    return [
        f"- **{client}** failed: `{r['error']}`"
        for client, rs in runs.get(job.key, {}).items()
        for r in rs
        if "error" in r
    ]


def rounds_note(job: Job) -> str:
    caps = ", ".join(f"{c} {n}" for c, n in job.round_caps.items())
    return f"median of {job.rounds} interleaved rounds" + (f" ({caps})" if caps else "")


def render_throughput(job: Job, runs: Runs) -> list[str]:
    r = runs[job.key]
    base_tps, base_cpu = med(r[BASELINE], "tokens_per_s"), med(r[BASELINE], "cpu_us_per_token")
    tokens = next((x["tokens"] for rs in r.values() for x in rs if "tokens" in x), 0)
    per_write = job.params.get("per_write", 256)
    md = [
        f"### {job.title}",
        "",
        f"{job.params['events']:,} events ({per_write} per write and HTTP chunk), "
        f"{tokens:,} tokens, one stream per process after a one-token warm-up on the same "
        f"connection; {rounds_note(job)}.",
        "",
        "| client | tokens/s | vs readline | CPU µs/token | vs readline |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in job.clients:
        tps, cpu = med(r[c], "tokens_per_s"), med(r[c], "cpu_us_per_token")
        md.append(
            f"| {client_label(c)} | {fmt(tps)} | {ratio(tps, base_tps)} | {fmt(cpu, '.2f')} "
            f"| {ratio(cpu, base_cpu)} |"
        )
    return md


def render_ttft(job: Job, runs: Runs) -> list[str]:
    r = runs[job.key]
    base = med(r[BASELINE], "median_us")
    md = [
        f"### {job.title}",
        "",
        f"{job.params['streams']} one-token streams in a row on one client, after a warm-up; "
        f"the median of each run, then the {rounds_note(job)}. *new conns*: connections opened "
        "after the warm-up (0: the connection was kept alive).",
        "",
        "| client | median µs | p90 µs | vs readline | new conns |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in job.clients:
        m, p90 = med(r[c], "median_us"), med(r[c], "p90_us")
        conns = max((x["new_connections"] for x in r[c] if "new_connections" in x), default=None)
        md.append(
            f"| {client_label(c)} | {fmt(m)} | {fmt(p90)} | {ratio(m, base)} | {fmt(conns, 'd')} |"
        )
    return md


def render_fanout(jobs: list[Job], runs: Runs) -> list[str]:
    md = [
        "### Fan-out: concurrent streams",
        "",
        "N streams of 20 events at once on one client (connection limits lifted where the client "
        "allows it); the server holds every stream after its first write until all N got "
        "theirs, so all N are open together. KB/stream is (peak RSS - RSS before) / N. "
        f"{rounds_note(jobs[0]).capitalize()}.",
        "",
        "| streams | client | wall s | vs readline | peak RSS MB | KB/stream | vs readline |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for job in jobs:
        r = runs[job.key]
        n = job.params["streams"]
        bw, bk = med(r[BASELINE], "wall_s"), med(r[BASELINE], "rss_per_stream")
        for c in job.clients:
            skipped = next((x["skipped"] for x in r[c] if "skipped" in x), None)
            if skipped:
                md.append(f"| {n:,} | {client_label(c)}: *not run: {skipped}* |" + f" {NA} |" * 5)
                continue
            w, k, peak = med(r[c], "wall_s"), med(r[c], "rss_per_stream"), med(r[c], "peak_rss")
            conc = next((x["concurrent"] for x in r[c] if "concurrent" in x), n)
            note = f" (at most {conc:,} at once)" if conc < n else ""
            md.append(
                f"| {n:,} | {client_label(c)}{note} | {fmt(w, '.2f')} | {ratio(w, bw)} | "
                f"{fmt(None if peak is None else peak / 1e6, '.0f')} | "
                f"{fmt(None if k is None else k / 1024, '.1f')} | {ratio(k, bk)} |"
            )
        for c, why in job.skipped.items():
            md.append(f"| {n:,} | {client_label(c)}: *{why}* |" + f" {NA} |" * 5)
    return md


def render_slow(job: Job, runs: Runs) -> list[str]:
    r = runs[job.key]
    p = job.params
    mb = next((x["bytes_fed"] for rs in r.values() for x in rs if "bytes_fed" in x), 0) / 1e6
    md = [
        f"### {job.title}",
        "",
        f"{p['events']:,} events of {p['token_size']}-character tokens ({mb:,.0f} MB on the "
        f"Elasticsearch route); the consumer sleeps {p['pause'] * 1000:g} ms every "
        f"{p['every']} tokens and keeps only a running hash. Growth: peak RSS minus RSS before "
        f"the request (after a warm-up on the same client); {rounds_note(job)}.",
        "",
        "| client | RSS growth MB | wall s |",
        "|---|---:|---:|",
    ]
    for c in job.clients:
        g = med(r[c], "rss_growth")
        md.append(
            f"| {client_label(c)} | {fmt(None if g is None else g / 1e6, ',.1f')} | "
            f"{fmt(med(r[c], 'wall_s'), '.2f')} |"
        )
    return md


def render_cancel(job: Job, runs: Runs) -> list[str]:
    r = runs[job.key]
    md = [
        f"### {job.title}",
        "",
        f"{job.params['cycles']:,} cycles on one client: read 100 tokens of a stream the server "
        "never ends, `task.cancel()`, await the task. Latency: from `cancel()` to the server "
        "seeing end-of-file or reset (`time.monotonic()`, one clock for both processes). "
        "*unseen*: disconnects the server never saw. Left after all cycles: sockets "
        "(`/proc/self/fd` entries that are sockets, minus those before), tasks, and warnings "
        "(Python warnings and loop exception-handler reports, after closing the client and a "
        "`gc.collect()`).",
        "",
        "| client | median µs | p90 µs | max µs | unseen | sockets left | tasks left | warnings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in job.clients:
        x = next((x for x in r[c] if "error" not in x), None)
        if x is None:
            md.append(f"| {client_label(c)} |" + f" {NA} |" * 7)
            continue
        md.append(
            f"| {client_label(c)} | {fmt(x['median_us'])} | {fmt(x['p90_us'])} | "
            f"{fmt(x['max_us'])} | {x['unseen']} | {x['sockets_left']} | {x['tasks_left']} | "
            f"{x['warnings']} |"
        )
    for c, why in job.skipped.items():
        md.append(f"| {client_label(c)}: *{why}* |" + f" {NA} |" * 7)
    return md


def render_decoder(dec: dict[str, Any]) -> list[str]:
    from bench_decoder import table

    if "rows" not in dec:
        return ["### Decoder only (no I/O)", "", f"failed: `{dec.get('error')}`"]
    return [
        "### Decoder only (no I/O)",
        "",
        "Elasticsearch completion events (~100 B each, BOM before each) cut into feeds of the "
        f"given size; median of {dec['repeat']} interleaved runs. The naive splitter is not a "
        "conforming decoder (see bench_decoder.py).",
        "",
        table(dec),
    ]


def summarize(jobs: list[Job], raw: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The markdown tables of the jobs that ran, and the targets (met or missed) as data."""
    runs: Runs = raw["runs"]
    md: list[str] = []
    fan_jobs = [j for j in jobs if j.key.startswith("fanout")]
    for job in jobs:
        if job.key.startswith("throughput"):
            md += render_throughput(job, runs)
        elif job.key == "ttft":
            md += render_ttft(job, runs)
        elif job is (fan_jobs[0] if fan_jobs else None):
            md += render_fanout(fan_jobs, runs)
        elif job.key == "slow":
            md += render_slow(job, runs)
        elif job.key == "cancel":
            md += render_cancel(job, runs)
        else:
            continue
        related = fan_jobs if job.key.startswith("fanout") else [job]
        md += ["", *[e for j in related for e in errors_of(j, runs)], ""]
    if raw.get("decoder"):
        md += [*render_decoder(raw["decoder"]), ""]
    targets = evaluate(runs)
    head = [
        "### Targets (asyncinfer, same run)",
        "",
        "Ratios are medians of per-round ratios (the clients of one round run back to back).",
        "",
        "| target | measured | met |",
    ]
    head.append("|---|---:|:---:|")
    for t in targets:
        met = NA if t["met"] is None else ("yes" if t["met"] else "**no**")
        head.append(f"| {t['target']} | {t['measured']} | {met} |")
    return "\n".join([*head, "", *md]).rstrip() + "\n", targets


def evaluate(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """The issue's targets, measured as ratios in this run."""
    out: list[dict[str, Any]] = []

    def add(
        target: str,
        value: float | None,
        limit: float,
        *,
        at_least: bool,
        unit: str,
        spread: tuple[float, float, int] | None = None,
    ) -> None:
        met = None if value is None else (value >= limit if at_least else value <= limit)
        shown = NA if value is None else f"{value:.2f}{unit}"
        if value is not None and spread is not None and spread[2] > 1:
            # The per-round range: a verdict within it is a close call, not a result.
            shown += f" ({spread[0]:.2f} to {spread[1]:.2f}{unit} over {spread[2]} rounds)"
        out.append({"target": target, "value": value, "measured": shown, "met": met})

    def m(key: str, client: str, metric: str) -> float | None:
        rs = runs.get(key, {}).get(client)
        return med(rs, metric) if rs else None

    def div(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    def paired(
        key: str, a: str, b: str, metric: str
    ) -> tuple[float | None, tuple[float, float, int] | None]:
        """The median of per-round ratios (runs of one round are close in time, so this
        cancels load that drifts between rounds) and their range; the ratio of medians
        otherwise."""
        ra, rb = runs.get(key, {}).get(a, []), runs.get(key, {}).get(b, [])
        pairs: list[float] = [
            x[metric] / y[metric]
            for x, y in zip(ra, rb, strict=False)
            if x.get(metric) is not None and y.get(metric)
        ]
        if len(ra) == len(rb) and pairs:
            return statistics.median(pairs), (min(pairs), max(pairs), len(pairs))
        return div(m(key, a, metric), m(key, b, metric)), None

    ai = "asyncinfer"
    fans = [k for k in runs if k.startswith("fanout")]
    fan = max(fans, key=lambda k: int(k.split("-")[1])) if fans else "fanout"
    # (target, job, baseline client, metric, limit, at_least): ratios of asyncinfer to it.
    ratios = [
        ("throughput ≥ 1.0x the iter_any+split loop", "throughput", "split", "tokens_per_s",
         1.0, True),
        ("throughput ≥ 5x httpx-sse", "throughput", "httpx-sse", "tokens_per_s", 5.0, True),
        ("CPU per token ≤ 1.1x the iter_any+split loop", "throughput", "split",
         "cpu_us_per_token", 1.1, False),
        ("TTFT ≤ 1.2x readline", "ttft", BASELINE, "median_us", 1.2, False),
        (f"{fan}: wall ≤ 1.1x readline", fan, BASELINE, "wall_s", 1.1, False),
        (f"{fan}: RSS per stream ≤ 1.1x readline", fan, BASELINE, "rss_per_stream", 1.1, False),
    ]  # fmt: skip
    for target, key, baseline, metric, limit, at_least in ratios:
        value, spread = paired(key, ai, baseline, metric)
        add(target, value, limit, at_least=at_least, unit="x", spread=spread)
    for client, how in ((ai, ""), ("asyncinfer-keep-text-false", " (keep_text=False)")):
        growth = m("slow", client, "rss_growth")
        add(
            f"slow consumer{how}: RSS growth ≤ 4 MB",
            None if growth is None else growth / 1e6,
            4.0, at_least=False, unit=" MB",
        )  # fmt: skip
    latency = m("cancel", ai, "median_us")
    add(
        "cancellation: server sees the disconnect within 1 ms (median)",
        None if latency is None else latency / 1000,
        1.0, at_least=False, unit=" ms",
    )  # fmt: skip
    cancel = next((x for x in runs.get("cancel", {}).get(ai, []) if "error" not in x), None)
    left = None
    if cancel is not None:
        left = cancel["sockets_left"] + cancel["tasks_left"] + cancel["warnings"] + cancel["unseen"]
    add(
        "cancellation: sockets + tasks + warnings left (and disconnects unseen) = 0",
        left, 0, at_least=False, unit="",
    )  # fmt: skip
    return [t for t in out if t["value"] is not None]


# --- the chart ---------------------------------------------------------------------------------


def chart(raw: dict[str, Any], path: Path) -> None:
    """Six panels, one bar per client; the baseline's bar outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = raw["runs"]
    colors = {
        "asyncinfer": "#1b9e77",
        "asyncinfer-chat": "#66c2a5",
        "asyncinfer-keep-text-false": "#a6d854",
        "readline": "#7570b3",
        "split": "#d95f02",
        "httpx-sse": "#e7298a",
        "openai": "#666666",
        "elasticsearch": "#e6ab02",
    }
    fans = [k for k in runs if k.startswith("fanout")]
    fan = max(fans, key=lambda k: int(k.split("-")[1])) if fans else "fanout"
    panels = [
        ("throughput", "tokens_per_s", 1e-3, "Throughput (k tokens/s, higher is better)"),
        ("throughput", "cpu_us_per_token", 1, "CPU µs per token (log, lower is better)"),
        ("ttft", "median_us", 1, "Time to first token, µs (lower is better)"),
        (fan, "rss_per_stream", 1 / 1024, f"{fan}: KB RSS per stream (lower is better)"),
        ("slow", "rss_growth", 1e-6, "Slow consumer: RSS growth MB (log)"),
        ("cancel", "median_us", 1, "Cancel → server sees EOF, µs (lower is better)"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (key, metric, scale, title) in zip(axes.flat, panels, strict=True):
        names, values = [], []
        for c, rs in runs.get(key, {}).items():
            v = med(rs, metric)
            if v is not None:
                names.append(c)
                values.append(v * scale)
        bars = ax.barh(names, values, color=[colors.get(n, "#999999") for n in names])
        for bar, n in zip(bars, names, strict=True):
            if n == BASELINE:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
        if "(log" in title and values and min(values) > 0:
            ax.set_xscale("log")
        base = dict(zip(names, values, strict=True)).get(BASELINE)
        labels = [f"{v:.3g}" + (f" ({v / base:.2f}x)" if base else "") for v in values]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
        if not names:
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.invert_yaxis()
        ax.margins(x=0.2)
    fig.suptitle(
        f"asyncinfer against the field ({raw['meta']['when']}, {raw['meta']['cpus']} cores, "
        f"Python {raw['meta']['python']}; outlined: the readline baseline; (n.nnx): ratio to it)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


# --- main --------------------------------------------------------------------------------------


def source_digest() -> str:
    """A hash of asyncinfer's sources, to tell whether they changed during the run."""
    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "asyncinfer").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def git_describe() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "asyncinfer"],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return sha + (" (asyncinfer/ modified)" if dirty else "")


def update_readme(results: str) -> None:
    """Put the latest full results between the README's markers."""
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->\n", "<!-- results:end -->"
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        readme.write_text(head + start + results + "\n" + end + tail)


def publish(raw: dict[str, Any], jobs: list[Job], out_dir: Path) -> None:
    """Write results.md, the chart and results.json (with the targets) to ``out_dir``; for
    ``results/``, refresh the README's tables too."""
    text, targets = summarize(jobs, raw)
    meta = raw["meta"]
    header = (
        f"## Results\n\n{meta['when']}, commit {meta['commit']}, Python {meta['python']}, "
        f"{meta['cpus']} cores (load server pinned to one, clients to the other), "
        f"{meta.get('malloc', 'glibc defaults')}, "
        f"{'quick mode, ' if meta['quick'] else ''}whole run {meta['elapsed_s']:.0f} s.\n\n"
    )
    (out_dir / "results.md").write_text(header + text)
    chart(raw, out_dir / "results.png")
    if out_dir == HERE / "results":
        update_readme(header + text)
    raw["targets"] = targets
    (out_dir / "results.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    print(header + text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--rounds", type=int, default=None, help="override every job's rounds")
    parser.add_argument("--only", default="", help="comma-separated job keys (e.g. ttft,cancel)")
    parser.add_argument("--out", type=Path, default=None, help="where results go")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: render the tables and chart again from results.json in --out "
        "(default: results/, which also refreshes the README)",
    )
    args = parser.parse_args(argv)
    fix_malloc()  # inherited by the load server and every client
    if args.render:
        out_dir = args.out or HERE / "results"
        raw = orjson.loads((out_dir / "results.json").read_bytes())
        jobs = plan(raw["meta"]["quick"], None)
        publish(raw, [j for j in jobs if j.key in raw["runs"]], out_dir)
        return 0
    started = time.perf_counter()
    sources = source_digest()
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    # Only a full run replaces the committed results.
    out_dir = args.out or (
        Path(tempfile.mkdtemp(prefix="asyncinfer-bench-"))
        if args.quick or only or args.rounds
        else HERE / "results"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan(args.quick, args.rounds)
    selected = [j for j in jobs if not only or j.key in only or j.key.split("-")[0] in only]
    nofile = raise_nofile_limit()
    if nofile < 10_064:
        print(f"note: RLIMIT_NOFILE hard limit is {nofile}", file=sys.stderr)

    server, url = start_server()
    try:
        runs = run_jobs(url, selected, args.quick)
    finally:
        server.kill()
        server.wait()
    decoder: dict[str, Any] = {}
    if not only or "decoder" in only:
        t0 = time.perf_counter()
        decoder = run_decoder(args.quick)
        print(f"  decoder: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    raw: dict[str, Any] = {
        "meta": {
            "when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "malloc": " ".join(f"{k}={os.environ[k]}" for k in MALLOC_ENV if k in os.environ)
            or "glibc defaults",
            "affinity": sorted(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else None,
            "nofile": nofile,
            "commit": git_describe()
            + ("" if source_digest() == sources else " (asyncinfer/ changed during the run)"),
            "sources": sources,
            "quick": args.quick,
            "elapsed_s": time.perf_counter() - started,
        },
        "runs": runs,
        "decoder": decoder,
    }
    (out_dir / "results.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    failures = [
        f"{key} / {client}: {r['error']}"
        for key, per in runs.items()
        for client, rs in per.items()
        for r in rs
        if "error" in r
    ]
    if decoder and "error" in decoder:
        failures.append(f"decoder: {decoder['error']}")
    publish(raw, selected, out_dir)
    print(f"\nresults in {out_dir} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if failures:
        print("FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
