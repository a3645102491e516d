"""OpenTelemetry for one app: its own TracerProvider, cheap spans, W3C propagation.

Contract:
- `Telemetry(service, ...)` owns a `TracerProvider` (`service.name=gongyi-<svc>`) with a
  parent-based ratio sampler; nothing touches the process-global provider, because four apps share
  a process in embedded mode and in tests. OTLP/HTTP export when an endpoint is configured, an
  injected span processor in tests, no export otherwise (spans still carry ids for propagation).
- Spans are coarse on purpose (DEPENDENCIES.md measured per-statement and ASGI receive/send spans as
  the largest cost): one server span per HTTP request (`TracingMiddleware`), one span per database
  transaction (unit of work), one producer span per published record (relay), one `process` span per
  consumed record (consumer runner). The outbox stores the request's `traceparent`, so request →
  relay → consumer → webhook is one trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


class Telemetry:
    def __init__(
        self,
        service: str,
        *,
        sample_ratio: float = 0.1,
        otlp_endpoint: str | None = None,
        span_processor: SpanProcessor | None = None,
        enabled: bool = True,
    ) -> None:
        # Disabled still propagates trace context (spans are non-recording), it just records nothing.
        sampler = ParentBased(TraceIdRatioBased(sample_ratio)) if enabled else ALWAYS_OFF
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": f"gongyi-{service}"}), sampler=sampler
        )
        if span_processor is not None:
            self.provider.add_span_processor(span_processor)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces"))
            )
        self.tracer = self.provider.get_tracer("gongyi")

    def shutdown(self) -> None:
        self.provider.shutdown()


def format_traceparent(ctx: SpanContext | None) -> str | None:
    if ctx is None or not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_traceparent() -> str | None:
    return format_traceparent(trace.get_current_span().get_span_context())


def parse_traceparent(value: str | None) -> SpanContext | None:
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if trace_id == 0 or span_id == 0:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))


def parent_context(traceparent: str | None) -> otel_context.Context | None:
    """A context whose current span is the remote parent named by `traceparent` (or None)."""
    span_context = parse_traceparent(traceparent)
    if span_context is None:
        return otel_context.Context()
    return trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())


def extract_from_headers(headers: dict[str, str]) -> otel_context.Context:
    return _PROPAGATOR.extract(headers)


def inject_headers(carrier: dict[str, Any]) -> None:
    _PROPAGATOR.inject(carrier)
