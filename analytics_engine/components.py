"""The one list of mesh components: what each is called, how it starts and what it serves.

The supervisor, the Envoy renderer, the compose test and `status` all read this list, so adding a
service means adding one line here (plus its port in `.env`).
"""

from __future__ import annotations

from dataclasses import dataclass

GRPC = "grpc"
"""A gRPC server: health over the gRPC health protocol, reached by Envoy over HTTP/2."""
HTTP = "http"
"""A plain HTTP/1.1 server (the browser app's files): health is `GET /healthz`."""
HTTP_HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class Component:
    """One server process of the mesh (all gRPC but the one serving the browser app)."""

    name: str
    """Short name: process name, Envoy cluster name, compose service name, log file name."""
    module: str
    """Started as `python -m <module>` with the repository root as working directory."""
    packages: tuple[str, ...]
    """gRPC package prefixes it serves (`analytics.catalog.v1.`); Envoy routes them here."""
    edge_prefixes: tuple[str, ...] = ()
    """Extra path prefixes Envoy sends here (reflection and aggregated health for the gateway)."""
    protocol: str = GRPC
    """GRPC or HTTP: how Envoy, the supervisor and `status` talk to it."""
    serves_the_rest: bool = False
    """Envoy's last route sends every path no API claims here (the browser app and its routes)."""
    scales_out: bool = False
    """Several processes of it may run side by side, each on its own port, with Envoy balancing
    calls over them: what they share lives in Redis and PostgreSQL. The stream hub is the one
    such component: fanning updates out to streams is CPU work of one Python thread per process."""

    @property
    def port_var(self) -> str:
        """The `.env` variable holding its port."""
        return f"{self.name.upper()}_PORT"

    @property
    def addr_var(self) -> str:
        """The environment variable peers read its host:port from."""
        return f"AE_{self.name.upper()}_ADDR"

    def serves(self, full_name: str) -> bool:
        """Whether a fully qualified service or method name belongs to this component."""
        return any(full_name.startswith(prefix) for prefix in self.packages)


def _service(name: str) -> Component:
    return Component(name=name, module=f"services.{name}", packages=(f"analytics.{name}.v1.",))


# Start order; shutdown runs in reverse. The gateway comes last because it aggregates the others'
# health and serves reflection for all of them.
COMPONENTS: tuple[Component, ...] = (
    _service("catalog"),
    _service("calculation"),
    _service("config"),
    _service("data"),
    _service("archival"),
    _service("ml"),
    _service("entities"),
    _service("monitor"),
    Component(
        name="gateway",
        module="gateway",
        packages=("analytics.gateway.v1.",),
        edge_prefixes=("/grpc.reflection.", "/grpc.health.v1.Health/"),
        scales_out=True,
    ),
    # The browser app (ui/dist, built by `make setup`) and development sign-in.
    Component(
        name="ui", module="services.ui_server", packages=(), protocol=HTTP, serves_the_rest=True
    ),
)

# Ports of the edge and of the infrastructure, as named in `.env`.
ENVOY_PORT_VAR = "ENVOY_PORT"
ENVOY_ADMIN_PORT_VAR = "ENVOY_ADMIN_PORT"
POSTGRES_PORT_VAR = "POSTGRES_PORT"
REDIS_PORT_VAR = "REDIS_PORT"


def instance_name(component: Component, number: int) -> str:
    """The process name of a component's `number`th process (1 is the component's own name)."""
    return component.name if number == 1 else f"{component.name}-{number}"


def by_name(name: str) -> Component:
    """The component called `name`; KeyError names the known ones."""
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise KeyError(f"unknown component {name!r}; known: {', '.join(c.name for c in COMPONENTS)}")


def owner_of(full_name: str) -> Component | None:
    """The component serving a fully qualified gRPC service or method name, if any."""
    for component in COMPONENTS:
        if component.serves(full_name):
            return component
    return None
