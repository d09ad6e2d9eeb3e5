"""The argument parser: shared option groups, then one small function per sub-command."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

import asyncinfer

DEFAULT_CONCURRENCY = 8

if TYPE_CHECKING:
    # What add_subparsers returns; argparse names it privately, typeshed types it.
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _endpoint_spec(value: str) -> tuple[str, str]:
    task_type, colon, inference_id = value.partition(":")
    if not colon or not task_type or not inference_id:
        raise argparse.ArgumentTypeError(f"expected TASK:ID, e.g. completion:my-gpt, got {value!r}")
    return task_type, inference_id


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value!r}")
    return number


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {value!r}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {value!r}")
    return parsed


def _verbose_options() -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: the subcommand's default must not undo a -v given before the subcommand.
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the client does (requests, retries) on stderr",
    )
    return verbose


def _connection_options(verbose: argparse.ArgumentParser) -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False, parents=[verbose])
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=os.environ.get("ELASTICSEARCH_URL") or None,
        help="the Elasticsearch URL (env: ELASTICSEARCH_URL); without one, the built-in "
        "emulator answers",
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get("ELASTICSEARCH_API_KEY") or None,
        help="an encoded API key (env: ELASTICSEARCH_API_KEY)",
    )
    group.add_argument("--cloud-id", help="an Elastic Cloud id, instead of --url")
    group.add_argument(
        "--retries",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="retries after a failed attempt (default 3; 0 to fail at once)",
    )
    return connection


def _target_options() -> argparse.ArgumentParser:
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "-i",
        "--inference-id",
        default=os.environ.get("ASYNCINFER_INFERENCE_ID") or None,
        help="the inference endpoint (env: ASYNCINFER_INFERENCE_ID); the demo endpoint "
        "when the emulator answers",
    )
    return target


def _add_stats(parser: argparse.ArgumentParser) -> None:
    # None: decided by the connection (on for the built-in emulator's demo, off for a cluster).
    parser.add_argument(
        "--stats",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time to first token, tokens/s and totals on stderr (default: only when the "
        "built-in emulator answers)",
    )


def _add_stream(sub: _Subparsers, common: list[argparse.ArgumentParser]) -> None:
    stream = sub.add_parser(
        "stream", parents=common, help="stream a completion to stdout as it arrives"
    )
    stream.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    stream.add_argument("--json", action="store_true", help='one {"token": ...} object per line')
    _add_stats(stream)


def _add_chat(sub: _Subparsers, common: list[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", parents=common, help="stream a chat completion to stdout")
    chat.add_argument("message", nargs="?", help="the user message (read from stdin when omitted)")
    chat.add_argument("--system", help="a system message before it")
    chat.add_argument("--json", action="store_true", help="each chunk as a JSON line")
    _add_stats(chat)


def _add_complete(sub: _Subparsers, common: list[argparse.ArgumentParser]) -> None:
    complete = sub.add_parser(
        "complete", parents=common, help="a whole completion, or many (--input-file)"
    )
    complete.add_argument(
        "prompt", nargs="?", help="the prompt (read from stdin when omitted and no --input-file)"
    )
    complete.add_argument(
        "--input-file",
        metavar="FILE",
        help='prompts, one per line, or JSON Lines objects with an "input" key ("-": stdin); '
        "writes one JSON result per input, in input order",
    )
    complete.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"requests in flight with --input-file (default {DEFAULT_CONCURRENCY})",
    )
    complete.add_argument("--json", action="store_true", help="the result as a JSON line")


def _add_embed(sub: _Subparsers, common: list[argparse.ArgumentParser]) -> None:
    embed = sub.add_parser("embed", parents=common, help="embed texts: one vector per line")
    embed.add_argument("texts", nargs="*", metavar="TEXT", help="(stdin lines when omitted)")
    embed.add_argument(
        "--sparse", action="store_true", help="sparse_embedding instead of text_embedding"
    )
    embed.add_argument(
        "--input-type",
        choices=["ingest", "search", "classification", "clustering"],
        help="what the vectors are for (dense embeddings only)",
    )
    embed.add_argument(
        "--json", action="store_true", help='{"input": ..., "embedding": ...} per line'
    )


def _add_rerank(sub: _Subparsers, common: list[argparse.ArgumentParser]) -> None:
    rerank = sub.add_parser("rerank", parents=common, help="order documents by relevance")
    rerank.add_argument("query")
    rerank.add_argument(
        "documents", nargs="*", metavar="DOCUMENT", help="(stdin lines when omitted)"
    )
    rerank.add_argument("--top-n", type=_positive_int, metavar="N", help="keep the N best")
    rerank.add_argument("--json", action="store_true", help="one JSON object per hit")


def _add_endpoints(sub: _Subparsers, connection: argparse.ArgumentParser) -> None:
    endpoints = sub.add_parser("endpoints", help="list, get, create or delete endpoints")
    actions = endpoints.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[connection], help="list endpoints")
    listing.add_argument("--task-type", help="only endpoints of this task type")
    listing.add_argument("--json", action="store_true", help="one JSON object per endpoint")
    get = actions.add_parser("get", parents=[connection], help="show one endpoint")
    get.add_argument("inference_id", metavar="INFERENCE_ID")
    get.add_argument("--task-type", help="require this task type")
    get.add_argument("--json", action="store_true", help="compact JSON")
    _add_endpoints_put(actions, connection)
    delete = actions.add_parser("delete", parents=[connection], help="delete an endpoint")
    delete.add_argument("inference_id", metavar="INFERENCE_ID")
    delete.add_argument("--task-type", help="require this task type")
    delete.add_argument(
        "--dry-run", action="store_true", help="only list the pipelines that use it"
    )
    delete.add_argument("--force", action="store_true", help="delete even if pipelines use it")
    delete.add_argument("--json", action="store_true", help="compact JSON")


def _add_endpoints_put(actions: _Subparsers, connection: argparse.ArgumentParser) -> None:
    put = actions.add_parser("put", parents=[connection], help="create an endpoint")
    put.add_argument("task_type", metavar="TASK_TYPE")
    put.add_argument("inference_id", metavar="INFERENCE_ID")
    put.add_argument("--service", required=True, help="e.g. openai, elastic, hugging_face")
    put.add_argument(
        "--service-settings",
        type=_json_object,
        required=True,
        metavar="JSON",
        help='e.g. \'{"model_id": "gpt-4o", "api_key": "..."}\'',
    )
    put.add_argument("--task-settings", type=_json_object, metavar="JSON")
    put.add_argument("--chunking-settings", type=_json_object, metavar="JSON")
    put.add_argument("--json", action="store_true", help="compact JSON")


def _add_serve(sub: _Subparsers, verbose: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve", parents=[verbose], help="run the Elasticsearch emulator until Ctrl-C"
    )
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=9200, help="default 9200; 0 picks a free one")
    serve.add_argument(
        "--event-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between streamed events (default 0)",
    )
    serve.add_argument(
        "--es-version",
        metavar="X.Y.Z",
        help="the Elasticsearch release to reproduce, 8.16.0 or later (default 9.6.0, the "
        "newest the emulator knows)",
    )
    serve.add_argument(
        "--endpoint",
        type=_endpoint_spec,
        action="append",
        default=[],
        metavar="TASK:ID",
        help="also create this endpoint, e.g. completion:my-gpt (repeatable)",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: ApiKey KEY' on every request (else Elasticsearch's 401)",
    )


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser | None = action.choices.get(name)
            return found
    return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; exits 2 with the usage of the (sub-)command that was misused.

    argparse reports an unknown option of a sub-command with the top-level usage, which does
    not show the sub-command's options: the deepest sub-command named reports it instead.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        culprit = parser
        for name in (args.command, getattr(args, "action", None)):
            sub = _subcommand(culprit, name) if name is not None else None
            if sub is None:
                break
            culprit = sub
        culprit.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (docs/cli.md documents it; a test keeps the two in step)."""
    verbose = _verbose_options()
    connection = _connection_options(verbose)
    common = [connection, _target_options()]
    parser = argparse.ArgumentParser(
        prog="asyncinfer",
        description="Talk to the Elasticsearch Inference API. With no URL configured, a "
        "built-in Elasticsearch emulator answers.",
        epilog="exit codes: 0 success, 2 usage, 3 connection, 4 API error, 5 stream error, "
        "130 interrupted",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the client does on stderr"
    )
    parser.add_argument("--version", action="version", version=asyncinfer.__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stream(sub, common)
    _add_chat(sub, common)
    _add_complete(sub, common)
    _add_embed(sub, common)
    _add_rerank(sub, common)
    _add_endpoints(sub, connection)
    _add_serve(sub, verbose)
    return parser
