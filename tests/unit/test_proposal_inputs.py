"""Request inputs → pricing choices, the questionnaire's answers, and the rendered document, over a
small fixed catalog."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.type.v1 import types_pb2

from services.config.pricing import model
from services.config.pricing.proposal import price_proposal
from services.config.proposals.catalog import CatalogFacts, CatalogKpi
from services.config.proposals.choices import choices_from_inputs
from services.config.proposals.document import Header, html_page, markdown
from services.config.proposals.proto_values import prefixed
from services.config.proposals.questionnaire import questionnaire
from services.errors import InvalidArgument
from tests.unit.pricing_examples import spec_choices

CATALOG = CatalogFacts(
    kpis={
        "SCOR_POF": CatalogKpi("SCOR_POF", "Perfect Order Fulfillment", "SCOR", ("ORDER",)),
        "CRM_NPS": CatalogKpi("CRM_NPS", "Net Promoter Score", "CRM", ("SURVEY_RESPONSE",)),
        "SALES_DISCOUNT": CatalogKpi("SALES_DISCOUNT", "Average Discount", "SALES",
                                     ("ORDER_LINE", "ORDER")),
    },
    object_model_names={"ORDER": "Order", "ORDER_LINE": "Order Line",
                        "SURVEY_RESPONSE": "Survey Response", "PRODUCT": "Product"},
    value_chain_names={"SCOR": "Supply Chain", "CRM": "CRM", "SALES": "Sales",
                       "FINANCIAL": "Financial"},
)


def inputs(**fields: object) -> proposal_pb2.ProposalInputs:
    message = proposal_pb2.ProposalInputs(kpis=[
        config_pb2.SelectedKpi(kpi_code="SCOR_POF"),
        config_pb2.SelectedKpi(kpi_code="sales_discount",
                               complexity=config_pb2.IMPLEMENTATION_COMPLEXITY_RBAC),
    ])
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(message, name).extend(value)
        elif hasattr(value, "DESCRIPTOR"):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def refused(message: proposal_pb2.ProposalInputs) -> str:
    with pytest.raises(InvalidArgument) as error:
        choices_from_inputs(message, CATALOG)
    (violation,) = error.value.violations
    return violation.field


def test_defaults_are_filled_in() -> None:
    choices = choices_from_inputs(inputs(), CATALOG)
    assert [k.code for k in choices.kpis] == ["SCOR_POF", "SALES_DISCOUNT"]
    assert [k.complexity for k in choices.kpis] == [model.Complexity.OTB, model.Complexity.RBAC]
    assert choices.value_chain_codes == ("SCOR", "SALES")
    assert choices.license_term_years == 1
    assert choices.environment is model.Environment.NONE
    # Every object model the KPIs read, in first-use order, at the recommended integration.
    assert [(i.object_model_code, i.integration_type) for i in choices.integrations] == [
        ("ORDER", model.IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE),
        ("ORDER_LINE", model.IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE),
    ]
    infra = choices.infrastructure
    assert (infra.daily_volume_gb, infra.concurrent_users, infra.kpi_count) == (Decimal(1), 25, 2)
    assert infra.refresh_period is model.RefreshPeriod.MINUTE


def test_given_integrations_keep_their_choice_and_extras_follow() -> None:
    choices = choices_from_inputs(inputs(integrations=[
        proposal_pb2.DataIntegrationSelection(
            object_model_code="product", source_system=" PIM ",
            integration_type=config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED),
        proposal_pb2.DataIntegrationSelection(
            object_model_code="ORDER",
            integration_type=config_pb2.INTEGRATION_TYPE_STREAMING_API_ARCHITECTED),
    ]), CATALOG)
    assert [(i.object_model_code, i.integration_type.value, i.source_system)
            for i in choices.integrations] == [
        ("ORDER", "STREAMING_API_ARCHITECTED", ""),
        ("ORDER_LINE", "BATCH_NON_CONFORMED_SINGLE_SOURCE", ""),
        ("PRODUCT", "BATCH_CONFORMED", "PIM"),
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"license_term_years": 2}, "inputs.license_term_years"),
        ({"currency_code": "EUR"}, "inputs.currency_code"),
        ({"value_chain_codes": ["SCOR"]}, "inputs.value_chain_codes"),
        ({"value_chain_codes": ["SCOR", "SALES", "NOPE"]}, "inputs.value_chain_codes[2]"),
        ({"compliance_requirements": [0]}, "inputs.compliance_requirements[0]"),
        ({"compliance_requirements": [42]}, "inputs.compliance_requirements[0]"),
        ({"environment": proposal_pb2.EnvironmentSelection(environment=17)},
         "inputs.environment.environment"),
        ({"infrastructure": proposal_pb2.InfrastructureInputs(daily_volume_gb="lots")},
         "inputs.infrastructure.daily_volume_gb"),
        ({"infrastructure": proposal_pb2.InfrastructureInputs(daily_volume_gb="NaN")},
         "inputs.infrastructure.daily_volume_gb"),
        ({"infrastructure": proposal_pb2.InfrastructureInputs(
            refresh_period=types_pb2.PERIOD_WEEK)}, "inputs.infrastructure.refresh_period"),
        ({"infrastructure": proposal_pb2.InfrastructureInputs(
            overrides=proposal_pb2.InfrastructureOverrides(
                network_price=types_pb2.UnitPrice(amount="0.09", currency_code="EUR")))},
         "inputs.infrastructure.overrides.network_price.currency_code"),
        ({"integrations": [proposal_pb2.DataIntegrationSelection(object_model_code="ORDER")]},
         "inputs.integrations[0].integration_type"),
        ({"integrations": [proposal_pb2.DataIntegrationSelection(
            object_model_code="WIDGET",
            integration_type=config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED)]},
         "inputs.integrations[0].object_model_code"),
        ({"retention_policy": types_pb2.DataRetentionPolicy(
            analytics_data=types_pb2.DataRetentionRule(
                active_retention=types_pb2.RetentionDuration(count=30)))},
         "inputs.retention_policy.analytics_data.active_retention.unit"),
        ({"client_name": "Acme\x00"}, "inputs.client_name"),
        ({"infrastructure": proposal_pb2.InfrastructureInputs(daily_volume_gb="1e-999999")},
         "inputs.infrastructure.daily_volume_gb"),
        ({"other_compliance": "x" * 201}, "inputs.other_compliance"),
        ({"integrations": [proposal_pb2.DataIntegrationSelection(
            object_model_code="ORDER", source_system="SAP\nERP",
            integration_type=config_pb2.INTEGRATION_TYPE_BATCH_CONFORMED)]},
         "inputs.integrations[0].source_system"),
    ],
)
def test_invalid_inputs_name_the_field(fields: dict[str, object], field: str) -> None:
    assert refused(inputs(**fields)) == field


def test_unknown_and_repeated_kpis() -> None:
    assert refused(proposal_pb2.ProposalInputs()) == "inputs.kpis"
    unknown = inputs(kpis=[config_pb2.SelectedKpi(kpi_code="NOPE")])
    assert refused(unknown) == "inputs.kpis[2].kpi_code"
    twice = inputs(kpis=[config_pb2.SelectedKpi(kpi_code="scor_pof")])
    assert refused(twice) == "inputs.kpis[2].kpi_code"
    bad_complexity = inputs(kpis=[config_pb2.SelectedKpi(kpi_code="CRM_NPS", complexity=9)])
    assert refused(bad_complexity) == "inputs.kpis[2].complexity"


def test_pricing_errors_are_named_from_the_request_root() -> None:
    error = prefixed(InvalidArgument.for_field("license_term_years", "must be 1, 3 or 5"),
                     "inputs.")
    assert error.message == "inputs.license_term_years: must be 1, 3 or 5"
    assert [v.field for v in error.violations] == ["inputs.license_term_years"]


def answer(question_id: str, subject: str = "", **value: object) -> proposal_pb2.Answer:
    return proposal_pb2.Answer(question_id=question_id, subject=subject,
                               value=proposal_pb2.AnswerValue(**value))  # type: ignore[arg-type]


def test_questionnaire_steps_and_answers() -> None:
    reply = questionnaire(CATALOG, ["SCOR_POF", "CRM_NPS"], [
        answer("environment", choice="AZURE"),
        answer("cloud_architect_hours", integer=45),
        answer("kpi_complexity", "crm_nps", choice="DYNAMIC_RBAC"),
        answer("kpi_tm_min_hours", "CRM_NPS", integer=10),
        answer("kpi_tm_max_hours", "CRM_NPS", integer=15),
        answer("staged_active_retention_days", choice="custom"),
        answer("staged_active_retention_custom_days", integer=45),
        answer("staged_archival_enabled", boolean=False),
        answer("daily_volume_gb", decimal="2.5"),
        answer("include_retainer", boolean=True),
        answer("additional_support_hours", integer=50),
    ])
    assert [s.title for s in reply.steps] == [
        "KPI Selection", "Licensing", "Data Source Integration",
        "KPI Implementation Complexity", "Environment Setup", "Data Retention Policies",
        "Infrastructure Estimation", "Managed Services"]
    assert list(reply.value_chain_codes) == ["SCOR", "CRM"]
    assert list(reply.object_model_codes) == ["ORDER", "SURVEY_RESPONSE"]
    priced = reply.inputs
    assert priced.environment.environment == config_pb2.ENVIRONMENT_AZURE
    assert priced.environment.cloud_architect_hours_hundredths == 4500
    assert priced.kpis[1].complexity == config_pb2.IMPLEMENTATION_COMPLEXITY_DYNAMIC_RBAC
    assert (priced.kpis[1].tm_hours.min_hours_hundredths,
            priced.kpis[1].tm_hours.max_hours_hundredths) == (1000, 1500)
    staged = priced.retention_policy.staged_source_data
    assert (staged.active_retention.count, staged.archival_enabled) == (45, False)
    assert priced.infrastructure.daily_volume_gb == "2.5"
    assert priced.managed_services.additional_hours_hundredths == 5000
    # The questions that depend on another answer say so.
    environment = reply.steps[4]
    hours = next(q for q in environment.questions if q.question_id == "cloud_architect_hours")
    assert hours.visible_if.question_id == "environment"
    assert "NONE" not in hours.visible_if.values and (hours.min_value, hours.max_value) == (40, 80)


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ([answer("favourite_colour", text="blue")], "answers[0].question_id"),
        ([answer("concurrent_users", text="many")], "answers[0].value"),
        ([answer("environment", choice="MARS")], "answers"),
        ([answer("license_term_years", choice="2")], "inputs.license_term_years"),
    ],
)
def test_invalid_answers(answers: list[proposal_pb2.Answer], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        questionnaire(CATALOG, ["SCOR_POF"], answers)
    assert [v.field for v in error.value.violations] == [field]


def test_document_escapes_and_shows_every_section() -> None:
    moment = datetime.datetime(2026, 1, 5, 15, tzinfo=datetime.UTC)
    header = Header("<Acme & Sons>", moment, moment + datetime.timedelta(days=30), 4)
    priced = price_proposal(spec_choices(environment=model.Environment.NONE,
                                         cloud_architect_hours_hundredths=0))
    text = markdown(priced, header)
    for heading in ("## 1. Licensing", "## 2. Implementation - Statement of Work",
                    "## 3. Infrastructure Costs (Annual)", "## 4. Managed Services (Annual)",
                    "## 5. Total Cost Summary", "## 6. Resource Schedule",
                    "## 7. Terms & Conditions", "## 8. Next Steps"):
        assert heading in text
    assert "**Valid Until:** February 4, 2026" in text
    assert "**Setup Required:** No" in text and "Cloud Architect:" not in text
    page = html_page(priced, header)
    assert "&lt;Acme &amp; Sons&gt;" in page and "<Acme" not in page
    assert "<strong>Total Investment:</strong>" in page
