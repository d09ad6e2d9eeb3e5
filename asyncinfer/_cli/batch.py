"""``complete --input-file``: many completions at once, written as JSON Lines in input order."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import asyncinfer

from .connect import connect
from .errors import EXIT_OK, EXIT_USAGE, exit_code
from .inputs import BatchInput
from .output import Console, Progress, dumps, isatty

log = logging.getLogger("asyncinfer.cli")


def _error_json(exc: asyncinfer.AsyncInferError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, asyncinfer.ApiError):
        error["status"] = exc.status
    return error


class _Results:
    """Each input's record, written as soon as every record before it is written."""

    def __init__(self, items: list[BatchInput], console: Console) -> None:
        self.items = items
        self.codes = [EXIT_OK] * len(items)
        self.progress = Progress(console, len(items))
        self._console = console
        self._lines: list[str | None] = [None] * len(items)
        self._written = 0
        self._stdout_is_tty = isatty(console.out)

    def finish(self, index: int, outcome: str | BaseException | None) -> None:
        """Record an input's answer, its error, or (None) that the input itself was unusable."""
        item = self.items[index]
        record: dict[str, Any] = {"line": item.line, "input": item.input}
        if outcome is None:
            record["error"] = {"type": "InvalidInput", "message": item.error}
            self.codes[index] = EXIT_USAGE
        elif isinstance(outcome, asyncinfer.AsyncInferError):
            log.debug("line %d failed: %s: %s", item.line, type(outcome).__name__, outcome)
            record["error"] = _error_json(outcome)
            self.codes[index] = exit_code(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome  # not an answer from the server: a bug, reported as such
        else:
            record["result"] = outcome
        self._lines[index] = dumps(record)
        self._write_ready(failed="error" in record)

    def _write_ready(self, *, failed: bool) -> None:
        # On a terminal shared with the bar, the bar is erased first and redrawn after.
        lines = self._lines
        shared = self._stdout_is_tty and lines[self._written] is not None
        if shared:
            self.progress.clear()
        while self._written < len(lines) and (line := lines[self._written]) is not None:
            self._console.write(line)
            lines[self._written] = ""  # written: keep no copy
            self._written += 1
        self.progress.advance(failed=failed, redraw=shared)


async def complete_batch(args: argparse.Namespace, console: Console) -> int:
    """Many completions, ``--concurrency`` at a time; JSON Lines in input order."""
    items: list[BatchInput] = args.batch
    results = _Results(items, console)
    valid = [index for index, item in enumerate(items) if item.input is not None]
    prompts = [item.input for item in items if item.input is not None]
    async with connect(args, console, "completion") as (client, inference_id):
        results.progress.draw()
        try:
            for index, item in enumerate(items):
                if item.input is None:
                    results.finish(index, None)
            async with client.as_completed(
                inference_id, prompts, concurrency=args.concurrency
            ) as answers:
                async for position, outcome in answers:
                    text = outcome if isinstance(outcome, BaseException) else outcome.text
                    results.finish(valid[position], text)
        finally:
            results.progress.close()
    failed = [code for code in results.codes if code != EXIT_OK]
    if failed:
        console.note(f"{len(failed)} of {len(items)} inputs failed (see their error objects)")
        return failed[0]
    return EXIT_OK
