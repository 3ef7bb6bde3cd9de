"""The catalog service end to end over gRPC: the real composition root, a real PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from analytics.type.v1 import types_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.catalog.app import CatalogSettings, build
from services.catalog.catalog_files import load_catalog_files
from tests.fixtures.grpc_servers import running_service


@pytest.fixture
async def catalog_stub(migrated_db: str):
    settings = CatalogSettings(
        service_name="catalog",
        listen="127.0.0.1:0",
        database_url=migrated_db,
        dependency_check_seconds=0.1,
    )
    async with running_service(build, settings) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(100):
                reply = await health.Check(health_pb2.HealthCheckRequest())
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            yield catalog_pb2_grpc.CatalogServiceStub(channel)


async def test_lists_the_shipped_catalog(catalog_stub) -> None:
    shipped = load_catalog_files()
    reply = await catalog_stub.ListKpis(catalog_pb2.ListKpisRequest())
    assert [k.code for k in reply.kpis] == sorted(k.code for k in shipped.kpis)
    assert reply.page.total_size == len(shipped.kpis)

    chains = await catalog_stub.ListValueChains(catalog_pb2.ListValueChainsRequest())
    assert {"SCOR", "CRM", "SALES", "FINANCIAL"} <= {c.code for c in chains.value_chains}
    assert chains.catalog_version == shipped.version
    assert chains.loaded_at.seconds > 0


async def test_filters_search_and_paging(catalog_stub) -> None:
    scor = await catalog_stub.ListKpis(catalog_pb2.ListKpisRequest(value_chain_code="SCOR"))
    assert scor.kpis and all(k.value_chain_code == "SCOR" for k in scor.kpis)

    first = await catalog_stub.ListKpis(
        catalog_pb2.ListKpisRequest(page=types_pb2.PageRequest(page_size=2))
    )
    assert len(first.kpis) == 2 and first.page.next_page_token
    second = await catalog_stub.ListKpis(
        catalog_pb2.ListKpisRequest(
            page=types_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token)
        )
    )
    assert {k.code for k in first.kpis}.isdisjoint(k.code for k in second.kpis)

    module = scor.kpis[0].module_code
    by_module = await catalog_stub.ListKpisByModule(
        catalog_pb2.ListKpisByModuleRequest(module_code=module)
    )
    assert by_module.module.code == module
    assert all(k.module_code == module for k in by_module.kpis)


async def test_single_items_and_samples(catalog_stub) -> None:
    shipped = load_catalog_files()
    parent = next(k for k in shipped.kpis if k.component_kpi_codes)
    reply = await catalog_stub.GetKpi(catalog_pb2.GetKpiRequest(code=parent.code))
    assert reply.kpi.formula == parent.formula
    assert list(reply.kpi.component_kpi_codes) == list(parent.component_kpi_codes)

    sample = await catalog_stub.GetKpiSample(catalog_pb2.GetKpiSampleRequest(kpi_code=parent.code))
    assert len(sample.points) > 0

    model_code = parent.required_object_model_codes[0]
    model = await catalog_stub.GetObjectModel(catalog_pb2.GetObjectModelRequest(code=model_code))
    assert model.object_model.fields and model.object_model.time_field
    rows = await catalog_stub.GetObjectModelSample(
        catalog_pb2.GetObjectModelSampleRequest(object_model_code=model_code)
    )
    assert rows.rows


async def test_errors_name_what_is_wrong(catalog_stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await catalog_stub.GetKpi(catalog_pb2.GetKpiRequest(code="NOPE"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "NOPE" in (missing.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await catalog_stub.GetObjectModel(catalog_pb2.GetObjectModelRequest(code=" "))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(empty.value)  # type: ignore[arg-type]
    detail = error_details_pb2.BadRequest()
    assert status is not None and status.details[0].Unpack(detail)
    assert detail.field_violations[0].field == "code"

    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await catalog_stub.ListKpis(
            catalog_pb2.ListKpisRequest(page=types_pb2.PageRequest(page_token="garbage"))
        )
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
