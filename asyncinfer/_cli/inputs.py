"""What a command reads from its arguments, stdin or a file.

All of it is read before the event loop starts, so Ctrl-C while reading is a plain
KeyboardInterrupt.
"""

from __future__ import annotations

import argparse
import sys

import attrs
import orjson

from .errors import CliUsageError
from .output import isatty


def _read_stdin(what: str) -> str:
    if isatty(sys.stdin):
        sys.stderr.write(f"asyncinfer: reading {what} from stdin; end it with Ctrl-D\n")
    return sys.stdin.read()


def _stdin_lines(what: str) -> list[str]:
    return [line.strip() for line in _read_stdin(what).splitlines() if line.strip()]


@attrs.frozen
class BatchInput:
    """One line of ``--input-file``: its input, or why it is not usable."""

    line: int
    input: str | None
    error: str | None = None


def parse_batch(text: str) -> list[BatchInput]:
    """One input per non-blank line: a prompt, or a JSON object with a string "input"."""
    items = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            items.append(BatchInput(number, line))
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            items.append(BatchInput(number, None, f"line {number} is not valid JSON: {exc}"))
            continue
        value = obj.get("input") if isinstance(obj, dict) else None
        if isinstance(value, str) and value:
            items.append(BatchInput(number, value))
        else:
            items.append(
                BatchInput(number, None, f'line {number} has no "input" string: {line[:80]}')
            )
    return items


def _read_batch(args: argparse.Namespace) -> None:
    if args.prompt is not None:
        raise CliUsageError("give a prompt or --input-file, not both")
    try:
        if args.input_file == "-":
            text = _read_stdin("the inputs")
        else:
            with open(args.input_file, encoding="utf-8") as file:
                text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliUsageError(f"cannot read {args.input_file}: {exc}") from None
    args.batch = parse_batch(text)


def read_inputs(args: argparse.Namespace) -> None:
    """Fill in what the command reads from stdin or a file; raises CliUsageError."""
    command = args.command
    if command in ("stream", "chat", "complete"):
        if command == "complete" and args.input_file is not None:
            _read_batch(args)
            return
        name = "message" if command == "chat" else "prompt"
        if getattr(args, name) is None:
            setattr(args, name, _read_stdin(f"the {name}").strip())
        # Whitespace alone is no prompt: Elasticsearch would answer it, to no one's use.
        if not getattr(args, name).strip():
            raise CliUsageError(f"give a {name} as an argument or on stdin")
    elif command == "embed":
        args.texts = args.texts or _stdin_lines("the texts, one per line")
        if not args.texts:
            raise CliUsageError("give texts as arguments or on stdin, one per line")
    elif command == "rerank":
        args.documents = args.documents or _stdin_lines("the documents, one per line")
        if not args.documents:
            raise CliUsageError("give documents as arguments or on stdin, one per line")
