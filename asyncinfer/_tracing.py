"""Optional OpenTelemetry spans: one per call, ended when the call (or stream) ends.

Only used when ``opentelemetry-api`` is installed (``pip install asyncinfer[otel]``) and a
tracer provider is configured: under the API's default proxy provider every span would be a
no-op, so none is started (a few microseconds per call, which fan-out multiplies).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from ._version import __version__

__all__ = ["end_span", "start_span"]


@functools.cache
def _trace() -> ModuleType | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def start_span(name: str, attributes: dict[str, Any]) -> Any:
    """Start a client span, or return ``None`` without OpenTelemetry or a tracer provider."""
    trace = _trace()
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    tracer = provider.get_tracer("asyncinfer", __version__)
    return tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)


def end_span(span: Any, *, error: BaseException | None = None, **attributes: Any) -> None:
    """End ``span`` (if any), recording ``error`` and final attributes."""
    if span is None:
        return
    trace = _trace()
    assert trace is not None
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(f"asyncinfer.{key}", value)
    if error is not None:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    span.end()
