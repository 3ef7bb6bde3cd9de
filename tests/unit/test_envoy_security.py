"""The edge's security as rendered: token rules, RBAC from the permission table, claim headers,
per-client rate limits and retries for read-only calls only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from analytics_engine import descriptor, envoy_config
from analytics_engine.components import COMPONENTS
from services.security import permissions
from services.security.caller import Role

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "envoy" / "envoy.yaml.j2"
DESCRIPTOR = ROOT / "gen" / "descriptor.binpb"
SERVICES = descriptor.load(DESCRIPTOR)
PUBLIC_PATHS = [m.path for s in SERVICES if s.public for m in s.methods]


def render(security: envoy_config.EdgeSecurity | None = None) -> dict[str, Any]:
    topology = envoy_config.Topology(
        listen_host="127.0.0.1",
        listen_port=18080,
        admin_host="127.0.0.1",
        admin_port=19901,
        descriptor_path=str(DESCRIPTOR),
        upstreams=tuple(
            envoy_config.Upstream(c.name, "127.0.0.1", (50051 + i,))
            for i, c in enumerate(COMPONENTS)
        ),
        security=security or envoy_config.EdgeSecurity(jwks="/keys/jwks.json"),
    )
    loaded: dict[str, Any] = yaml.safe_load(envoy_config.render(topology, SERVICES, TEMPLATE))
    return loaded


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    typed: dict[str, Any] = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return typed


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        f["typed_config"] for f in hcm(config)["http_filters"] if f["name"] == name
    )
    return found


def test_authentication_and_rbac_run_after_the_transcoder_and_headers_are_stripped_first() -> None:
    names = [f["name"].rpartition(".")[2] for f in hcm(render())["http_filters"]]
    assert names.index("header_mutation") < names.index("jwt_authn")
    assert names.index("grpc_json_transcoder") < names.index("jwt_authn") < names.index("rbac")
    removed = http_filter(render(), "envoy.filters.http.header_mutation")["mutations"]
    assert {m["remove"] for m in removed["request_mutations"]} == set(envoy_config.CLAIM_HEADERS)


def test_jwt_provider_checks_issuer_audience_and_passes_claims_on() -> None:
    security = envoy_config.EdgeSecurity(jwks="/keys/jwks.json", issuer="iss-x", audience="aud-y")
    provider = http_filter(render(security), "envoy.filters.http.jwt_authn")["providers"][
        "analytics"
    ]
    assert provider["issuer"] == "iss-x" and provider["audiences"] == ["aud-y"]
    assert provider["local_jwks"] == {"filename": "/keys/jwks.json"}
    assert provider["forward"] is True
    assert {h["header_name"]: h["claim_name"] for h in provider["claim_to_headers"]} == (
        envoy_config.CLAIM_HEADERS
    )


def test_a_jwks_url_is_fetched_through_its_own_tls_cluster() -> None:
    config = render(envoy_config.EdgeSecurity(jwks="https://id.example.com/.well-known/jwks.json"))
    provider = http_filter(config, "envoy.filters.http.jwt_authn")["providers"]["analytics"]
    assert provider["remote_jwks"]["http_uri"]["cluster"] == "jwks_provider"
    clusters = config["static_resources"]["clusters"]
    cluster = next(c for c in clusters if c["name"] == "jwks_provider")
    assert cluster["transport_socket"]["typed_config"]["sni"] == "id.example.com"


def test_only_the_catalog_may_be_called_without_a_token() -> None:
    rules = http_filter(render(), "envoy.filters.http.jwt_authn")["rules"]
    optional = [r["match"]["path"] for r in rules if "path" in r["match"]]
    assert optional and all(p.startswith("/analytics.catalog.v1.CatalogService/") for p in optional)
    needs_token = {"provider_name": "analytics"}
    required = {r["match"]["prefix"] for r in rules if r["requires"] == needs_token}
    assert required == set(envoy_config.API_PREFIXES)


def test_rbac_policies_are_the_permission_table() -> None:
    policies = http_filter(render(), "envoy.filters.http.rbac")["rules"]["policies"]
    for role in Role:
        policy = policies[f"role-{role.value}"]
        allowed = {p["url_path"]["path"]["exact"] for p in policy["permissions"] if
                   "exact" in p["url_path"]["path"]}
        expected = {
            path for path in PUBLIC_PATHS
            if role is Role.ADMIN or role in permissions.edge_rule_for(path).roles
        }  # fmt: skip
        assert allowed == expected, role
        principal = policy["principals"][0]["metadata"]
        assert principal["value"]["string_match"]["exact"] == role.value
    operator_prefixes = {
        p["url_path"]["path"]["prefix"]
        for p in policies["role-operator"]["permissions"]
        if "prefix" in p["url_path"]["path"]
    }
    assert operator_prefixes == {permissions.REFLECTION_PREFIX, permissions.HEALTH_PREFIX}
    assert not any(
        "prefix" in p["url_path"]["path"] for p in policies["role-analyst"]["permissions"]
    )


def test_each_client_has_its_own_bucket() -> None:
    limit = http_filter(
        render(envoy_config.EdgeSecurity(jwks="/k.json", rate_limit_per_second=7)),
        "envoy.filters.http.local_ratelimit",
    )
    client = next(d for d in limit["descriptors"] if d["entries"] == [{"key": "client"}])
    assert client["token_bucket"]["tokens_per_fill"] == 7
    assert client["token_bucket"]["max_tokens"] == 14
    headers = [
        a["request_headers"]["header_name"]
        for r in limit["rate_limits"]
        for a in r["actions"]
        if "request_headers" in a
    ]
    assert headers == ["x-ae-client-id", "x-ae-subject"]
    assert limit["rate_limited_as_resource_exhausted"] is True


def test_only_read_only_unary_calls_are_retried() -> None:
    routes = hcm(render())["route_config"]["virtual_hosts"][0]["routes"]
    retried = {r["match"]["path"] for r in routes if "retry_policy" in r.get("route", {})}
    assert "/analytics.calculation.v1.CalculationService/Calculate" in retried
    assert "/analytics.catalog.v1.CatalogService/GetKpi" in retried
    for never in (
        "/analytics.data.v1.DataService/IngestRows",
        "/analytics.config.v1.ClientConfigService/CreateClient",
        "/analytics.config.v1.DemoDataService/GenerateDemoData",
        "/analytics.gateway.v1.StreamService/StreamDashboard",
    ):
        assert never not in retried
    prefix_routes = [r for r in routes if "prefix" in r["match"] and "route" in r]
    assert not any("retry_policy" in r["route"] for r in prefix_routes)


def test_every_cluster_has_outlier_detection_and_circuit_breakers() -> None:
    for cluster in render()["static_resources"]["clusters"]:
        assert cluster["outlier_detection"], cluster["name"]
        assert cluster["circuit_breakers"]["thresholds"], cluster["name"]


def test_a_config_without_keys_trusts_no_token_and_still_validates(tmp_path: Path) -> None:
    config = render(envoy_config.EdgeSecurity())
    provider = http_filter(config, "envoy.filters.http.jwt_authn")["providers"]["analytics"]
    assert provider["local_jwks"] == {"inline_string": envoy_config.UNUSABLE_JWKS}
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config))
    envoy_config.validate(path)


def _mapper_status(mapper: dict[str, Any]) -> tuple[str, int]:
    found = mapper["filter"]
    if "and_filter" in found:
        found = found["and_filter"]["filters"][0]
    comparison = found["status_code_filter"]["comparison"]
    return comparison["op"], comparison["value"]["default_value"]


def _is_rest_only(mapper: dict[str, Any]) -> bool:
    filters = mapper["filter"].get("and_filter", {}).get("filters", [])
    return any("or_filter" in f for f in filters)


def test_the_edges_own_refusals_are_json_statuses_for_rest_and_keep_grpc_codes() -> None:
    mappers = hcm(render())["local_reply_config"]["mappers"]
    rest = [m for m in mappers if _is_rest_only(m)]
    grpc_text = [m for m in mappers if not _is_rest_only(m)]
    # Every REST rewrite is the transcoder's JSON status shape with a gRPC code.
    for mapper in rest:
        body = mapper["body_format_override"]
        assert body["content_type"] == "application/json"
        assert set(body["json_format"]) == {"code", "message", "details"}
        assert body["json_format"]["details"] == []
    codes = {_mapper_status(m): m["body_format_override"]["json_format"]["code"] for m in rest}
    assert codes[("EQ", 401)] == 16 and codes[("EQ", 403)] == 7 and codes[("EQ", 429)] == 8
    assert codes[("EQ", 404)] == 5 and codes[("EQ", 503)] == 14
    # The last one catches whatever else Envoy refuses.
    assert _mapper_status(rest[-1]) == ("GE", 400)
    # gRPC and gRPC-Web callers get the same sentence as text (Envoy keeps their grpc-status),
    # and only for refusals of the caller, never a JSON body.
    assert {_mapper_status(m)[1] for m in grpc_text} == {401, 403, 429}
    assert all("text_format_source" in m["body_format_override"] for m in grpc_text)
    # Each REST rewrite comes before its gRPC twin: the first matching mapper wins.
    for index, mapper in enumerate(mappers):
        if not _is_rest_only(mapper):
            assert _is_rest_only(mappers[index - 1])
            assert _mapper_status(mappers[index - 1]) == _mapper_status(mapper)


def _rest_messages(config: dict[str, Any]) -> list[str]:
    return [m["body_format_override"]["json_format"]["message"]
            for m in hcm(config)["local_reply_config"]["mappers"] if _is_rest_only(m)]


def test_a_denied_role_and_a_rate_limit_are_named() -> None:
    assert (
        "role '%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload:role)%' may not call "
        "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
    ) in _rest_messages(render())
    strict = render(envoy_config.EdgeSecurity(jwks="/keys/jwks.json", rate_limit_per_second=5))
    assert "this client is over its rate limit of 5 calls per second; retry shortly" in (
        _rest_messages(strict))
