"""A fast load server that speaks Elasticsearch's ``_stream`` bytes exactly, and OpenAI's.

Raw asyncio protocols (uvloop when installed), in its own process, so that the server is never
the bottleneck of a client benchmark: every answer is built once per configuration, then
written in large writes that respect the transport's flow control.

    python benchmarks/loadserver.py [--cpu 0] [--events 1000] [--deltas 1] ...

prints ``PORT <n>`` on stdout once listening, then serves until killed. Routes:

* ``POST /_inference/completion/{id}/_stream`` (any ``_stream`` path without
  ``chat_completion``): Elasticsearch's completion stream (spec §3.1, §4.2): a BOM before every
  event, ``event: message``, ``data: {"completion":[{"delta": ...}, ...]}``, then ``[DONE]``.
  Sent with ``X-elastic-product: Elasticsearch``, as the official client's product check needs.
* ``POST /_inference/chat_completion/{id}/_stream``: Elasticsearch's unified chat stream (§4.3):
  the same framing around OpenAI-shaped chunks without ``created``.
* ``POST /v1/chat/completions``: OpenAI's stream, ``data: {chunk}\\n\\n`` ... ``data: [DONE]``.
* ``POST /_load/prepare``: build the answers of a configuration ahead of time (a warm-up).
* ``GET /_load/stats`` / ``POST /_load/reset``: the streams the client abandoned, by tag, with
  the monotonic time the server saw the end of file or reset (``time.monotonic`` is
  ``CLOCK_MONOTONIC``, one clock for every process on the machine).

The knobs (``--events``, ``--deltas``, ``--token-size``, ``--events-per-write``, ``--delay``,
``--stall``, ``--barrier``, ``--no-empty-first``) are the defaults; a request overrides any of
them with a header, ``x-load: events=20,per_write=5,barrier=1000``. A request body containing
``#<digits>#`` tags the stream, so the server can report when that stream's client went away;
tag ``#0#`` is a warm-up, answered with one token in the same format (no stall, no barrier), so
a client can connect and initialise before it is measured.

The text is a pure function of the configuration (:func:`tokens`), so a client's result is
checked against :func:`expected` without trusting any client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import orjson

BOM = b"\xef\xbb\xbf"
ROUTES = ("es", "es_chat", "openai")


class Config(NamedTuple):
    """What one answer looks like and how it is written."""

    events: int = 1000  # message events before [DONE], the empty first one included
    deltas: int = 1  # deltas per completion event (one chunk per delta on the chat routes)
    token_size: int = 8  # characters per delta, at least (a short prefix numbers each one)
    per_write: int = 256  # events per write (and per HTTP chunk)
    delay: float = 0.0  # seconds between writes
    stall: bool = False  # never send [DONE]: hold the connection open after the last event
    barrier: int = 0  # after the first write, wait until this many streams got theirs
    empty_first: bool = True  # the first event carries one empty delta, as ES's does

    @classmethod
    def parse(cls, text: str, base: Config | None = None) -> Config:
        """``events=20,per_write=5`` on top of ``base``."""
        config = base or cls()
        if not text.strip():
            return config
        fields: dict[str, object] = {}
        for item in text.split(","):
            key, _, value = item.strip().partition("=")
            kind = type(getattr(cls(), key))
            fields[key] = value not in ("0", "false", "") if kind is bool else kind(value)
        return config._replace(**fields)  # type: ignore[arg-type]

    def header(self) -> str:
        """The ``x-load`` header value that selects this configuration."""
        return ",".join(
            f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in self._asdict().items()
        )


# Characters that a conformant client must get right: JSON escapes, multi-byte UTF-8 (split
# across reads), and a line feed inside a JSON string.
_SPICE = ("", "é", '"q"', "検索", "\\", "\n", "\u2028", "😀")


def token(i: int, j: int, size: int) -> str:
    """Delta ``j`` of event ``i``: distinct, so a hash of the text checks order and loss."""
    base = f" t{i}.{j}{_SPICE[(i * 7 + j) % len(_SPICE)]}"
    return base + "x" * (size - len(base)) if len(base) < size else base


def tokens(config: Config) -> Iterator[list[str]]:
    """The deltas of each event (the first one empty when ``empty_first``)."""
    start = 0
    if config.empty_first:
        yield [""]
        start = 1
    for i in range(start, config.events):
        yield [token(i, j, config.token_size) for j in range(config.deltas)]


def digest(text: str) -> str:
    """The hash every client reports of the text it received."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def text_tokens(config: Config) -> list[str]:
    """The non-empty tokens of an answer, in order."""
    return [t for event in tokens(config) for t in event if t]


def expected(config: Config) -> tuple[int, str]:
    """(non-empty token count, text hash) of the whole answer."""
    parts = text_tokens(config)
    return len(parts), digest("".join(parts))


# --- wire formats ------------------------------------------------------------------------------


def es_events(config: Config) -> list[bytes]:
    """Elasticsearch's completion events (spec §3.5), [DONE] last unless stalled."""
    out = [
        BOM + b"event: message\ndata: "
        + orjson.dumps({"completion": [{"delta": d} for d in deltas]})
        + b"\n\n"
        for deltas in tokens(config)
    ]  # fmt: skip
    if not config.stall:
        out.append(BOM + b"event: message\ndata: [DONE]\n\n")
    return out


def es_stream_bytes(config: Config) -> int:
    """The size of :func:`es_events` without holding it all (for reports)."""
    return sum(
        len(BOM) + 23 + len(orjson.dumps({"completion": [{"delta": d} for d in deltas]}))
        for deltas in tokens(config)
    ) + (0 if config.stall else len(BOM) + 29)


def _chunks(config: Config, *, es: bool) -> Iterator[dict[str, object]]:
    head: dict[str, object] = {"id": "chatcmpl-bench"}
    tail: dict[str, object] = {"model": "bench", "object": "chat.completion.chunk"}
    if not es:
        tail["created"] = 1_700_000_000
    first = True
    for deltas in tokens(config):
        for d in deltas:
            delta: dict[str, str] = {"content": d}
            if first:
                delta["role"] = "assistant"
                first = False
            choice: dict[str, object] = {"delta": delta, "index": 0}
            if not es:
                choice["finish_reason"] = None
            yield {**head, "choices": [choice], **tail}
    if not config.stall:
        yield {**head, "choices": [{"delta": {}, "finish_reason": "stop", "index": 0}], **tail}


def es_chat_events(config: Config) -> list[bytes]:
    """Elasticsearch's unified chat events (spec §4.3): one chunk per event."""
    out = [
        BOM + b"event: message\ndata: " + orjson.dumps(c) + b"\n\n"
        for c in _chunks(config, es=True)
    ]
    if not config.stall:
        out.append(BOM + b"event: message\ndata: [DONE]\n\n")
    return out


def openai_events(config: Config) -> list[bytes]:
    """OpenAI's chat completion stream: ``data: {chunk}`` events, then ``data: [DONE]``."""
    out = [b"data: " + orjson.dumps(c) + b"\n\n" for c in _chunks(config, es=False)]
    if not config.stall:
        out.append(b"data: [DONE]\n\n")
    return out


_HEADERS = {
    "es": (
        b"HTTP/1.1 200 OK\r\n"
        b"X-elastic-product: Elasticsearch\r\n"
        b"content-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    ),
    "openai": (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    ),
}
_BUILD: dict[str, Callable[[Config], list[bytes]]] = {
    "es": es_events,
    "es_chat": es_chat_events,
    "openai": openai_events,
}


def build_writes(route: str, config: Config) -> list[bytes]:
    """The answer as the writes the server makes: headers with the first, the last chunk last."""
    events = _BUILD[route](config)
    writes = []
    for i in range(0, len(events), config.per_write):
        data = b"".join(events[i : i + config.per_write])
        writes.append(b"%x\r\n%s\r\n" % (len(data), data))
    if not config.stall:
        if writes:
            writes[-1] += b"0\r\n\r\n"
        else:
            writes.append(b"0\r\n\r\n")
    writes[0] = _HEADERS["openai" if route == "openai" else "es"] + writes[0]
    return writes


# --- the server --------------------------------------------------------------------------------

_TAG = re.compile(rb"#(\d+)#")


class Server:
    """Shared state: cached answers, the barrier, and what the stats endpoint reports."""

    def __init__(self, base: Config) -> None:
        self.base = base
        self.cache: dict[tuple[str, Config], list[bytes]] = {}
        self.waiting: list[Connection] = []
        self.barrier_timer: asyncio.TimerHandle | None = None
        self.aborted: dict[str, float] = {}  # tag -> monotonic time the client went away
        self.completed = 0
        self.accepted = 0
        self.open = 0

    def writes(self, route: str, config: Config) -> list[bytes]:
        key = (route, config)
        found = self.cache.get(key)
        if found is None:
            if len(self.cache) >= 64:  # a full run uses ~30; clearing mid-run stalls a client
                self.cache.clear()
            found = self.cache[key] = build_writes(route, config)
        return found

    def arrive(self, conn: Connection, count: int) -> None:
        """A stream reached the barrier; release everyone once ``count`` are there."""
        self.waiting.append(conn)
        if len(self.waiting) >= count:
            self.release()
        elif self.barrier_timer is None:
            # A client that failed part way must not hang the others for ever.
            self.barrier_timer = asyncio.get_running_loop().call_later(60, self.release)

    def release(self) -> None:
        if self.barrier_timer is not None:
            self.barrier_timer.cancel()
            self.barrier_timer = None
        waiting, self.waiting = self.waiting, []
        for conn in waiting:
            conn.pump()

    def stats(self) -> bytes:
        return orjson.dumps(
            {
                "aborted": self.aborted,
                "completed": self.completed,
                "accepted": self.accepted,
                "open": self.open,
            }
        )


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: requests in order, keep-alive, one answer at a time."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.paused = False
        self.writes: list[bytes] = []
        self.index = 0
        self.config = server.base
        self.tag = ""
        self.answering = False
        self.at_barrier = False
        self.timer: asyncio.TimerHandle | None = None
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.open += 1
        self.server.accepted += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.answering:
            self.next_request()

    def eof_received(self) -> bool:
        self.lost()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost()
        self.server.open -= 1
        if self.timer is not None:
            self.timer.cancel()

    def lost(self) -> None:
        """The client went away: note when, if it left an answer unfinished."""
        if self.gone:
            return
        self.gone = True
        if self.answering:
            self.server.aborted[self.tag or str(id(self))] = time.monotonic()
            if self.at_barrier and self in self.server.waiting:
                self.server.waiting.remove(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.answering and not self.at_barrier and self.timer is None:
            self.pump()

    def next_request(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).split(b"\r\n")
        method, path, _ = head[0].split(b" ", 2)
        length = 0
        load = ""
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-load":
                load = value.strip().decode()
        if len(self.buf) < end + 4 + length:
            return  # the body is still coming
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self.answer(method, path.split(b"?", 1)[0], load, body)

    def answer(self, method: bytes, path: bytes, load: str, body: bytes) -> None:
        assert self.transport is not None
        config = Config.parse(load, self.server.base)
        if path.startswith(b"/_load/"):
            if path == b"/_load/prepare":
                for route in ROUTES:
                    self.server.writes(route, config)
                payload = b"{}"
            elif path == b"/_load/reset":
                self.server.aborted.clear()
                self.server.completed = 0
                payload = b"{}"
            else:
                payload = self.server.stats()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            self.next_request()
            return
        if path.endswith(b"/chat/completions"):
            route = "openai"
        elif b"/chat_completion/" in path:
            route = "es_chat"
        else:
            route = "es"
        match = _TAG.search(body)
        self.tag = match.group(1).decode() if match else ""
        if self.tag == "0":
            config = config._replace(events=1, empty_first=False, stall=False, barrier=0, delay=0)
        self.config = config
        self.writes = self.server.writes(route, config)
        self.index = 0
        self.answering = True
        self.pump()

    def pump(self) -> None:
        """Write what flow control, the delay and the barrier allow."""
        self.timer = None
        self.at_barrier = False
        transport = self.transport
        if self.gone or transport is None:
            return
        writes, config = self.writes, self.config
        while self.index < len(writes) and not self.paused:
            transport.write(writes[self.index])
            self.index += 1
            if self.index == 1 and config.barrier > 1 and self.index < len(writes):
                self.at_barrier = True
                self.server.arrive(self, config.barrier)
                return
            if config.delay and self.index < len(writes):
                self.timer = self.loop.call_later(config.delay, self.pump)
                return
        if self.index == len(writes) and not config.stall and self.answering:
            self.answering = False
            self.server.completed += 1
            self.next_request()


def raise_nofile_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(cpu: int | None) -> None:
    """Run on one core, where the machine has more than one (Linux only)."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, {cores[cpu % len(cores)]})


async def serve(args: argparse.Namespace) -> None:
    base = Config(
        events=args.events,
        deltas=args.deltas,
        token_size=args.token_size,
        per_write=args.events_per_write,
        delay=args.delay,
        stall=args.stall,
        barrier=args.barrier,
        empty_first=not args.no_empty_first,
    )
    server = Server(base)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: Connection(server), "127.0.0.1", args.port, backlog=16384
    )
    port = listener.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with listener:
        await listener.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (index)")
    parser.add_argument("--events", type=int, default=1000, help="message events before [DONE]")
    parser.add_argument("--deltas", type=int, default=1, help="deltas per event")
    parser.add_argument("--token-size", type=int, default=8, help="characters per delta")
    parser.add_argument("--events-per-write", type=int, default=256)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between writes")
    parser.add_argument("--stall", action="store_true", help="never end the response")
    parser.add_argument("--barrier", type=int, default=0, help="streams to wait for")
    parser.add_argument("--no-empty-first", action="store_true")
    args = parser.parse_args(argv)
    pin(args.cpu)
    raise_nofile_limit()
    with contextlib.suppress(ImportError):
        import uvloop  # type: ignore[import-not-found, unused-ignore]

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
