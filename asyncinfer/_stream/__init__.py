"""Streams: the one read loop between the socket and the consumer, in parts with one job each.

- ``_base``: the lifecycle (states, the driver loop, ``aclose``, ``__del__``, errors) and the
  SSE relay, shared by both stream types;
- ``_attempts``: opening the request, the connection slot, retries and back-off;
- ``_reader``: one response's bytes to events to items (the only hot loop), one subclass per
  stream type: how an event becomes an item;
- ``_ledger``: the text kept (exactly what was yielded) and ``Limits.max_kept_text``;
- ``_meter``: the public state values, statistics and the telemetry span;
- ``_completion`` / ``_chat``: the two public stream types.
"""

from ._base import EventStream as _EventStream
from ._chat import ChatCompletionStream, assemble_message
from ._completion import CompletionStream
from ._meter import StreamState, StreamStats

__all__ = [
    "ChatCompletionStream",
    "CompletionStream",
    "StreamState",
    "StreamStats",
    "_EventStream",
    "assemble_message",
]
