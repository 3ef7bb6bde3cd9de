"""The shared service bootstrap.

A service supplies a settings class and a `build` coroutine that wires its adapters and returns a
`ServiceWiring`; `run_service` does the rest, identically for every process:

1. grpc.aio server with the runtime's interceptors, reflection and the library health servicer;
2. health NOT_SERVING until every dependency answers (and again whenever one stops answering);
3. `on_ready` hooks (e.g. loading the catalog) once dependencies answer, then SERVING;
4. SIGTERM/SIGINT: NOT_SERVING first (so balancers drain), then a graceful stop, then cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime import telemetry
from services.runtime.interceptors import Gatekeeper, ServerCallInterceptor
from services.runtime.logs import configure_logging
from services.runtime.settings import ServiceSettings, SettingsError, load_settings
from services.security.keys import JwksSource
from services.security.tokens import TokenPolicy, TokenVerifier

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)

# grpc.aio's default (1000) cancels streams during a reconnect storm of a few thousand dashboards.
SERVER_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 50_000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 32 * 1024 * 1024),
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServiceHealth:
    """Keeps the library health servicer in step with the dependencies."""

    def __init__(self, service_names: Sequence[str]) -> None:
        self.servicer = health.aio.HealthServicer()
        self._names = ["", *service_names]

    async def set_all(self, status: int) -> None:
        for name in self._names:
            await self.servicer.set(name, status)

    async def set(self, name: str, status: int) -> None:
        await self.servicer.set(name, status)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()


@dataclass(frozen=True)
class Dependency:
    """Something the service needs before it can serve; `check` raises while it is not there."""

    name: str
    check: Callable[[], Awaitable[None]]


@dataclass
class ServiceWiring:
    """What a service's composition root hands to the runtime."""

    # Each registers one servicer on the server (e.g. `lambda s: add_XServicer_to_server(x, s)`).
    registrations: list[Callable[[grpc.aio.Server], None]]
    # Full names of the gRPC services registered, for health and reflection.
    service_names: list[str]
    dependencies: list[Dependency] = field(default_factory=list)
    on_ready: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Long-running tasks started once the service is ready and cancelled on shutdown; they get the
    # service's health board (the gateway reports its peers' health through it).
    background: list[Callable[[ServiceHealth], Coroutine[Any, Any, None]]] = field(
        default_factory=list
    )
    # Extra names to expose through reflection (the gateway exposes every public service).
    reflection_names: list[str] = field(default_factory=list)


Build = Callable[[S, contextlib.AsyncExitStack], Awaitable[ServiceWiring]]


def gatekeeper(settings: ServiceSettings) -> Gatekeeper:
    """Token verification as the settings describe it; a service without a JWKS does not start
    (it would otherwise refuse every caller, or worse, trust them)."""
    if not settings.auth_jwks:
        raise SettingsError("AE_AUTH_JWKS is not set: the JWKS path or URL tokens are checked with")
    verifier = TokenVerifier(
        JwksSource(settings.auth_jwks),
        TokenPolicy(issuer=settings.auth_issuer, audience=settings.auth_audience),
    )
    return Gatekeeper(verifier)


async def _check_all(dependencies: Sequence[Dependency], limit_seconds: float) -> list[str]:
    failing = []
    for dependency in dependencies:
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancellation that
            # shutdown sends, leaving this loop running and the process hanging.
            async with asyncio.timeout(limit_seconds):
                await dependency.check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            failing.append(f"{dependency.name}: {exc!r}")
    return failing


async def _watch_dependencies(
    wiring: ServiceWiring, service_health: ServiceHealth, interval: float, ready: asyncio.Event
) -> None:
    """NOT_SERVING until every dependency answers; run on_ready once; keep watching after."""
    last_failing: list[str] | None = None
    while True:
        failing = await _check_all(wiring.dependencies, limit_seconds=max(interval, 1.0))
        if failing != last_failing:
            if failing:
                log.warning("not serving: waiting for %s", "; ".join(failing))
            last_failing = failing
        if not failing and not ready.is_set():
            for hook in wiring.on_ready:
                await hook()
            ready.set()
            log.info("serving")
        if ready.is_set():
            await service_health.set_all(NOT_SERVING if failing else SERVING)
        await asyncio.sleep(interval if ready.is_set() else min(interval, 0.25))


async def serve(
    settings: S,
    build: Build[S],
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Run one service until `stop` is set. `on_listening` receives the bound port."""
    calls = ServerCallInterceptor(gatekeeper(settings))
    async with contextlib.AsyncExitStack() as resources:
        wiring = await build(settings, resources)
        server = grpc.aio.server(
            interceptors=[telemetry.server_interceptor(), calls],
            options=list(SERVER_OPTIONS),
        )
        for register in wiring.registrations:
            register(server)
        service_health = ServiceHealth(wiring.service_names)
        await service_health.set_all(NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(service_health.servicer, server)
        reflection.enable_server_reflection(
            [
                *wiring.service_names,
                *wiring.reflection_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        port = server.add_insecure_port(settings.listen)
        if port == 0:
            raise SettingsError(f"cannot listen on {settings.listen}")
        await server.start()
        log.info("listening", extra={"address": settings.listen, "port": port})
        if on_listening is not None:
            on_listening(port)

        ready = asyncio.Event()
        tasks = [
            asyncio.create_task(
                _watch_dependencies(
                    wiring, service_health, settings.dependency_check_seconds, ready
                )
            )
        ]

        async def start_background() -> None:
            await ready.wait()
            tasks.extend(asyncio.create_task(job(service_health)) for job in wiring.background)

        tasks.append(asyncio.create_task(start_background()))
        await stop.wait()
        log.info("shutting down: health is NOT_SERVING, draining calls")
        await service_health.shutting_down()
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds)
        if stuck:
            log.warning("%d background task(s) ignored cancellation", len(stuck))
        await server.stop(settings.shutdown_grace_seconds)
    log.info("stopped")


def run_service(settings_class: type[S], build: Build[S]) -> None:
    """Entry point of every service process (`python -m services.<name>`)."""
    try:
        settings = load_settings(settings_class)
    except SettingsError as error:
        raise SystemExit(f"configuration error: {error}") from None
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    telemetry.configure_tracing(settings.service_name, settings.otel_exporter)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, build, stop)

    asyncio.run(main())
