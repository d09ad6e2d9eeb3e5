"""A fast load server that speaks Elasticsearch's ``_stream`` bytes exactly.

Raw asyncio (uvloop when installed), so the server is never the bottleneck of a client
benchmark: the whole body is built once, then written in large writes, each awaiting drain.

    python benchmarks/loadserver.py --events 200000 --deltas 1 --token-size 8

prints ``PORT <n>`` on stdout once listening, then serves until killed. Every POST to any path
answers the same stream: a BOM before every event, ``event: message``, ``data: {"completion":
[{"delta": ...}, ...]}``, then ``[DONE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import orjson

BOM = b"\xef\xbb\xbf"


def build_events(events: int, deltas: int, token_size: int) -> list[bytes]:
    """The SSE events of one answer; tokens differ so a hash of the text checks the order."""
    out = [BOM + b'event: message\ndata: {"completion":[{"delta":""}]}\n\n']
    for i in range(events - 1):
        body = {
            "completion": [{"delta": f" t{i}.{j}".ljust(token_size, "x")} for j in range(deltas)]
        }
        out.append(BOM + b"event: message\ndata: " + orjson.dumps(body) + b"\n\n")
    out.append(BOM + b"event: message\ndata: [DONE]\n\n")
    return out


def chunked(events: list[bytes], per_write: int) -> list[bytes]:
    """Group events ``per_write`` at a time into HTTP/1.1 chunks, ending with the last chunk."""
    writes = []
    for i in range(0, len(events), per_write):
        data = b"".join(events[i : i + per_write])
        writes.append(b"%x\r\n%s\r\n" % (len(data), data))
    writes.append(b"0\r\n\r\n")
    return writes


HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"X-elastic-product: Elasticsearch\r\n"
    b"content-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class Server:
    def __init__(self, writes: list[bytes], delay: float, stall: bool) -> None:
        self.writes = writes
        self.delay = delay
        self.stall = stall

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(HEADERS)
                for data in self.writes:
                    writer.write(data)
                    await writer.drain()
                    if self.delay:
                        await asyncio.sleep(self.delay)
                if self.stall:
                    await asyncio.Event().wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    events = build_events(args.events, args.deltas, args.token_size)
    server = Server(chunked(events, args.events_per_write), args.delay, args.stall)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", args.port, backlog=4096)
    port = listener.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", type=int, default=1000, help="events, [DONE] included")
    parser.add_argument("--deltas", type=int, default=1, help="deltas per event")
    parser.add_argument("--token-size", type=int, default=8, help="characters per delta")
    parser.add_argument("--events-per-write", type=int, default=256)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between writes")
    parser.add_argument("--stall", action="store_true", help="never end the response")
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
