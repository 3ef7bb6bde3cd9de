"""Per-client rate limits at the edge: a client over its limit is turned away while another client
goes on unhindered.

The session stack's limit is generous (other tests call hard), so this starts a second Envoy from
the same template, in front of the same components, with a limit of a few calls per second.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from analytics_engine import descriptor, envoy_config
from analytics_engine.components import COMPONENTS
from services.security.keys import KeyFiles
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
PER_SECOND = 5
BURST = 2 * PER_SECOND


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def strict_edge(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of an Envoy allowing each client PER_SECOND calls per second."""
    listen, admin = free_port(), free_port()
    topology = envoy_config.Topology(
        listen_host="127.0.0.1",
        listen_port=listen,
        admin_host="127.0.0.1",
        admin_port=admin,
        descriptor_path=str(ROOT / "gen" / "descriptor.binpb"),
        upstreams=tuple(
            _upstream(c.name, stack.components[c.name]) for c in COMPONENTS
        ),
        security=envoy_config.EdgeSecurity(
            jwks=str(KeyFiles.of_data_dir(stack.data_dir).jwks),
            rate_limit_per_second=PER_SECOND,
        ),
    )
    config = tmp_path_factory.mktemp("strict-edge") / "envoy.yaml"
    config.write_text(
        envoy_config.render(
            topology, descriptor.load(ROOT / "gen" / "descriptor.binpb"),
            ROOT / "envoy" / "envoy.yaml.j2",
        )
    )
    log = (config.parent / "envoy.log").open("wb")
    process = subprocess.Popen(
        [envoy_config.envoy_binary(), "-c", str(config), "--disable-hot-restart",
         "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    address = f"127.0.0.1:{listen}"
    try:
        _wait_until_routing(address, process)
        yield address
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _upstream(name: str, address: str) -> envoy_config.Upstream:
    host, port = _host_port(address)
    return envoy_config.Upstream(name, host, (port,))


def _wait_until_routing(address: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, "the strict Envoy exited"
            try:
                stub.ListValueChains(catalog_pb2.ListValueChainsRequest(), timeout=1)
                time.sleep(1.5)  # let the anonymous bucket of this probe refill
                return
            except grpc.RpcError:
                time.sleep(0.2)
    raise AssertionError("the strict Envoy never routed a call")


def calls(address: str, metadata: tuple[tuple[str, str], ...], count: int) -> list[str]:
    codes = []
    with grpc.insecure_channel(address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for _ in range(count):
            try:
                stub.ListValueChains(
                    catalog_pb2.ListValueChainsRequest(), timeout=5, metadata=metadata
                )
                codes.append("OK")
            except grpc.RpcError as error:
                codes.append(error.code().name)  # type: ignore[attr-defined]
    return codes


def test_a_client_over_its_limit_is_limited_while_another_is_not(
    strict_edge: str, stack_tokens: TokenMaker
) -> None:
    flooding = calls(strict_edge, stack_tokens.metadata("analyst", "greedy-co"), 4 * BURST)
    assert flooding.count("RESOURCE_EXHAUSTED") >= 2 * BURST, flooding
    assert set(flooding) <= {"OK", "RESOURCE_EXHAUSTED"}, flooding
    # Right after, while greedy-co's bucket is empty, another client's calls all pass.
    polite = calls(strict_edge, stack_tokens.metadata("analyst", "polite-co"), BURST - 1)
    assert polite == ["OK"] * (BURST - 1)
    # Over REST the flooding client sees 429.
    host, port = _host_port(strict_edge)
    statuses = []
    bodies = []
    for _ in range(2 * BURST):
        connection = http.client.HTTPConnection(host, port, timeout=5)
        try:
            connection.request(
                "GET", "/v1/value-chains", headers=stack_tokens.headers("analyst", "greedy-co")
            )
            response = connection.getresponse()
            body = response.read()
            statuses.append(response.status)
            if response.status == 429:
                bodies.append((response.getheader("content-type"), json.loads(body)))
        finally:
            connection.close()
    assert 429 in statuses, statuses
    # ... as the JSON status the transcoder gives gRPC errors, saying why.
    content_type, answer = bodies[0]
    assert content_type == "application/json"
    assert answer == {
        "code": grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
        "message": f"this client is over its rate limit of {PER_SECOND} calls per second;"
                   " retry shortly",
        "details": [],
    }
