"""Exit codes, the command line's own usage error, and the exit code of each library error."""

from __future__ import annotations

import asyncinfer

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_API = 4
EXIT_STREAM = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE


class CliUsageError(Exception):
    """A command-line mistake found after parsing: exit 2 with this message."""


def exit_code(exc: asyncinfer.AsyncInferError) -> int:
    """The exit code for an error; StreamApiError is an ApiError, but mid-stream."""
    if isinstance(exc, asyncinfer.UsageError):
        return EXIT_USAGE
    if isinstance(exc, asyncinfer.StreamError):
        return EXIT_STREAM
    if isinstance(exc, asyncinfer.TransportError):
        return EXIT_CONNECTION
    return EXIT_API  # ApiError, UnexpectedResponseError
