"""Configuration values: plain frozen attrs classes and the defaults, each with its reason."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from ._exceptions import InvalidRequestError, InvalidTypeError

__all__ = [
    "DEFAULT_CIRCUIT_FAILURES",
    "DEFAULT_CONNECTIONS",
    "DEFAULT_CONNECTIONS_PER_NODE",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_FIRST_EVENT_TIMEOUT_S",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_KEEPALIVE_S",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_KEPT_TEXT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_READ_BUFSIZE",
    "DEFAULT_RETRY_ON_STATUS",
    "Limits",
    "RetryPolicy",
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

# What a stream keeps of the text it yielded (for ``text`` and ``partial_text``), in characters.
# The longest answers models give are ~128k tokens, about 0.5 M characters; twice that keeps every
# real answer whole, while a runaway or endless stream costs at most ~1 MB (plus the pieces' own
# overhead) instead of growing with the answer.
DEFAULT_MAX_KEPT_TEXT = 1024 * 1024


def _where(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _is_number(value: object) -> bool:
    # bool is an int to Python, never a number of seconds or bytes to a user.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not _is_number(value):
        raise InvalidTypeError(
            f"{_where(instance, attribute)} must be a number of seconds or None, "
            f"got {type(value).__name__} {value!r}"
        )
    if not 0 < value < math.inf:
        raise InvalidRequestError(
            f"{_where(instance, attribute)} must be a positive, finite number of seconds or "
            f"None (no limit), got {value!r}"
        )


def _to_float_or_none(value: Any) -> Any:
    # Anything else is left for the validator, which names the field.
    return float(value) if _is_number(value) else value


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

    Raises:
        InvalidTypeError: A field has the wrong type (the message names the field).
        InvalidRequestError: A field is out of range (the message names the field).
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


def _int(instance: object, attribute: attrs.Attribute[Any], value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(
            f"{_where(instance, attribute)} must be an int, got {type(value).__name__} {value!r}"
        )
    if value < least:
        raise InvalidRequestError(f"{_where(instance, attribute)} must be >= {least}, got {value}")


def _non_negative_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _int(instance, attribute, value, 0)


def _positive_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _int(instance, attribute, value, 1)


def _positive_int_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _int(instance, attribute, value, 1)


def _non_negative_float(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_number(value):
        raise InvalidTypeError(
            f"{_where(instance, attribute)} must be a number, got {type(value).__name__} {value!r}"
        )
    if not 0 <= value < math.inf:
        raise InvalidRequestError(
            f"{_where(instance, attribute)} must be a non-negative, finite number, got {value!r}"
        )


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _non_negative_float(instance, attribute, value)
    if value > 1:
        raise InvalidRequestError(f"{_where(instance, attribute)} must be at most 1, got {value}")


def _bool(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidTypeError(
            f"{_where(instance, attribute)} must be a bool, got {type(value).__name__} {value!r}"
        )


def _statuses(value: Any) -> Any:
    # A set of ints becomes a frozenset; anything else is left for the validator to name.
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    return frozenset(value)


def _http_statuses(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, frozenset) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in value
    ):
        raise InvalidTypeError(
            f"{_where(instance, attribute)} must be a set of HTTP statuses (ints), got {value!r}"
        )
    wrong = sorted(s for s in value if not 100 <= s <= 599)
    if wrong:
        raise InvalidRequestError(
            f"{_where(instance, attribute)} holds values that are not HTTP statuses: {wrong}"
        )


# The official client retries 3 times on 429/502/503/504 (elastic-transport's defaults).
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_ON_STATUS = frozenset({429, 502, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how often to send a request again.

    A request is retried after a connection failure (before any response byte), a status in
    ``retry_on_status``, a 408 or 429 "timed out" answer, or an ``event: error`` that arrives
    before any output with such a status — never after a stream produced output. The wait
    before retry *n* is ``min(backoff_initial * 2**(n-1), backoff_max)``, with up to half of it
    taken off at random (jitter), or the server's ``Retry-After`` (capped at
    ``max_retry_after``) when that is longer. No wait runs past the call's total timeout.

    Attributes:
        max_retries: Retries after the first attempt; 0 disables retrying.
        backoff_initial: Seconds before the first retry.
        backoff_max: The longest back-off, in seconds.
        jitter: The fraction of each back-off that is randomised (0 to 1).
        retry_on_status: HTTP statuses worth another attempt.
        retry_on_timeout_answers: Retry Elasticsearch's 408/429 "timed out" answers.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.

    Raises:
        InvalidTypeError: A field has the wrong type (the message names the field).
        InvalidRequestError: A field is out of range (the message names the field).
    """

    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_non_negative_int)
    backoff_initial: float = attrs.field(default=0.5, validator=_non_negative_float)
    backoff_max: float = attrs.field(default=10.0, validator=_non_negative_float)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    retry_on_status: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_ON_STATUS, converter=_statuses, validator=_http_statuses
    )
    retry_on_timeout_answers: bool = attrs.field(default=True, validator=_bool)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative_float)

    def backoff(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is in [0, 1)."""
        # The exponent is capped: 2.0 ** 1024 overflows, long after backoff_max is reached.
        base: float = min(self.backoff_initial * 2.0 ** min(retry - 1, 64), self.backoff_max)
        return base * (1.0 - min(self.jitter, 1.0) * rand)


# Elasticsearch nodes answer many streams at once; 100 connections in total (aiohttp's default)
# with at most 50 to one node keeps a fan-out from exhausting one node's HTTP workers.
DEFAULT_CONNECTIONS = 100
DEFAULT_CONNECTIONS_PER_NODE = 50
# Connection attempts failing in a row (on any node; any answer resets the count) before new
# requests fail at once. The default retries make 4 attempts per call, so 10 is more than two
# calls' worth of failures with nothing answering: a node restarting in a healthy pool never
# gets there (other nodes answer), while a batch against a dead cluster stops after seconds.
DEFAULT_CIRCUIT_FAILURES = 10

# Idle keep-alive connections are closed after this long; Elasticsearch's own idle timeout is
# far longer, so this only bounds idle sockets on our side.
DEFAULT_KEEPALIVE_S = 30.0


@attrs.frozen(kw_only=True)
class Limits:
    """Connection-pool and buffer limits for a client.

    Attributes:
        connections: Open connections in total (0: no limit).
        connections_per_node: Open connections to one node.
        keepalive: Seconds an idle connection stays in the pool.
        read_bufsize: Bytes aiohttp buffers per connection before it stops reading the socket
            (it pauses at twice this): the memory a slow consumer costs.
        max_event_bytes: The largest server-sent event accepted.
        max_kept_text: How much of the text it yielded a stream keeps for ``text``,
            ``tokens`` and ``partial_text``, in characters (for chat streams: bytes of chunk
            data). Past it the stream drops what it kept, so memory stays bounded however long
            the answer, and asking for the text raises :class:`TextNotKeptError`. ``None``: no
            limit. ``read_text()`` and ``final_message()`` always keep the whole answer.
        circuit_failures: After this many connection attempts in a row failed (every node
            unreachable), new requests fail at once with :class:`ConnectError`, sending
            nothing; a node is tried again (one request, a probe) when its dead back-off
            (1 s doubling to 30 s) ends, and the first answer closes the circuit. ``None``:
            never fail fast.

    Raises:
        InvalidTypeError: A field has the wrong type (the message names the field).
        InvalidRequestError: A field is out of range (the message names the field).
    """

    connections: int = attrs.field(default=DEFAULT_CONNECTIONS, validator=_non_negative_int)
    connections_per_node: int = attrs.field(
        default=DEFAULT_CONNECTIONS_PER_NODE, validator=_non_negative_int
    )
    keepalive: float = attrs.field(default=DEFAULT_KEEPALIVE_S, validator=_non_negative_float)
    read_bufsize: int = attrs.field(default=DEFAULT_READ_BUFSIZE, validator=_positive_int)
    max_event_bytes: int = attrs.field(default=DEFAULT_MAX_EVENT_BYTES, validator=_positive_int)
    max_kept_text: int | None = attrs.field(
        default=DEFAULT_MAX_KEPT_TEXT, validator=_positive_int_or_none
    )
    circuit_failures: int | None = attrs.field(
        default=DEFAULT_CIRCUIT_FAILURES, validator=_positive_int_or_none
    )
