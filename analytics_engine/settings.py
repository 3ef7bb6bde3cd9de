"""Settings of the embedded stack: where things live and which ports they use.

Ports come from the repository's `.env` (the same file compose reads) or, with `--ports auto`, from
the kernel, so a test run never clashes with a stack a developer already has running.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from analytics_engine import dotenv
from analytics_engine.components import (
    COMPONENTS,
    ENVOY_ADMIN_PORT_VAR,
    ENVOY_PORT_VAR,
    REDIS_PORT_VAR,
    Component,
    instance_name,
)
from services.demo.feed import DEFAULT_RATE
from services.security.keys import DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyFiles

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
HUB_PROCESSES_VAR = "AE_HUB_PROCESSES"
"""How many stream hub processes `up` runs (default: one per two cores, at most four)."""
MAX_DEFAULT_HUB_PROCESSES = 4


def project_root() -> Path:
    """The repository checkout: the package's parent when it holds pyproject.toml, else cwd.

    `AE_PROJECT_ROOT` overrides both, for installs where the package is not inside the checkout.
    """
    override = os.environ.get("AE_PROJECT_ROOT")
    if override:
        return Path(override).resolve()
    candidate = Path(__file__).resolve().parent.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd().resolve()


def default_data_dir() -> Path:
    """`$AE_DATA_DIR`, or `./.data` relative to the working directory."""
    return Path(os.environ.get("AE_DATA_DIR") or ".data").resolve()


@dataclass(frozen=True)
class StackPaths:
    """Everything the stack writes lives under one data directory."""

    data_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_file(self) -> Path:
        """stack.json: supervisor pid, URLs, every process's address and pid."""
        return self.run_dir / "stack.json"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "stack.lock"

    @property
    def envoy_config(self) -> Path:
        return self.run_dir / "envoy.yaml"

    @property
    def keys(self) -> KeyFiles:
        """The development key pair and its JWKS (`auth/`)."""
        return KeyFiles.of_data_dir(self.data_dir)

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    def log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def create(self) -> None:
        for directory in (self.run_dir, self.logs_dir):
            directory.mkdir(parents=True, exist_ok=True)


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports from the kernel (held open together while picked)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
    return ports


@dataclass(frozen=True)
class StackPorts:
    """The public port, Envoy's admin port, one port per component and Redis's."""

    public: int
    admin: int
    redis: int
    components: Mapping[str, int] = field(default_factory=dict)
    more_processes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Ports of the second and later processes of components that scale out. Only Envoy and the
    supervisor reach them, so they come from the kernel even when `.env` fixes the others."""

    def with_more_processes(self, counts: Mapping[str, int]) -> StackPorts:
        """These ports, plus free ones for `counts[name] - 1` more processes of each component."""
        extra = {name: tuple(_free_ports(count - 1)) for name, count in counts.items() if count > 1}
        return dataclasses.replace(self, more_processes=extra)

    @classmethod
    def from_env_file(cls, values: Mapping[str, str]) -> StackPorts:
        def port(var: str) -> int:
            if var not in values:
                raise ValueError(f".env does not define {var}")
            return int(values[var])

        return cls(
            public=port(ENVOY_PORT_VAR),
            admin=port(ENVOY_ADMIN_PORT_VAR),
            redis=port(REDIS_PORT_VAR),
            components={c.name: port(c.port_var) for c in COMPONENTS},
        )

    @classmethod
    def pick_free(cls, public: int | None = None) -> StackPorts:
        """Free loopback ports from the kernel, all distinct (held open together while picked)."""
        it = iter(_free_ports(2 + len(COMPONENTS) + (public is None)))
        return cls(
            public=public if public is not None else next(it),
            admin=next(it),
            redis=next(it),
            components={c.name: next(it) for c in COMPONENTS},
        )


@dataclass(frozen=True)
class FeedSettings:
    """`up --feed`: the live demo feed the supervisor runs once the stack is healthy."""

    client_id: str = "demo"
    rate: float = DEFAULT_RATE
    """New records per second per model that starts a business process."""
    history_days: int = 7
    """Days of history loaded first when the client has no demo data."""
    rows_per_day: int = 1_000
    seed: int = 7

    def cli_arguments(self) -> list[str]:
        """The `analytics-engine demo feed` options that run this feed."""
        return [
            "--client", self.client_id,
            "--rate", repr(self.rate),
            "--history-days", str(self.history_days),
            "--rows-per-day", str(self.rows_per_day),
            "--seed", str(self.seed),
        ]  # fmt: skip


@dataclass(frozen=True)
class AuthSettings:
    """How tokens are checked, at Envoy and in every service.

    By default the stack trusts its own development key pair (`<data dir>/auth/jwks.json`). For
    production, AE_AUTH_JWKS_URL names the identity provider's JWKS (https), and AE_AUTH_ISSUER and
    AE_AUTH_AUDIENCE what its tokens say.
    """

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_url: str | None = None
    rate_limit_per_second: int = 500
    """Requests per second each client (or, without a client claim, each subject) may make at the
    edge, with bursts up to twice that; AE_EDGE_RATE_LIMIT."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AuthSettings:
        return cls(
            issuer=environ.get("AE_AUTH_ISSUER") or DEFAULT_ISSUER,
            audience=environ.get("AE_AUTH_AUDIENCE") or DEFAULT_AUDIENCE,
            jwks_url=environ.get("AE_AUTH_JWKS_URL") or None,
            rate_limit_per_second=int(environ.get("AE_EDGE_RATE_LIMIT") or 500),
        )


@dataclass(frozen=True)
class Instance:
    """One process of a component: its name (`gateway`, `gateway-2`, ...) and its port."""

    component: Component
    name: str
    port: int

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def default_hub_processes() -> int:
    """One stream hub per two cores, at most four. Each hub fans out on one Python thread, but
    the rest of the live path (ingest, PostgreSQL, the relay, recomputation) needs cores too:
    on two cores a second hub sent each stream more messages and cut the median latency, yet
    left the p99 where it was (at 1000 streams, 213-219 ms against 168-222 ms for one) and cost
    about 8 KB more per open stream."""
    return max(1, min((os.cpu_count() or 1) // 2, MAX_DEFAULT_HUB_PROCESSES))


def hub_processes_from(environ: Mapping[str, str]) -> int:
    """`AE_HUB_PROCESSES`, or the default; anything but a positive whole number is refused."""
    text = environ.get(HUB_PROCESSES_VAR, "").strip()
    if not text:
        return default_hub_processes()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{HUB_PROCESSES_VAR} must be a whole number of 1 or more, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class StackSettings:
    """Everything `up` needs, decided once from the command line, `.env` and the environment."""

    root: Path
    paths: StackPaths
    ports: StackPorts
    public_host: str
    """Where Envoy's public listener binds: all interfaces by default, loopback under auto ports."""
    database_url: str | None
    """An external PostgreSQL (`DATABASE_URL`); None starts the embedded one."""
    redis_url: str | None
    """An external Redis (`REDIS_URL`); None starts the bundled redis-server."""
    log_level: str = "INFO"
    python: str = sys.executable
    startup_timeout: float = 120.0
    stop_grace: float = 10.0
    feed: FeedSettings | None = None
    """The live demo feed to run (`up --feed`); None runs none."""
    auth: AuthSettings = field(default_factory=AuthSettings)

    @property
    def jwks_location(self) -> str:
        """Where services and Envoy read the verification keys from."""
        return self.auth.jwks_url or str(self.paths.keys.jwks)

    @property
    def descriptor(self) -> Path:
        return self.root / "gen" / "descriptor.binpb"

    @property
    def envoy_template(self) -> Path:
        return self.root / "envoy" / "envoy.yaml.j2"

    def component_address(self, name: str) -> str:
        """Where peers dial a component: its first process."""
        return f"{LOOPBACK}:{self.ports.components[name]}"

    def instances(self) -> tuple[Instance, ...]:
        """Every component process to run, in start order; a component's first process bears
        its own name and port."""
        return tuple(
            Instance(component, instance_name(component, number), port)
            for component in COMPONENTS
            for number, port in enumerate(
                (
                    self.ports.components[component.name],
                    *self.ports.more_processes.get(component.name, ()),
                ),
                start=1,
            )
        )

    def instances_of(self, name: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances() if i.component.name == name)

    @property
    def public_address(self) -> str:
        """host:port a client on this machine dials."""
        return f"{LOOPBACK}:{self.ports.public}"

    @property
    def admin_address(self) -> str:
        return f"{LOOPBACK}:{self.ports.admin}"


def env_file(root: Path) -> dict[str, str]:
    """The repository's `.env`."""
    return dotenv.load(root / ".env")


def build(
    *,
    data_dir: Path,
    public_port: int | None,
    auto_ports: bool,
    hub_processes: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> StackSettings:
    """Decide the stack's settings; explicit flags win over `.env` and the environment."""
    root = project_root()
    if auto_ports:
        ports = StackPorts.pick_free(public=public_port)
        public_host = LOOPBACK
    else:
        ports = StackPorts.from_env_file(env_file(root))
        if public_port is not None:
            ports = StackPorts(
                public=public_port,
                admin=ports.admin,
                redis=ports.redis,
                components=ports.components,
            )
        public_host = ALL_INTERFACES
    hubs = hub_processes if hub_processes is not None else hub_processes_from(environ)
    ports = ports.with_more_processes(
        {c.name: hubs for c in COMPONENTS if c.scales_out}
    )
    return StackSettings(
        root=root,
        paths=StackPaths(data_dir.resolve()),
        ports=ports,
        public_host=public_host,
        database_url=environ.get("DATABASE_URL") or None,
        redis_url=environ.get("REDIS_URL") or None,
        log_level=environ.get("AE_LOG_LEVEL", "INFO"),
        auth=AuthSettings.from_environ(environ),
    )
