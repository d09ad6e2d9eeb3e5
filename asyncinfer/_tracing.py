"""Optional OpenTelemetry spans: one per call, ended when the call (or stream) ends.

Only used when ``opentelemetry-api`` is installed (``pip install asyncinfer[otel]``); without
an SDK configured, its no-op tracer makes this nearly free.
"""

from __future__ import annotations

import functools
from typing import Any

from ._version import __version__

__all__ = ["end_span", "start_span"]


@functools.cache
def _tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("asyncinfer", __version__)


def start_span(name: str, attributes: dict[str, Any]) -> Any:
    """Start a client span, or return ``None`` without OpenTelemetry."""
    tracer = _tracer()
    if tracer is None:
        return None
    from opentelemetry.trace import SpanKind

    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def end_span(span: Any, *, error: BaseException | None = None, **attributes: Any) -> None:
    """End ``span`` (if any), recording ``error`` and final attributes."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(f"asyncinfer.{key}", value)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()
