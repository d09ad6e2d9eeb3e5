"""Fault scripting: :class:`Fault`, what it changes, and the rules that hand faults out."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._wire import (
    _SSE_CONTENT_TYPE,
)


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _status_code(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 100 <= value <= 599:
        raise ValueError(f"{attribute.name} must be an HTTP status (100-599), got {value!r}")


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _headers_copy(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else dict(value)


@attrs.frozen(kw_only=True)
class Fault:
    """A scripted misbehaviour for the next matching request(s); see ``add_fault``.

    Every field is optional and they compose. "N events" counts ``message`` events that carry
    deltas, the initial ``{"delta":""}`` event included; on a chat stream it counts chunk
    events, the role chunk and the usage chunk included. A termination (``error_after``,
    ``end_after``, ``drop_after``, ``stall_after``) whose N is at least the number of message
    events takes the place of ``[DONE]``. If several are set, the smallest N wins (ties: error,
    end, drop, stall).

    On JSON routes (GET/PUT/DELETE and non-streaming ``POST _inference``) the fields that make
    sense there apply: ``status`` (with ``retry_after``), ``provider_status``,
    ``first_event_delay`` (a delay before answering), the ``raw_*`` fields, ``drop_after``
    (any N: the connection is aborted before anything is sent) and ``stall_after`` (any N:
    nothing is ever sent). On ``chat_completion`` streams errors take the OpenAI-style shape
    ``{"error":{"code","message","type"}}`` (§5.4) with ``code`` the lower-case status name.

    Attributes:
        status: answer with this HTTP error before the stream: on ``_stream`` an SSE
            ``event: error`` (§5.2), on JSON routes the standard envelope (§5.1).
        error_type: the error ``type`` for ``status`` and ``error_after``.
        reason: the error ``reason`` for ``status`` and ``error_after``.
        retry_after: send a ``Retry-After`` header with the ``status`` error.
        first_event_delay: seconds before the first event, and so before the status line and
            headers, which ES sends only with the first event (§3.3).
        event_delay: seconds between events, overriding the endpoint's and emulator's delay.
        stall_after: after N events send nothing more; hold the connection until the client
            leaves (or the emulator closes).
        drop_after: after N events abort the TCP connection, leaving the chunked body
            incomplete.
        end_after: after N events end the chunked body cleanly, without ``[DONE]``.
        error_after: after N events send a mid-stream ``event: error`` (status stays 200),
            then end the body without ``[DONE]`` (§3.2, §5.3).
        error_status: the ``status`` inside the mid-stream error's data.
        write_size: re-chunk the whole body into writes of exactly this many bytes (the last
            may be shorter), splitting events anywhere, BOMs and UTF-8 sequences included.
        write_delay: seconds between two body writes (a trickle when used with write_size).
        raw_body: send exactly these bytes (chunked) instead of the generated body.
        raw_status: the status sent with ``raw_body``.
        raw_content_type: the Content-Type sent with ``raw_body``.
        raw_headers: extra headers sent with ``raw_body``.
        provider_status: the upstream provider answers this HTTP status (§5.5). ES maps it:
            below 500 it passes through, 500 and above becomes 400; the reason is ES's
            ``<prefix> for request from inference entity id [<id>] status [<N>]. Error
            message: [<provider_message>]`` (prefix by status, §5.5 table), type
            ``status_exception``. Applies to inference requests (``_stream`` and
            non-streaming); ``status`` wins if both are set.
        provider_message: the provider's error message quoted in that reason (omitted when
            None, as ES does when the provider's body has no message).
        provider_error_type: for chat streams, the provider's own error ``type`` (kept by
            ES's OpenAI-style errors, §5.4; default ``status_exception``). With
            ``error_after`` on a chat stream it makes the mid-stream error a provider error:
            ``Received an error response for request from inference entity id [<id>]. Error
            message: [<provider_message or reason>]`` with this type (§5.3).
        provider_error_code: for chat streams, the provider's own error ``code`` (default:
            the lower-case status name; omitted in a mid-stream provider error when None).

    Raises:
        ValueError: a negative delay or count, a write_size below 1, or a status outside
            100-599.
    """

    status: int | None = attrs.field(default=None, validator=_status_code)
    error_type: str = "status_exception"
    reason: str = "simulated failure"
    retry_after: str | None = None
    first_event_delay: float = attrs.field(default=0.0, validator=_non_negative)
    event_delay: float | None = attrs.field(default=None, validator=_non_negative)
    stall_after: int | None = attrs.field(default=None, validator=_non_negative)
    drop_after: int | None = attrs.field(default=None, validator=_non_negative)
    end_after: int | None = attrs.field(default=None, validator=_non_negative)
    error_after: int | None = attrs.field(default=None, validator=_non_negative)
    error_status: int = attrs.field(default=500, validator=_status_code)
    write_size: int | None = attrs.field(default=None, validator=_positive)
    write_delay: float = attrs.field(default=0.0, validator=_non_negative)
    raw_body: bytes | None = None
    raw_status: int = attrs.field(default=200, validator=_status_code)
    raw_content_type: str = _SSE_CONTENT_TYPE
    raw_headers: Mapping[str, str] | None = attrs.field(default=None, converter=_headers_copy)
    provider_status: int | None = attrs.field(default=None, validator=_status_code)
    provider_message: str | None = None
    provider_error_type: str | None = None
    provider_error_code: str | None = None

    def _termination(self) -> tuple[int, str] | None:
        candidates = [
            (n, action)
            for n, action in (
                (self.error_after, "error"),
                (self.end_after, "end"),
                (self.drop_after, "drop"),
                (self.stall_after, "stall"),
            )
            if n is not None
        ]
        # min() keeps the first of equal N, which is the documented tie order.
        return min(candidates, key=lambda c: c[0]) if candidates else None


_NO_FAULT: Final = Fault()


@attrs.define
class _FaultRule:
    fault: Fault
    inference_id: str | None
    remaining: int | None


class _FaultScript:
    """Scripted faults, consumed in the order they were added, one per matching request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # tests may add faults from another thread
        self._rules: list[_FaultRule] = []

    def add(self, fault: Fault, inference_id: str | None, times: int | None) -> None:
        with self._lock:
            self._rules.append(_FaultRule(fault, inference_id, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, inference_id: str | None) -> Fault:
        """The next fault for a request to ``inference_id``, or the no-op fault."""
        with self._lock:
            for rule in self._rules:
                if rule.inference_id is None or rule.inference_id == inference_id:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining == 0:
                            self._rules.remove(rule)
                    return rule.fault
        return _NO_FAULT
