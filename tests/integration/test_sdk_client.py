"""The SDK's client helper against a real gRPC server: bearer token and default deadline."""

from __future__ import annotations

import contextlib
from typing import Any

from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from analytics_sdk import AnalyticsClient

from services.runtime.call_context import remaining_seconds
from services.runtime.server import ServiceWiring
from tests.fixtures.auth import local_tokens
from tests.fixtures.grpc_servers import running_service


class EchoCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """Echoes what the call carried: the authorization header and the deadline left."""

    async def GetKpi(self, request: Any, context: Any) -> Any:
        headers = dict(context.invocation_metadata())
        remaining = remaining_seconds()
        return catalog_pb2.GetKpiResponse(
            kpi=catalog_pb2.KpiDefinition(
                name=headers.get("authorization", ""),
                description="none" if remaining is None else f"{remaining:.2f}",
            )
        )


async def build(settings: Any, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    return ServiceWiring(
        registrations=[
            lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(EchoCatalog(), s)
        ],
        service_names=["analytics.catalog.v1.CatalogService"],
    )


async def test_client_attaches_token_and_default_deadline() -> None:
    async with running_service(build) as service:
        token = local_tokens().token("analyst", "demo")
        async with AnalyticsClient(service.address, token=token, default_timeout=3.0) as client:
            reply = await client.catalog.GetKpi(catalog_pb2.GetKpiRequest(code="X"))
            assert reply.kpi.name == f"Bearer {token}"
            assert 2.0 < float(reply.kpi.description) <= 3.05

            explicit = await client.catalog.GetKpi(catalog_pb2.GetKpiRequest(code="X"), timeout=1.0)
            assert float(explicit.kpi.description) <= 1.05


async def test_client_without_token_sends_no_authorization() -> None:
    async with running_service(build) as service:
        async with AnalyticsClient(service.address) as client:
            reply = await client.catalog.GetKpi(catalog_pb2.GetKpiRequest(code="X"))
            assert reply.kpi.name == ""
