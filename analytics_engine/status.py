"""Health of a running stack: each component asked directly, and Envoy's view of it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from analytics_engine import health
from analytics_engine.components import COMPONENTS, Component
from analytics_engine.state import ProcessEntry, StackState


@dataclass(frozen=True)
class Row:
    name: str
    address: str
    pid: int | None
    running: bool
    health: str
    """SERVING/NOT_SERVING/UNREACHABLE for components, LIVE for Envoy, PONG for Redis, ..."""
    edge: str
    """Envoy's active health check verdict for a component's cluster ("" for the rest)."""
    component: str = ""
    """The component a process belongs to ("" for Envoy and the infrastructure)."""

    @property
    def healthy(self) -> bool:
        ok_health = self.health in (health.SERVING, "LIVE", "PONG", "running", "external")
        return self.running and ok_health and self.edge in ("", "healthy")


@dataclass(frozen=True)
class Report:
    state: StackState
    rows: tuple[Row, ...]

    @property
    def healthy(self) -> bool:
        return all(row.healthy for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "public_url": self.state.public_url,
            "admin_url": self.state.admin_url,
            "phase": self.state.phase,
            "components": [asdict(row) | {"healthy": row.healthy} for row in self.rows],
        }


def collect(state: StackState) -> Report:
    """Probe everything recorded in stack.json, in parallel."""
    # A component that scales out has one row per process; one that is not running, one row.
    components: list[tuple[Component, ProcessEntry | None]] = []
    for c in COMPONENTS:
        entries: list[ProcessEntry | None] = [*state.instances(c.name)]
        components += [(c, entry) for entry in entries or [None]]
    with ThreadPoolExecutor(max_workers=len(components) + 1) as pool:
        edge_future = pool.submit(_edge_view, state.admin_address)
        checks = [
            pool.submit(health.component_health, c, entry.address) if entry else None
            for c, entry in components
        ]
        edge = edge_future.result()
        rows = [
            _component_row(c.name, entry, check.result() if check else "NOT RUNNING", edge)
            for (c, entry), check in zip(components, checks, strict=True)
        ]
    rows.extend(_infrastructure_rows(state))
    return Report(state=state, rows=tuple(rows))


def _edge_view(admin_address: str) -> dict[str, str]:
    try:
        return health.envoy_cluster_health(admin_address)
    except OSError:
        return {}


def _component_row(
    component: str, entry: ProcessEntry | None, status: str, edge: dict[str, str]
) -> Row:
    """A component process's row; `edge` is Envoy's verdict on the component's whole cluster."""
    return Row(
        name=entry.name if entry else component,
        address=entry.address if entry else "",
        pid=entry.pid if entry else None,
        running=bool(entry and entry.ref().alive()),
        health=status,
        edge=edge.get(component, "unknown"),
        component=component,
    )


def _infrastructure_rows(state: StackState) -> list[Row]:
    rows: list[Row] = []
    postgres = state.process("postgres")
    if postgres is not None:
        alive = postgres.ref().alive()
        rows.append(
            Row("postgres", postgres.address, postgres.pid, alive, "running" if alive else "-", "")
        )
    else:
        rows.append(Row("postgres", "DATABASE_URL", None, True, "external", ""))
    redis = state.process("redis")
    if redis is not None:
        host, _, port = redis.address.rpartition(":")
        pong = health.redis_ping(host, int(port))
        rows.append(
            Row("redis", redis.address, redis.pid, redis.ref().alive(), "PONG" if pong else "-", "")
        )
    else:
        rows.append(Row("redis", "REDIS_URL", None, True, "external", ""))
    feeder = state.process("demo-feed")
    if feeder is not None:
        alive = feeder.ref().alive()
        rows.append(Row("demo-feed", "", feeder.pid, alive, "running" if alive else "-", ""))
    envoy = state.process("envoy")
    rows.append(
        Row(
            name="envoy",
            address=state.public_address,
            pid=envoy.pid if envoy else None,
            running=bool(envoy and envoy.ref().alive()),
            health=health.envoy_state(state.admin_address),
            edge="",
        )
    )
    return rows


def table(report: Report) -> str:
    """A fixed-width table, one row per process."""
    header = ("COMPONENT", "ADDRESS", "PID", "PROCESS", "HEALTH", "ENVOY VIEW")
    lines = [header] + [
        (
            row.name,
            row.address,
            str(row.pid or "-"),
            "running" if row.running else "stopped",
            row.health,
            row.edge or "-",
        )
        for row in report.rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def summary_line(report: Report) -> str:
    processes = [r for r in report.rows if r.component]
    serving = sum(r.health == health.SERVING for r in processes)
    clusters = {r.component: r.edge for r in processes}
    edge_ok = sum(verdict == "healthy" for verdict in clusters.values())
    envoy = next(r for r in report.rows if r.name == "envoy")
    verdict = "healthy" if report.healthy else "UNHEALTHY"
    return (
        f"{verdict}: {serving}/{len(processes)} component processes SERVING, "
        f"Envoy {envoy.health} with {edge_ok}/{len(clusters)} clusters healthy"
    )
