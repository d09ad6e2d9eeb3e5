"""Configuration values: plain frozen attrs classes and the defaults, each with its reason."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_FIRST_EVENT_TIMEOUT_S",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_READ_BUFSIZE",
    "Timeouts",
]

# A TCP (and TLS) handshake to a healthy node on a LAN or in the same cloud region takes
# milliseconds; 10 s leaves room for a congested path without hiding a dead node.
DEFAULT_CONNECT_TIMEOUT_S = 10.0

# Elasticsearch sends the status line only with the first event (spec §3.3) and waits up to
# 30 s (≤ 9.4) or 120 s (completion and chat_completion, 9.5+) for the provider to start
# (spec §2.5). Our limit must outlast the server's, so the server's own timeout error reaches us.
DEFAULT_FIRST_EVENT_TIMEOUT_S = 150.0

# Elasticsearch sends no heartbeats (spec §2.1): silence between events is the provider thinking.
# Reasoning models and tool calls can pause for tens of seconds mid-answer; two minutes of
# silence after the stream began means something is wrong.
DEFAULT_IDLE_TIMEOUT_S = 120.0

# aiohttp pauses reading the socket once 2 x read_bufsize bytes are waiting (streams.py), so this
# bounds what the client buffers for a slow consumer. 64 KiB holds hundreds of events per read,
# which is where parsing speed comes from, while keeping memory per stream small.
DEFAULT_READ_BUFSIZE = 64 * 1024

# One event carries one provider batch; only the non-streaming fallback (spec §3.2) puts a whole
# answer in one event. Elasticsearch caps a provider response at 10-50 MB
# (xpack.inference.http.max_response_size, spec §2.6); 16 MiB fits any real answer and stops a
# runaway or hostile stream from growing memory without bound.
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(
            f"Timeouts.{attribute.name} must be a positive number or None, got {value!r}"
        )


def _to_float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Time limits for one call, in seconds; ``None`` disables a limit.

    Attributes:
        connect: Opening the TCP (and TLS) connection.
        first_event: From sending the request until the first server-sent event arrives.
            Elasticsearch sends its status line only with the first event, so this also
            bounds the wait for the response headers.
        idle: The longest gap between two parsed events. Bytes that never complete an event
            do not reset it, so a trickling server still times out.
        total: The whole call, from sending the request to the last event.

    Each limit raises its own subclass of :class:`~asyncinfer.RequestTimeoutError` (itself a
    builtin :class:`TimeoutError`), naming which limit fired.
    """

    connect: float | None = attrs.field(
        default=DEFAULT_CONNECT_TIMEOUT_S,
        converter=_to_float_or_none,
        validator=_positive_or_none,
    )
    first_event: float | None = attrs.field(
        default=DEFAULT_FIRST_EVENT_TIMEOUT_S,
        converter=_to_float_or_none,
        validator=_positive_or_none,
    )
    idle: float | None = attrs.field(
        default=DEFAULT_IDLE_TIMEOUT_S, converter=_to_float_or_none, validator=_positive_or_none
    )
    total: float | None = attrs.field(
        default=None, converter=_to_float_or_none, validator=_positive_or_none
    )
