"""Show a stream live in Jupyter: ``await asyncinfer.notebook.show(stream)``.

Jupyter runs cells in an asyncio loop, so top-level ``await`` and ``async with`` work in a
notebook cell as they are, with no ``nest_asyncio``::

    client = asyncinfer.InferenceClient("http://localhost:9200")
    answer = await asyncinfer.notebook.show(
        client.stream_completion("my-endpoint", "What is Elastic?")
    )

:func:`show` needs IPython, the ``notebook`` extra: ``pip install 'asyncinfer[notebook]'``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ._stream import CompletionStream

if TYPE_CHECKING:
    from ._stream import ChatCompletionStream

__all__ = ["show"]

# At most 20 renders a second: smooth to the eye, while each render re-sends and re-renders the
# whole Markdown text (quadratic in its length), so a long answer must not render per token.
DEFAULT_MIN_INTERVAL_S = 0.05

_EXTRA_HINT = "pip install 'asyncinfer[notebook]'"


async def show(
    stream: CompletionStream | ChatCompletionStream,
    *,
    display: Callable[..., Any] | None = None,
    min_interval: float = DEFAULT_MIN_INTERVAL_S,
) -> str:
    """Render ``stream`` as Markdown in one output, live as it arrives; return the final text.

    In a notebook (an IPython kernel), one output is created with
    ``IPython.display.display(Markdown(""), display_id=True)`` and updated in place with the
    text received so far (:attr:`~asyncinfer.CompletionStream.text`, the assistant content of
    a chat stream), at most once per ``min_interval`` seconds, and once more at the end, so it
    always ends showing everything that arrived. Outside a kernel (a script, terminal IPython)
    the text is printed to stdout as it arrives instead.

    The stream is closed when this returns or raises (it is entered if it was not yet, which
    sends the request). An error is re-raised after what arrived before it was rendered;
    cancellation (e.g. the notebook's interrupt button) closes the connection and propagates.

    Args:
        stream: A :class:`~asyncinfer.CompletionStream` or
            :class:`~asyncinfer.ChatCompletionStream`, new or already entered.
        display: The display function; by default ``IPython.display.display`` in a kernel.
            It is called once, as ``display(Markdown(""), display_id=True)``, and must return
            a handle whose ``update(obj)`` replaces what it shows (as IPython's
            ``DisplayHandle`` does). Pass one to render elsewhere or to observe the updates.
        min_interval: The shortest time between two renders, in seconds.

    Returns:
        The whole text received.

    Raises:
        ImportError: IPython is not installed (install the ``notebook`` extra).
        ValueError: ``min_interval`` is negative.
        AsyncInferError: Whatever the stream raises (see :class:`~asyncinfer.CompletionStream`),
            after rendering the text received before it.
    """
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import Markdown
        from IPython.display import display as ipython_display
    except ImportError as exc:
        raise ImportError(
            f"asyncinfer.notebook.show() needs IPython: {_EXTRA_HINT}", name=exc.name
        ) from exc
    if min_interval < 0:
        raise ValueError(f"min_interval must be >= 0, got {min_interval!r}")
    if display is None:
        shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
        if getattr(shell, "kernel", None) is None:
            return await _print_live(stream)
    # Typed names for IPython's untyped callables.
    show_one: Callable[..., Any] = ipython_display if display is None else display
    markdown: Callable[[str], object] = Markdown
    handle = show_one(markdown(""), display_id=True)
    pieces: list[str] = []
    renderer = _Renderer(lambda: handle.update(markdown("".join(pieces))), min_interval)
    try:
        async with stream:
            # The text is kept here, not read from stream.text: that joins on every token,
            # and stops at Limits.max_kept_text where this must show everything.
            async for piece in _pieces(stream):
                pieces.append(piece)
                renderer.changed()
    finally:
        renderer.close()
        await stream.aclose()
    return "".join(pieces)


def _pieces(stream: CompletionStream | ChatCompletionStream) -> AsyncIterator[str]:
    """The non-empty pieces of text (of choice 0, for a chat stream), as they arrive."""
    return stream if isinstance(stream, CompletionStream) else stream.text_deltas()


class _Renderer:
    """Calls ``render`` after changes, at most once per interval, never late.

    A change that comes too soon is not dropped: a timer renders it when the interval has
    passed, so the output keeps up even while the stream pauses.
    """

    def __init__(self, render: Callable[[], object], interval: float) -> None:
        self._render = render
        self._interval = interval
        self._dirty = False
        self._shown_at = -float("inf")
        self._timer: asyncio.TimerHandle | None = None

    def changed(self) -> None:
        self._dirty = True
        if self._timer is not None:
            return
        wait = self._shown_at + self._interval - time.monotonic()
        if wait <= 0:
            self._flush()
        else:
            self._timer = asyncio.get_running_loop().call_later(wait, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._dirty:
            self._dirty = False
            self._shown_at = time.monotonic()
            self._render()

    def close(self) -> None:
        """Render now if anything changed since the last render; no timer is left behind."""
        if self._timer is not None:
            self._timer.cancel()
        self._flush()


async def _print_live(stream: CompletionStream | ChatCompletionStream) -> str:
    """Outside a kernel: write the text to stdout as it arrives."""
    pieces: list[str] = []
    try:
        async with stream:
            async for piece in _pieces(stream):
                pieces.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()
        await stream.aclose()
    return "".join(pieces)
