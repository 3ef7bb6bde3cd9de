"""Which internal calls gRPC retries by itself, and how: the service config every outbound channel
carries.

Only idempotent calls are listed — reads, and lease calls that set the same expiry however often
they are made — so a retry can never apply a change twice. They are retried on UNAVAILABLE only
(the peer could not be reached or is restarting; a call that reached its handler and failed is not
retried), with exponential backoff and gRPC's jitter (each pause is drawn uniformly between zero
and the current backoff), and always within the call's deadline.
"""

from __future__ import annotations

import json

MAX_ATTEMPTS = 4
INITIAL_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 0.5
BACKOFF_MULTIPLIER = 2

# Service -> idempotent methods; an empty tuple means every method of the service.
IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "analytics.catalog.v1.CatalogService": (),
    "analytics.data.v1.DataInternalService": ("QueryAggregates", "GetDataVersions"),
    "analytics.calculation.v1.CalculationInternalService": (
        "LeaseSubscriptions",
        "ReleaseSubscriptions",
        "GetKpiSnapshots",
    ),
    "analytics.calculation.v1.CalculationService": (
        "Calculate",
        "CalculateBatch",
        "CalculateDashboard",
        "ValidateFormula",
        "GetHistoricalKpi",
    ),
    "grpc.health.v1.Health": ("Check",),
}


def _names() -> list[dict[str, str]]:
    names: list[dict[str, str]] = []
    for service, methods in IDEMPOTENT_METHODS.items():
        if not methods:
            names.append({"service": service})
        names.extend({"service": service, "method": method} for method in methods)
    return names


def service_config() -> str:
    """The channel's service config (JSON), as the `grpc.service_config` option takes it."""
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": _names(),
                    "retryPolicy": {
                        "maxAttempts": MAX_ATTEMPTS,
                        "initialBackoff": f"{INITIAL_BACKOFF_SECONDS}s",
                        "maxBackoff": f"{MAX_BACKOFF_SECONDS}s",
                        "backoffMultiplier": BACKOFF_MULTIPLIER,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def is_idempotent(method: str) -> bool:
    """`method` is a full path, "/package.Service/Method"."""
    service, _, name = method.lstrip("/").partition("/")
    methods = IDEMPOTENT_METHODS.get(service)
    return methods is not None and (not methods or name in methods)
