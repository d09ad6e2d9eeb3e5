"""Terminal output: stdout and stderr, the spinner and the progress bar."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from typing import Any, TextIO

import orjson

# A spinner frame every 80 ms, the pace of the usual terminal spinners (cli-spinners' "dots").
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_SPINNER_INTERVAL_S = 0.08
# The progress bar is redrawn at most 10 times a second: faster is unreadable and costs writes.
_PROGRESS_INTERVAL_S = 0.1
_PROGRESS_BAR_WIDTH = 24


def dumps(value: Any) -> str:
    """One JSON line."""
    return orjson.dumps(value).decode() + "\n"


def pretty(value: Any) -> str:
    """Indented JSON, for a person."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n"


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for replaced or closed streams)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Console:
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
        return isatty(self.err)


class Spinner:
    """A spinner on stderr until :meth:`stop` (or the end of the ``with`` block).

    Stopping is synchronous, so it never awaits while the command is being cancelled.
    """

    def __init__(self, console: Console, label: str) -> None:
        self._console = console
        self._label = label
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> Spinner:
        if self._console.interactive:
            self._task = asyncio.get_running_loop().create_task(self._spin())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _spin(self) -> None:
        err = self._console.err
        for frame in itertools.cycle(SPINNER_FRAMES):
            err.write(f"\r{frame} {self._label}")
            err.flush()
            await asyncio.sleep(_SPINNER_INTERVAL_S)

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            self._console.err.write("\r\x1b[K")  # erase the spinner's line
            self._console.err.flush()


def duration(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """A ``\\r``-redrawn progress bar with rate, ETA and failures on stderr, only on a terminal."""

    def __init__(self, console: Console, total: int) -> None:
        self._console = console
        self._total = total
        self._done = 0
        self._failed = 0
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
            eta = f"in {duration(elapsed)}"
        elif rate > 0:
            eta = f"ETA {duration((self._total - self._done) / rate)}"
        else:
            eta = "ETA ?"
        width = len(str(self._total))
        line = f"{self._done:>{width}}/{self._total} {bar} {fraction:4.0%} {rate:6.1f}/s {eta}"
        # Failures are counted in "done" too; shown apart so a dead cluster is seen at once.
        return f"{line} · {self._failed} failed" if self._failed else line

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

    def advance(self, *, failed: bool = False, redraw: bool = False) -> None:
        self._done += 1
        self._failed += failed
        due = time.monotonic() - self._drawn_at >= _PROGRESS_INTERVAL_S
        if redraw or due or self._done == self._total:
            self.draw()

    def close(self) -> None:
        if self._enabled:
            self.draw()
            self._console.err.write("\n")
            self._console.err.flush()
            self._enabled = False
