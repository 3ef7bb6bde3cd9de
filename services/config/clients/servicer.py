"""ClientConfigService and ClientConfigInternalService: protobuf in, use cases, protobuf out."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from analytics.config.v1 import config_pb2, config_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf.message import Message

from services.catalog import messages as catalog_messages
from services.config.clients import messages
from services.config.clients.service import ClientConfig
from services.errors import InvalidArgument
from services.paging import paginate

Context = Any


Request = TypeVar("Request", bound=Message)
Reply = TypeVar("Reply")
Servicer = TypeVar("Servicer")


def plain_text(
    method: Callable[[Servicer, Request, Context], Awaitable[Reply]],
) -> Callable[[Servicer, Request, Context], Awaitable[Reply]]:
    """Refuses a request whose text holds a NUL character, naming the field, before it reaches
    PostgreSQL (which cannot store one)."""

    @functools.wraps(method)
    async def checked(self: Servicer, request: Request, context: Context) -> Reply:
        field = messages.nul_character_field(request)
        if field is not None:
            raise InvalidArgument.for_field(field, "must not contain NUL characters")
        return await method(self, request, context)

    return checked


def _required(value: str, field: str, *, upper: bool = False) -> str:
    text = value.strip()
    if not text:
        raise InvalidArgument.for_field(field, "is required")
    return text.upper() if upper else text


class ClientConfigServicer(config_pb2_grpc.ClientConfigServiceServicer):
    def __init__(self, config: ClientConfig) -> None:
        self._config = config

    # -- clients --------------------------------------------------------------------------------

    @plain_text
    async def ListClients(
        self, request: config_pb2.ListClientsRequest, context: Context
    ) -> config_pb2.ListClientsResponse:
        clients = await self._config.list_clients(request.search)
        page = paginate(clients, request.page.page_size, request.page.page_token)
        return config_pb2.ListClientsResponse(
            clients=[messages.client(c) for c in page.items],
            page=types_pb2.PageResponse(next_page_token=page.next_page_token,
                                        total_size=page.total_size),
        )

    @plain_text
    async def CreateClient(
        self, request: config_pb2.CreateClientRequest, context: Context
    ) -> config_pb2.CreateClientResponse:
        created = await self._config.create_client(messages.client_spec(request.client))
        return config_pb2.CreateClientResponse(client=messages.client(created))

    @plain_text
    async def GetClient(
        self, request: config_pb2.GetClientRequest, context: Context
    ) -> config_pb2.GetClientResponse:
        found = await self._config.get_client(request.client_id)
        return config_pb2.GetClientResponse(client=messages.client(found))

    @plain_text
    async def UpdateClient(
        self, request: config_pb2.UpdateClientRequest, context: Context
    ) -> config_pb2.UpdateClientResponse:
        version = messages.etag_version(request.client.etag, "client.etag")
        assert version is not None
        updated = await self._config.update_client(
            request.client_id, messages.client_spec(request.client), version)
        return config_pb2.UpdateClientResponse(client=messages.client(updated))

    @plain_text
    async def DeleteClient(
        self, request: config_pb2.DeleteClientRequest, context: Context
    ) -> config_pb2.DeleteClientResponse:
        version = messages.etag_version(request.etag, "etag", required=False)
        await self._config.delete_client(request.client_id, version)
        return config_pb2.DeleteClientResponse()

    # -- custom KPIs ----------------------------------------------------------------------------

    @plain_text
    async def ListCustomKpis(
        self, request: config_pb2.ListCustomKpisRequest, context: Context
    ) -> config_pb2.ListCustomKpisResponse:
        kpis = await self._config.list_custom_kpis(request.client_id)
        return config_pb2.ListCustomKpisResponse(custom_kpis=[messages.custom_kpi(k) for k in kpis])

    @plain_text
    async def CreateCustomKpi(
        self, request: config_pb2.CreateCustomKpiRequest, context: Context
    ) -> config_pb2.CreateCustomKpiResponse:
        created = await self._config.create_custom_kpi(
            request.client_id, messages.custom_kpi_spec(request.custom_kpi))
        return config_pb2.CreateCustomKpiResponse(custom_kpi=messages.custom_kpi(created))

    @plain_text
    async def GetCustomKpi(
        self, request: config_pb2.GetCustomKpiRequest, context: Context
    ) -> config_pb2.GetCustomKpiResponse:
        if request.version < 0:
            raise InvalidArgument.for_field("version", "must be 0 (current) or a version >= 1")
        found = await self._config.get_custom_kpi(
            request.client_id, _required(request.kpi_code, "kpi_code", upper=True),
            request.version)
        return config_pb2.GetCustomKpiResponse(custom_kpi=messages.custom_kpi(found))

    @plain_text
    async def UpdateCustomKpi(
        self, request: config_pb2.UpdateCustomKpiRequest, context: Context
    ) -> config_pb2.UpdateCustomKpiResponse:
        version = messages.etag_version(request.custom_kpi.etag, "custom_kpi.etag")
        assert version is not None
        updated = await self._config.update_custom_kpi(
            request.client_id, _required(request.kpi_code, "kpi_code", upper=True),
            messages.custom_kpi_spec(request.custom_kpi), version)
        return config_pb2.UpdateCustomKpiResponse(custom_kpi=messages.custom_kpi(updated))

    @plain_text
    async def DeleteCustomKpi(
        self, request: config_pb2.DeleteCustomKpiRequest, context: Context
    ) -> config_pb2.DeleteCustomKpiResponse:
        await self._config.delete_custom_kpi(
            request.client_id, _required(request.kpi_code, "kpi_code", upper=True))
        return config_pb2.DeleteCustomKpiResponse()

    # -- data sources ---------------------------------------------------------------------------

    @plain_text
    async def ListDataSources(
        self, request: config_pb2.ListDataSourcesRequest, context: Context
    ) -> config_pb2.ListDataSourcesResponse:
        sources = await self._config.list_data_sources(
            request.client_id, request.object_model_code.strip().upper())
        return config_pb2.ListDataSourcesResponse(
            data_sources=[messages.data_source(s) for s in sources])

    @plain_text
    async def CreateDataSource(
        self, request: config_pb2.CreateDataSourceRequest, context: Context
    ) -> config_pb2.CreateDataSourceResponse:
        created = await self._config.create_data_source(
            request.client_id, messages.data_source_spec(request.data_source))
        return config_pb2.CreateDataSourceResponse(data_source=messages.data_source(created))

    @plain_text
    async def GetDataSource(
        self, request: config_pb2.GetDataSourceRequest, context: Context
    ) -> config_pb2.GetDataSourceResponse:
        found = await self._config.get_data_source(
            request.client_id, _required(request.data_source_id, "data_source_id"))
        return config_pb2.GetDataSourceResponse(data_source=messages.data_source(found))

    @plain_text
    async def UpdateDataSource(
        self, request: config_pb2.UpdateDataSourceRequest, context: Context
    ) -> config_pb2.UpdateDataSourceResponse:
        version = messages.etag_version(request.data_source.etag, "data_source.etag")
        assert version is not None
        updated = await self._config.update_data_source(
            request.client_id, _required(request.data_source_id, "data_source_id"),
            messages.data_source_spec(request.data_source), version)
        return config_pb2.UpdateDataSourceResponse(data_source=messages.data_source(updated))

    @plain_text
    async def DeleteDataSource(
        self, request: config_pb2.DeleteDataSourceRequest, context: Context
    ) -> config_pb2.DeleteDataSourceResponse:
        await self._config.delete_data_source(
            request.client_id, _required(request.data_source_id, "data_source_id"))
        return config_pb2.DeleteDataSourceResponse()

    @plain_text
    async def ValidateFieldMappings(
        self, request: config_pb2.ValidateFieldMappingsRequest, context: Context
    ) -> config_pb2.ValidateFieldMappingsResponse:
        code = _required(request.object_model_code, "object_model_code", upper=True)
        report = await self._config.validate_mappings(
            request.client_id,
            code,
            messages.field_mappings(request.field_mappings, "field_mappings"),
            messages.source_fields(request.source_fields, "source_fields"),
        )
        return messages.mapping_report(report)

    # -- analysis -------------------------------------------------------------------------------

    @plain_text
    async def AnalyzeRequiredObjects(
        self, request: config_pb2.AnalyzeRequiredObjectsRequest, context: Context
    ) -> config_pb2.AnalyzeRequiredObjectsResponse:
        codes = [code.strip().upper() for code in request.kpi_codes]
        result = await self._config.analyze_required_objects(request.client_id, codes)
        return config_pb2.AnalyzeRequiredObjectsResponse(
            object_models=[
                config_pb2.RequiredObjectModel(
                    object_model_code=m.code,
                    name=m.name,
                    required_by_kpi_codes=m.required_by_kpi_codes,
                    value_chain_codes=m.value_chain_codes,
                    data_source_id=m.data_source.data_source_id if m.data_source else "",
                    mapping_status=(messages.MAPPING_STATUSES[m.data_source.mapping.status]
                                    if m.data_source else config_pb2.MAPPING_STATUS_UNSPECIFIED),
                    unmapped_required_fields=m.unmapped_required_fields,
                )
                for m in result.models
            ],
            value_chain_codes=result.value_chain_codes,
            unmapped_object_model_codes=result.unmapped_model_codes,
            kpi_codes=result.kpi_codes,
        )


class ClientConfigInternalServicer(config_pb2_grpc.ClientConfigInternalServiceServicer):
    def __init__(self, config: ClientConfig) -> None:
        self._config = config

    @plain_text
    async def GetClientKpiDefinitions(
        self, request: config_pb2.GetClientKpiDefinitionsRequest, context: Context
    ) -> config_pb2.GetClientKpiDefinitionsResponse:
        client_id = _required(request.client_id, "client_id")
        found = await self._config.kpi_definitions(client_id, request.known_revision)
        return config_pb2.GetClientKpiDefinitionsResponse(
            revision=found.revision,
            unchanged=found.unchanged,
            kpis=[catalog_messages.kpi(k) for k in found.kpis],
        )
