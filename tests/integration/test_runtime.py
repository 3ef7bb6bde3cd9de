"""The shared runtime, exercised through a real grpc.aio server and real client calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import grpc
import pytest
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from services import errors
from services.adapters.peers import peer_failure
from services.calculation.formula.compiler import FormulaCatalog, compile_formula
from services.catalog.catalog_files import load_catalog_files
from services.runtime.call_context import deadline_var, remaining_seconds, request_id_var
from services.runtime.channels import open_channel
from services.runtime.server import Dependency, ServiceWiring
from tests.fixtures.auth import local_tokens
from tests.fixtures.grpc_servers import running_service

SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


class ProbeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """Answers GetKpi according to the code asked for; everything else stays unimplemented."""

    async def GetKpi(self, request: Any, context: Any) -> Any:
        match request.code:
            case "":
                raise errors.InvalidArgument.for_field("code", "must not be empty")
            case "missing":
                raise errors.NotFound("KPI 'missing' does not exist")
            case "formula":
                catalog = FormulaCatalog.from_catalog(load_catalog_files())
                compile_formula("count(ORDER where delivery_at > promised_at)", catalog)
            case "boom":
                raise RuntimeError("secret database password in the message")
            case "request-id":
                return catalog_pb2.GetKpiResponse(
                    kpi=catalog_pb2.KpiDefinition(name=request_id_var.get())
                )
            case "deadline":
                remaining = remaining_seconds()
                return catalog_pb2.GetKpiResponse(
                    kpi=catalog_pb2.KpiDefinition(
                        name="none" if remaining is None else f"{remaining:.3f}"
                    )
                )
        return catalog_pb2.GetKpiResponse(kpi=catalog_pb2.KpiDefinition(code=request.code))


def wiring_with(dependencies: list[Dependency]) -> Any:
    async def build(settings: Any, resources: contextlib.AsyncExitStack) -> ServiceWiring:
        return ServiceWiring(
            registrations=[
                lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(ProbeCatalog(), s)
            ],
            service_names=[SERVICE],
            dependencies=dependencies,
        )

    return build


async def get_kpi(address: str, code: str, **kwargs: Any) -> Any:
    async with grpc.aio.insecure_channel(address) as channel:
        return await catalog_pb2_grpc.CatalogServiceStub(channel).GetKpi(
            catalog_pb2.GetKpiRequest(code=code), **kwargs
        )


async def test_domain_errors_map_to_status_codes_with_field_details() -> None:
    async with running_service(wiring_with([])) as service:
        with pytest.raises(grpc.aio.AioRpcError) as not_found:
            await get_kpi(service.address, "missing")
        assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
        assert "does not exist" in (not_found.value.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await get_kpi(service.address, "")
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(invalid.value)  # type: ignore[arg-type]
        assert status is not None
        bad_request = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad_request)
        assert [(v.field, v.description) for v in bad_request.field_violations] == [
            ("code", "must not be empty")
        ]


async def test_a_formula_error_is_invalid_argument_naming_the_unknown_field() -> None:
    async with running_service(wiring_with([])) as service:
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await get_kpi(service.address, "formula")
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(invalid.value)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    violation = bad_request.field_violations[0]
    assert violation.field == "formula"
    assert "unknown field 'delivery_at' of ORDER" in violation.description
    assert "column 19" in violation.description


async def test_unexpected_errors_are_internal_without_leaking_the_exception_text() -> None:
    async with running_service(wiring_with([])) as service:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await get_kpi(service.address, "boom", metadata=[("x-request-id", "req-42")])
        assert failure.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in (failure.value.details() or "")
        assert "req-42" in (failure.value.details() or "")


async def test_methods_a_service_does_not_implement_answer_unimplemented() -> None:
    async with running_service(wiring_with([])) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await catalog_pb2_grpc.CatalogServiceStub(channel).ListKpis(
                    catalog_pb2.ListKpisRequest()
                )
        assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_request_id_and_deadline_reach_the_handler() -> None:
    async with running_service(wiring_with([])) as service:
        response = await get_kpi(
            service.address, "request-id", metadata=[("x-request-id", "abc-1")]
        )
        assert response.kpi.name == "abc-1"
        response = await get_kpi(service.address, "deadline", timeout=2.0)
        assert 1.0 < float(response.kpi.name) <= 2.05
        response = await get_kpi(service.address, "deadline")
        assert response.kpi.name == "none"


async def test_outbound_channel_propagates_request_id_and_shortens_deadline() -> None:
    async with running_service(wiring_with([])) as service:
        token = request_id_var.set("outer-7")
        try:
            channel = open_channel(service.address, default_timeout=5.0)
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            response = await stub.GetKpi(catalog_pb2.GetKpiRequest(code="request-id"))
            assert response.kpi.name == "outer-7"
            response = await stub.GetKpi(catalog_pb2.GetKpiRequest(code="deadline"))
            assert 4.0 < float(response.kpi.name) <= 5.05
            # Inside a call with one second left, the outbound call gets less than that.
            deadline_token = deadline_var.set(time.monotonic() + 1.0)
            response = await stub.GetKpi(catalog_pb2.GetKpiRequest(code="deadline"))
            deadline_var.reset(deadline_token)
            assert 0.5 < float(response.kpi.name) < 1.0
            await channel.close()
        finally:
            request_id_var.reset(token)


async def health_of(address: str, service_name: str = "") -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service_name), timeout=2
        )
        return int(response.status)


async def test_health_is_not_serving_until_dependencies_answer_and_on_shutdown() -> None:
    database_up = asyncio.Event()

    async def check() -> None:
        if not database_up.is_set():
            raise ConnectionError("database is down")

    async with running_service(wiring_with([Dependency("database", check)])) as service:
        await asyncio.sleep(0.3)
        assert await health_of(service.address) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (
            await health_of(service.address, SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
        )
        database_up.set()
        for _ in range(50):
            if await health_of(service.address) == health_pb2.HealthCheckResponse.SERVING:
                break
            await asyncio.sleep(0.05)
        assert await health_of(service.address, SERVICE) == health_pb2.HealthCheckResponse.SERVING

        # The dependency going away flips the service back.
        database_up.clear()
        await asyncio.sleep(0.4)
        assert await health_of(service.address) == health_pb2.HealthCheckResponse.NOT_SERVING
        database_up.set()
        await asyncio.sleep(0.4)

        async with grpc.aio.insecure_channel(service.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="")
            )
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            service.stop.set()
            second = await asyncio.wait_for(watch.read(), 5)
            assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_lists_the_service() -> None:
    async with running_service(wiring_with([])) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = stub.ServerReflectionInfo(metadata=local_tokens().metadata("operator"))
            await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
            response = await call.read()
            await call.done_writing()
        names = {s.name for s in response.list_services_response.service}
        assert SERVICE in names
        assert "grpc.health.v1.Health" in names


async def test_a_peers_refusal_is_passed_on_with_its_field_details() -> None:
    async with running_service(wiring_with([])) as service:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await get_kpi(service.address, "")
        with pytest.raises(grpc.aio.AioRpcError) as broken:
            await get_kpi(service.address, "boom")
    passed_on = peer_failure(refused.value, "catalog")
    assert isinstance(passed_on, errors.InvalidArgument)
    assert passed_on.violations == (errors.FieldViolation("code", "must not be empty"),)
    assert isinstance(peer_failure(broken.value, "catalog"), errors.Unavailable)
