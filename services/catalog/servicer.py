"""CatalogService: translates requests into repository queries and domain values into replies."""

from __future__ import annotations

from typing import Any

import asyncpg
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from analytics.type.v1 import types_pb2

from services.catalog import messages, repository
from services.errors import InvalidArgument, NotFound
from services.paging import paginate

Context = Any


def _text(value: str, field: str) -> str:
    """Request text as PostgreSQL can take it: a NUL character is valid in a protobuf string but
    not in a PostgreSQL text value, and no catalog code or name contains one."""
    if "\x00" in value:
        raise InvalidArgument.for_field(field, "must not contain NUL characters")
    return value


def _required_code(value: str, field: str) -> str:
    code = _text(value, field).strip()
    if not code:
        raise InvalidArgument.for_field(field, "is required")
    return code


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._db = pool

    async def ListKpis(
        self, request: catalog_pb2.ListKpisRequest, context: Context
    ) -> catalog_pb2.ListKpisResponse:
        kpis = await repository.list_kpis(
            self._db,
            value_chain_code=_text(request.value_chain_code, "value_chain_code"),
            module_code=_text(request.module_code, "module_code"),
            search=_text(request.search, "search"),
        )
        page = paginate(kpis, request.page.page_size, request.page.page_token)
        return catalog_pb2.ListKpisResponse(
            kpis=[messages.kpi(kpi) for kpi in page.items],
            page=types_pb2.PageResponse(
                next_page_token=page.next_page_token, total_size=page.total_size
            ),
        )

    async def GetKpi(
        self, request: catalog_pb2.GetKpiRequest, context: Context
    ) -> catalog_pb2.GetKpiResponse:
        code = _required_code(request.code, "code")
        kpi = await repository.get_kpi(self._db, code)
        if kpi is None:
            raise NotFound(f"KPI {code!r} does not exist; GET /v1/kpis lists the catalog")
        return catalog_pb2.GetKpiResponse(kpi=messages.kpi(kpi))

    async def ListKpisByModule(
        self, request: catalog_pb2.ListKpisByModuleRequest, context: Context
    ) -> catalog_pb2.ListKpisByModuleResponse:
        code = _required_code(request.module_code, "module_code")
        module = await repository.get_module(self._db, code)
        if module is None:
            raise NotFound(f"module {code!r} does not exist; GET /v1/modules lists them")
        kpis = await repository.list_kpis(self._db, module_code=module.code)
        return catalog_pb2.ListKpisByModuleResponse(
            module=messages.module(module), kpis=[messages.kpi(kpi) for kpi in kpis]
        )

    async def GetKpiSample(
        self, request: catalog_pb2.GetKpiSampleRequest, context: Context
    ) -> catalog_pb2.GetKpiSampleResponse:
        code = _required_code(request.kpi_code, "kpi_code")
        sample = await repository.get_kpi_sample(self._db, code)
        if sample is None:
            raise NotFound(f"KPI {code!r} does not exist or has no sample data")
        return messages.kpi_sample(sample)

    async def ListObjectModels(
        self, request: catalog_pb2.ListObjectModelsRequest, context: Context
    ) -> catalog_pb2.ListObjectModelsResponse:
        models = await repository.list_object_models(
            self._db, _text(request.value_chain_code, "value_chain_code")
        )
        return catalog_pb2.ListObjectModelsResponse(
            object_models=[messages.object_model(model) for model in models]
        )

    async def GetObjectModel(
        self, request: catalog_pb2.GetObjectModelRequest, context: Context
    ) -> catalog_pb2.GetObjectModelResponse:
        code = _required_code(request.code, "code")
        model = await repository.get_object_model(self._db, code)
        if model is None:
            raise NotFound(
                f"object model {code!r} does not exist; GET /v1/object-models lists them"
            )
        return catalog_pb2.GetObjectModelResponse(object_model=messages.object_model(model))

    async def GetObjectModelSample(
        self, request: catalog_pb2.GetObjectModelSampleRequest, context: Context
    ) -> catalog_pb2.GetObjectModelSampleResponse:
        code = _required_code(request.object_model_code, "object_model_code")
        sample = await repository.get_object_model_sample(self._db, code)
        if sample is None:
            raise NotFound(f"object model {code!r} does not exist or has no sample rows")
        return messages.object_model_sample(sample)

    async def ListModules(
        self, request: catalog_pb2.ListModulesRequest, context: Context
    ) -> catalog_pb2.ListModulesResponse:
        modules = await repository.list_modules(
            self._db, _text(request.value_chain_code, "value_chain_code")
        )
        return catalog_pb2.ListModulesResponse(modules=[messages.module(m) for m in modules])

    async def GetModule(
        self, request: catalog_pb2.GetModuleRequest, context: Context
    ) -> catalog_pb2.GetModuleResponse:
        code = _required_code(request.code, "code")
        module = await repository.get_module(self._db, code)
        if module is None:
            raise NotFound(f"module {code!r} does not exist; GET /v1/modules lists them")
        return catalog_pb2.GetModuleResponse(module=messages.module(module))

    async def ListValueChains(
        self, request: catalog_pb2.ListValueChainsRequest, context: Context
    ) -> catalog_pb2.ListValueChainsResponse:
        chains = await repository.list_value_chains(self._db)
        version = await repository.current_version(self._db)
        reply = catalog_pb2.ListValueChainsResponse(
            value_chains=[messages.value_chain(chain) for chain in chains]
        )
        if version is not None:
            reply.catalog_version = version.version
            if version.loaded_at is not None:
                reply.loaded_at.CopyFrom(messages.timestamp(version.loaded_at))
        return reply
