"""The runtime's gatekeeper in a real grpc.aio server: tokens verified again behind the edge, the
permission table enforced for every public RPC, and the caller (and tenant) handed to handlers."""

from __future__ import annotations

import contextlib
from typing import Any

import grpc
import pytest
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.runtime.server import ServiceWiring
from services.security.caller import current_caller
from services.security.tenancy import tenant_for
from tests.fixtures.auth import TokenMaker, local_tokens, tokens_for
from tests.fixtures.grpc_servers import running_service


class EchoData(data_pb2_grpc.DataServiceServicer):
    """Answers IngestRows with who called and which client the call acts for."""

    async def IngestRows(self, request: Any, context: Any) -> Any:
        caller = current_caller()
        assert caller is not None
        tenant = tenant_for(request.client_id)
        return data_pb2.IngestRowsResponse(
            ingest_id=f"{caller.role.value}:{caller.client_id}:{tenant}"
        )


class Menu(catalog_pb2_grpc.CatalogServiceServicer):
    async def GetKpi(self, request: Any, context: Any) -> Any:
        caller = current_caller()
        name = "anonymous" if caller is None else caller.subject
        return catalog_pb2.GetKpiResponse(kpi=catalog_pb2.KpiDefinition(name=name))


async def build(settings: Any, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    return ServiceWiring(
        registrations=[
            lambda s: data_pb2_grpc.add_DataServiceServicer_to_server(EchoData(), s),
            lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(Menu(), s),
        ],
        service_names=["analytics.data.v1.DataService", "analytics.catalog.v1.CatalogService"],
    )


async def ingest(address: str, client_id: str, metadata: Any) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await data_pb2_grpc.DataServiceStub(channel).IngestRows(
            data_pb2.IngestRowsRequest(client_id=client_id), metadata=metadata, timeout=5
        )
        return str(reply.ingest_id)


async def menu(address: str, metadata: Any = None) -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await catalog_pb2_grpc.CatalogServiceStub(channel).GetKpi(
            catalog_pb2.GetKpiRequest(code="X"), metadata=metadata, timeout=5
        )
        return str(reply.kpi.name)


async def test_the_caller_and_tenant_come_from_the_token() -> None:
    tokens = local_tokens()
    async with running_service(build) as service:
        manager = tokens.metadata("manager", "acme")
        assert await ingest(service.address, "", manager) == "manager:acme:acme"
        assert await ingest(service.address, "acme", manager) == "manager:acme:acme"
        assert await ingest(service.address, "globex", tokens.admin()) == "admin:None:globex"
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await ingest(service.address, "globex", manager)
        assert other.value.code() == grpc.StatusCode.NOT_FOUND
        assert "globex" in (other.value.details() or "")


async def test_the_permission_table_is_enforced() -> None:
    tokens = local_tokens()
    async with running_service(build) as service:
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await ingest(service.address, "acme", None)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "bearer token" in (anonymous.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as analyst:
            await ingest(service.address, "", tokens.metadata("analyst", "acme"))
        assert analyst.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "manager" in (analyst.value.details() or "")
        assert await menu(service.address) == "anonymous"
        assert await menu(service.address, tokens.metadata("sales", "acme")) == "sales@acme"


async def test_tokens_the_service_cannot_verify_are_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stranger: TokenMaker = tokens_for(tmp_path_factory.mktemp("other-keys"))
    async with running_service(build) as service:
        for metadata in (
            stranger.metadata("admin"),
            (("authorization", "Basic YWRtaW46YWRtaW4="),),
            (("authorization", "Bearer not-a-jwt"),),
            # Expired two minutes ago (beyond the allowed clock skew).
            (("authorization", f"Bearer {local_tokens().token('admin', ttl_seconds=-120)}"),),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await menu(service.address, metadata)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
