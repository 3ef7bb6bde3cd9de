"""Health probes: the gRPC health protocol for components, Envoy's admin API for the edge."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from analytics_engine.components import HTTP, HTTP_HEALTH_PATH, Component

SERVING = "SERVING"
NOT_SERVING = "NOT_SERVING"
UNREACHABLE = "UNREACHABLE"

# Poll-friendly reconnects: gRPC's default backoff (1 s, growing) would make a server that came up
# 50 ms after the first attempt look slow to start.
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
]


class HealthProbe:
    """Asks one gRPC server for its health over a channel kept open between polls."""

    def __init__(self, address: str, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self.address = address
        self._channel = grpc.insecure_channel(address, options=_FAST_RECONNECT)
        self._stub = health_pb2_grpc.HealthStub(self._channel)
        # Components answer anyone; the edge's health board wants an operator's token.
        self._metadata = tuple(metadata) or None

    def check(self, service: str = "", timeout: float = 1.0) -> str:
        """SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN or UNREACHABLE."""
        try:
            response = self._stub.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout,
                metadata=self._metadata,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            return UNREACHABLE
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> HealthProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grpc_health(
    address: str,
    service: str = "",
    timeout: float = 1.0,
    metadata: Sequence[tuple[str, str]] = (),
) -> str:
    """One health check of `address` (host:port)."""
    with HealthProbe(address, metadata) as probe:
        return probe.check(service, timeout)


class HttpHealthProbe:
    """Asks a plain HTTP component (the browser app's server) for `GET /healthz`."""

    def __init__(self, address: str) -> None:
        self.address = address

    def check(self, service: str = "", timeout: float = 1.0) -> str:
        """SERVING on 200, NOT_SERVING on any other answer, UNREACHABLE without one."""
        return http_health(self.address, timeout)

    def close(self) -> None:
        """Nothing is kept open between checks."""

    def __enter__(self) -> HttpHealthProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def http_health(address: str, timeout: float = 1.0) -> str:
    """One `GET /healthz` of `address` (host:port)."""
    try:
        with urllib.request.urlopen(f"http://{address}{HTTP_HEALTH_PATH}", timeout=timeout):
            return SERVING
    except urllib.error.HTTPError:
        return NOT_SERVING
    except (OSError, ValueError):
        return UNREACHABLE


def probe_for(component: Component, address: str) -> HealthProbe | HttpHealthProbe:
    """The probe speaking the component's protocol."""
    return HttpHealthProbe(address) if component.protocol == HTTP else HealthProbe(address)


def component_health(component: Component, address: str, timeout: float = 1.0) -> str:
    """One health check of a component at `address`, in its own protocol."""
    with probe_for(component, address) as probe:
        return probe.check(timeout=timeout)


def _admin_get(admin_address: str, path: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{admin_address}{path}", timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def envoy_state(admin_address: str, timeout: float = 1.0) -> str:
    """Envoy's server state from /ready (LIVE once it serves), or UNREACHABLE."""
    try:
        _, body = _admin_get(admin_address, "/ready", timeout)
    except OSError:
        return UNREACHABLE
    return body.strip() or UNREACHABLE


def envoy_cluster_health(admin_address: str, timeout: float = 1.0) -> dict[str, str]:
    """Envoy's own view of each cluster: `healthy` when every host passes its checks."""
    status, body = _admin_get(admin_address, "/clusters?format=json", timeout)
    if status != 200:
        raise OSError(f"envoy admin /clusters answered {status}")
    result: dict[str, str] = {}
    for cluster in json.loads(body).get("cluster_statuses", []):
        hosts = cluster.get("host_statuses", [])
        flags = sorted({flag for host in hosts for flag in _failed_flags(host)})
        if not hosts:
            result[cluster["name"]] = "no hosts"
        else:
            result[cluster["name"]] = "healthy" if not flags else ",".join(flags)
    return result


def _failed_flags(host: dict[str, Any]) -> list[str]:
    health = host.get("health_status", {})
    flags = [k for k, v in health.items() if k != "eds_health_status" and v is True]
    if health.get("eds_health_status", "HEALTHY") != "HEALTHY":
        flags.append(str(health["eds_health_status"]).lower())
    return flags


def redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING (raw RESP, no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
