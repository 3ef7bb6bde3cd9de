"""ProposalService end to end over gRPC: the config service's composition root with a real catalog
service and a real PostgreSQL, callers proven by signed tokens."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from analytics.config.v1 import config_pb2, config_pb2_grpc, proposal_pb2, proposal_pb2_grpc
from analytics.type.v1 import types_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.catalog.app import CatalogSettings
from services.catalog.app import build as build_catalog
from services.config.app import ConfigSettings
from services.config.app import build as build_config
from tests.fixtures.auth import TokenMaker, channel_with
from tests.fixtures.grpc_servers import running_service
from tests.integration.proposal_examples import ISSUE_TIME, THIRTY_DAYS, dollars, spec_inputs

Stubs = Callable[..., proposal_pb2_grpc.ProposalServiceStub]


async def _serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(200):
            reply = await health.Check(health_pb2.HealthCheckRequest())
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{address} never became SERVING")


@pytest.fixture
async def config_address(migrated_db: str, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """Address of a running config service (and the catalog service it reads)."""
    catalog_settings = CatalogSettings(
        service_name="catalog", listen="127.0.0.1:0", database_url=migrated_db,
        dependency_check_seconds=0.1)
    async with running_service(build_catalog, catalog_settings) as catalog:
        await _serving(catalog.address)
        settings = ConfigSettings(
            service_name="config", listen="127.0.0.1:0", database_url=migrated_db,
            catalog_addr=catalog.address,
            # Proposals never call the data service; its health check only needs an answer.
            data_addr=catalog.address,
            data_dir=str(tmp_path), dependency_check_seconds=0.1)
        async with running_service(build_config, settings) as config:
            await _serving(config.address)
            yield config.address


@pytest.fixture
async def stub_for(config_address: str, tokens: TokenMaker) -> AsyncIterator[Stubs]:
    """`stub_for(role, client)`: a ProposalService stub whose calls carry that caller's token."""
    channels: list[grpc.aio.Channel] = []

    def stub(role: str = "sales", client: str | None = None,
             ) -> proposal_pb2_grpc.ProposalServiceStub:
        channel = channel_with(config_address, tokens.metadata(role, client))
        channels.append(channel)
        return proposal_pb2_grpc.ProposalServiceStub(channel)

    try:
        yield stub
    finally:
        for channel in channels:
            await channel.close()


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found: dict[str, str] = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found.update({v.field: v.description for v in bad.field_violations})
    return found


async def test_prices_saves_and_versions_the_worked_example(stub_for: Stubs) -> None:
    sales = stub_for("sales", "acme-spec")
    reply = await sales.CreateProposal(proposal_pb2.CreateProposalRequest(inputs=spec_inputs()))
    p = reply.proposal
    assert p.proposal_id and p.client_id == "acme-spec" and p.version == 1
    assert p.issue_time == ISSUE_TIME
    assert p.valid_until.seconds == ISSUE_TIME.seconds + THIRTY_DAYS
    assert p.created_by

    assert list(p.licensing.value_chain_codes) == ["SCOR", "CRM"]
    assert dollars(p.licensing.annual_total) == 65_000
    assert dollars(p.licensing.term_total) == 195_000
    assert dollars(p.infrastructure.compute.monthly) == 1_600
    assert dollars(p.infrastructure.compute.annual) == 19_200
    assert dollars(p.infrastructure.storage.monthly) == 170
    assert dollars(p.infrastructure.storage.annual) == 2_040
    assert dollars(p.infrastructure.network.monthly) == 90
    assert dollars(p.infrastructure.network.annual) == 1_080
    assert dollars(p.infrastructure.annual_total) == 22_320
    assert dollars(p.implementation.environment_setup.cost) == 10_500
    assert p.implementation.environment_setup.cloud_architect_hours_hundredths == 6000
    tm = p.implementation.tm_cost_range
    assert (dollars(tm.min), dollars(tm.max)) == (10_500, 15_750)
    assert dollars(p.managed_services.annual_total) == 8_750
    assert dollars(p.totals.yearly_recurring) == 96_070
    assert (dollars(p.totals.year1.min), dollars(p.totals.year1.max)) == (123_720, 128_970)
    assert (dollars(p.totals.term_total.min), dollars(p.totals.term_total.max)) == (
        315_860, 321_110)
    # Required object models first (from the KPIs), then the extra ones, as given.
    assert [line.object_model_code for line in p.implementation.data_integration] == [
        "ORDER", "CUSTOMER", "PRODUCT", "SHIPMENT"]
    assert [(t.start_week, t.end_week) for t in p.timeline] == [
        (1, 2), (2, 6), (4, 8), (7, 9), (10, 10)]
    assert "**Annual Cost:** $96,070" in p.document_markdown
    assert "**Valid Until:** December 26, 2026" in p.document_markdown

    again = await sales.CreateProposal(proposal_pb2.CreateProposalRequest(inputs=p.inputs))
    assert again.proposal.version == 2
    assert again.proposal.totals == p.totals  # the priced inputs price the same

    fetched = await sales.GetProposal(proposal_pb2.GetProposalRequest(proposal_id=p.proposal_id))
    assert fetched.proposal == p

    listed = await sales.ListProposals(proposal_pb2.ListProposalsRequest())
    assert [x.version for x in listed.proposals] == [2, 1]
    assert listed.page.total_size == 2

    md = await sales.RenderProposalDocument(
        proposal_pb2.RenderProposalDocumentRequest(proposal_id=p.proposal_id))
    assert md.content_type.startswith("text/markdown")
    assert md.file_name == "proposal-acme-spec-v1.md"
    assert md.content.decode() == p.document_markdown
    page = await sales.RenderProposalDocument(proposal_pb2.RenderProposalDocumentRequest(
        proposal_id=p.proposal_id, format=proposal_pb2.DOCUMENT_FORMAT_HTML))
    assert page.content_type.startswith("text/html")
    html = page.content.decode()
    assert html.startswith("<!DOCTYPE html>") and "<td>Salesforce CRM</td>" in html
    assert "$96,070" in html and "$315,860 - $321,110" in html
    pdf = await sales.RenderProposalDocument(proposal_pb2.RenderProposalDocumentRequest(
        proposal_id=p.proposal_id, format=proposal_pb2.DOCUMENT_FORMAT_PDF))
    assert (pdf.content_type, pdf.file_name) == ("application/pdf", "proposal-acme-spec-v1.pdf")
    assert pdf.content.startswith(b"%PDF-") and b"($96,070)" in pdf.content


async def test_validate_only_prices_without_saving(stub_for: Stubs) -> None:
    sales = stub_for("sales", "acme-estimate")
    reply = await sales.CreateProposal(
        proposal_pb2.CreateProposalRequest(inputs=spec_inputs(), validate_only=True))
    assert reply.proposal.proposal_id == "" and reply.proposal.version == 0
    assert dollars(reply.proposal.totals.yearly_recurring) == 96_070
    listed = await sales.ListProposals(proposal_pb2.ListProposalsRequest())
    assert list(listed.proposals) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda i: setattr(i, "license_term_years", 2), "inputs.license_term_years"),
        (lambda i: setattr(i.integrations[0], "integration_type", 99),
         "inputs.integrations[0].integration_type"),
        (lambda i: setattr(i.managed_services, "additional_hours_hundredths", -100),
         "inputs.managed_services.additional_hours_hundredths"),
        (lambda i: setattr(i.kpis[1], "kpi_code", "NOPE_KPI"), "inputs.kpis[1].kpi_code"),
        (lambda i: setattr(i.environment, "cloud_architect_hours_hundredths", 10_000),
         "inputs.environment.cloud_architect_hours_hundredths"),
        (lambda i: i.kpis[2].tm_hours.CopyFrom(config_pb2.HoursRange(
            min_hours_hundredths=-1, max_hours_hundredths=100)), "inputs.kpis[2].tm_hours"),
    ],
)
async def test_invalid_answers_name_the_field(
    stub_for: Stubs, change: Callable[[proposal_pb2.ProposalInputs], None], field: str
) -> None:
    inputs = spec_inputs()
    change(inputs)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_for("sales", "acme-invalid").CreateProposal(
            proposal_pb2.CreateProposalRequest(inputs=inputs))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(error.value), violations(error.value)
    assert (error.value.details() or "").startswith(field)


async def test_who_sees_which_proposals(stub_for: Stubs) -> None:
    created = await stub_for("sales", "acme-access").CreateProposal(
        proposal_pb2.CreateProposalRequest(inputs=spec_inputs()))
    proposal_id = created.proposal.proposal_id
    get = proposal_pb2.GetProposalRequest(proposal_id=proposal_id)

    manager = await stub_for("manager", "acme-access").GetProposal(get)
    assert manager.proposal.proposal_id == proposal_id
    admin = await stub_for("admin").ListProposals(
        proposal_pb2.ListProposalsRequest(client_id="acme-access"))
    assert [p.proposal_id for p in admin.proposals] == [proposal_id]

    other = stub_for("sales", "globex-access")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await other.GetProposal(get)
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await other.ListProposals(proposal_pb2.ListProposalsRequest(client_id="acme-access"))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND
    assert list((await other.ListProposals(proposal_pb2.ListProposalsRequest())).proposals) == []
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await other.CreateProposal(proposal_pb2.CreateProposalRequest(
            inputs=spec_inputs(client_id="acme-access")))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_for("manager", "acme-access").CreateProposal(
            proposal_pb2.CreateProposalRequest(inputs=spec_inputs()))
    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_for("analyst", "acme-access").GetProposal(get)
    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED

    by_admin = await stub_for("admin").CreateProposal(proposal_pb2.CreateProposalRequest(
        inputs=spec_inputs(client_id="acme-access")))
    assert by_admin.proposal.version == 2
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_for("admin").CreateProposal(
            proposal_pb2.CreateProposalRequest(inputs=spec_inputs()))
    assert "inputs.client_id" in violations(error.value)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub_for("admin").ListProposals(proposal_pb2.ListProposalsRequest(client_id="a\x00"))
    assert "client_id" in violations(error.value)
    for malformed in ("\x00", "prop-nothex", f"{proposal_id}x"):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub_for("admin").GetProposal(
                proposal_pb2.GetProposalRequest(proposal_id=malformed))
        assert error.value.code() is grpc.StatusCode.NOT_FOUND


async def test_questionnaire_detects_chains_and_applies_compliance(stub_for: Stubs) -> None:
    sales = stub_for("sales", "acme-questions")
    request = proposal_pb2.GetQuestionnaireRequest(kpi_codes=["SCOR_POF", "crm_nps", "FIN_DSO"])
    reply = await sales.GetQuestionnaire(request)
    assert [s.step for s in reply.steps] == list(range(1, 9))
    assert list(reply.value_chain_codes) == ["SCOR", "CRM", "FINANCIAL"]
    assert list(reply.object_model_codes) == ["ORDER", "SURVEY_RESPONSE", "PAYMENT", "INVOICE"]
    assert list(reply.compliance_adjustments) == []
    integration = [q for q in reply.steps[2].questions if q.question_id == "integration_type"]
    assert [q.subject for q in integration] == list(reply.object_model_codes)
    term = next(q for q in reply.steps[1].questions if q.question_id == "license_term_years")
    assert [(o.value, o.price.cents, o.note) for o in term.options] == [
        ("1", 3_500_000, ""), ("3", 3_250_000, "Save 7%"), ("5", 3_000_000, "Save 14%")]

    request.answers.extend([
        proposal_pb2.Answer(question_id="compliance_requirements", value=proposal_pb2.AnswerValue(
            choices=proposal_pb2.ChoiceList(values=["SOX"]))),
        proposal_pb2.Answer(question_id="license_term_years",
                            value=proposal_pb2.AnswerValue(choice="3")),
        proposal_pb2.Answer(question_id="integration_type", subject="ORDER",
                            value=proposal_pb2.AnswerValue(choice="BATCH_CONFORMED")),
    ])
    answered = await sales.GetQuestionnaire(request)
    adjustments = answered.compliance_adjustments
    assert adjustments and all(
        a.requirement == config_pb2.COMPLIANCE_REQUIREMENT_SOX and a.minimum_retention.count == 7
        for a in adjustments)
    archive = next(q for q in answered.steps[5].questions
                   if q.question_id == "staged_archive_retention_years")
    assert archive.recommended_value.choice == "7"
    assert archive.recommendation_reason == "SOX requires 7 years"
    assert answered.inputs.license_term_years == 3
    assert answered.inputs.integrations[0].integration_type == (
        config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED)

    priced = await sales.CreateProposal(
        proposal_pb2.CreateProposalRequest(inputs=answered.inputs, validate_only=True))
    assert dollars(priced.proposal.licensing.annual_total) == 3 * 32_500
    staged = priced.proposal.effective_retention_policy.staged_source_data
    assert staged.archive_retention.count == 7

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await sales.GetQuestionnaire(proposal_pb2.GetQuestionnaireRequest(kpi_codes=["NOPE"]))
    assert "kpi_codes[0]" in violations(error.value)


async def test_unset_inputs_come_from_the_client_configuration(
    stub_for: Stubs, config_address: str, tokens: TokenMaker
) -> None:
    async with channel_with(config_address, tokens.admin()) as channel:
        clients = config_pb2_grpc.ClientConfigServiceStub(channel)
        await clients.CreateClient(config_pb2.CreateClientRequest(client=config_pb2.Client(
            client_id="acme-configured", name="Acme Configured Ltd",
            selected_kpis=[
                config_pb2.SelectedKpi(kpi_code="FIN_DSO",
                                       complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
                config_pb2.SelectedKpi(kpi_code="CRM_NPS",
                                       complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_OTB),
            ],
            license_term_years=5, environment=config_pb2.ENVIRONMENT_GCP,
            compliance_requirements=[config_pb2.COMPLIANCE_REQUIREMENT_HIPAA],
        )))

    sales = stub_for("sales", "acme-configured")
    reply = await sales.CreateProposal(proposal_pb2.CreateProposalRequest(
        inputs=proposal_pb2.ProposalInputs(), validate_only=True))
    p = reply.proposal
    assert p.client_name == "Acme Configured Ltd"
    assert [k.kpi_code for k in p.implementation.kpi_implementation] == ["FIN_DSO", "CRM_NPS"]
    assert dollars(p.implementation.kpi_implementation_subtotal) == 150
    assert list(p.licensing.value_chain_codes) == ["FINANCIAL", "CRM"]
    assert (p.licensing.license_term_years, dollars(p.licensing.annual_total)) == (5, 60_000)
    assert p.implementation.environment_setup.platform_label == "GCP"
    assert [a.requirement for a in p.compliance_adjustments] == [
        config_pb2.COMPLIANCE_REQUIREMENT_HIPAA]

    questions = await sales.GetQuestionnaire(
        proposal_pb2.GetQuestionnaireRequest(client_id="acme-configured"))
    assert list(questions.value_chain_codes) == ["FINANCIAL", "CRM"]


def answer_of(reply: proposal_pb2.GetQuestionnaireResponse, question_id: str, subject: str = ""
              ) -> proposal_pb2.AnswerValue:
    """The value a question starts from (its default)."""
    return next(q.default_value for s in reply.steps for q in s.questions
                if q.question_id == question_id and q.subject == subject)


def days(count: int) -> types_pb2.RetentionDuration:
    return types_pb2.RetentionDuration(count=count, unit=types_pb2.RETENTION_UNIT_DAYS)


async def test_the_questionnaire_starts_from_the_saved_configuration(
    stub_for: Stubs, config_address: str, tokens: TokenMaker
) -> None:
    async with channel_with(config_address, tokens.admin()) as channel:
        clients = config_pb2_grpc.ClientConfigServiceStub(channel)
        await clients.CreateClient(config_pb2.CreateClientRequest(client=config_pb2.Client(
            client_id="acme-saved", name="Acme Saved",
            selected_kpis=[
                config_pb2.SelectedKpi(kpi_code="FIN_DSO",
                                       complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
                config_pb2.SelectedKpi(
                    kpi_code="CRM_NPS",
                    complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC,
                    tm_hours=config_pb2.HoursRange(min_hours_hundredths=3000,
                                                   max_hours_hundredths=5000)),
            ],
            license_term_years=3, environment=config_pb2.ENVIRONMENT_AZURE,
            retention_policy=types_pb2.DataRetentionPolicy(
                staged_source_data=types_pb2.DataRetentionRule(
                    active_retention=days(45), archival_enabled=True,
                    archive_retention=types_pb2.RetentionDuration(
                        count=2, unit=types_pb2.RETENTION_UNIT_YEARS)),
                analytics_data=types_pb2.DataRetentionRule(
                    active_retention=days(365), archival_enabled=True,
                    archive_retention=types_pb2.RetentionDuration(
                        unit=types_pb2.RETENTION_UNIT_INDEFINITE)),
                granularity=types_pb2.GranularityRetention(
                    hourly_aggregates=True, daily_aggregates=True)),
            compliance_requirements=[config_pb2.COMPLIANCE_REQUIREMENT_GDPR],
        )))
        await clients.CreateDataSource(config_pb2.CreateDataSourceRequest(
            client_id="acme-saved", data_source=config_pb2.DataSource(
                object_model_code="INVOICE", source_system="NetSuite",
                integration_type=config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED)))

    sales = stub_for("sales", "acme-saved")
    reply = await sales.GetQuestionnaire(
        proposal_pb2.GetQuestionnaireRequest(client_id="acme-saved"))
    assert answer_of(reply, "kpi_complexity", "FIN_DSO").choice == "RBAC"
    assert answer_of(reply, "kpi_complexity", "CRM_NPS").choice == "DYNAMIC_RBAC"
    assert (answer_of(reply, "kpi_tm_min_hours", "CRM_NPS").integer,
            answer_of(reply, "kpi_tm_max_hours", "CRM_NPS").integer) == (30, 50)
    assert answer_of(reply, "license_term_years").choice == "3"
    assert answer_of(reply, "environment").choice == "AZURE"
    assert answer_of(reply, "staged_active_retention_days").choice == "custom"
    assert answer_of(reply, "staged_active_retention_custom_days").integer == 45
    assert answer_of(reply, "staged_archive_retention_years").choice == "2"
    assert answer_of(reply, "analytics_active_retention_days").choice == "365"
    assert answer_of(reply, "analytics_archive_retention_years").choice == "indefinite"
    assert list(answer_of(reply, "granularity").choices.values) == [
        "hourly_aggregates", "daily_aggregates"]
    assert list(answer_of(reply, "compliance_requirements").choices.values) == ["GDPR"]
    assert answer_of(reply, "integration_type", "INVOICE").choice == "BATCH_CONFORMED"
    assert answer_of(reply, "source_system", "INVOICE").text == "NetSuite"
    # A question the configuration does not settle keeps its usual default.
    assert answer_of(reply, "integration_type", "PAYMENT").choice == (
        "BATCH_NON_CONFORMED_SINGLE_SOURCE")

    # The inputs the questionnaire hands on price like the saved configuration itself.
    inputs = reply.inputs
    assert [(k.kpi_code, k.complexity) for k in inputs.kpis] == [
        ("FIN_DSO", config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
        ("CRM_NPS", config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC)]
    assert inputs.license_term_years == 3
    assert inputs.environment.environment == config_pb2.ENVIRONMENT_AZURE
    assert list(inputs.compliance_requirements) == [config_pb2.COMPLIANCE_REQUIREMENT_GDPR]
    from_questionnaire = await sales.CreateProposal(
        proposal_pb2.CreateProposalRequest(inputs=inputs, validate_only=True))
    from_configuration = await sales.CreateProposal(proposal_pb2.CreateProposalRequest(
        inputs=proposal_pb2.ProposalInputs(infrastructure=inputs.infrastructure),
        validate_only=True))
    assert from_questionnaire.proposal.totals == from_configuration.proposal.totals
    assert from_questionnaire.proposal.effective_retention_policy == (
        from_configuration.proposal.effective_retention_policy)

    # What the caller answers still wins over what was saved.
    reply = await sales.GetQuestionnaire(proposal_pb2.GetQuestionnaireRequest(
        client_id="acme-saved", answers=[proposal_pb2.Answer(
            question_id="license_term_years", value=proposal_pb2.AnswerValue(choice="5"))]))
    assert reply.inputs.license_term_years == 5
    assert answer_of(reply, "license_term_years").choice == "3"


async def test_a_clients_custom_kpi_is_priced_by_its_complexity(
    stub_for: Stubs, config_address: str, tokens: TokenMaker
) -> None:
    async with channel_with(config_address, tokens.admin()) as channel:
        clients = config_pb2_grpc.ClientConfigServiceStub(channel)
        await clients.CreateClient(config_pb2.CreateClientRequest(client=config_pb2.Client(
            client_id="acme-own-kpis", name="Acme Own KPIs")))
        for code, base, formula in (
            ("ACME_LATE_ORDERS", "", "count(ORDER where delivered_at > promised_at)"),
            ("ACME_NPS", "CRM_NPS", "count(SURVEY_RESPONSE)"),
        ):
            await clients.CreateCustomKpi(config_pb2.CreateCustomKpiRequest(
                client_id="acme-own-kpis", custom_kpi=config_pb2.CustomKpi(
                    code=code, name=code.title(), base_kpi_code=base, formula=formula)))

    sales = stub_for("sales", "acme-own-kpis")
    inputs = proposal_pb2.ProposalInputs(kpis=[
        config_pb2.SelectedKpi(kpi_code="ACME_LATE_ORDERS",
                               complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_CUSTOM_BASIC),
        config_pb2.SelectedKpi(kpi_code="ACME_NPS",
                               complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
    ])
    reply = await sales.CreateProposal(
        proposal_pb2.CreateProposalRequest(inputs=inputs, validate_only=True))
    p = reply.proposal
    assert [(k.kpi_code, dollars(k.cost)) for k in p.implementation.kpi_implementation] == [
        ("ACME_LATE_ORDERS", 50), ("ACME_NPS", 100)]
    # Licensed under the value chain reading its data (ORDER), or its base KPI's (CRM).
    assert list(p.licensing.value_chain_codes) == ["SCOR", "CRM"]
    assert [line.object_model_code for line in p.implementation.data_integration] == [
        "ORDER", "SURVEY_RESPONSE"]

    questions = await sales.GetQuestionnaire(proposal_pb2.GetQuestionnaireRequest(
        client_id="acme-own-kpis", kpi_codes=["ACME_LATE_ORDERS"]))
    assert list(questions.value_chain_codes) == ["SCOR"]

    # Another client's custom KPI is unknown here.
    other = stub_for("sales", "acme-other")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await other.CreateProposal(
            proposal_pb2.CreateProposalRequest(inputs=inputs, validate_only=True))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown KPI 'ACME_LATE_ORDERS'" in violations(refused.value)["inputs.kpis[0].kpi_code"]


async def test_concurrent_proposals_get_consecutive_versions(stub_for: Stubs) -> None:
    sales = stub_for("sales", "acme-concurrent")
    request = proposal_pb2.CreateProposalRequest(inputs=spec_inputs())
    request.inputs.ClearField("issue_time")
    replies = await asyncio.gather(*(sales.CreateProposal(request) for _ in range(4)))
    assert sorted(r.proposal.version for r in replies) == [1, 2, 3, 4]
    for reply in replies:
        issued, valid = reply.proposal.issue_time, reply.proposal.valid_until
        assert valid.seconds - issued.seconds == THIRTY_DAYS and issued.nanos == valid.nanos
