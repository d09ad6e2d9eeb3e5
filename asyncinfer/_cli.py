"""The ``asyncinfer`` command line, built on the public API only.

Every subcommand talks to ``--url`` (or ``ELASTICSEARCH_URL``); with no URL configured it starts
the built-in Elasticsearch emulator, with a demo endpoint for every task type, and says so on
stderr. docs/cli.md documents the whole surface.

Exit codes: 0 success, 2 usage, 3 connection (transport errors and time limits), 4 API (an
error answer, or an answer we cannot interpret), 5 stream (the stream broke after it began),
130 interrupted (Ctrl-C), 141 stdout closed by its reader.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import orjson

import asyncinfer

if TYPE_CHECKING:
    from asyncinfer.testing import ElasticsearchEmulator

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_API = 4
EXIT_STREAM = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE

# The demo endpoints of the built-in emulator (and of `serve`), by task type.
DEMO_ENDPOINTS = {
    "completion": "demo",
    "chat_completion": "demo-chat",
    "text_embedding": "demo-embedding",
    "sparse_embedding": "demo-sparse",
    "rerank": "demo-rerank",
}
# Slow enough that a person sees the answer arrive token by token (~25 events/s).
DEMO_EVENT_DELAY_S = 0.04
DEMO_ANSWER_TOKENS = 60
DEFAULT_CONCURRENCY = 8
# A spinner frame every 80 ms, the pace of the usual terminal spinners (cli-spinners' "dots").
_SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_SPINNER_INTERVAL_S = 0.08
# The progress bar is redrawn at most 10 times a second: faster is unreadable and costs writes.
_PROGRESS_INTERVAL_S = 0.1
_PROGRESS_BAR_WIDTH = 24

log = logging.getLogger("asyncinfer.cli")


class _UsageError(Exception):
    """A command-line mistake found after parsing: exit 2 with this message."""


# --- the parser ------------------------------------------------------------------------------


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {value!r}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {value!r}")
    return parsed


def _parser() -> argparse.ArgumentParser:
    verbose = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: the subcommand's default must not undo a -v given before the subcommand.
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what the client does (requests, retries) on stderr",
    )
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
        type=int,
        default=None,
        metavar="N",
        help="retries after a failed attempt (default 3; 0 to fail at once)",
    )
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "-i",
        "--inference-id",
        default=os.environ.get("ASYNCINFER_INFERENCE_ID") or None,
        help="the inference endpoint (env: ASYNCINFER_INFERENCE_ID); the demo endpoint "
        "when the emulator answers",
    )
    common = [connection, target]

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

    stream = sub.add_parser(
        "stream", parents=common, help="stream a completion to stdout as it arrives"
    )
    stream.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    stream.add_argument("--json", action="store_true", help='one {"token": ...} object per line')
    stream.add_argument(
        "--stats", action="store_true", help="time to first token, tokens/s and totals on stderr"
    )

    chat = sub.add_parser("chat", parents=common, help="stream a chat completion to stdout")
    chat.add_argument("message", nargs="?", help="the user message (read from stdin when omitted)")
    chat.add_argument("--system", help="a system message before it")
    chat.add_argument("--json", action="store_true", help="each chunk as a JSON line")
    chat.add_argument(
        "--stats", action="store_true", help="time to first token, tokens/s and totals on stderr"
    )

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

    rerank = sub.add_parser("rerank", parents=common, help="order documents by relevance")
    rerank.add_argument("query")
    rerank.add_argument(
        "documents", nargs="*", metavar="DOCUMENT", help="(stdin lines when omitted)"
    )
    rerank.add_argument("--top-n", type=_positive_int, metavar="N", help="keep the N best")
    rerank.add_argument("--json", action="store_true", help="one JSON object per hit")

    endpoints = sub.add_parser("endpoints", help="list, get, create or delete endpoints")
    actions = endpoints.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[connection], help="list endpoints")
    listing.add_argument("--task-type", help="only endpoints of this task type")
    listing.add_argument("--json", action="store_true", help="one JSON object per endpoint")
    get = actions.add_parser("get", parents=[connection], help="show one endpoint")
    get.add_argument("inference_id", metavar="INFERENCE_ID")
    get.add_argument("--task-type", help="require this task type")
    get.add_argument("--json", action="store_true", help="compact JSON")
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
    delete = actions.add_parser("delete", parents=[connection], help="delete an endpoint")
    delete.add_argument("inference_id", metavar="INFERENCE_ID")
    delete.add_argument("--task-type", help="require this task type")
    delete.add_argument(
        "--dry-run", action="store_true", help="only list the pipelines that use it"
    )
    delete.add_argument("--force", action="store_true", help="delete even if pipelines use it")
    delete.add_argument("--json", action="store_true", help="compact JSON")

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
    return parser


# --- terminal output -------------------------------------------------------------------------


class _Console:
    """stdout and stderr, and whether stdout is in the middle of a line."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self._line_open = False

    def write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._line_open = not text.endswith("\n")

    def end_line(self) -> None:
        """End a partial line on stdout (streamed text has no final newline)."""
        if self._line_open:
            self.write("\n")

    def note(self, message: str) -> None:
        """One line on stderr."""
        self.err.write(f"asyncinfer: {message}\n")
        self.err.flush()

    @property
    def interactive(self) -> bool:
        """Whether stderr is a terminal: spinners and progress bars only then."""
        return _isatty(self.err)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class _Spinner:
    """A spinner on stderr until :meth:`stop` (or the end of the ``with`` block).

    Stopping is synchronous, so it never awaits while the command is being cancelled.
    """

    def __init__(self, console: _Console, label: str) -> None:
        self._console = console
        self._label = label
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> _Spinner:
        if self._console.interactive:
            self._task = asyncio.get_running_loop().create_task(self._spin())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _spin(self) -> None:
        err = self._console.err
        for frame in itertools.cycle(_SPINNER_FRAMES):
            err.write(f"\r{frame} {self._label}")
            err.flush()
            await asyncio.sleep(_SPINNER_INTERVAL_S)

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._console.err.write("\r\x1b[K")  # erase the spinner's line
            self._console.err.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _Progress:
    """A ``\\r``-redrawn progress bar with rate and ETA on stderr, only on a terminal."""

    def __init__(self, console: _Console, total: int) -> None:
        self._console = console
        self._total = total
        self._done = 0
        self._enabled = console.interactive and total > 0
        self._start = time.monotonic()
        self._drawn_at = -1.0

    def line(self, now: float) -> str:
        elapsed = now - self._start
        fraction = self._done / self._total
        filled = round(fraction * _PROGRESS_BAR_WIDTH)
        bar = "█" * filled + "░" * (_PROGRESS_BAR_WIDTH - filled)
        rate = self._done / elapsed if elapsed > 0 else 0.0
        if self._done == self._total:
            eta = f"in {_duration(elapsed)}"
        elif rate > 0:
            eta = f"ETA {_duration((self._total - self._done) / rate)}"
        else:
            eta = "ETA ?"
        width = len(str(self._total))
        return f"{self._done:>{width}}/{self._total} {bar} {fraction:4.0%} {rate:6.1f}/s {eta}"

    def draw(self) -> None:
        if self._enabled:
            now = time.monotonic()
            self._drawn_at = now
            columns = shutil.get_terminal_size().columns
            self._console.err.write("\r" + self.line(now)[: columns - 1] + "\x1b[K")
            self._console.err.flush()

    def clear(self) -> None:
        if self._enabled:
            self._console.err.write("\r\x1b[K")

    def advance(self, *, redraw: bool = False) -> None:
        self._done += 1
        due = time.monotonic() - self._drawn_at >= _PROGRESS_INTERVAL_S
        if redraw or due or self._done == self._total:
            self.draw()

    def close(self) -> None:
        if self._enabled:
            self.draw()
            self._console.err.write("\n")
            self._console.err.flush()
            self._enabled = False


# --- connecting --------------------------------------------------------------------------------


def _check_connection(args: argparse.Namespace) -> None:
    """Usage errors about the connection, found before any I/O."""
    if args.cloud_id is not None and args.url:
        raise _UsageError("give --url or --cloud-id, not both")
    # Commands that take -i need it, unless the emulator answers with its demo endpoints.
    if (args.url or args.cloud_id) and getattr(args, "inference_id", "-") is None:
        raise _UsageError("give the inference endpoint with -i or ASYNCINFER_INFERENCE_ID")


def _add_demo_endpoints(emulator: ElasticsearchEmulator, event_delay: float | None) -> None:
    for task_type, inference_id in DEMO_ENDPOINTS.items():
        emulator.add_endpoint(
            inference_id,
            task_type,
            answer_tokens=DEMO_ANSWER_TOKENS,
            event_delay=event_delay if task_type in ("completion", "chat_completion") else None,
        )


@contextlib.asynccontextmanager
async def _connect(
    args: argparse.Namespace, console: _Console, task_type: str | None = None
) -> AsyncIterator[tuple[asyncinfer.InferenceClient, str]]:
    """A client, and the inference id to use for ``task_type``."""
    inference_id: str | None = getattr(args, "inference_id", None)
    if args.url or args.cloud_id:
        client: asyncinfer.InferenceClient
        if args.cloud_id:
            client = asyncinfer.InferenceClient(
                cloud_id=args.cloud_id, api_key=args.api_key, retries=args.retries
            )
        else:
            client = asyncinfer.InferenceClient(
                args.url, api_key=args.api_key, retries=args.retries
            )
        async with client:
            log.debug("connecting to %s", client.url)
            yield client, inference_id or ""
        return
    from asyncinfer.testing import ElasticsearchEmulator  # aiohttp.web only when needed

    async with ElasticsearchEmulator() as emulator:
        _add_demo_endpoints(emulator, DEMO_EVENT_DELAY_S)
        inference_id = inference_id or DEMO_ENDPOINTS.get(task_type or "", "")
        which = f" (endpoint {inference_id!r})" if task_type is not None else ""
        console.note(
            f"ELASTICSEARCH_URL is not set: answering from the built-in emulator at "
            f"{emulator.url}{which}"
        )
        async with asyncinfer.InferenceClient(emulator.url) as client:
            yield client, inference_id


# --- reading inputs (before the event loop starts, so Ctrl-C is a plain KeyboardInterrupt) ---


def _read_stdin(what: str) -> str:
    if _isatty(sys.stdin):
        sys.stderr.write(f"asyncinfer: reading {what} from stdin; end it with Ctrl-D\n")
    return sys.stdin.read()


def _stdin_lines(what: str) -> list[str]:
    return [line.strip() for line in _read_stdin(what).splitlines() if line.strip()]


@attrs.frozen
class _BatchInput:
    line: int
    input: str | None
    error: str | None = None


def _parse_batch(text: str) -> list[_BatchInput]:
    """One input per non-blank line: a prompt, or a JSON object with a string "input"."""
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            items.append(_BatchInput(number, line))
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            items.append(_BatchInput(number, None, f"line {number} is not valid JSON: {exc}"))
            continue
        value = obj.get("input") if isinstance(obj, dict) else None
        if isinstance(value, str) and value:
            items.append(_BatchInput(number, value))
        else:
            items.append(
                _BatchInput(number, None, f'line {number} has no "input" string: {line[:80]}')
            )
    return items


def _read_inputs(args: argparse.Namespace) -> None:
    """Fill in what the command reads from stdin or a file; raises _UsageError."""
    command = args.command
    if command in ("stream", "chat", "complete"):
        name = "message" if command == "chat" else "prompt"
        if command == "complete" and args.input_file is not None:
            if args.prompt is not None:
                raise _UsageError("give a prompt or --input-file, not both")
            try:
                if args.input_file == "-":
                    text = _read_stdin("the inputs")
                else:
                    with open(args.input_file, encoding="utf-8") as file:
                        text = file.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise _UsageError(f"cannot read {args.input_file}: {exc}") from None
            args.batch = _parse_batch(text)
            return
        if getattr(args, name) is None:
            setattr(args, name, _read_stdin(f"the {name}").strip())
        if not getattr(args, name):
            raise _UsageError(f"give a {name} as an argument or on stdin")
    elif command == "embed":
        args.texts = args.texts or _stdin_lines("the texts, one per line")
        if not args.texts:
            raise _UsageError("give texts as arguments or on stdin, one per line")
    elif command == "rerank":
        args.documents = args.documents or _stdin_lines("the documents, one per line")
        if not args.documents:
            raise _UsageError("give documents as arguments or on stdin, one per line")


# --- the commands ------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode() + "\n"


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n"


async def _relay(
    stream: asyncinfer.CompletionStream | asyncinfer.ChatCompletionStream,
    args: argparse.Namespace,
    console: _Console,
) -> None:
    """Write a stream to stdout as it arrives (the shared body of ``stream`` and ``chat``)."""
    start = time.perf_counter()
    first: float | None = None
    parts = characters = 0
    with _Spinner(console, "waiting for the first token") as spinner:
        async with stream:
            async for item in stream:
                if isinstance(item, str):
                    text: str | None = item
                    record: dict[str, Any] = {"token": item}
                else:
                    text = next((c.delta.content for c in item.choices if c.index == 0), None)
                    record = item.raw
                if text:
                    parts += 1
                    characters += len(text)
                if first is None and (text or args.json):
                    spinner.stop()
                    first = time.perf_counter()
                if args.json:
                    console.write(_dumps(record))
                elif text:
                    console.write(text)
    console.end_line()
    if args.stats:
        elapsed = time.perf_counter() - start
        ttft = "n/a" if first is None else f"{(first - start) * 1000:.1f} ms"
        stats = (
            f"time to first token {ttft}; {parts} tokens in {elapsed:.3f} s "
            f"({parts / elapsed:.1f} tokens/s); {characters} characters"
        )
        if isinstance(stream, asyncinfer.ChatCompletionStream):
            usage = stream.usage
            if usage is not None:
                stats += (
                    f"; usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} "
                    f"completion = {usage.total_tokens} tokens"
                )
        console.note(stats)


async def _stream(args: argparse.Namespace, console: _Console) -> int:
    async with _connect(args, console, "completion") as (client, inference_id):
        await _relay(client.stream_completion(inference_id, args.prompt), args, console)
    return EXIT_OK


async def _chat(args: argparse.Namespace, console: _Console) -> int:
    messages = [{"role": "user", "content": args.message}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    async with _connect(args, console, "chat_completion") as (client, inference_id):
        await _relay(client.stream_chat_completion(inference_id, messages), args, console)
    return EXIT_OK


def _error_json(exc: asyncinfer.AsyncInferError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, asyncinfer.ApiError):
        error["status"] = exc.status
    return error


async def _complete(args: argparse.Namespace, console: _Console) -> int:
    if args.input_file is not None:
        return await _complete_batch(args, console)
    async with _connect(args, console, "completion") as (client, inference_id):
        with _Spinner(console, "waiting for the answer"):
            result = await client.completion(inference_id, args.prompt)
    if args.json:
        console.write(_dumps({"input": args.prompt, "result": result.text}))
    else:
        console.write(result.text)
        console.end_line()
    return EXIT_OK


async def _complete_batch(args: argparse.Namespace, console: _Console) -> int:
    """Many completions, ``--concurrency`` at a time; JSON Lines in input order."""
    items: list[_BatchInput] = args.batch
    lines: list[str | None] = [None] * len(items)
    codes: list[int] = [EXIT_OK] * len(items)
    written = 0
    progress = _Progress(console, len(items))
    stdout_is_tty = _isatty(console.out)

    def finish(index: int, outcome: str | BaseException | None) -> None:
        nonlocal written
        item = items[index]
        record: dict[str, Any] = {"line": item.line, "input": item.input}
        if outcome is None:
            record["error"] = {"type": "InvalidInput", "message": item.error}
            codes[index] = EXIT_USAGE
        elif isinstance(outcome, asyncinfer.AsyncInferError):
            log.debug("line %d failed: %s: %s", item.line, type(outcome).__name__, outcome)
            record["error"] = _error_json(outcome)
            codes[index] = _exit_code(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome  # not an answer from the server: a bug, reported as such
        else:
            record["result"] = outcome
        lines[index] = _dumps(record)
        # Write the finished prefix: output stays in input order and leaves early. On a
        # terminal shared with the bar, the bar is erased first and redrawn after.
        shared = stdout_is_tty and lines[written] is not None
        if shared:
            progress.clear()
        while written < len(lines) and (line := lines[written]) is not None:
            console.write(line)
            lines[written] = ""  # written: keep no copy
            written += 1
        progress.advance(redraw=shared)

    valid = [index for index, item in enumerate(items) if item.input is not None]
    prompts = [item.input for item in items if item.input is not None]
    async with _connect(args, console, "completion") as (client, inference_id):
        progress.draw()
        try:
            for index, item in enumerate(items):
                if item.input is None:
                    finish(index, None)
            async with client.as_completed(
                inference_id, prompts, concurrency=args.concurrency
            ) as results:
                async for position, outcome in results:
                    finish(
                        valid[position],
                        outcome if isinstance(outcome, BaseException) else outcome.text,
                    )
        finally:
            progress.close()
    failed = [code for code in codes if code != EXIT_OK]
    if failed:
        console.note(f"{len(failed)} of {len(items)} inputs failed (see their error objects)")
        return failed[0]
    return EXIT_OK


async def _embed(args: argparse.Namespace, console: _Console) -> int:
    task_type = "sparse_embedding" if args.sparse else "text_embedding"
    vectors: Sequence[Any]
    async with _connect(args, console, task_type) as (client, inference_id):
        if args.sparse:
            if args.input_type is not None:
                raise _UsageError("--input-type applies to dense embeddings only")
            sparse = await client.sparse_embedding(inference_id, args.texts)
            vectors = [embedding.tokens for embedding in sparse.embeddings]
        else:
            dense = await client.text_embedding(
                inference_id, args.texts, input_type=args.input_type
            )
            vectors = dense.embeddings
    for text, vector in zip(args.texts, vectors, strict=False):
        console.write(_dumps({"input": text, "embedding": vector} if args.json else vector))
    return EXIT_OK


async def _rerank(args: argparse.Namespace, console: _Console) -> int:
    documents: list[str] = args.documents
    async with _connect(args, console, "rerank") as (client, inference_id):
        result = await client.rerank(inference_id, args.query, documents, top_n=args.top_n)
    for hit in result.results:
        text = documents[hit.index] if 0 <= hit.index < len(documents) else hit.text or ""
        if args.json:
            record = {"index": hit.index, "relevance_score": hit.relevance_score, "text": text}
            console.write(_dumps(record))
        else:
            console.write(f"{hit.relevance_score:.4f}\t{hit.index}\t{text}\n")
    return EXIT_OK


async def _endpoints(args: argparse.Namespace, console: _Console) -> int:
    show = _dumps if args.json else _pretty
    async with _connect(args, console) as (client, _):
        if args.action == "list":
            found = await client.get_endpoints(args.task_type)
            if args.json:
                for endpoint in found:
                    console.write(_dumps(endpoint.raw))
            else:
                rows = [("INFERENCE_ID", "TASK_TYPE", "SERVICE")]
                rows += [(e.inference_id, e.task_type, e.service) for e in found]
                widths = [max(len(row[i]) for row in rows) for i in range(2)]
                for row in rows:
                    console.write(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}\n")
        elif args.action == "get":
            for endpoint in await client.get_endpoints(args.task_type, args.inference_id):
                console.write(show(endpoint.raw))
        elif args.action == "put":
            created = await client.put_endpoint(
                args.task_type,
                args.inference_id,
                service=args.service,
                service_settings=args.service_settings,
                task_settings=args.task_settings,
                chunking_settings=args.chunking_settings,
            )
            console.write(show(created.raw))
        else:
            deleted = await client.delete_endpoint(
                args.inference_id, task_type=args.task_type, dry_run=args.dry_run, force=args.force
            )
            console.write(show(deleted.raw))
    return EXIT_OK


async def _serve(args: argparse.Namespace, console: _Console) -> int:
    from asyncinfer.testing import ElasticsearchEmulator

    if args.event_delay < 0:
        raise _UsageError("--event-delay must be >= 0")
    async with ElasticsearchEmulator(
        host=args.host, port=args.port, event_delay=args.event_delay
    ) as emulator:
        _add_demo_endpoints(emulator, None)
        endpoints = ", ".join(f"{i} ({t})" for t, i in DEMO_ENDPOINTS.items())
        console.note(f"emulator listening on {emulator.url}; endpoints: {endpoints}; Ctrl-C stops")
        console.write(emulator.url + "\n")  # for scripts: the URL alone on stdout
        await asyncio.Event().wait()
    return EXIT_OK


_COMMANDS = {
    "stream": _stream,
    "chat": _chat,
    "complete": _complete,
    "embed": _embed,
    "rerank": _rerank,
    "endpoints": _endpoints,
    "serve": _serve,
}


# --- errors and the entry point ----------------------------------------------------------------


def _exit_code(exc: asyncinfer.AsyncInferError) -> int:
    """The exit code for an error; StreamApiError is an ApiError, but mid-stream."""
    if isinstance(exc, asyncinfer.UsageError):
        return EXIT_USAGE
    if isinstance(exc, asyncinfer.StreamError):
        return EXIT_STREAM
    if isinstance(exc, asyncinfer.TransportError):
        return EXIT_CONNECTION
    return EXIT_API  # ApiError, UnexpectedResponseError


def _configure_logging(verbose: bool) -> None:
    logger = logging.getLogger("asyncinfer")
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    else:
        # Retries and other notes stay quiet: the one error line says what matters.
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see docs/cli.md)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    console = _Console(sys.stdout, sys.stderr)
    try:
        if args.command != "serve":
            _check_connection(args)
        _read_inputs(args)
        return asyncio.run(_COMMANDS[args.command](args, console))
    except KeyboardInterrupt:
        with contextlib.suppress(BrokenPipeError):
            console.end_line()
        if args.command == "serve":
            return EXIT_OK  # Ctrl-C is how a server is stopped
        console.note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`). Python would complain again when it
        # flushes stdout at exit, so stdout becomes /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except _UsageError as exc:
        console.note(f"error: {exc}")
        return EXIT_USAGE
    except asyncinfer.AsyncInferError as exc:
        with contextlib.suppress(BrokenPipeError):
            console.end_line()
        console.note(f"{type(exc).__name__}: {exc}")
        return _exit_code(exc)
