"""The Envoy renderer: routes, transcoder and cluster settings, and Envoy's own verdict on them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics_engine import descriptor, envoy_config
from analytics_engine.components import COMPONENTS, GRPC, HTTP_HEALTH_PATH
from analytics_engine.descriptor import Method, Service

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
DESCRIPTOR = ROOT / "gen" / "descriptor.binpb"


def _topology() -> envoy_config.Topology:
    return envoy_config.Topology(
        listen_host="127.0.0.1",
        listen_port=18080,
        admin_host="127.0.0.1",
        admin_port=19901,
        descriptor_path=str(DESCRIPTOR),
        upstreams=tuple(
            envoy_config.Upstream(c.name, "127.0.0.1", (50051 + i,))
            for i, c in enumerate(COMPONENTS)
        ),
    )


def _method(service: str, name: str, *, server: bool = False, client: bool = False) -> Method:
    return Method(service, name, client_streaming=client, server_streaming=server, http=())


SYNTHETIC = [
    Service(
        "analytics.catalog.v1.CatalogService",
        (_method("analytics.catalog.v1.CatalogService", "ListKpis"),),
    ),
    Service(
        "analytics.gateway.v1.StreamService",
        (
            _method("analytics.gateway.v1.StreamService", "StreamDashboard", server=True),
            _method("analytics.gateway.v1.StreamService", "Upload", client=True),
        ),
    ),
]


def _config(services: list[Service]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(envoy_config.render(_topology(), services, TEMPLATE))
    return loaded


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    hcm: dict[str, Any] = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][
        0
    ]["typed_config"]
    return hcm


def test_streaming_methods_get_exact_routes_without_timeout_before_prefixes() -> None:
    routes = _hcm(_config(SYNTHETIC))["route_config"]["virtual_hosts"][0]["routes"]
    # (Exact routes with a retry policy are the read-only RPCs: tests/unit/test_envoy_security.py.)
    exact = [r for r in routes if "path" in r["match"] and "retry_policy" not in r["route"]]
    assert [r["match"]["path"] for r in exact] == [
        "/analytics.gateway.v1.StreamService/StreamDashboard",
        "/analytics.gateway.v1.StreamService/Upload",
    ]
    assert all(r["route"] == {"cluster": "gateway", "timeout": "0s"} for r in exact)
    assert routes.index(exact[-1]) < min(i for i, r in enumerate(routes) if "prefix" in r["match"])
    # API paths nothing claims are a JSON 404; every other path is the browser app.
    for prefix in ("/v1/", "/analytics.", "/grpc."):
        fallback = next(r for r in routes if r["match"] == {"prefix": prefix})
        assert fallback["direct_response"]["status"] == 404
        assert routes.index(fallback) < len(routes) - 1
    assert routes[-1]["match"] == {"prefix": "/"} and routes[-1]["route"]["cluster"] == "ui"
    disabled = routes[-1]["typed_per_filter_config"]["envoy.filters.http.grpc_json_transcoder"]
    assert disabled["disabled"] is True


def test_every_package_prefix_and_the_gateway_edge_paths_are_routed() -> None:
    routes = _hcm(_config(SYNTHETIC))["route_config"]["virtual_hosts"][0]["routes"]
    prefixes = {
        r["match"]["prefix"]: r["route"]["cluster"]
        for r in routes
        if "route" in r and "prefix" in r["match"]
    }
    for component in COMPONENTS:
        for package in component.packages:
            assert prefixes[f"/{package}"] == component.name
    assert prefixes["/grpc.reflection."] == "gateway"
    assert prefixes["/grpc.health.v1.Health/"] == "gateway"


def test_filters_and_transcoder_settings() -> None:
    hcm = _hcm(_config(SYNTHETIC))
    assert hcm["codec_type"] == "AUTO"
    assert hcm["stream_idle_timeout"] == "3600s"
    names = [f["name"] for f in hcm["http_filters"]]
    assert names == [
        "envoy.filters.http.cors",
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.rbac",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.router",
    ]
    transcoder = hcm["http_filters"][3]["typed_config"]
    assert transcoder["services"] == [s.full_name for s in SYNTHETIC]
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["request_validation_options"]["reject_unknown_method"] is True
    assert transcoder["print_options"]["stream_sse_style_delimited"] is True
    cors = hcm["route_config"]["virtual_hosts"][0]["typed_per_filter_config"][
        "envoy.filters.http.cors"
    ]
    assert cors["forward_not_matching_preflights"] is False


def test_clusters_check_health_often_and_allow_thousands_of_streams() -> None:
    clusters = _config(SYNTHETIC)["static_resources"]["clusters"]
    assert [c["name"] for c in clusters] == [c.name for c in COMPONENTS]
    for cluster, component in zip(clusters, COMPONENTS, strict=True):
        assert cluster["type"] == "STATIC"
        check = cluster["health_checks"][0]
        assert check["interval"] == check["no_traffic_interval"] == "2s"
        if component.protocol == GRPC:
            assert "grpc_health_check" in check
            assert "typed_extension_protocol_options" in cluster
        else:
            assert check["http_health_check"] == {"path": HTTP_HEALTH_PATH}
            assert "typed_extension_protocol_options" not in cluster
        limits = cluster["circuit_breakers"]["thresholds"][0]
        for key in ("max_requests", "max_pending_requests", "max_connections"):
            assert limits[key] >= 100000
        assert {"consecutive_5xx", "consecutive_gateway_failure"} <= set(
            cluster["outlier_detection"]
        )


def test_rendering_of_the_real_descriptor_is_accepted_by_envoy(tmp_path: Path) -> None:
    services = descriptor.load(DESCRIPTOR)
    assert services, "the descriptor holds no analytics.* service"
    path = tmp_path / "envoy.yaml"
    path.write_text(envoy_config.render(_topology(), services, TEMPLATE))
    envoy_config.validate(path)


def test_envoy_rejects_a_broken_config(tmp_path: Path) -> None:
    text = envoy_config.render(_topology(), SYNTHETIC, TEMPLATE)
    path = tmp_path / "envoy.yaml"
    path.write_text(text.replace("stream_sse_style_delimited", "stream_sse_delimited_typo"))
    with pytest.raises(envoy_config.EnvoyConfigError):
        envoy_config.validate(path)


def test_internal_services_are_neither_routed_nor_transcoded() -> None:
    internal = Service(
        "analytics.data.v1.DataInternalService",
        (_method("analytics.data.v1.DataInternalService", "ExportRows", server=True),),
    )
    hcm = _hcm(_config([*SYNTHETIC, internal]))
    transcoder = next(
        f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.grpc_json_transcoder"
    )
    assert internal.full_name not in transcoder["typed_config"]["services"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert not any(r["match"].get("path", "").startswith(internal.path_prefix) for r in routes)
    blocked = next(
        i for i, r in enumerate(routes) if r["match"].get("prefix") == internal.path_prefix
    )
    assert routes[blocked]["direct_response"]["status"] == 404
    package_route = next(
        i for i, r in enumerate(routes) if r["match"].get("prefix") == "/analytics.data.v1."
    )
    assert blocked < package_route


def test_a_component_with_several_processes_gets_an_endpoint_each(tmp_path: Path) -> None:
    hubs = envoy_config.Upstream("gateway", "127.0.0.1", (50056, 50070, 50071))
    topology = dataclasses.replace(
        _topology(),
        upstreams=tuple(hubs if u.name == "gateway" else u for u in _topology().upstreams),
    )
    text = envoy_config.render(topology, SYNTHETIC, TEMPLATE)
    clusters = {c["name"]: c for c in yaml.safe_load(text)["static_resources"]["clusters"]}
    endpoints = clusters["gateway"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints]
    assert ports == [50056, 50070, 50071]
    # Streams go to the process with the fewest open ones, so hubs share dashboards evenly.
    assert clusters["gateway"]["lb_policy"] == "LEAST_REQUEST"
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    envoy_config.validate(path)
