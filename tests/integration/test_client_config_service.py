"""ClientConfigService over real gRPC and PostgreSQL: clients with optimistic concurrency, custom
KPIs validated by the formula language and calculated for their client only, data sources whose
credentials are sealed and never read back or logged, field-mapping validation and the
required-objects analysis."""

from __future__ import annotations

import asyncio
import datetime
import logging
import pathlib
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.catalog.v1 import catalog_pb2
from analytics.config.v1 import config_pb2, config_pb2_grpc
from analytics.type.v1 import types_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.catalog.catalog_files import load_catalog_files
from services.data.tables import raw_table
from services.demo.loader import load_demo_data
from tests.fixtures.auth import channel_with, local_tokens
from tests.integration.client_config_mesh import Mesh, client_config_mesh

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
ACME, BETA = "cfg-acme", "cfg-beta"
START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
END = START + datetime.timedelta(days=10)
SECRET = "pa55-Wörd-that-must-never-show"


@pytest.fixture(scope="module")
async def mesh(
    migrated_db: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    pool = await asyncpg.create_pool(migrated_db, min_size=1, max_size=2)
    try:
        for seed, client in enumerate((ACME, BETA)):
            await load_demo_data(pool, MODELS, client, START, END, 20, seed,
                                 object_model_codes=["ORDER"], replace_existing=True)
    finally:
        await pool.close()
    async with client_config_mesh(
        migrated_db, redis_url, tmp_path_factory.mktemp("config-data")
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def admin(mesh: Mesh) -> AsyncIterator[config_pb2_grpc.ClientConfigServiceAsyncStub]:
    async with channel_with(mesh.config_address, local_tokens().admin()) as channel:
        yield config_pb2_grpc.ClientConfigServiceStub(channel)


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, error
    found: dict[str, str] = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found.update({v.field: v.description for v in bad.field_violations})
    return found


def formula_diagnostics(error: grpc.aio.AioRpcError) -> list[types_pb2.FormulaDiagnostic]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, error
    found = []
    for detail in status.details:
        diagnostic = types_pb2.FormulaDiagnostic()
        if detail.Unpack(diagnostic):
            found.append(diagnostic)
    return found


def selected(
    code: str,
    complexity: config_pb2.ImplementationComplexity.ValueType = (
        config_pb2.IMPLEMENTATION_COMPLEXITY_OTB),
) -> config_pb2.SelectedKpi:
    return config_pb2.SelectedKpi(kpi_code=code, complexity=complexity)


async def ensure_client(stub: config_pb2_grpc.ClientConfigServiceAsyncStub, client_id: str,
                        *kpis: config_pb2.SelectedKpi) -> config_pb2.Client:
    try:
        reply = await stub.CreateClient(config_pb2.CreateClientRequest(client=config_pb2.Client(
            client_id=client_id, name=client_id.title(), selected_kpis=kpis)))
        return reply.client
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
        return (await stub.GetClient(config_pb2.GetClientRequest(client_id=client_id))).client


# -- clients ---------------------------------------------------------------------------------


async def test_a_client_is_created_read_listed_and_updated(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    client = config_pb2.Client(
        client_id="cfg-crud", name="Crud Corp", industry="Manufacturing",
        selected_kpis=[selected("scor_pof"),
                       config_pb2.SelectedKpi(kpi_code="FIN_DSO",
                                              complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC,
                                              rbac_attributes=["region"]),
                       config_pb2.SelectedKpi(
                           kpi_code="CRM_NPS",
                           complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC,
                           tm_hours=config_pb2.HoursRange(min_hours_hundredths=1000,
                                                          max_hours_hundredths=2000))],
        license_term_years=3, environment=config_pb2.ENVIRONMENT_AZURE,
        compliance_requirements=[config_pb2.COMPLIANCE_REQUIREMENT_SOX],
        time_zone="America/Chicago",
    )
    client.retention_policy.staged_source_data.archival_enabled = True
    created = (await admin.CreateClient(config_pb2.CreateClientRequest(client=client))).client
    assert created.version == 1 and created.etag
    assert [s.kpi_code for s in created.selected_kpis] == ["SCOR_POF", "FIN_DSO", "CRM_NPS"]
    assert created.selected_kpis[2].tm_hours.max_hours_hundredths == 2000
    assert list(created.value_chain_codes) == ["CRM", "FINANCIAL", "SCOR"]
    assert created.retention_policy.staged_source_data.archival_enabled

    read = (await admin.GetClient(config_pb2.GetClientRequest(client_id="cfg-crud"))).client
    assert read == created
    listed = await admin.ListClients(config_pb2.ListClientsRequest(search="crud"))
    assert [c.client_id for c in listed.clients] == ["cfg-crud"]

    change = config_pb2.Client()
    change.CopyFrom(read)
    change.name = "Crud Corporation"
    del change.selected_kpis[1:]
    updated = (await admin.UpdateClient(
        config_pb2.UpdateClientRequest(client_id="cfg-crud", client=change))).client
    assert updated.version == 2 and updated.etag != read.etag
    assert updated.name == "Crud Corporation" and list(updated.value_chain_codes) == ["SCOR"]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.DeleteClient(config_pb2.DeleteClientRequest(client_id="cfg-crud",
                                                                etag=read.etag))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    await admin.DeleteClient(config_pb2.DeleteClientRequest(client_id="cfg-crud",
                                                            etag=updated.etag))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetClient(config_pb2.GetClientRequest(client_id="cfg-crud"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_update_from_a_stale_etag_is_aborted_and_changes_nothing(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    read = await ensure_client(admin, "cfg-stale", selected("SCOR_POF"))
    first, second = config_pb2.Client(), config_pb2.Client()
    first.CopyFrom(read)
    second.CopyFrom(read)
    first.name, second.name = "First writer", "Second writer"
    results = await asyncio.gather(
        admin.UpdateClient(config_pb2.UpdateClientRequest(client_id="cfg-stale", client=first)),
        admin.UpdateClient(config_pb2.UpdateClientRequest(client_id="cfg-stale", client=second)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, config_pb2.UpdateClientResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].code() == grpc.StatusCode.ABORTED
    assert "etag" in (lost[0].details() or "")
    stored = (await admin.GetClient(config_pb2.GetClientRequest(client_id="cfg-stale"))).client
    assert stored.name == won[0].client.name and stored.version == read.version + 1

    missing_etag = config_pb2.Client()
    missing_etag.CopyFrom(stored)
    missing_etag.etag = ""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateClient(
            config_pb2.UpdateClientRequest(client_id="cfg-stale", client=missing_etag))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "client.etag" in violations(caught.value)


@pytest.mark.parametrize(
    ("client", "field"),
    [
        (config_pb2.Client(client_id="cfg-bad", name="Bad", selected_kpis=[selected("SCOR_PFO")]),
         "client.selected_kpis[0].kpi_code"),
        (config_pb2.Client(client_id="cfg-bad", name="Bad", license_term_years=2),
         "client.license_term_years"),
        (config_pb2.Client(client_id="cfg-bad", name="Bad",
                           selected_kpis=[config_pb2.SelectedKpi(kpi_code="SCOR_POF")]),
         "client.selected_kpis[0].complexity"),
        (config_pb2.Client(client_id="Bad Id", name="Bad"), "client.client_id"),
    ],
)
async def test_an_invalid_client_is_refused_naming_the_field(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub, client: config_pb2.Client, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateClient(config_pb2.CreateClientRequest(client=client))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(caught.value)


async def test_another_tenant_cannot_read_a_client(
    mesh: Mesh, admin: config_pb2_grpc.ClientConfigServiceAsyncStub
) -> None:
    await ensure_client(admin, ACME, selected("SCOR_POF"))
    async with channel_with(mesh.config_address,
                            local_tokens().metadata("analyst", BETA)) as channel:
        stub = config_pb2_grpc.ClientConfigServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetClient(config_pb2.GetClientRequest(client_id=ACME))
    assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    assert "Acme" not in (caught.value.details() or "")


# -- custom KPIs -----------------------------------------------------------------------------


def web_share(code: str, channel: str = "web") -> config_pb2.CustomKpi:
    return config_pb2.CustomKpi(
        code=code, name=f"{channel} share of orders", base_kpi_code="SCOR_POF",
        formula=f"100 * count(ORDER where channel = '{channel}') / count(ORDER)")


async def independent_share(mesh: Mesh, client: str, channel: str) -> float:
    connection = await asyncpg.connect(mesh.database_url)
    try:
        row = await connection.fetchrow(
            f"SELECT count(*) FILTER (WHERE channel = $2) AS hits, count(*) AS total "
            f"FROM {raw_table(MODELS['ORDER'])} "
            "WHERE client_id = $1 AND created_at >= $3 AND created_at < $4",
            client, channel, START, END)
    finally:
        await connection.close()
    assert row is not None and row["total"] > 0
    return float(100 * row["hits"] / row["total"])


def calculate(code: str, client: str) -> calculation_pb2.CalculateRequest:
    span = types_pb2.TimeRange()
    span.start.FromDatetime(START)
    span.end.FromDatetime(END)
    return calculation_pb2.CalculateRequest(kpi_code=code, client_id=client, time_range=span,
                                            period=types_pb2.PERIOD_DAY)


async def test_a_custom_kpi_is_calculated_for_its_client_only(
    mesh: Mesh, admin: config_pb2_grpc.ClientConfigServiceAsyncStub
) -> None:
    await ensure_client(admin, ACME)
    await ensure_client(admin, BETA)
    created = (await admin.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(
        client_id=ACME, custom_kpi=web_share("ACME_WEB_SHARE")))).custom_kpi
    assert created.version == 1 and list(created.required_object_model_codes) == ["ORDER"]
    assert created.unit == "%"  # from its base KPI

    async with channel_with(mesh.calculation_address, local_tokens().admin()) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        result = (await calculation.Calculate(calculate("ACME_WEB_SHARE", ACME))).result
        assert result.total.value == pytest.approx(await independent_share(mesh, ACME, "web"))
        assert result.kpi_name == "web share of orders"

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calculation.Calculate(calculate("ACME_WEB_SHARE", BETA))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

        # A new version is what the very next calculation uses.
        change = web_share("ACME_WEB_SHARE", "edi")
        change.etag = created.etag
        updated = (await admin.UpdateCustomKpi(config_pb2.UpdateCustomKpiRequest(
            client_id=ACME, kpi_code="ACME_WEB_SHARE", custom_kpi=change))).custom_kpi
        assert updated.version == 2
        result = (await calculation.Calculate(calculate("ACME_WEB_SHARE", ACME))).result
        assert result.total.value == pytest.approx(await independent_share(mesh, ACME, "edi"))
        # Catalog KPIs still calculate for the client alongside.
        batch = await calculation.CalculateBatch(calculation_pb2.CalculateBatchRequest(
            kpi_codes=["SCOR_POF", "ACME_WEB_SHARE"], client_id=ACME,
            time_range=calculate("X", ACME).time_range, period=types_pb2.PERIOD_DAY))
        assert [r.kpi_code for r in batch.results] == ["SCOR_POF", "ACME_WEB_SHARE"]

    first = (await admin.GetCustomKpi(config_pb2.GetCustomKpiRequest(
        client_id=ACME, kpi_code="acme_web_share", version=1))).custom_kpi
    assert "'web'" in first.formula and first.version == 1
    listed = await admin.ListCustomKpis(config_pb2.ListCustomKpisRequest(client_id=ACME))
    assert [(k.code, k.version) for k in listed.custom_kpis] == [("ACME_WEB_SHARE", 2)]

    stale = web_share("ACME_WEB_SHARE", "marketplace")
    stale.etag = created.etag
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateCustomKpi(config_pb2.UpdateCustomKpiRequest(
            client_id=ACME, kpi_code="ACME_WEB_SHARE", custom_kpi=stale))
    assert caught.value.code() == grpc.StatusCode.ABORTED

    # Versions beyond any the service stores (found by the REST fuzz as a 500): a version that
    # cannot exist is not found, an etag naming one was not issued here.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetCustomKpi(config_pb2.GetCustomKpiRequest(
            client_id=ACME, kpi_code="ACME_WEB_SHARE", version=2**31))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    stale.etag = created.etag.replace("1", str(2**40))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateCustomKpi(config_pb2.UpdateCustomKpiRequest(
            client_id=ACME, kpi_code="ACME_WEB_SHARE", custom_kpi=stale))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an etag this service issued" in (caught.value.details() or "")


async def test_a_custom_kpi_streams_for_its_client_only(
    mesh: Mesh, admin: config_pb2_grpc.ClientConfigServiceAsyncStub
) -> None:
    await ensure_client(admin, "cfg-live")
    await ensure_client(admin, "cfg-other")
    await admin.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(
        client_id="cfg-live", custom_kpi=web_share("LIVE_WEB_SHARE")))
    async with grpc.aio.insecure_channel(mesh.calculation_address) as channel:
        internal = calculation_pb2_grpc.CalculationInternalServiceStub(channel)
        reply = await internal.LeaseSubscriptions(calculation_pb2.LeaseSubscriptionsRequest(
            hub_id="test-hub",
            subscriptions=[
                calculation_pb2.KpiSubscription(kpi_code="LIVE_WEB_SHARE", client_id=client,
                                                period=types_pb2.PERIOD_MINUTE)
                for client in ("cfg-live", "cfg-other")
            ],
        ))
        assert [lease.subscription.client_id for lease in reply.leases] == ["cfg-live"]
        assert [(e.kpi_code, e.status.code) for e in reply.errors] == [
            ("LIVE_WEB_SHARE", grpc.StatusCode.NOT_FOUND.value[0])]
        await internal.ReleaseSubscriptions(calculation_pb2.ReleaseSubscriptionsRequest(
            hub_id="test-hub", subscription_keys=[reply.leases[0].subscription_key]))


async def test_a_custom_formula_error_names_the_formula_and_where(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    await ensure_client(admin, ACME)
    bad = config_pb2.CustomKpi(code="ACME_BROKEN", name="Broken",
                               formula="count(ORDER where delivery_at > promised_at)")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(client_id=ACME,
                                                                      custom_kpi=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    described = violations(caught.value)["custom_kpi.formula"]
    assert "line 1, column 19" in described and "delivery_at" in described
    # The contract's positioned diagnostics come along, for an editor to underline.
    [diagnostic] = formula_diagnostics(caught.value)
    assert diagnostic.severity == types_pb2.DIAGNOSTIC_SEVERITY_ERROR
    assert (diagnostic.start.line, diagnostic.start.column) == (1, 19)
    assert (diagnostic.end.line, diagnostic.end.column) == (1, 19 + len("delivery_at"))
    assert bad.formula[diagnostic.start.offset:diagnostic.end.offset] == "delivery_at"
    assert diagnostic.found == "delivery_at"
    assert diagnostic.message == described
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetCustomKpi(config_pb2.GetCustomKpiRequest(client_id=ACME,
                                                                kpi_code="ACME_BROKEN"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_selected_custom_kpi_cannot_be_deleted(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    client = await ensure_client(admin, "cfg-selects")
    await admin.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(
        client_id="cfg-selects", custom_kpi=web_share("SEL_WEB")))
    change = config_pb2.Client()
    change.CopyFrom(client)
    change.selected_kpis.append(selected("SEL_WEB",
                                         config_pb2.IMPLEMENTATION_COMPLEXITY_CUSTOM_BASIC))
    updated = (await admin.UpdateClient(
        config_pb2.UpdateClientRequest(client_id="cfg-selects", client=change))).client
    assert list(updated.value_chain_codes) == ["SCOR"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.DeleteCustomKpi(config_pb2.DeleteCustomKpiRequest(client_id="cfg-selects",
                                                                      kpi_code="SEL_WEB"))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# -- data sources ----------------------------------------------------------------------------


def order_source(**changes: object) -> config_pb2.DataSource:
    source = config_pb2.DataSource(
        object_model_code="ORDER", source_system="SAP ECC",
        integration_type=config_pb2.INTEGRATION_TYPE_BATCH_NON_CONFORMED_SINGLE_SOURCE,
        credentials={"password": SECRET, "api_token": SECRET[::-1]},
        field_mappings=[
            config_pb2.FieldMapping(target_field=f.name, source_field=f"SRC_{f.name.upper()}",
                                    source_type=catalog_pb2.FieldType.Value(
                                        f"FIELD_TYPE_{f.type.name}"))
            for f in MODELS["ORDER"].fields if f.required
        ],
    )
    source.connection_settings.update({"host": "sap.example.com", "port": 3300})
    for name, value in changes.items():
        setattr(source, name, value)
    return source


def assert_no_secret(message: object) -> None:
    wire = message.SerializeToString()  # type: ignore[attr-defined]
    assert SECRET.encode() not in wire and SECRET[::-1].encode() not in wire
    assert SECRET not in str(message) and SECRET[::-1] not in str(message)


async def test_credentials_are_sealed_never_read_back_and_never_logged(
    mesh: Mesh,
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await ensure_client(admin, "cfg-sources")
    created = (await admin.CreateDataSource(config_pb2.CreateDataSourceRequest(
        client_id="cfg-sources", data_source=order_source()))).data_source
    assert created.credentials_set and list(created.credential_names) == ["api_token", "password"]
    assert created.mapping_status == config_pb2.MAPPING_STATUS_VALID
    assert created.connection_settings["host"] == "sap.example.com"
    assert not created.credentials
    read = (await admin.GetDataSource(config_pb2.GetDataSourceRequest(
        client_id="cfg-sources", data_source_id=created.data_source_id))).data_source
    listed = await admin.ListDataSources(config_pb2.ListDataSourcesRequest(
        client_id="cfg-sources"))
    for reply in (created, read, listed):
        assert_no_secret(reply)

    # An update without credentials keeps them; a stale etag is refused.
    change = order_source(etag=read.etag)
    change.ClearField("credentials")
    change.source_system = "SAP S/4HANA"
    kept = (await admin.UpdateDataSource(config_pb2.UpdateDataSourceRequest(
        client_id="cfg-sources", data_source_id=read.data_source_id, data_source=change)
    )).data_source
    assert kept.credentials_set and kept.source_system == "SAP S/4HANA"
    assert_no_secret(kept)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateDataSource(config_pb2.UpdateDataSourceRequest(
            client_id="cfg-sources", data_source_id=read.data_source_id, data_source=change))
    assert caught.value.code() == grpc.StatusCode.ABORTED

    # A secret sent as a connection setting is refused without being echoed.
    leaky = order_source(object_model_code="CUSTOMER")
    leaky.connection_settings.update({"db_password": SECRET})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateDataSource(config_pb2.CreateDataSourceRequest(
            client_id="cfg-sources", data_source=leaky))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data_source.connection_settings.db_password" in violations(caught.value)
    assert SECRET not in (caught.value.details() or "") + str(violations(caught.value))

    connection = await asyncpg.connect(mesh.database_url)
    try:
        stored = await connection.fetchrow(
            "SELECT credentials_encrypted, row_to_json(d)::text AS whole "
            "FROM config.data_sources d WHERE data_source_id = $1", read.data_source_id)
    finally:
        await connection.close()
    assert stored is not None and stored["credentials_encrypted"]
    assert SECRET.encode() not in stored["credentials_encrypted"]
    assert SECRET not in stored["whole"] and SECRET[::-1] not in stored["whole"]
    assert (pathlib.Path(mesh.data_dir) / "auth" / "secrets.key").exists()

    cleared = order_source(etag=kept.etag, clear_credentials=True)
    cleared.ClearField("credentials")
    cleared_reply = (await admin.UpdateDataSource(config_pb2.UpdateDataSourceRequest(
        client_id="cfg-sources", data_source_id=read.data_source_id, data_source=cleared)
    )).data_source
    assert not cleared_reply.credentials_set and not cleared_reply.credential_names

    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    # The service does log the data source, with the names of its credentials.
    assert "api_token" in caplog.text and created.data_source_id in caplog.text
    assert SECRET not in logged and SECRET[::-1] not in logged


async def test_a_mapping_with_problems_is_stored_as_invalid_not_valid(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    await ensure_client(admin, "cfg-mapping")
    source = order_source()
    source.ClearField("credentials")
    source.field_mappings.append(config_pb2.FieldMapping(target_field="order_valu",
                                                         source_field="NETWR"))
    for mapping in source.field_mappings:
        if mapping.target_field == "order_value":
            mapping.source_type = catalog_pb2.FIELD_TYPE_BOOLEAN
    created = (await admin.CreateDataSource(config_pb2.CreateDataSourceRequest(
        client_id="cfg-mapping", data_source=source))).data_source
    assert created.mapping_status == config_pb2.MAPPING_STATUS_INVALID
    kinds = {(i.kind, i.target_field) for i in created.mapping_issues if i.blocking}
    assert kinds == {(config_pb2.MAPPING_ISSUE_KIND_UNKNOWN_TARGET_FIELD, "order_valu"),
                     (config_pb2.MAPPING_ISSUE_KIND_TYPE_MISMATCH, "order_value")}
    read = (await admin.GetDataSource(config_pb2.GetDataSourceRequest(
        client_id="cfg-mapping", data_source_id=created.data_source_id))).data_source
    assert read.mapping_status == config_pb2.MAPPING_STATUS_INVALID

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateDataSource(config_pb2.CreateDataSourceRequest(
            client_id="cfg-mapping",
            data_source=config_pb2.DataSource(object_model_code="ORDERS",
                                              integration_type=config_pb2.IntegrationType.ValueType(9))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data_source.integration_type" in violations(caught.value)


async def test_validate_field_mappings_reports_without_storing(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    await ensure_client(admin, ACME)
    reply = await admin.ValidateFieldMappings(config_pb2.ValidateFieldMappingsRequest(
        client_id=ACME, object_model_code="order",
        source_fields=[config_pb2.SourceField(name="NETWR", type=catalog_pb2.FIELD_TYPE_BOOLEAN),
                       config_pb2.SourceField(name="VBELN", type=catalog_pb2.FIELD_TYPE_STRING)],
        field_mappings=[config_pb2.FieldMapping(target_field="order_value", source_field="NETWR"),
                        config_pb2.FieldMapping(target_field="order_id", source_field="VBELM")],
    ))
    assert reply.status == config_pb2.MAPPING_STATUS_INVALID
    by_kind = {i.kind: i for i in reply.issues if i.blocking}
    assert "order_value is DECIMAL; source NETWR is BOOLEAN" in \
        by_kind[config_pb2.MAPPING_ISSUE_KIND_TYPE_MISMATCH].message
    assert "did you mean 'VBELN'" in \
        by_kind[config_pb2.MAPPING_ISSUE_KIND_UNKNOWN_SOURCE_FIELD].message
    assert "customer_id" in reply.unmapped_required_fields
    listed = await admin.ListDataSources(config_pb2.ListDataSourcesRequest(client_id=ACME))
    assert not [s for s in listed.data_sources if s.object_model_code == "ORDER"]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.ValidateFieldMappings(config_pb2.ValidateFieldMappingsRequest(
            client_id=ACME, object_model_code="ORDR"))
    assert violations(caught.value) == {
        "object_model_code": "unknown object model 'ORDR'; did you mean 'ORDER'?"}


async def test_required_objects_say_what_is_still_unmapped(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    await ensure_client(admin, "cfg-analysis", selected("SCOR_POF"), selected("FIN_DSO"))
    source = order_source()
    await admin.CreateDataSource(config_pb2.CreateDataSourceRequest(
        client_id="cfg-analysis", data_source=source))
    reply = await admin.AnalyzeRequiredObjects(
        config_pb2.AnalyzeRequiredObjectsRequest(client_id="cfg-analysis"))
    assert list(reply.kpi_codes) == ["SCOR_POF", "FIN_DSO"]
    assert list(reply.value_chain_codes) == ["FINANCIAL", "SCOR"]
    by_code = {m.object_model_code: m for m in reply.object_models}
    assert by_code["ORDER"].mapping_status == config_pb2.MAPPING_STATUS_VALID
    assert by_code["ORDER"].data_source_id and list(by_code["ORDER"].required_by_kpi_codes) == [
        "SCOR_POF"]
    assert "ORDER" not in reply.unmapped_object_model_codes
    expected = {*models_of("SCOR_POF"), *models_of("FIN_DSO")} - {"ORDER"}
    assert set(reply.unmapped_object_model_codes) == expected
    assert by_code["PAYMENT"].unmapped_required_fields

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.AnalyzeRequiredObjects(
            config_pb2.AnalyzeRequiredObjectsRequest(kpi_codes=["SCOR_POF", "NOPE"]))
    assert "kpi_codes[1]" in violations(caught.value)


def models_of(code: str) -> tuple[str, ...]:
    kpi = CATALOG.kpi(code)
    assert kpi is not None
    return kpi.required_object_model_codes


async def test_text_postgresql_cannot_store_is_refused_naming_the_field(
    admin: config_pb2_grpc.ClientConfigServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetClient(config_pb2.GetClientRequest(client_id="cfg\0acme"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "client_id" in violations(caught.value)


async def test_sales_configures_its_own_client_and_an_admin_may_have_an_id_assigned(
    mesh: Mesh, admin: config_pb2_grpc.ClientConfigServiceAsyncStub
) -> None:
    async with channel_with(mesh.config_address,
                            local_tokens().metadata("sales", "cfg-prospect")) as channel:
        sales = config_pb2_grpc.ClientConfigServiceStub(channel)
        created = (await sales.CreateClient(config_pb2.CreateClientRequest(
            client=config_pb2.Client(name="Prospect", selected_kpis=[selected("SCOR_POF")])
        ))).client
        assert created.client_id == "cfg-prospect"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sales.CreateClient(config_pb2.CreateClientRequest(
                client=config_pb2.Client(client_id="cfg-someone-else", name="Other")))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await sales.ListClients(config_pb2.ListClientsRequest())
        assert [c.client_id for c in listed.clients] == ["cfg-prospect"]
    async with channel_with(mesh.config_address,
                            local_tokens().metadata("analyst", "cfg-prospect")) as channel:
        analyst = config_pb2_grpc.ClientConfigServiceStub(channel)
        read = (await analyst.GetClient(config_pb2.GetClientRequest())).client
        assert read.client_id == "cfg-prospect"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await analyst.DeleteClient(config_pb2.DeleteClientRequest(client_id="cfg-prospect"))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    assigned = (await admin.CreateClient(config_pb2.CreateClientRequest(
        client=config_pb2.Client(name="Näme Assigned Inc.")))).client
    assert assigned.client_id.startswith("n-me-assigned-inc-")


async def test_a_client_created_again_never_sees_its_former_custom_kpis(
    mesh: Mesh, admin: config_pb2_grpc.ClientConfigServiceAsyncStub
) -> None:
    """Revisions come from one sequence, so the calculation service cannot mistake the new set
    for the one it held before the client was deleted."""
    await load_orders(mesh, "cfg-again")
    async with channel_with(mesh.calculation_address, local_tokens().admin()) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        for channel_name in ("web", "edi"):
            client = await ensure_client(admin, "cfg-again")
            await admin.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(
                client_id="cfg-again", custom_kpi=web_share("AGAIN_SHARE", channel_name)))
            result = (await calculation.Calculate(calculate("AGAIN_SHARE", "cfg-again"))).result
            assert result.total.value == pytest.approx(
                await independent_share(mesh, "cfg-again", channel_name))
            await admin.DeleteClient(config_pb2.DeleteClientRequest(client_id=client.client_id))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calculation.Calculate(calculate("AGAIN_SHARE", "cfg-again"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def load_orders(mesh: Mesh, client: str) -> None:
    pool = await asyncpg.create_pool(mesh.database_url, min_size=1, max_size=2)
    try:
        await load_demo_data(pool, MODELS, client, START, END, 20, 7,
                             object_model_codes=["ORDER"], replace_existing=True)
    finally:
        await pool.close()
