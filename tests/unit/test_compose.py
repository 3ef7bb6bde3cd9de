"""compose.yaml, .env and envoy/envoy.compose.yaml agree with each other and with the components.

Compose cannot run on these machines, so this is what keeps the distributed deployment honest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics_engine import dotenv, envoy_config
from analytics_engine.components import COMPONENTS, GRPC

ROOT = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = {"timescaledb", "redis", "migrate", "envoy"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return dotenv.load(ROOT / ".env")


@pytest.fixture(scope="module")
def envoy_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / envoy_config.COMPOSE_CONFIG).read_text())
    return loaded


def _interpolate(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], text)


def test_compose_runs_every_component_and_nothing_unknown(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    assert {c.name for c in COMPONENTS} | INFRASTRUCTURE == services


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.name)
def test_component_container_matches_the_registry(
    component: Any, compose: dict[str, Any], env: dict[str, str]
) -> None:
    service = compose["services"][component.name]
    assert service["command"] == ["python", "-m", component.module]
    assert service["env_file"] == ".env"
    environment = service["environment"]
    assert environment["AE_SERVICE_NAME"] == component.name
    assert environment["AE_LISTEN"] == f"0.0.0.0:${{{component.port_var}}}"
    # The health check asks the port the service listens on, in the protocol Envoy uses for it.
    protocol = [] if component.protocol == GRPC else ["--http"]
    assert service["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "analytics_engine.healthcheck",
        *protocol,
        f"127.0.0.1:${{{component.port_var}}}",
    ]
    assert "ports" not in service, "components are reached through Envoy only"


def test_env_lists_every_port_once_and_addresses_agree(env: dict[str, str]) -> None:
    port_vars = [c.port_var for c in COMPONENTS] + [
        "ENVOY_PORT",
        "ENVOY_ADMIN_PORT",
        "POSTGRES_PORT",
        "REDIS_PORT",
    ]
    ports = [int(env[var]) for var in port_vars]
    assert len(set(ports)) == len(ports), "two things share a port"
    assert env["ENVOY_PORT"] == "8080"
    for component in COMPONENTS:
        assert env[component.addr_var] == f"{component.name}:{env[component.port_var]}"
    raw = (ROOT / ".env").read_text()
    for var in port_vars:
        assert len(re.findall(rf"^{var}=", raw, flags=re.M)) == 1


def test_envoy_container_uses_the_rendered_config(
    compose: dict[str, Any], env: dict[str, str]
) -> None:
    envoy = compose["services"]["envoy"]
    assert envoy["image"].startswith("envoyproxy/envoy:v1.40")
    assert "./envoy/envoy.compose.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]
    assert f"./gen/descriptor.binpb:{envoy_config.COMPOSE_DESCRIPTOR_PATH}:ro" in envoy["volumes"]
    published = [_interpolate(p, env) for p in envoy["ports"]]
    assert f"{env['ENVOY_PORT']}:{env['ENVOY_PORT']}" in published
    assert set(envoy["depends_on"]) == {c.name for c in COMPONENTS}


def test_envoy_compose_config_is_fresh(env: dict[str, str]) -> None:
    committed = (ROOT / envoy_config.COMPOSE_CONFIG).read_text()
    assert committed == envoy_config.render_compose(ROOT, env), (
        "envoy/envoy.compose.yaml is stale: run `analytics-engine envoy-config --compose --write`"
    )


def test_envoy_compose_config_has_a_cluster_per_component(
    envoy_compose: dict[str, Any], env: dict[str, str]
) -> None:
    clusters = {c["name"]: c for c in envoy_compose["static_resources"]["clusters"]}
    assert set(clusters) == {c.name for c in COMPONENTS}
    for component in COMPONENTS:
        cluster = clusters[component.name]
        assert cluster["type"] == "STRICT_DNS"
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
            "address"
        ]["socket_address"]
        assert address == {"address": component.name, "port_value": int(env[component.port_var])}
    listener = envoy_compose["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener["port_value"] == int(env["ENVOY_PORT"])


def test_envoy_compose_config_is_accepted_by_envoy() -> None:
    text = (ROOT / envoy_config.COMPOSE_CONFIG).read_text()
    envoy_config.validate_text(envoy_config.for_validation(text, ROOT))


def test_dockerfile_builds_the_sdk_and_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ./gen/python" in dockerfile
    assert "pip install ." in dockerfile
