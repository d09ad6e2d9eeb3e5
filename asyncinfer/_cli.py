"""The ``asyncinfer`` command line, built on the public API only.

Exit codes: 0 success, 2 usage, 3 connection, 4 API error, 5 stream error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence

import orjson

import asyncinfer
from asyncinfer.testing import ElasticsearchEmulator

EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_API = 4
EXIT_STREAM = 5
EXIT_INTERRUPTED = 130

DEMO_ENDPOINT = "demo"
# Slow enough that a person sees the answer arrive token by token.
DEMO_EVENT_DELAY_S = 0.04


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncinfer",
        description="Talk to the Elasticsearch Inference API. With no URL configured, a "
        "built-in Elasticsearch emulator answers.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    stream = sub.add_parser("stream", help="stream a completion to stdout as it arrives")
    stream.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    _connection_args(stream)
    stream.add_argument("--json", action="store_true", help="one JSON object per token")
    stream.add_argument(
        "--stats", action="store_true", help="time to first token and tokens/s on stderr"
    )

    serve = sub.add_parser("serve", help="run the Elasticsearch emulator")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9200)
    return parser


def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=os.environ.get("ELASTICSEARCH_URL"), help="env: ELASTICSEARCH_URL"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ELASTICSEARCH_API_KEY"),
        help="env: ELASTICSEARCH_API_KEY",
    )
    parser.add_argument(
        "-i",
        "--inference-id",
        default=os.environ.get("ASYNCINFER_INFERENCE_ID"),
        help="the inference endpoint; env: ASYNCINFER_INFERENCE_ID",
    )


@contextlib.asynccontextmanager
async def _connect(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[asyncinfer.InferenceClient, str]]:
    if args.url:
        if not args.inference_id:
            raise _UsageError("give the inference endpoint with -i or ASYNCINFER_INFERENCE_ID")
        async with asyncinfer.InferenceClient(args.url, api_key=args.api_key) as client:
            yield client, args.inference_id
        return
    async with ElasticsearchEmulator(event_delay=DEMO_EVENT_DELAY_S) as emulator:
        emulator.add_endpoint(DEMO_ENDPOINT, "completion", answer_tokens=60)
        print(
            f"asyncinfer: no ELASTICSEARCH_URL set; answering from the built-in emulator at "
            f"{emulator.url} (endpoint {DEMO_ENDPOINT!r})",
            file=sys.stderr,
        )
        async with asyncinfer.InferenceClient(emulator.url) as client:
            yield client, args.inference_id or DEMO_ENDPOINT


async def _stream(args: argparse.Namespace) -> None:
    prompt = args.prompt if args.prompt is not None else sys.stdin.read().strip()
    if not prompt:
        raise _UsageError("give a prompt as an argument or on stdin")
    out = sys.stdout
    async with _connect(args) as (client, inference_id):
        start = time.perf_counter()
        first: float | None = None
        async with client.stream_completion(inference_id, prompt) as stream:
            async for token in stream:
                if first is None:
                    first = time.perf_counter()
                if args.json:
                    out.write(orjson.dumps({"token": token}).decode() + "\n")
                else:
                    out.write(token)
                out.flush()
        if not args.json:
            out.write("\n")
        if args.stats:
            elapsed = time.perf_counter() - start
            ttft = "n/a" if first is None else f"{(first - start) * 1000:.1f} ms"
            count = len(stream.tokens)
            print(
                f"time to first token {ttft}; {count} tokens in {elapsed:.3f} s "
                f"({count / elapsed:.1f} tokens/s); {len(stream.text)} characters",
                file=sys.stderr,
            )


async def _serve(args: argparse.Namespace) -> None:
    async with ElasticsearchEmulator(host=args.host, port=args.port) as emulator:
        emulator.add_endpoint(DEMO_ENDPOINT, "completion")
        print(f"asyncinfer: emulator listening on {emulator.url}", file=sys.stderr)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    command = {"stream": _stream, "serve": _serve}[args.command]
    try:
        asyncio.run(command(args))
    except KeyboardInterrupt:
        print("asyncinfer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"asyncinfer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except asyncinfer.InvalidRequestError as exc:
        print(f"asyncinfer: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except asyncinfer.ApiError as exc:
        # StreamApiError is an ApiError too, but it happened mid-stream.
        code = EXIT_STREAM if isinstance(exc, asyncinfer.StreamError) else EXIT_API
        print(f"asyncinfer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return code
    except asyncinfer.TransportError as exc:
        print(f"asyncinfer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except asyncinfer.StreamError as exc:
        print(f"asyncinfer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_STREAM
    return 0
