"""The public contracts: every gRPC service generated from proto/ (packages `analytics.*`)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import analytics


def is_internal(service_name: str) -> bool:
    """Mesh-internal services (`*InternalService`) are neither routed nor reflected publicly."""
    return service_name.endswith("InternalService")


@cache
def public_service_names() -> tuple[str, ...]:
    """Full names of every public service in the generated `analytics` packages, sorted."""
    names: set[str] = set()
    for module_info in pkgutil.walk_packages(analytics.__path__, prefix="analytics."):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(module_info.name)
        names.update(
            service.full_name
            for service in module.DESCRIPTOR.services_by_name.values()
            if not is_internal(service.full_name)
        )
    return tuple(sorted(names))


def component_of(service_name: str) -> str:
    """The component (process) serving a service: `analytics.<component>.v1.X` → `<component>`."""
    parts = service_name.split(".")
    if len(parts) < 4 or parts[0] != "analytics":
        raise ValueError(f"{service_name!r} is not an analytics service name")
    return parts[1]
