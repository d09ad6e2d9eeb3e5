"""The ``asyncinfer`` command line, built on the public API only.

Every subcommand talks to ``--url`` (or ``ELASTICSEARCH_URL``); with no URL configured it starts
the built-in Elasticsearch emulator, with a demo endpoint for every task type, and says so on
stderr. docs/cli.md documents the whole surface.

Exit codes: 0 success, 2 usage, 3 connection (transport errors and time limits), 4 API (an
error answer, or an answer we cannot interpret), 5 stream (the stream broke after it began),
130 interrupted (Ctrl-C), 141 stdout closed by its reader.

The modules: ``parsing`` (the argument parser), ``inputs`` (prompts from arguments, stdin or a
file), ``connect`` (the client, or the built-in emulator), ``commands`` and ``batch`` (what
each sub-command does), ``output`` (console, spinner, progress bar), ``errors`` (exit codes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

import asyncinfer

from .commands import COMMANDS
from .connect import check_connection
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliUsageError,
    exit_code,
)
from .inputs import read_inputs
from .output import Console
from .parsing import parse_args

__all__ = ["main"]


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
    args = parse_args(argv)
    _configure_logging(args.verbose)
    console = Console(sys.stdout, sys.stderr)
    try:
        if args.command != "serve":
            check_connection(args)
        read_inputs(args)
        return asyncio.run(COMMANDS[args.command](args, console))
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
    except CliUsageError as exc:
        console.note(f"error: {exc}")
        return EXIT_USAGE
    except asyncinfer.AsyncInferError as exc:
        with contextlib.suppress(BrokenPipeError):
            console.end_line()
        console.note(f"{type(exc).__name__}: {exc}")
        return exit_code(exc)
