"""OpenTelemetry wiring. Instrumentation is always installed (so trace ids reach logs and
propagate across calls); exporting spans is opt-in through AE_OTEL_EXPORTER."""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import (
    aio_client_interceptors,
    aio_server_interceptor,
    filters,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from services.runtime.settings import SettingsError

_EXPORTERS = ("none", "console")


def configure_tracing(service: str, exporter: str) -> None:
    if exporter not in _EXPORTERS:
        raise SettingsError(f"AE_OTEL_EXPORTER={exporter!r} is not one of {', '.join(_EXPORTERS)}")
    provider = TracerProvider(resource=Resource.create({"service.name": f"analytics-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


# Live KPI streams stay open all day: a span per stream would measure nothing useful, hold its
# objects (a few KB) for as long as the stream lives, and wrap every message the hub sends.
_LONG_LIVED_STREAMS = "analytics.gateway.v1.StreamService"


def server_interceptor() -> grpc.aio.ServerInterceptor:
    # Health probes and reflection are operator plumbing, not traffic worth a span each.
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(
        filter_=filters.negate(
            filters.any_of(
                filters.service_prefix("grpc.health."),
                filters.service_prefix("grpc.reflection."),
                filters.service_name(_LONG_LIVED_STREAMS),
            )
        )
    )
    return interceptor


def client_interceptors() -> list[Any]:
    return list(aio_client_interceptors())
